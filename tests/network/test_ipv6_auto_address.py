"""IPv6 auto-address subnets (SLAAC and DHCPv6-stateless): a port's address there is the
EUI-64 of its MAC, as Neutron gives it; the modes are checked as Neutron checks them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.network.test_api_networks import make_net, make_subnet
from tests.network.test_api_ports import make_port

URL = "/networking/v2.0"


def eui64(cidr: str, mac: str) -> str:
    """An independent EUI-64: the MAC's halves around ff:fe, bit 0x02 of the first byte flipped."""
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    interface_id = bytes(octets[:3] + [0xFF, 0xFE] + octets[3:])
    return str(ipaddress.ip_network(cidr)[int.from_bytes(interface_id, "big")])


@pytest.mark.parametrize("mode", ["slaac", "dhcpv6-stateless"])
def test_ports_get_their_eui64_address(api: Any, mode: str) -> None:
    net = make_net(api.alice)
    auto = make_subnet(
        api.alice, net["id"], cidr="2001:db8:1::/64", ip_version=6, ipv6_ra_mode=mode, ipv6_address_mode=mode
    )
    stateful = make_subnet(
        api.alice, net["id"], cidr="2001:db8:2::/64", ip_version=6, ipv6_address_mode="dhcpv6-stateful"
    )
    v4 = make_subnet(api.alice, net["id"], cidr="10.9.0.0/24")
    mac = "fa:16:3e:12:34:56"
    port = make_port(api.alice, net["id"], mac_address=mac)
    by_subnet = {f["subnet_id"]: f["ip_address"] for f in port["fixed_ips"]}
    assert by_subnet[auto["id"]] == eui64("2001:db8:1::/64", mac) == "2001:db8:1:0:f816:3eff:fe12:3456"
    assert ipaddress.ip_address(by_subnet[stateful["id"]]) in ipaddress.ip_network("2001:db8:2::/64")
    assert ipaddress.ip_address(by_subnet[v4["id"]]) in ipaddress.ip_network("10.9.0.0/24")
    # naming the subnet gives the EUI-64 address; naming an address on it is refused
    named = make_port(api.alice, net["id"], mac_address="fa:16:3e:00:00:01", fixed_ips=[{"subnet_id": auto["id"]}])
    assert named["fixed_ips"] == [{"subnet_id": auto["id"], "ip_address": "2001:db8:1:0:f816:3eff:fe00:1"}]
    r = api.alice.post(
        f"{URL}/ports",
        json={
            "port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": auto["id"], "ip_address": "2001:db8:1::5"}]}
        },
    )
    assert r.status_code == 400 and "configured for automatic addresses" in r.json()["NeutronError"]["message"]


def test_an_auto_address_subnet_addresses_existing_ports_and_goes_with_them(api: Any) -> None:
    net = make_net(api.alice)
    make_subnet(api.alice, net["id"], cidr="10.8.0.0/24")
    port = make_port(api.alice, net["id"], mac_address="fa:16:3e:aa:bb:cc")
    auto = make_subnet(api.alice, net["id"], cidr="2001:db8:3::/64", ip_version=6, ipv6_address_mode="slaac")
    fixed = api.alice.get(f"{URL}/ports/{port['id']}").json()["port"]["fixed_ips"]
    assert {"subnet_id": auto["id"], "ip_address": "2001:db8:3:0:f816:3eff:feaa:bbcc"} in fixed
    # deleting it takes the derived addresses away; the network keeps its port
    assert api.alice.delete(f"{URL}/subnets/{auto['id']}").status_code == 204
    fixed = api.alice.get(f"{URL}/ports/{port['id']}").json()["port"]["fixed_ips"]
    assert [f["subnet_id"] for f in fixed] != [] and auto["id"] not in [f["subnet_id"] for f in fixed]
    r = api.alice.delete(f"{URL}/networks/{net['id']}")
    assert r.status_code == 409 and "There are one or more ports still in use on the network" in r.text


@pytest.mark.parametrize(
    ("ra", "address", "cidr", "text"),
    [
        ("dhcpv6-stateless", "slaac", "2001:db8:4::/64", "If both attributes are set, they must be the same value"),
        ("slaac", "dhcpv6-stateful", "2001:db8:4::/64", "If both attributes are set, they must be the same value"),
        ("dhcpv6-stateful", "dhcpv6-stateless", "2001:db8:4::/64", "must be the same value"),
        ("slaac", "slaac", "2001:db8:4::/80", "which requires the prefix to be /64"),
    ],
)
def test_inconsistent_ipv6_modes_are_refused(api: Any, ra: str, address: str, cidr: str, text: str) -> None:
    net = make_net(api.alice)
    body = {"network_id": net["id"], "cidr": cidr, "ip_version": 6, "ipv6_ra_mode": ra, "ipv6_address_mode": address}
    r = api.alice.post(f"{URL}/subnets", json={"subnet": body})
    assert r.status_code == 400 and text in r.json()["NeutronError"]["message"]
    assert api.alice.get(f"{URL}/subnets?network_id={net['id']}").json()["subnets"] == []
