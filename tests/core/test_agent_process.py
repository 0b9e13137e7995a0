"""``overcast up --role controller`` and ``overcast agent --host`` as real processes on the
real RabbitMQ: the controller sees the host only through its agent, ``openstack compute
service list`` shows it up, and down once the agent is stopped (SIGTERM: a clean exit).
A server booted through the API runs in the agent process's hypervisor."""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from overcast.testing.agents import start_agent_process, stop_agent_process
from overcast.testing.cloud import start_running_cloud, stop_running_cloud

AMQP = "amqp://guest:guest@127.0.0.1:5672//"
DOWN_AFTER = 3.0
pytestmark = [pytest.mark.rabbitmq, pytest.mark.clients]


@pytest.fixture
def controller(tmp_path):
    extra = {
        "bus": {"url": AMQP, "prefix": f"test-{uuid.uuid4().hex[:10]}", "heartbeat_interval": 0.5,
                "host_down_after": DOWN_AFTER, "rpc_timeout": 20},
        "hosts": {"fake1": {"driver": "fake"}, "fake2": {"driver": "fake"}},
    }
    cloud = start_running_cloud(tmp_path / "controller", extra, role="controller")
    try:
        yield cloud
    finally:
        stop_running_cloud(cloud)


def states(cloud) -> dict[str, str]:
    rows = cloud.openstack("compute", "service", "list", "--service", "nova-compute", "-f", "json")
    return {r["Host"]: r["State"] for r in rows}


def wait_for(what: str, check, timeout: float, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log()}")
        time.sleep(0.2)


def test_controller_and_agent_processes(controller) -> None:
    # no agent yet: the controller has no local hosts, so both are down
    assert states(controller) == {"fake1": "down", "fake2": "down"}
    agent = start_agent_process(controller.config_path, "fake1", env=controller.env)
    try:
        wait_for("fake1 up", lambda: states(controller).get("fake1") == "up", 60, agent.log_tail)
        assert states(controller)["fake2"] == "down"
        hv = controller.openstack("hypervisor", "list", "-f", "json")
        assert {h["Hypervisor Hostname"]: h["State"] for h in hv} == {"fake1": "up", "fake2": "down"}
        stopped_at = time.monotonic()
        assert stop_agent_process(agent, signal.SIGTERM) == 0, agent.log_tail()
        wait_for("fake1 down", lambda: states(controller).get("fake1") == "down", DOWN_AFTER + 15)
        assert time.monotonic() - stopped_at < DOWN_AFTER + 15
        assert "agent stopped" in agent.log_path.read_text()
    finally:
        stop_agent_process(agent)

