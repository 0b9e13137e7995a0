"""The RabbitMQ bus, against the real broker on 127.0.0.1:5672 (guest/guest)."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

import pytest

from overcast.bus.amqp import AmqpBus
from overcast.errors import Conflict, OvercastError, ServiceUnavailable
from overcast.types import Flavor, Instance

URL = "amqp://guest:guest@127.0.0.1:5672//"
pytestmark = pytest.mark.rabbitmq


class Agent:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.event = threading.Event()

    def describe(self, instance: Instance) -> str:
        return f"{instance.name} has {instance.flavor.vcpus} vcpu"

    def refuse(self) -> None:
        raise Conflict("guest is paused")

    def record(self, text: str) -> None:
        self.seen.append(text)
        self.event.set()


@pytest.fixture
def topic() -> str:
    return f"agent.test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def buses():
    made: list[AmqpBus] = []

    def make() -> AmqpBus:
        bus = AmqpBus(URL, rpc_timeout=10)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        bus.close()


def test_rpc_between_two_buses(buses, topic: str) -> None:
    server, client = buses(), buses()
    server.serve(topic, Agent())
    inst = Instance("u", "oc-u", "vm", "p", Flavor("1", "tiny", 2, 64, 1))
    assert client.call(topic, "describe", instance=inst) == "oc-u has 2 vcpu"
    with pytest.raises(Conflict, match="guest is paused"):
        client.call(topic, "refuse")


def test_a_request_the_agent_cannot_decode_is_answered_and_acknowledged(buses, topic: str) -> None:
    """Once, such a request was neither answered nor acked: the caller waited its whole timeout."""
    server, client = buses(), buses()
    server.serve(topic, Agent())
    started = time.monotonic()
    with pytest.raises(OvercastError, match="argument 'instance' is not valid"):
        client.call(topic, "describe", instance={"uuid": "u", "name": "oc-u"}, timeout=10)
    assert time.monotonic() - started < 5
    inst = Instance("u", "oc-u", "vm", "p", Flavor("1", "tiny", 2, 64, 1), metadata={"__type__": "Host"})
    assert client.call(topic, "describe", instance=inst) == "oc-u has 2 vcpu"  # the queue is not stuck


def test_call_times_out_when_nobody_serves(buses, topic: str) -> None:
    client = buses()
    with pytest.raises(ServiceUnavailable, match="did not answer"):
        client.call(topic, "describe", timeout=1)


def test_cast_waits_in_a_durable_queue_for_its_server(buses, topic: str) -> None:
    client = buses()
    client.cast(topic, "record", text="queued before the agent started")
    agent = Agent()
    server = buses()
    server.serve(topic, agent)
    assert agent.event.wait(10)
    assert agent.seen == ["queued before the agent started"]


def test_notifications_fan_out_to_every_subscriber(buses) -> None:
    event = f"test.{uuid.uuid4().hex[:8]}"
    a, b, sender = buses(), buses(), buses()
    got_a, got_b = [], []
    ev_a, ev_b = threading.Event(), threading.Event()
    a.subscribe(event, lambda **kw: (got_a.append(kw), ev_a.set()))
    b.subscribe(event, lambda **kw: (got_b.append(kw), ev_b.set()))
    assert a.wait_ready() and b.wait_ready()
    sender.notify(event, host="node1", state="down")
    assert ev_a.wait(10) and ev_b.wait(10)
    assert got_a == got_b == [{"host": "node1", "state": "down"}]


@pytest.mark.slow
@pytest.mark.root
def test_broker_restart_loses_no_acknowledged_request(buses, topic: str) -> None:
    """Casts confirmed by the broker survive a RabbitMQ restart; the bus reconnects by itself."""
    client = buses()
    for i in range(5):
        client.cast(topic, "record", text=f"before-{i}")
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True)
    for i in range(5):
        client.cast(topic, "record", text=f"after-{i}")
    agent = Agent()
    server = buses()
    server.serve(topic, agent)
    deadline = time.time() + 30
    while len(agent.seen) < 10 and time.time() < deadline:
        time.sleep(0.2)
    assert sorted(agent.seen) == sorted([f"before-{i}" for i in range(5)] + [f"after-{i}" for i in range(5)])
    assert (
        client.call(
            topic, "describe", instance=Instance("u", "oc-u", "vm", "p", Flavor("1", "t", 1, 64, 1)), timeout=20
        )
        == "oc-u has 1 vcpu"
    )
