"""End to end on real kernel networking: namespaces stand in for guests and the outside world.

Each test drives the network service (as the API and compute do), which drives this driver
through the host agent; then it checks what packets actually do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overcast.agent.network import NetworkAgent

from overcast_net_linuxbridge import names

pytestmark = [pytest.mark.root, pytest.mark.netns]


def test_two_guests_get_their_ipam_addresses_by_dhcp_and_reach_each_other(rig: Any) -> None:
    net, sub = rig.network(rig.alice, "10.31.0.0/24")
    p1, g1 = rig.guest(rig.alice, net["id"], "vm-1")
    p2, g2 = rig.guest(rig.alice, net["id"], "vm-2")
    assert g1.dhcp() == p1.fixed_ips[0].ip_address
    assert g2.dhcp() == p2.fixed_ips[0].ip_address
    leases = (Path(rig.runtime.drivers.network.state_dir) / "dhcp" / net["id"] / "leases").read_text()
    assert p1.mac_address in leases and p2.fixed_ips[0].ip_address in leases
    g2.serve_http("hello from vm-2")
    assert g1.ping(p2.fixed_ips[0].ip_address)
    assert g1.fetch(f"http://{p2.fixed_ips[0].ip_address}/") == "hello from vm-2"  # default group: members talk
    assert g1.run("ip", "route").stdout.startswith("default via 10.31.0.1")


def test_floating_ip_and_security_groups_decide_what_the_outside_reaches(rig: Any) -> None:
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
                "cidr": "172.24.40.0/24",
                "gateway_ip": "172.24.40.1",
                "enable_dhcp": False,
            }
        },
    )
    net, sub = rig.network(rig.alice, "10.32.0.0/24")
    router = rig.svc.routers.create(
        rig.alice, {"router": {"name": "r1", "external_gateway_info": {"network_id": ext["id"]}}}
    )
    rig.svc.routers.add_interface(rig.alice, router["id"], {"subnet_id": sub["id"]})
    world = rig.outside(names.bridge(ext["id"]), "172.24.40.1/24")
    web = rig.svc.security_groups.create(rig.alice, {"security_group": {"name": "web"}})
    port, guest = rig.guest(rig.alice, net["id"], "vm-web", security_groups=[web["id"]])
    assert guest.dhcp() == port.fixed_ips[0].ip_address
    guest.serve_http("hello from vm-web")
    world.serve_http("the outside world")
    assert guest.fetch("http://172.24.40.1/") == "the outside world"  # SNAT through the gateway

    fip = rig.svc.floating_ips.create(rig.alice, {"floatingip": {"floating_network_id": ext["id"]}})
    url = f"http://{fip['floating_ip_address']}/"
    assert world.fetch(url) is None  # not before the floating IP points at the guest
    rig.svc.floating_ips.update(rig.alice, fip["id"], {"floatingip": {"port_id": port.id}})
    assert world.fetch(url) is None  # the security group has no ingress rule for port 80
    rule = rig.svc.security_groups.create_rule(
        rig.alice,
        {
            "security_group_rule": {
                "security_group_id": web["id"],
                "direction": "ingress",
                "protocol": "tcp",
                "port_range_min": 80,
                "port_range_max": 80,
                "remote_ip_prefix": "0.0.0.0/0",
            }
        },
    )
    assert world.fetch(url) == "hello from vm-web"
    rig.svc.security_groups.delete_rule(rig.alice, rule["id"])
    assert world.fetch(url) is None
    rig.svc.floating_ips.update(rig.alice, fip["id"], {"floatingip": {"port_id": None}})
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
    assert world.fetch(url) is None  # disassociated: gone again


def test_another_tenants_guest_cannot_reach(rig: Any) -> None:
    net_a, _ = rig.network(rig.alice, "10.33.0.0/24", "alice-net")
    net_b, _ = rig.network(rig.bob, "10.34.0.0/24", "bob-net")
    pa, ga = rig.guest(rig.alice, net_a["id"], "vm-a")
    pb, gb = rig.guest(rig.bob, net_b["id"], "vm-b")
    assert ga.dhcp() and gb.dhcp()
    ga.serve_http("alice's page")
    target = pa.fixed_ips[0].ip_address
    assert gb.fetch(f"http://{target}/") is None
    gb.run("ip", "addr", "add", "10.33.0.250/24", "dev", "eth0")  # even posing on alice's subnet
    assert not gb.ping(target, source="10.33.0.250")
    assert gb.fetch(f"http://{target}/") is None
    assert names.bridge(net_a["id"]) != names.bridge(net_b["id"])


def test_spoofed_source_address_is_dropped_unless_allowed(rig: Any) -> None:
    net, _ = rig.network(rig.alice, "10.35.0.0/24")
    p1, g1 = rig.guest(rig.alice, net["id"], "vm-1")
    p2, g2 = rig.guest(rig.alice, net["id"], "vm-2")
    assert g1.dhcp() and g2.dhcp()
    target = p2.fixed_ips[0].ip_address
    assert g1.ping(target)
    g1.run("ip", "addr", "add", "10.35.0.200/24", "dev", "eth0")
    assert not g1.ping(target, source="10.35.0.200")
    rig.svc.ports.update(rig.alice, p1.id, {"port": {"allowed_address_pairs": [{"ip_address": "10.35.0.200"}]}})
    # vm-2 admits its group's members: the pair reached vm-2's rules as well as vm-1's anti-spoofing
    assert g1.ping(target, source="10.35.0.200")


def test_arp_for_another_address_is_dropped(rig: Any) -> None:
    net, _ = rig.network(rig.alice, "10.39.0.0/24")
    p1, g1 = rig.guest(rig.alice, net["id"], "vm-1")
    p2, g2 = rig.guest(rig.alice, net["id"], "vm-2")
    assert g1.dhcp() and g2.dhcp()
    target = p2.fixed_ips[0].ip_address
    g1.run("ip", "addr", "add", "10.39.0.201/24", "dev", "eth0")
    g1.run("busybox", "arping", "-c", "2", "-w", "2", "-I", "eth0", "-s", "10.39.0.201", target, check=False)
    assert "lladdr" not in g2.run("ip", "neigh", "show", "10.39.0.201").stdout  # vm-2 never heard the claim
    g1.run(
        "busybox", "arping", "-c", "2", "-w", "2", "-I", "eth0", "-s", p1.fixed_ips[0].ip_address, target, check=False
    )
    assert p1.mac_address in g2.run("ip", "neigh", "show", p1.fixed_ips[0].ip_address).stdout


def test_agent_restart_recreates_the_plumbing(rig: Any) -> None:
    net, _ = rig.network(rig.alice, "10.36.0.0/24")
    p1, g1 = rig.guest(rig.alice, net["id"], "vm-1")
    p2, g2 = rig.guest(rig.alice, net["id"], "vm-2")
    assert g1.dhcp() and g2.dhcp()
    network = rig.svc.plumbing.host_state(rig.host).networks[0]
    caller = rig.runtime.plugins.driver("network", "linuxbridge")
    backend = rig.runtime.drivers.network
    for port in (p1, p2):  # the host lost everything: chains, DHCP, bridge
        caller.teardown_port(backend=backend, host=rig.host, port=port)
    caller.teardown_network(backend=backend, host=rig.host, network=network)
    assert names.bridge(net["id"]) not in rig.resources().get("bridges", [])
    NetworkAgent(rig.runtime, rig.host).start()
    assert g1.ping(p2.fixed_ips[0].ip_address)
    assert g2.dhcp() == p2.fixed_ips[0].ip_address
    assert set(rig.resources()["iptables_chains"]) >= {names.port_chains(p1.id)[0], names.port_chains(p2.id)[1]}


def test_deleting_everything_leaves_nothing_behind(rig: Any) -> None:
    before = rig.resources()
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
        rig.admin, {"subnet": {"network_id": ext["id"], "cidr": "172.24.41.0/24", "enable_dhcp": False}}
    )
    net, sub = rig.network(rig.alice, "10.37.0.0/24")
    router = rig.svc.routers.create(
        rig.alice, {"router": {"name": "r", "external_gateway_info": {"network_id": ext["id"]}}}
    )
    rig.svc.routers.add_interface(rig.alice, router["id"], {"subnet_id": sub["id"]})
    port, guest = rig.guest(rig.alice, net["id"], "vm-x")
    fip = rig.svc.floating_ips.create(rig.alice, {"floatingip": {"floating_network_id": ext["id"], "port_id": port.id}})
    during = rig.resources()
    for kind in ("bridges", "namespaces", "dnsmasq", "iptables_chains", "veths"):
        assert during.get(kind), kind
    guest.close()
    rig.svc.floating_ips.delete(rig.alice, fip["id"])
    rig.svc.deallocate_ports(rig.alice, "vm-x")
    rig.svc.routers.remove_interface(rig.alice, router["id"], {"subnet_id": sub["id"]})
    rig.svc.routers.delete(rig.alice, router["id"])
    rig.svc.networks.delete(rig.alice, net["id"])
    rig.svc.networks.delete(rig.admin, ext["id"])
    assert rig.resources() == before
