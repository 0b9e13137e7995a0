"""The metadata service on real kernel networking (issue 17): namespaces stand in for guests,
the metadata API runs in this process, haproxy proxies in the DHCP and router namespaces.

A guest on an isolated network gets the 169.254.169.254 route from DHCP (via the DHCP
port); a guest behind a router reaches it through its default gateway (the router's nat
redirect). Each reads its own metadata only; a spoofed source address gets nothing.
"""

from __future__ import annotations

import socket
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast_net_linuxbridge import metadata, names, plugin

pytestmark = [pytest.mark.root, pytest.mark.netns]

MD = "http://169.254.169.254"

# udhcpc's script with option 121 (busybox passes it as $staticroutes: "dest/nn gw ...")
SCRIPT = textwrap.dedent("""\
    #!/bin/sh
    case "$1" in
      bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
        set -- $staticroutes
        while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
        echo "$ip" > "$LEASE_FILE"
        ;;
    esac
    exit 0
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dhcp(guest: Any) -> str | None:
    script = guest.workdir / "udhcpc-121.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    lease = guest.workdir / "lease"
    done = guest.run(
        "env",
        f"LEASE_FILE={lease}",
        "busybox",
        "udhcpc",
        "-i",
        "eth0",
        "-n",
        "-q",
        "-f",
        "-t",
        "6",
        "-T",
        "1",
        "-O",
        "staticroutes",
        "-s",
        str(script),
        check=False,
        timeout=30,
    )
    return lease.read_text().strip() if done.returncode == 0 and lease.exists() else None


def _instance(runtime: Any, project: str, name: str) -> str:
    """A server row for the port's device (compute is not part of this rig)."""
    from overcast.db.models.compute import InstanceRecord

    uid = str(uuid.uuid4())
    with runtime.db.session() as s:
        s.add(
            InstanceRecord(
                uuid=uid,
                name=name,
                hv_name=f"oc-{uid}",
                project_id=project,
                user_id="u",
                vm_state="active",
                flavor_id="f",
                flavor={"name": "m1.tiny"},
                key_name="k",
                key_data=f"ssh-ed25519 AAAA{name} {name}@test",
                availability_zone="nova",
            )
        )
    return uid


@pytest.fixture
def rig(tmp_path: Path, overcast_pm: Any) -> Iterator[Any]:
    import uvicorn

    from linuxbridge_rig import Rig, _scrub
    from overcast.agent import start_local_agents
    from overcast.api.metadata import create_metadata_app
    from overcast.config import parse_config
    from overcast.runtime import build_runtime
    from overcast.testing.fixtures import fake_config_data

    overcast_pm.register_plugin(plugin, name="net_linuxbridge")
    data = fake_config_data(tmp_path, hosts=1)
    data["network"] = {"driver": "linuxbridge", "dhcp_lease_time": 600}
    data["metadata"] = {"port": _free_port()}
    config = parse_config(data, tmp_path / "overcast.toml")
    runtime = build_runtime(config, pm=overcast_pm)
    server = uvicorn.Server(
        uvicorn.Config(
            create_metadata_app(runtime), host="127.0.0.1", port=config.metadata.port, log_config=None, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    start_local_agents(runtime)
    runtime.network.plumbing.strict = True
    runtime.network.start()
    rig = Rig(runtime, tmp_path)
    try:
        yield rig
    finally:
        rig.close()
        _scrub(runtime)
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()


def _json(guest: Any, path: str, *headers: str) -> Any:
    import json

    args = ["wget", "-q", "-T", "5", "-t", "1", "-O", "-"]
    for h in headers:
        args += ["--header", h]
    done = guest.run(*args, f"{MD}{path}", check=False, timeout=20)
    return json.loads(done.stdout) if done.returncode == 0 else None


def test_isolated_network_serves_each_guest_its_own_metadata(rig: Any) -> None:
    net, sub = rig.network(rig.alice, "10.51.0.0/24")
    vm1, vm2 = _instance(rig.runtime, "alice-project", "vm-1"), _instance(rig.runtime, "alice-project", "vm-2")
    p1, g1 = rig.guest(rig.alice, net["id"], vm1)
    p2, g2 = rig.guest(rig.alice, net["id"], vm2)
    assert _dhcp(g1) == p1.fixed_ips[0].ip_address and _dhcp(g2) == p2.fixed_ips[0].ip_address
    dhcp_ip = next(
        ip.ip_address
        for port in rig.svc.plumbing.host_state(rig.host).dhcp[0].ports
        if port.device_owner == "network:dhcp"
        for ip in port.fixed_ips
    )
    assert f"169.254.169.254 via {dhcp_ip}" in g1.run("ip", "route").stdout  # isolated metadata route
    meta = _json(g1, "/openstack/latest/meta_data.json")
    assert meta["uuid"] == vm1 and meta["public_keys"] == {"k": "ssh-ed25519 AAAAvm-1 vm-1@test"}
    assert _json(g2, "/openstack/latest/meta_data.json")["uuid"] == vm2
    # headers a guest sends to claim another network are replaced by the proxy's
    forged = _json(g1, "/openstack/latest/meta_data.json", "X-Overcast-Network-ID: x", "X-Forwarded-For: 10.51.0.9")
    assert forged["uuid"] == vm1
    ec2 = g1.run("wget", "-q", "-O", "-", f"{MD}/latest/meta-data/local-ipv4").stdout
    assert ec2 == p1.fixed_ips[0].ip_address
    # vm-1 posing as vm-2 (its address as source): the port's anti-spoofing drops it
    g1.run("ip", "addr", "add", f"{p2.fixed_ips[0].ip_address}/32", "dev", "eth0")
    g1.run("ip", "route", "replace", "169.254.169.254", "via", dhcp_ip, "src", p2.fixed_ips[0].ip_address)
    assert _json(g1, "/openstack/latest/meta_data.json") is None
    resources = rig.resources()
    assert len(resources["haproxy"]) == 1 and f"{names.PREFIX}-dhcp-{net['id']}" in resources["namespaces"]


def test_guest_behind_a_router_reaches_it_through_the_router(rig: Any) -> None:
    net, sub = rig.network(rig.alice, "10.52.0.0/24")
    router = rig.svc.routers.create(rig.alice, {"router": {"name": "r"}})
    rig.svc.routers.add_interface(rig.alice, router["id"], {"subnet_id": sub["id"]})
    vm = _instance(rig.runtime, "alice-project", "vm-r")
    port, guest = rig.guest(rig.alice, net["id"], vm)
    assert _dhcp(guest) == port.fixed_ips[0].ip_address
    routes = guest.run("ip", "route").stdout
    assert "169.254.169.254" not in routes and "default via 10.52.0.1" in routes  # a router serves it
    assert _json(guest, "/openstack/latest/meta_data.json")["uuid"] == vm
    assert len(rig.resources()["haproxy"]) == 2  # the network's and the router's
    state = Path(rig.runtime.drivers.network.state_dir) / "metadata" / f"router-{router['id']}"
    assert (state / "haproxy.cfg").stat().st_mode & 0o077 == 0  # it holds the secret
    rig.svc.routers.remove_interface(rig.alice, router["id"], {"subnet_id": sub["id"]})
    rig.svc.routers.delete(rig.alice, router["id"])
    assert not state.exists() and len(rig.resources()["haproxy"]) == 1
    # no router any more: the network's DHCP hands out the metadata route instead
    assert _dhcp(guest) == port.fixed_ips[0].ip_address
    assert "169.254.169.254 via" in guest.run("ip", "route").stdout
    assert _json(guest, "/openstack/latest/meta_data.json")["uuid"] == vm


def test_no_metadata_api_no_proxy(rig: Any) -> None:
    net, _ = rig.network(rig.alice, "10.53.0.0/24")
    assert len(rig.resources()["haproxy"]) == 1
    rig.runtime.config.metadata.port = 0
    rig.svc.plumbing.sync_network(net["id"])
    assert "haproxy" not in rig.resources()
    assert not metadata.network_enabled(rig.runtime.drivers.network.state_dir, net["id"])
    rig.svc.networks.delete(rig.alice, net["id"])
