"""The in-process bus: RPC, casts, notifications, errors, and JSON-only messages."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

import pytest

from overcast.bus import InProcessBus, decode, encode, handle_request
from overcast.bus.rpc import client, rpc
from overcast.errors import Conflict, OvercastError, ServiceUnavailable
from overcast.types import Flavor, HvCapabilities, Instance, PowerState


@dataclass(frozen=True)
class Description:
    name: str
    caps: HvCapabilities
    metadata: dict[str, str]


class Handler:
    def __init__(self) -> None:
        self.casts: list[str] = []
        self.done = threading.Event()

    @rpc
    def describe(self, instance: Instance) -> Description:
        assert isinstance(instance, Instance) and isinstance(instance.flavor, Flavor)
        return Description(instance.name, HvCapabilities("kvm", frozenset({"qcow2"})), dict(instance.metadata))

    @rpc
    def refuse(self) -> None:
        raise Conflict("guest is paused")

    @rpc
    def crash(self) -> None:
        raise KeyError("internal detail")

    @rpc
    def slow(self) -> bool:
        time.sleep(2)
        return True

    @rpc
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
    result = client(bus, "agent.node1", Handler).describe(instance=inst)
    assert result.name == "oc-u"
    assert result.caps == HvCapabilities("kvm", frozenset({"qcow2"}))


def test_user_data_that_looks_like_a_type_tag_is_only_data(bus: InProcessBus) -> None:
    """Values are decoded from the declared types, never from markers inside the data."""
    bus.serve("agent.node1", Handler())
    metadata = {"__type__": "Host", "nested": '{"__type__": "Flavor"}'}
    inst = Instance(
        "u", "oc-u", "vm", "p", Flavor("1", "tiny", 1, 64, 1, extra_specs={"__type__": "Instance"}), metadata=metadata
    )
    assert client(bus, "agent.node1", Handler).describe(instance=inst).metadata == metadata


def test_a_message_the_handler_cannot_decode_is_answered_with_an_error() -> None:
    message = encode("describe", {"instance": {"uuid": "u", "name": "n"}})  # no flavor, no project
    reply = json.loads(handle_request(Handler(), "agent.node1", message))
    assert reply["error"]["class"] == "OvercastError" and "instance" in reply["error"]["message"]
    assert json.loads(handle_request(Handler(), "agent.node1", "not json"))["error"]
    assert json.loads(handle_request(None, "agent.node1", "not json"))["error"]["class"] == "ServiceUnavailable"


def test_unknown_arguments_are_logged_by_the_receiver(bus: InProcessBus, caplog: pytest.LogCaptureFixture) -> None:
    bus.serve("agent.node1", Handler())
    inst = Instance("u", "oc-u", "vm", "p", Flavor("1", "tiny", 1, 64, 1))
    with caplog.at_level(logging.WARNING, logger="overcast.bus.rpc"):
        assert bus.call("agent.node1", "describe", instance=inst, from_the_future=1)["name"] == "oc-u"
    assert "from_the_future" in caplog.text and "describe" in caplog.text


def test_the_stub_has_the_declared_signature(bus: InProcessBus) -> None:
    stub = client(bus, "agent.node1", Handler)
    with pytest.raises(TypeError):
        stub.describe(instanse=None)  # type: ignore[call-arg]  # refused here, before anything is sent
    with pytest.raises(TypeError, match="declares no @rpc methods"):
        client(bus, "agent.node1", OvercastError)


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
    assert decode(message.replace('"v": 1', '"v": 2'))[1]["flavor"]["name"] == "tiny"  # newer sender still read
