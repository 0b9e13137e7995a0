"""The in-process bus: RPC, casts, notifications, errors, and JSON-only messages."""

from __future__ import annotations

import threading
import time

import pytest

from overcast.bus import InProcessBus, decode, encode
from overcast.errors import Conflict, ServiceUnavailable
from overcast.types import Flavor, HvCapabilities, Instance, PowerState


class Handler:
    def __init__(self) -> None:
        self.casts: list[str] = []
        self.done = threading.Event()

    def describe(self, instance: Instance) -> dict:
        assert isinstance(instance, Instance) and isinstance(instance.flavor, Flavor)
        return {"name": instance.name, "caps": HvCapabilities("kvm", frozenset({"qcow2"}))}

    def refuse(self) -> None:
        raise Conflict("guest is paused")

    def crash(self) -> None:
        raise KeyError("internal detail")

    def slow(self) -> bool:
        time.sleep(2)
        return True

    def remember(self, text: str) -> None:
        self.casts.append(text)
        self.done.set()


@pytest.fixture
def bus():
    bus = InProcessBus(rpc_timeout=5)
    yield bus
    bus.close()


def test_call_round_trips_contract_values(bus: InProcessBus) -> None:
    bus.serve("agent.node1", Handler())
    inst = Instance("u", "oc-u", "vm", "p", Flavor("1", "tiny", 1, 64, 1))
    result = bus.call("agent.node1", "describe", instance=inst)
    assert result["name"] == "oc-u"
    assert result["caps"] == HvCapabilities("kvm", frozenset({"qcow2"}))


def test_overcast_errors_cross_the_bus_as_themselves(bus: InProcessBus) -> None:
    bus.serve("agent.node1", Handler())
    with pytest.raises(Conflict, match="guest is paused"):
        bus.call("agent.node1", "refuse")
    with pytest.raises(Exception, match="KeyError"):
        bus.call("agent.node1", "crash")


def test_unserved_topic_and_timeout(bus: InProcessBus) -> None:
    with pytest.raises(ServiceUnavailable, match="nothing is serving 'agent.ghost'"):
        bus.call("agent.ghost", "anything")
    bus.serve("agent.node1", Handler())
    with pytest.raises(ServiceUnavailable, match="did not answer 'slow' in time"):
        bus.call("agent.node1", "slow", timeout=0.2)
    with pytest.raises(ServiceUnavailable, match="has no method '_private'"):
        bus.call("agent.node1", "_private")


def test_cast_and_notify(bus: InProcessBus) -> None:
    handler = Handler()
    bus.serve("agent.node1", handler)
    bus.cast("agent.node1", "remember", text="hello")
    assert handler.done.wait(5) and handler.casts == ["hello"]
    got: list = []
    ev = threading.Event()
    bus.subscribe("server.state", lambda **kw: (got.append(kw), ev.set()))
    bus.notify("server.state", uuid="u", state=PowerState.RUNNING)
    assert ev.wait(5) and got == [{"uuid": "u", "state": "running"}]


def test_messages_are_versioned_json() -> None:
    message = encode("spawn", {"flavor": Flavor("1", "tiny", 1, 64, 1)})
    assert message.startswith('{"v": 1, "method": "spawn"')
    assert decode(message.replace('"v": 1', '"v": 2'))[1]["flavor"].name == "tiny"  # newer sender still read
