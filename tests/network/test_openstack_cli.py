"""The real ``openstack`` CLI against a running ``overcast up``: the commands users type.

Each CLI run costs seconds of Python start-up, so this drives each command once and checks
the rest through their JSON output."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.clients, pytest.mark.slow]


def test_network_commands(running_cloud: Any) -> None:
    os_ = running_cloud.openstack
    net = os_("network", "create", "net1", "-f", "json")
    assert net["name"] == "net1" and net["status"] == "ACTIVE"
    sub = os_("subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.0/24", "sub1", "-f", "json")
    assert sub["cidr"] == "10.0.0.0/24" and sub["gateway_ip"] == "10.0.0.1"
    port = os_("port", "create", "--network", "net1", "port1", "-f", "json")
    assert port["name"] == "port1" and port["mac_address"].startswith("fa:16:3e")
    listed = os_("port", "list", "-f", "json")
    assert "port1" in {p["Name"] for p in listed}
    fixed = [p for p in listed if p["Name"] == "port1"][0]["Fixed IP Addresses"]
    assert "10.0.0." in str(fixed)

    ext = os_(
        "network",
        "create",
        "--external",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "public",
        "public",
        "-f",
        "json",
    )
    assert ext["router:external"] in (True, "External")
    os_(
        "subnet",
        "create",
        "--network",
        "public",
        "--subnet-range",
        "172.24.4.0/24",
        "--no-dhcp",
        "public-sub",
        "-f",
        "json",
    )
    router = os_("router", "create", "r1", "-f", "json")
    os_("router", "add", "subnet", "r1", "sub1")
    os_("router", "set", "--external-gateway", "public", "r1")
    shown = os_("router", "show", "r1", "-f", "json")
    assert router["id"] == shown["id"] and "172.24.4." in str(shown["external_gateway_info"])

    fip = os_("floating", "ip", "create", "public", "-f", "json")
    address = fip["floating_ip_address"]
    assert address.startswith("172.24.4.")
    os_("floating", "ip", "set", "--port", "port1", address)
    shown = os_("floating", "ip", "show", address, "-f", "json")
    assert shown["port_id"] == port["id"] and shown["fixed_ip_address"].startswith("10.0.0.")

    sg = os_("security", "group", "create", "web", "-f", "json")
    assert sg["name"] == "web"
    rule = os_("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "web", "-f", "json")
    assert rule["port_range_min"] == 80 and rule["protocol"] == "tcp"

    # errors come back as Neutron errors the CLI prints
    bad = os_("subnet", "create", "--network", "net1", "--subnet-range", "10.0.0.128/25", "overlap", check=False)
    assert bad.returncode != 0 and "overlaps" in bad.stderr

    refused = os_("router", "remove", "subnet", "r1", "sub1", check=False)  # the floating IP needs that interface
    assert refused.returncode != 0 and "floating IP" in refused.stderr
