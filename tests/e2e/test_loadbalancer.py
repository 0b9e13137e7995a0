"""Issue 19 end to end: two tiny guests behind an HTTP load balancer on real haproxy, driven
by the unmodified ``openstack`` CLI with python-octaviaclient. A floating IP on the VIP is
reached from a namespace on the external network (the outside world): both servers answer;
a stopped server's member goes to ERROR and every request then reaches the other; a
REDIRECT_TO_URL policy answers 302; deleting the load balancer leaves no namespace, haproxy
process or port behind."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from overcast.testing.cloud import RunningCloud
from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until
from tests.e2e.world import World, create_external_network

pytestmark = [pytest.mark.libvirt, pytest.mark.netns, pytest.mark.root, pytest.mark.clients, pytest.mark.slow]


@pytest.fixture
def kvm_network_config() -> dict:
    return {"network": {"driver": "linuxbridge"}, "loadbalancer": {"driver": "haproxy"}}


def diagnose(api: Observer, world: World, lb: dict[str, Any], fip: str, cloud: RunningCloud) -> str:
    """What a failed reach looked like: the answers, the statuses, the data plane's view."""
    ns = f"oclb-{lb['id']}"

    def sh(*args: str) -> str:
        done = subprocess.run(list(args), capture_output=True, text=True)
        return done.stdout + done.stderr

    def fetch_in_ns(address: str) -> str:
        code = f"import urllib.request; print(urllib.request.urlopen('http://{address}/', timeout=3).read().decode())"
        return sh("ip", "netns", "exec", ns, sys.executable, "-c", code)

    status = api.get(f"/load-balancer/v2/lbaas/loadbalancers/{lb['id']}/status")
    members = [
        m["address"]
        for li in status["statuses"]["loadbalancer"]["listeners"]
        for p in li["pools"]
        for m in p["members"]
    ]
    configs = "\n".join(p.read_text() for p in cloud.data_dir.rglob("haproxy.cfg"))
    lines = [
        f"via the floating IP: {world.get(fip)}",
        f"status tree: {json.dumps(status)}",
        f"in {ns}: {sh('ip', '-n', ns, '-o', 'addr')}{sh('ip', '-n', ns, 'route')}",
        *(f"from {ns} to member {m}: {fetch_in_ns(m)}" for m in members),
        f"from {ns} to its own VIP: {fetch_in_ns(lb['vip_address'])}",
        *(f"ping {m} from {ns}: {sh('ip', 'netns', 'exec', ns, 'ping', '-c', '2', '-W', '1', m)}" for m in members),
        f"neighbours in {ns}: {sh('ip', '-n', ns, 'neigh')}",
        f"bridge ports: {sh('bridge', 'link')}",
        f"our iptables rules with hits: {[line for line in sh('iptables-save', '-c').splitlines() if 'ocn' in line and not line.startswith('[0:0]')]}",
        f"haproxy processes: {sh('pgrep', '-af', 'haproxy')}",
        f"haproxy config:\n{configs}",
        f"server log:\n{cloud.log_tail(60)}",
    ]
    return "\n".join(lines)


@pytest.fixture
def lb_cloud(kvm_cloud: RunningCloud) -> Iterator[RunningCloud]:
    yield kvm_cloud
    api = Observer(kvm_cloud)  # load balancers first: their VIP ports hold the networks
    for lb in api.get("/load-balancer/v2/lbaas/loadbalancers")["loadbalancers"]:
        api.http.delete(f"/load-balancer/v2/lbaas/loadbalancers/{lb['id']}", params={"cascade": "true"})
    wait_until(
        lambda: not api.get("/load-balancer/v2/lbaas/loadbalancers")["loadbalancers"],
        "load balancers gone",
        60,
        every=0.5,
    )
    # routers with their interfaces, so that the networks (bridges, dnsmasq) can go too
    for fip in api.get("/networking/v2.0/floatingips")["floatingips"]:
        api.http.delete(f"/networking/v2.0/floatingips/{fip['id']}")
    for router in api.get("/networking/v2.0/routers")["routers"]:
        for port in api.get("/networking/v2.0/ports")["ports"]:
            if port["device_id"] == router["id"] and port["device_owner"] == "network:router_interface":
                api.http.put(
                    f"/networking/v2.0/routers/{router['id']}/remove_router_interface", json={"port_id": port["id"]}
                )
        api.http.delete(f"/networking/v2.0/routers/{router['id']}")


