"""``overcast up --role controller`` and ``overcast agent --host`` as real processes on the
real RabbitMQ: the controller sees the host only through its agent, ``openstack compute
service list`` shows it up, and down once the agent is stopped (SIGTERM: a clean exit).
A server booted through the API runs in the agent process's hypervisor."""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from overcast.testing.agents import cloud_topics, delete_amqp_names, start_agent_process, stop_agent_process
from overcast.testing.cloud import start_running_cloud, stop_running_cloud
from overcast.testing.waiting import wait_until

AMQP = "amqp://guest:guest@127.0.0.1:5672//"
DOWN_AFTER = 3.0
pytestmark = [pytest.mark.rabbitmq, pytest.mark.clients]


@pytest.fixture
def controller(tmp_path):
    extra = {
        "bus": {
            "url": AMQP,
            "prefix": f"test-{uuid.uuid4().hex[:10]}",
            "heartbeat_interval": 0.5,
            "host_down_after": DOWN_AFTER,
            "rpc_timeout": 20,
        },
        "hosts": {"fake1": {"driver": "fake"}, "fake2": {"driver": "fake"}},
        # a store both processes reach: the agent fetches images from it, the controller never sends data
        "image_store": {"driver": "fs", "path": str(tmp_path / "images")},
    }
    cloud = start_running_cloud(tmp_path / "controller", extra, role="controller")
    try:
        yield cloud
    finally:
        stop_running_cloud(cloud)
        hosts = list(extra["hosts"])
        delete_amqp_names(AMQP, extra["bus"]["prefix"], cloud_topics(hosts, [hosts]))  # [hosts]: one process


def states(cloud) -> dict[str, str]:
    """``openstack compute service list`` as {host: state} (the CLI: slow, used at checkpoints)."""
    rows = cloud.openstack("compute", "service", "list", "--service", "nova-compute", "-f", "json")
    return {r["Host"]: r["State"] for r in rows}


class Services:
    """The same list over plain HTTP, for polling."""

    def __init__(self, cloud) -> None:
        import httpx

        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        }
        r = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json=body, timeout=30)
        assert r.status_code == 201, r.text
        self.client = httpx.Client(
            base_url=cloud.url, headers={"X-Auth-Token": r.headers["X-Subject-Token"]}, timeout=30
        )

    def __call__(self) -> dict[str, str]:
        rows = self.client.get("/compute/v2.1/os-services?binary=nova-compute").json()["services"]
        return {r["host"]: r["state"] for r in rows}

    def boot(self) -> str:
        """Upload an image, make a flavor, create a server; returns the server id."""
        c = self.client
        image = c.post(
            "/image/v2/images", json={"name": "tiny", "disk_format": "raw", "container_format": "bare"}
        ).json()
        r = c.put(
            f"/image/v2/images/{image['id']}/file",
            content=b"\0" * 65536,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 204, r.text
        flavor = c.post(
            "/compute/v2.1/flavors", json={"flavor": {"name": "m1.tiny", "ram": 256, "vcpus": 1, "disk": 1}}
        )
        assert flavor.status_code == 200, flavor.text
        r = c.post(
            "/compute/v2.1/servers",
            headers={"OpenStack-API-Version": "compute 2.37"},
            json={
                "server": {
                    "name": "vm1",
                    "flavorRef": flavor.json()["flavor"]["id"],
                    "imageRef": image["id"],
                    "networks": "none",
                }
            },
        )
        assert r.status_code == 202, r.text
        return r.json()["server"]["id"]

    def server(self, sid: str) -> dict:
        return self.client.get(
            f"/compute/v2.1/servers/{sid}", headers={"OpenStack-API-Version": "compute 2.16"}
        ).json()["server"]


def test_controller_and_agent_processes(controller) -> None:
    # no agent yet: the controller has no local hosts, so both are down
    services = Services(controller)
    assert services() == {"fake1": "down", "fake2": "down"}
    agent = start_agent_process(controller.config_path, "fake1", env=controller.env)
    try:
        wait_until(lambda: services().get("fake1") == "up", "fake1 up", 60, every=0.2, detail=agent.log_tail)
        assert services() == {"fake1": "up", "fake2": "down"}
        sid = services.boot()  # scheduled by the controller, spawned in the agent process's hypervisor
        wait_until(
            lambda: services.server(sid)["status"] in ("ACTIVE", "ERROR"),
            "vm1 ACTIVE",
            60,
            every=0.2,
            detail=agent.log_tail,
        )
        server = services.server(sid)
        assert (server["status"], server["OS-EXT-SRV-ATTR:host"], server["host_status"]) == ("ACTIVE", "fake1", "UP"), (
            server
        )
        stopped_at = time.monotonic()
        assert stop_agent_process(agent, signal.SIGTERM) == 0, agent.log_tail()
        wait_until(lambda: services().get("fake1") == "down", "fake1 down", DOWN_AFTER + 15, every=0.2)
        assert time.monotonic() - stopped_at < DOWN_AFTER + 15
        assert states(controller) == {"fake1": "down", "fake2": "down"}
        server = services.server(sid)
        assert (server["status"], server["host_status"]) == ("ACTIVE", "UNKNOWN")  # last known, flagged
        assert "agent stopped" in agent.log_path.read_text()
    finally:
        stop_agent_process(agent)


def test_one_agent_process_serves_several_hosts(controller) -> None:
    services = Services(controller)
    agent = start_agent_process(controller.config_path, "fake*", env=controller.env)  # both hosts, one process
    try:
        wait_until(
            lambda: services() == {"fake1": "up", "fake2": "up"}, "both up", 60, every=0.2, detail=agent.log_tail
        )
        assert stop_agent_process(agent, signal.SIGTERM) == 0, agent.log_tail()
        wait_until(lambda: services() == {"fake1": "down", "fake2": "down"}, "both down", DOWN_AFTER + 15, every=0.2)
    finally:
        stop_agent_process(agent)
