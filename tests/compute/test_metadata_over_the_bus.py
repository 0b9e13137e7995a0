"""User data that looks like the bus's old type tags is only data, on both buses.

Server metadata ``{"__type__": "Host"}`` once made the in-process spawn fail with a TypeError
and left an AMQP request neither answered nor acknowledged (the caller waited the whole spawn
timeout). Values are now decoded from the agent interface's declared types, so the server goes
ACTIVE and the hypervisor driver receives the metadata exactly as the user set it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.agent import agent_topic, start_local_agents

from .conftest import boot

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
TRICKY = {"__type__": "Host", "note": '{"__type__": "Flavor"}'}


def _boot_and_check(compute: Any, ctx: Any, flavor: Any, fake_drivers: Any) -> None:
    rec = boot(compute, ctx, flavor, "tagged", metadata=dict(TRICKY))
    assert rec.host
    assert compute.get_server(ctx, rec.uuid).vm_state == "active"
    [guest] = [g for g in fake_drivers.hypervisor.guests[rec.host].values() if g["id"] == rec.uuid]
    assert dict(guest["instance"].metadata) == TRICKY  # what the driver got, across the bus
    host = compute.runtime.drivers.hosts[rec.host]
    info = compute.runtime.agents.hypervisor().get_info(host=host, instance=guest["instance"])
    assert info.state.value == "running"


def test_type_tag_in_metadata_on_the_in_process_bus(compute, ctx, flavor, fake_drivers) -> None:
    _boot_and_check(compute, ctx, flavor, fake_drivers)


@pytest.fixture
def amqp_runtime(overcast_runtime: Any) -> Iterator[Any]:
    """The test cloud with its bus swapped for RabbitMQ (a prefix of its own) before compute
    starts: every controller-to-agent call crosses the broker."""
    from overcast.bus.amqp import AmqpBus

    from .conftest import IMAGE_ID
    from .fake_peers import FakeImageService, FakeVolumeService

    overcast_runtime.bus.close()
    overcast_runtime.bus = AmqpBus(AMQP_URL, rpc_timeout=20, prefix=f"t-{uuid.uuid4().hex[:8]}")
    images = FakeImageService()
    images.add(IMAGE_ID)
    overcast_runtime._services["image"] = images
    overcast_runtime._services["volume"] = FakeVolumeService()
    start_local_agents(overcast_runtime)
    assert overcast_runtime.bus.wait_ready(timeout=20), "RabbitMQ consumer did not start"
    overcast_runtime.compute.start()
    yield overcast_runtime


@pytest.mark.rabbitmq
def test_type_tag_in_metadata_on_rabbitmq(amqp_runtime, ctx, fake_drivers, admin_ctx) -> None:
    compute = amqp_runtime.compute
    assert agent_topic("fake1") in amqp_runtime.bus._handlers  # agents answer through the broker
    flavor = compute.flavors.create(admin_ctx, {"name": "m1.small", "vcpus": 2, "ram": 2048, "disk": 10})
    _boot_and_check(compute, ctx, flavor, fake_drivers)
