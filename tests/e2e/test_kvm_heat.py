"""Issue 20 end to end on real guests: the unmodified python-heatclient creates
examples/web.yaml on a KVM host (QEMU TCG) with Linux-bridge networking, an fs volume backend
and the haproxy load balancer: the network, router (gateway on an external network), security
group, two tiny-guest servers answering HTTP with their names, the volume attached to the
first, an HTTP load balancer over both with a floating IP on its VIP. The stack's output URL,
fetched from a namespace on the external network (the outside world), answers from both
servers; ``stack update`` scaling the group to 3 adds a pool member that answers too;
``stack delete --wait`` leaves nothing in any service."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import GUEST_DIR, Observer, wait_until
from tests.e2e.world import EXT_CIDR, World, create_external_network

pytestmark = [pytest.mark.libvirt, pytest.mark.netns, pytest.mark.root, pytest.mark.clients, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def kvm_network_config() -> Iterator[dict]:
    path = Path(tempfile.mkdtemp(prefix="oc-e2e-heat-vol-", dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield {
        "network": {"driver": "linuxbridge"},
        "loadbalancer": {"driver": "haproxy"},
        "volume_backends": {"files": {"driver": "fs", "path": str(path), "format": "qcow2"}},
    }
    shutil.rmtree(path, ignore_errors=True)


def test_web_stack_on_real_guests(kvm_cloud) -> None:
    pytest.importorskip("heatclient")
    cloud = kvm_cloud
    cloud.openstack(
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
        "--public",
        "tinyguest",
        "-f",
        "json",
    )
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "m1.tiny", "-f", "json")
    cloud.openstack("keypair", "create", "k1")
    cloud.openstack("volume", "type", "create", "--property", "volume_backend_name=files", "files", "-f", "json")
    ext = create_external_network(cloud)
    params = [
        "--parameter",
        "key_name=k1",
        "--parameter",
        "image=tinyguest",
        "--parameter",
        "public_net=public",
        "--parameter",
        "load_balancer=true",
        "--parameter",
        "volume_type=files",
        "--parameter",
        "cidr=10.93.0.0/24",
    ]
    worlds: list[World] = []
    try:
        check_web_stack(cloud, params, ext["id"], worlds)
    finally:  # the stack's routers and ports would keep its networks (and their namespaces) alive
        for world in worlds:
            world.close()
        cloud.openstack("stack", "delete", "--yes", "--wait", "web", check=False, timeout=600)


def answers(world: World, url: str, times: int) -> set[str]:
    """The distinct pages ``times`` GETs of ``url`` got from the outside world (each server's
    page is its name); a failed GET is recorded as its error."""
    host = url.split("//", 1)[1].split("/", 1)[0]
    pages = set()
    for _ in range(times):
        status, _, body = world.get(host)
        pages.add(body.strip() if status == 200 else f"HTTP {status}: {body}")
    return pages


def check_web_stack(cloud, params: list[str], external_net: str, worlds: list[World]) -> None:
    log = cloud.openstack("stack", "create", "-t", str(EXAMPLES / "web.yaml"), *params, "--wait", "web", timeout=900)
    assert "Stack CREATE completed successfully" in log, log
    from overcast_net_linuxbridge import names as bridge_names

    # the external network's bridge exists once the router's gateway is on it
    world = World(bridge_names.bridge(external_net))
    worlds.append(world)
    stack = cloud.openstack("stack", "show", "web", "-f", "json")
    outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
    ips = outputs["server_ips"]
    assert len(ips) == 2
    volume = cloud.openstack("volume", "show", outputs["volume"], "-f", "json")
    assert volume["status"] == "in-use"

    url = outputs["url"]
    assert url.startswith(f"http://{EXT_CIDR.rsplit('.', 1)[0]}."), url
    names = {f"web-web-{i}" for i in range(2)}
    api = Observer(cloud)
    assert {s["name"] for s in api.servers()} == names
    # the stack's URL (the floating IP on the load balancer's VIP) answers from both servers
    wait_until(lambda: answers(world, url, 6) == names, f"{url} to answer from {sorted(names)}", timeout=600, every=2)

    cloud.openstack("stack", "update", "--existing", "--parameter", "count=3", "--wait", "web", timeout=900)
    assert cloud.openstack("stack", "show", "web", "-f", "json")["stack_status"] == "UPDATE_COMPLETE"
    assert len(api.servers()) == 3
    lb = api.get("/load-balancer/v2/lbaas/loadbalancers")["loadbalancers"]
    assert len(lb) == 1
    pools = api.get("/load-balancer/v2/lbaas/pools")["pools"]
    members = api.get(f"/load-balancer/v2/lbaas/pools/{pools[0]['id']}/members")["members"]
    assert len(members) == 3, members  # the new server joined the pool
    names.add("web-web-2")
    wait_until(lambda: answers(world, url, 9) == names, f"{url} to answer from {sorted(names)}", timeout=600, every=2)

    cloud.openstack("stack", "delete", "--yes", "--wait", "web", timeout=600)
    assert cloud.openstack("stack", "list", "-f", "json") == []
    assert api.servers() == []
    assert cloud.openstack("volume", "list", "-f", "json") == []
    # nothing of the stack is left in any service: only the external network made above
    assert [n["Name"] for n in cloud.openstack("network", "list", "-f", "json")] == ["public"]
    assert api.get("/load-balancer/v2/lbaas/loadbalancers")["loadbalancers"] == []
    assert api.get("/networking/v2.0/floatingips")["floatingips"] == []
    assert api.get("/networking/v2.0/routers")["routers"] == []
    assert api.get("/networking/v2.0/ports")["ports"] == []
    assert {g["name"] for g in api.get("/networking/v2.0/security-groups")["security_groups"]} <= {"default"}
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"oclb-{lb[0]['id']}" not in namespaces, namespaces
