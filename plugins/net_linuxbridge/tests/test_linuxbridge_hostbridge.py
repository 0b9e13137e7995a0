"""Host bridges (issue 17): DevStack's ``br-ex`` carrying the external subnet's gateway
address, with the flat ``public`` network patched into it, so the host itself reaches
floating IPs; cleanup removes the bridge."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast_net_linuxbridge import names, plugin

pytestmark = [pytest.mark.root, pytest.mark.netns]

BRIDGE = f"obx{os.getpid() % 100000}"  # not ours by name: a host bridge is the operator's kind


@pytest.fixture
def rig(tmp_path: Path, overcast_pm: Any) -> Iterator[Any]:
    from linuxbridge_rig import Rig, _scrub
    from overcast.agent import start_local_agents
    from overcast.config import parse_config
    from overcast.runtime import build_runtime
    from overcast.testing.fixtures import fake_config_data

    overcast_pm.register_plugin(plugin, name="net_linuxbridge")
    data = fake_config_data(tmp_path, hosts=1)
    data["network"] = {
        "driver": "linuxbridge",
        "dhcp_lease_time": 600,
        "host_bridges": [f"{BRIDGE}=172.24.46.1/24"],
        "physical_interface_mappings": [f"public:{BRIDGE}"],
    }
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm)
    start_local_agents(runtime)
    runtime.network.plumbing.strict = True
    runtime.network.start()
    rig = Rig(runtime, tmp_path)
    try:
        yield rig
    finally:
        rig.close()
        _scrub(runtime)
        runtime.close()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def test_floating_ip_answers_from_the_host_through_br_ex(rig: Any) -> None:
    addr = subprocess.run(["ip", "-br", "addr", "show", BRIDGE], capture_output=True, text=True).stdout
    assert "172.24.46.1/24" in addr  # made when the agent started (net_init_host)
    ext = rig.svc.networks.create(
        rig.admin,
        {
            "network": {
                "name": "public",
                "router:external": True,
                "provider:network_type": "flat",
                "provider:physical_network": "public",
            }
        },
    )
    rig.svc.subnets.create(
        rig.admin,
        {
            "subnet": {
                "network_id": ext["id"],
                "cidr": "172.24.46.0/24",
                "gateway_ip": "172.24.46.1",
                "enable_dhcp": False,
            }
        },
    )
    net, sub = rig.network(rig.alice, "10.54.0.0/24")
    router = rig.svc.routers.create(
        rig.alice, {"router": {"name": "r1", "external_gateway_info": {"network_id": ext["id"]}}}
    )
    rig.svc.routers.add_interface(rig.alice, router["id"], {"subnet_id": sub["id"]})
    web = rig.svc.security_groups.create(rig.alice, {"security_group": {"name": "web"}})
    rig.svc.security_groups.create_rule(
        rig.alice,
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
    port, guest = rig.guest(rig.alice, net["id"], "vm-web", security_groups=[web["id"]])
    assert guest.dhcp() == port.fixed_ips[0].ip_address
    guest.serve_http("hello from behind br-ex")
    fip = rig.svc.floating_ips.create(rig.alice, {"floatingip": {"floating_network_id": ext["id"], "port_id": port.id}})
    ours, theirs = names.patch_veth(ext["id"])
    master = subprocess.run(["ip", "-o", "link", "show", theirs], capture_output=True, text=True).stdout
    assert f"master {BRIDGE}" in master
    # from the host itself (its own namespace), no route added by hand: br-ex is on the subnet
    got = subprocess.run(
        ["wget", "-q", "-T", "5", "-t", "1", "-O", "-", f"http://{fip['floating_ip_address']}/"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert got.stdout == "hello from behind br-ex"
    rig.svc.floating_ips.delete(rig.alice, fip["id"])
    rig.svc.deallocate_ports(rig.alice, "vm-web")
    rig.svc.routers.remove_interface(rig.alice, router["id"], {"subnet_id": sub["id"]})
    rig.svc.routers.delete(rig.alice, router["id"])
    rig.svc.networks.delete(rig.admin, ext["id"])
    assert ours not in rig.resources().get("veths", [])  # the patch went with the network
    assert rig.runtime.agents.network(rig.host).cleanup_host() is True
    assert subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0