def test_http_load_balancer_with_health_monitor_and_floating_ip(lb_cloud: RunningCloud) -> None:
    cloud = lb_cloud
    osc = cloud.openstack
    api = Observer(cloud)

    def j(*args: str, **kw: Any) -> Any:
        return osc(*args, "-f", "json", **kw)

    j(
        "image",
        "create",
        "--file",
        str(GUEST_DIR / "tinyguest.qcow2"),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--property",
        "hypervisor_type=qemu",
        "tinyguest",
    )
    j("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1")
    ext = create_external_network(cloud)
    j("network", "create", "lbnet")
    sub = j("subnet", "create", "--network", "lbnet", "--subnet-range", "10.93.0.0/24", "lbsub")
    j("router", "create", "r1")
    osc("router", "set", "--external-gateway", "public", "r1")
    osc("router", "add", "subnet", "r1", "lbsub")
    # the servers' port 80, opened in the project's default group: compute gives new servers'
    # ports that group (it does not apply server create's security_groups)
    j("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "default")

    for name in ("web1", "web2"):
        j(
            *COMPUTE_VERSION,
            "server",
            "create",
            "--image",
            "tinyguest",
            "--flavor",
            "t1",
            "--network",
            "lbnet",
            "--wait",
            name,
            timeout=600,
        )
    addresses = {}
    for name in ("web1", "web2"):
        server = api.server_named(name)
        wait_until(
            lambda: "TINYGUEST-READY" in api.console(server["id"]), f"{name} to finish booting", timeout=300, every=0.5
        )
        addresses[name] = server["addresses"]["lbnet"][0]["addr"]

    lb = j("loadbalancer", "create", "--name", "lb1", "--vip-subnet-id", sub["id"], "--wait", timeout=300)
    assert lb["provisioning_status"] == "ACTIVE" and lb["vip_address"].startswith("10.93.0.")
    j(
        "loadbalancer",
        "listener",
        "create",
        "--name",
        "l1",
        "--protocol",
        "HTTP",
        "--protocol-port",
        "80",
        "--insert-headers",
        "X-Forwarded-For=true",
        "--wait",
        "lb1",
    )
    j(
        "loadbalancer",
        "pool",
        "create",
        "--name",
        "p1",
        "--listener",
        "l1",
        "--protocol",
        "HTTP",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--wait",
    )
    members = {}
    for name, ip in addresses.items():
        members[name] = j(
            "loadbalancer",
            "member",
            "create",
            "--name",
            name,
            "--address",
            ip,
            "--protocol-port",
            "80",
            "--subnet-id",
            sub["id"],
            "--wait",
            "p1",
        )["id"]
    delay, retries = 2, 2
    j(
        "loadbalancer",
        "healthmonitor",
        "create",
        "--name",
        "hm1",
        "--type",
        "HTTP",
        "--delay",
        str(delay),
        "--timeout",
        "1",
        "--max-retries",
        "1",
        "--max-retries-down",
        str(retries),
        "--url-path",
        "/",
        "--expected-codes",
        "200",
        "--wait",
        "p1",
    )
    fip = j("floating", "ip", "create", "--port", lb["vip_port_id"], "public")["floating_ip_address"]

    from overcast_net_linuxbridge import names

    world = World(names.bridge(ext["id"]))
    try:
        wait_until(
            lambda: world.get(fip)[0] == 200,
            "the VIP to answer through the floating IP",
            timeout=120,
            every=0.5,
            detail=lambda: diagnose(api, world, lb, fip, cloud),
        )
        pages = [world.get(fip) for _ in range(20)]
        assert all(status == 200 for status, _, _ in pages), pages
        hosts = {body.split()[2] for _, _, body in pages}  # "tinyguest <hostname> <ip>"
        assert hosts == {addresses["web1"], addresses["web2"]}, pages

        def member_status(name: str) -> str:
            return str(j("loadbalancer", "member", "show", "p1", members[name])["operating_status"])

        wait_until(lambda: member_status("web2") == "ONLINE", "web2's member ONLINE", timeout=60, every=1)
        osc(*COMPUTE_VERSION, "server", "stop", "web2")
        wait_until(lambda: api.server_named("web2")["status"] == "SHUTOFF", "web2 stopped", timeout=180, every=0.5)
        # haproxy marks it down after delay x retries; the controller reads that back
        wait_until(
            lambda: member_status("web2") == "ERROR", "web2's member ERROR", timeout=delay * retries + 30, every=1
        )
        assert member_status("web1") == "ONLINE"
        tree = api.get(f"/load-balancer/v2/lbaas/loadbalancers/{lb['id']}/status")
        assert tree["statuses"]["loadbalancer"]["operating_status"] == "DEGRADED"
        pages = [world.get(fip) for _ in range(10)]
        assert all(status == 200 and body.split()[2] == addresses["web1"] for status, _, body in pages), pages

        policy = j(
            "loadbalancer",
            "l7policy",
            "create",
            "--name",
            "old",
            "--action",
            "REDIRECT_TO_URL",
            "--redirect-url",
            "http://example.com/new",
            "--wait",
            "l1",
        )
        j(
            "loadbalancer",
            "l7rule",
            "create",
            "--type",
            "PATH",
            "--compare-type",
            "STARTS_WITH",
            "--value",
            "/old",
            "--wait",
            policy["id"],
        )
        status, location, _ = world.get(fip, "/old/page")
        assert (status, location) == (302, "http://example.com/new")
        assert world.get(fip, "/")[0] == 200  # other paths still reach the pool
    finally:
        world.close()

    osc("loadbalancer", "delete", "--cascade", "--wait", "lb1", timeout=300)
    assert j("loadbalancer", "list") == []
    assert f"oclb-{lb['id']}" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    procs = subprocess.run(["pgrep", "-af", "haproxy"], capture_output=True, text=True).stdout
    assert lb["id"] not in procs, procs
    assert lb["vip_port_id"] not in {p["ID"] for p in j("port", "list")}
