"""The real chain without guests: the load-balancer service over Linux-bridge networking and
haproxy. Two namespaces plugged the way a hypervisor plugs bound ports serve pages named
after them; a namespace on the external network reaches the VIP through a floating IP
(router DNAT, the VIP's own security group); a member whose server stops goes to ERROR and
the other takes every request; a REDIRECT_TO_URL policy answers 302; a cascade delete
leaves no namespace, haproxy process, veth or port behind."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.context import RequestContext
from overcast.testing.netns import http_get_in_netns
from overcast.testing.waiting import wait_until

pytestmark = [pytest.mark.root, pytest.mark.netns]

lb_plugin = pytest.importorskip("overcast_lb_haproxy.plugin")
net_plugin = pytest.importorskip("overcast_net_linuxbridge.plugin")
names = pytest.importorskip("overcast_net_linuxbridge.names")

ALICE = RequestContext(user_id="alice", project_id="alice-project", roles=frozenset({"member", "reader"}))
ADMIN = RequestContext(user_id="admin", project_id="admin-project", roles=frozenset({"admin", "member", "reader"}))


class Box:
    """A namespace with ``eth0`` plugged into ``bridge`` under the host-side name ``host_end``."""

    def __init__(
        self, tag: str, host_end: str, bridge: str, cidr: str, mac: str | None = None, gateway: str | None = None
    ) -> None:
        self.ns = f"octest-lb-{tag}-{os.getpid()}"
        self.host_end = host_end
        self.procs: list[subprocess.Popen[bytes]] = []
        self._ip("netns", "add", self.ns)
        self._ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        if mac:
            self._ip("-n", self.ns, "link", "set", "eth0", "address", mac)
        self._ip("link", "set", host_end, "master", bridge, "up")
        self._ip("-n", self.ns, "link", "set", "lo", "up")
        self._ip("-n", self.ns, "link", "set", "eth0", "up")
        self._ip("-n", self.ns, "addr", "add", cidr, "dev", "eth0")
        if gateway:
            self._ip("-n", self.ns, "route", "add", "default", "via", gateway)

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def serve(self, www: Path) -> None:
        self.procs.append(
            subprocess.Popen(["ip", "netns", "exec", self.ns, "busybox", "httpd", "-f", "-p", "80", "-h", str(www)])
        )

    def stop_serving(self) -> None:
        for p in self.procs:
            p.terminate()
            p.wait(timeout=10)
        self.procs = []

    def get(self, host: str, path: str = "/") -> tuple[int, str, str]:
        status, location, body = http_get_in_netns(self.ns, host, path, timeout=3)
        return status, location, body.strip()

    def close(self) -> None:
        self.stop_serving()
        subprocess.run(["ip", "link", "del", self.host_end], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@pytest.fixture
def real(tmp_path: Path, overcast_pm: Any) -> Iterator[Any]:
    from overcast.agent import start_local_agents
    from overcast.config import parse_config
    from overcast.runtime import build_runtime
    from overcast.testing.fixtures import fake_config_data

    overcast_pm.register_plugin(net_plugin, name="net_linuxbridge")
    overcast_pm.register_plugin(lb_plugin, name="lb_haproxy")
    data = fake_config_data(tmp_path, hosts=1)
    data["network"] = {"driver": "linuxbridge", "dhcp_lease_time": 600}
    data["loadbalancer"] = {"driver": "haproxy"}
    data["loadbalancing"] = {"health_interval": 0.5}
    tmp_path.chmod(0o755)
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm)
    start_local_agents(runtime)
    runtime.network.plumbing.strict = True
    runtime.network.start()
    runtime.loadbalancer.start()
    boxes: list[Box] = []
    runtime.test_boxes = boxes
    try:
        yield runtime
    finally:
        for lb in runtime.loadbalancer.objects.list(ADMIN, "loadbalancer"):
            try:
                runtime.loadbalancer.loadbalancers.delete(ADMIN, lb["id"], cascade=True)
            except Exception:  # noqa: BLE001 - best effort: already pending
                pass
        runtime.loadbalancer.runner.wait_idle(60)
        for box in boxes:
            box.close()
        for fip in runtime.network.floating_ips.list(ADMIN):
            runtime.network.floating_ips.delete(ADMIN, fip["id"])
        for router in runtime.network.routers.list(ADMIN):
            for port in runtime.network.ports.list(ADMIN):
                if port["device_id"] == router["id"] and port["device_owner"] == "network:router_interface":
                    runtime.network.routers.remove_interface(ADMIN, router["id"], {"port_id": port["id"]})
            runtime.network.routers.delete(ADMIN, router["id"])
        for port in runtime.network.ports.list(ADMIN):
            if not port["device_owner"].startswith("network:"):
                runtime.network.ports.delete(ADMIN, port["id"], internal=True)
        for net in runtime.network.networks.list(ADMIN):
            runtime.network.networks.delete(ADMIN, net["id"])
        runtime.loadbalancer.close()
        runtime.network.close()
        runtime.close()


def test_haproxy_behind_a_floating_ip_with_health_and_redirect(real: Any, tmp_path: Path) -> None:
    net_svc, lbs = real.network, real.loadbalancer
    host = next(iter(real.drivers.hosts))
    ext = net_svc.networks.create(
        ADMIN,
        {
            "network": {
                "name": "public",
                "router:external": True,
                "provider:network_type": "flat",
                "provider:physical_network": "public",
            }
        },
    )
    net_svc.subnets.create(
        ADMIN,
        {
            "subnet": {
                "network_id": ext["id"],
                "cidr": "172.24.62.0/24",
                "gateway_ip": "172.24.62.1",
                "enable_dhcp": False,
            }
        },
    )
    net = net_svc.networks.create(ALICE, {"network": {"name": "web"}})
    sub = net_svc.subnets.create(ALICE, {"subnet": {"network_id": net["id"], "cidr": "10.95.0.0/24", "ip_version": 4}})
    router = net_svc.routers.create(
        ALICE, {"router": {"name": "r", "external_gateway_info": {"network_id": ext["id"]}}}
    )
    net_svc.routers.add_interface(ALICE, router["id"], {"subnet_id": sub["id"]})
    web = net_svc.security_groups.create(ALICE, {"security_group": {"name": "web"}})
    net_svc.security_groups.create_rule(
        ALICE,
        {
            "security_group_rule": {
                "security_group_id": web["id"],
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 80,
                "port_range_max": 80,
            }
        },
    )

    members = {}
    for n in (1, 2):
        port = net_svc.ports.create(ALICE, {"port": {"network_id": net["id"], "security_groups": [web["id"]]}})
        contract = net_svc.allocate_port_for_instance(ALICE, f"vm-{n}", host, port_id=port["id"])
        vif = net_svc.bind_port(ALICE, contract.id, host)
        address = contract.fixed_ips[0].ip_address
        box = Box(
            f"m{n}",
            vif.details["devname"],
            vif.details["bridge"],
            f"{address}/24",
            mac=contract.mac_address,
            gateway="10.95.0.1",
        )
        real.test_boxes.append(box)
        www = tmp_path / f"www{n}"
        www.mkdir()
        (www / "index.html").write_text(f"member-{n}\n")
        www.chmod(0o755)
        box.serve(www)
        members[n] = (box, address)

    def settle() -> None:
        assert lbs.runner.wait_idle(60)

    lb = lbs.loadbalancers.create(ALICE, {"loadbalancer": {"name": "lb", "vip_subnet_id": sub["id"]}})
    settle()
    assert lbs.objects.get(ALICE, "loadbalancer", lb["id"])["provisioning_status"] == "ACTIVE"
    listener = lbs.listeners.create(
        ALICE,
        {
            "listener": {
                "loadbalancer_id": lb["id"],
                "protocol": "HTTP",
                "protocol_port": 80,
                "insert_headers": {"X-Forwarded-For": "true"},
            }
        },
    )
    settle()
    pool = lbs.pools.create(
        ALICE, {"pool": {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}
    )
    settle()
    ids = {}
    for n, (_, address) in members.items():
        ids[n] = lbs.members.create(
            ALICE, pool["id"], {"member": {"address": address, "protocol_port": 80, "subnet_id": sub["id"]}}
        )["id"]
        settle()
    lbs.healthmonitors.create(
        ALICE,
        {
            "healthmonitor": {
                "pool_id": pool["id"],
                "type": "HTTP",
                "delay": 1,
                "timeout": 1,
                "max_retries": 1,
                "max_retries_down": 2,
            }
        },
    )
    settle()
    fip = net_svc.floating_ips.create(
        ALICE, {"floatingip": {"floating_network_id": ext["id"], "port_id": lb["vip_port_id"]}}
    )["floating_ip_address"]

    world = Box("world", f"ocwl{os.getpid() % 100000}", names.bridge(ext["id"]), "172.24.62.1/24")
    real.test_boxes.append(world)
    wait_until(lambda: world.get(fip)[0] == 200, "the VIP to answer through the floating IP", timeout=30, every=0.2)
    bodies = {world.get(fip)[2] for _ in range(20)}
    assert bodies == {"member-1", "member-2"}

    def member_status(n: int) -> str:
        return str(lbs.members.get(ALICE, pool["id"], ids[n])["operating_status"])

    wait_until(lambda: member_status(2) == "ONLINE", "member 2 ONLINE", timeout=20, every=0.2)
    members[2][0].stop_serving()
    wait_until(lambda: member_status(2) == "ERROR", "member 2 ERROR after its server stopped", timeout=20, every=0.2)
    assert member_status(1) == "ONLINE"
    assert lbs.loadbalancers.status_tree(ALICE, lb["id"])["loadbalancer"]["operating_status"] == "DEGRADED"
    assert {world.get(fip)[2] for _ in range(10)} == {"member-1"}
    # the counters since the last reload (the monitor's), as the poller last read them
    wait_until(lambda: lbs.loadbalancers.stats(ALICE, lb["id"])["total_connections"] >= 30, "the stats", 20, every=0.2)

    policy = lbs.l7policies.create(
        ALICE,
        {
            "l7policy": {
                "listener_id": listener["id"],
                "action": "REDIRECT_TO_URL",
                "redirect_url": "http://example.com/new",
            }
        },
    )
    settle()
    lbs.l7rules.create(ALICE, policy["id"], {"rule": {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"}})
    settle()
    assert world.get(fip, "/old/x")[:2] == (302, "http://example.com/new")
    assert world.get(fip, "/")[0] == 200

    lbs.loadbalancers.delete(ALICE, lb["id"], cascade=True)
    settle()
    assert lbs.objects.list(ALICE, "loadbalancer") == []
    assert f"oclb-{lb['id']}" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert lb["id"] not in subprocess.run(["pgrep", "-af", "haproxy"], capture_output=True, text=True).stdout
    assert (
        names.tap(lb["vip_port_id"]) not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    )
    assert lb["vip_port_id"] not in {p["id"] for p in net_svc.ports.list(ALICE)}
