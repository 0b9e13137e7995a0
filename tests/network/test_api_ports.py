"""Ports over HTTP: IPAM, MACs, security groups, bad input, and concurrent allocation."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .conftest import V2, neutron_error
from .test_api_networks import make_net, make_subnet


def make_port(client: Any, net_id: str, **extra: Any) -> dict[str, Any]:
    r = client.post(f"{V2}/ports", json={"port": {"network_id": net_id, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["port"]


def test_port_gets_mac_ip_and_default_security_group(api: Any) -> None:
    net = make_net(api.alice)
    sub = make_subnet(api.alice, net["id"])
    port = make_port(api.alice, net["id"], name="p1")
    assert port["mac_address"].startswith("fa:16:3e:")
    [fixed] = port["fixed_ips"]
    assert fixed["subnet_id"] == sub["id"] and ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network(
        "10.0.0.0/24"
    )
    groups = api.alice.get(f"{V2}/security-groups", params={"name": "default"}).json()["security_groups"]
    assert port["security_groups"] == [groups[0]["id"]]
    listed = api.alice.get(
        f"{V2}/ports",
        params=[
            ("fields", "id"),
            ("fields", "name"),
            ("fields", "mac_address"),
            ("fields", "fixed_ips"),
            ("fields", "status"),
        ],
    ).json()["ports"]
    assert {
        "id": port["id"],
        "name": "p1",
        "mac_address": port["mac_address"],
        "fixed_ips": port["fixed_ips"],
        "status": port["status"],
    } in listed
    by_ip = api.alice.get(f"{V2}/ports", params={"fixed_ips": f"ip_address={fixed['ip_address']}"}).json()["ports"]
    assert [p["id"] for p in by_ip] == [port["id"]]


def test_fixed_ip_requests(api: Any) -> None:
    net = make_net(api.alice)
    make_subnet(api.alice, net["id"])
    port = make_port(api.alice, net["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.77"
    before = api.alice.get(f"{V2}/ports").json()["ports"]
    neutron_error(
        api.alice.post(
            f"{V2}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.0.0.77"}]}}
        ),
        409,
        "IpAddressAlreadyAllocated",
    )
    neutron_error(
        api.alice.post(
            f"{V2}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"ip_address": "192.168.5.5"}]}}
        ),
        400,
        "InvalidIpForNetwork",
    )
    sub_id = port["fixed_ips"][0]["subnet_id"]
    neutron_error(
        api.alice.post(
            f"{V2}/ports",
            json={"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": sub_id, "ip_address": "10.0.1.5"}]}},
        ),
        400,
        "InvalidIpForSubnet",
    )
    neutron_error(
        api.alice.post(
            f"{V2}/ports",
            json={"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": sub_id, "ip_address": "10.0.0.255"}]}},
        ),
        400,
        "InvalidIpForSubnet",
    )
    neutron_error(
        api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"], "mac_address": "zz"}}),
        400,
        "InvalidInput",
    )
    neutron_error(  # names neither a subnet nor an address (was a 500)
        api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"], "fixed_ips": [{"subnet_id": None}]}}),
        400,
        "InvalidInput",
    )
    neutron_error(
        api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"], "mac_address": port["mac_address"]}}),
        409,
        "MacAddressInUse",
    )
    assert api.alice.get(f"{V2}/ports").json()["ports"] == before
    moved = api.alice.put(
        f"{V2}/ports/{port['id']}", json={"port": {"fixed_ips": [{"ip_address": "10.0.0.78"}]}}
    ).json()["port"]
    assert moved["fixed_ips"][0]["ip_address"] == "10.0.0.78"
    again = make_port(api.alice, net["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])  # released by the move
    assert again["fixed_ips"][0]["ip_address"] == "10.0.0.77"
    # one more address from the subnet beside the one kept: never the kept one again
    kept = moved["fixed_ips"][0]
    grown = api.alice.put(
        f"{V2}/ports/{port['id']}",
        json={"port": {"fixed_ips": [{"subnet_id": kept["subnet_id"]}, kept]}},
    )
    assert grown.status_code == 200, grown.text
    addresses = [f["ip_address"] for f in grown.json()["port"]["fixed_ips"]]
    assert len(set(addresses)) == 2 and "10.0.0.78" in addresses


def test_full_allocation_pool_is_a_clear_409_and_changes_nothing(api: Any) -> None:
    net = make_net(api.alice)
    make_subnet(api.alice, net["id"], cidr="10.8.0.0/29", allocation_pools=[{"start": "10.8.0.2", "end": "10.8.0.4"}])
    # the DHCP server holds one address of the three
    made = [make_port(api.alice, net["id"]) for _ in range(2)]
    assert len({p["fixed_ips"][0]["ip_address"] for p in made}) == 2
    before = api.alice.get(f"{V2}/ports").json()["ports"]
    err = neutron_error(
        api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"]}}), 409, "IpAddressGenerationFailure"
    )
    assert net["id"] in err["message"]
    assert api.alice.get(f"{V2}/ports").json()["ports"] == before
    port = make_port(
        api.alice, net["id"], fixed_ips=[{"ip_address": "10.8.0.6"}]
    )  # outside the pool, inside the subnet
    assert port["fixed_ips"][0]["ip_address"] == "10.8.0.6"


def test_concurrent_port_creates_never_share_an_address(api: Any) -> None:
    net = make_net(api.alice)
    make_subnet(api.alice, net["id"], cidr="10.7.0.0/27")  # 29 usable addresses, one for DHCP
    api.svc.plumbing.strict = False

    def create(_: int) -> Any:
        return api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"]}})

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(create, range(32)))
    ok = [r.json()["port"] for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    addresses = [p["fixed_ips"][0]["ip_address"] for p in ok]
    assert len(addresses) == len(set(addresses)) == 28
    assert len(refused) == 4
    for r in refused:
        neutron_error(r, 409, "IpAddressGenerationFailure")
    macs = [p["mac_address"] for p in ok]
    assert len(set(macs)) == len(macs)


def test_port_isolation_and_security_group_validation(api: Any) -> None:
    net = make_net(api.alice)
    make_subnet(api.alice, net["id"])
    port = make_port(api.alice, net["id"])
    neutron_error(api.bob.get(f"{V2}/ports/{port['id']}"), 404, "PortNotFound")
    neutron_error(api.bob.post(f"{V2}/ports", json={"port": {"network_id": net["id"]}}), 404, "NetworkNotFound")
    bob_sg = api.bob.post(f"{V2}/security-groups", json={"security_group": {"name": "mine"}}).json()["security_group"]
    neutron_error(
        api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"], "security_groups": [bob_sg["id"]]}}),
        404,
        "SecurityGroupNotFound",
    )
    r = api.alice.post(
        f"{V2}/ports",
        json={
            "port": {
                "network_id": net["id"],
                "port_security_enabled": False,
                "security_groups": [port["security_groups"][0]],
            }
        },
    )
    neutron_error(r, 400, "PortSecurityAndIPRequiredForSecurityGroups")
    open_port = make_port(api.alice, net["id"], port_security_enabled=False)
    assert open_port["security_groups"] == [] and open_port["port_security_enabled"] is False
    neutron_error(
        api.alice.put(
            f"{V2}/ports/{open_port['id']}", json={"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.200"}]}}
        ),
        409,
        "AddressPairAndPortSecurityRequired",
    )
    paired = api.alice.put(
        f"{V2}/ports/{port['id']}", json={"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.200"}]}}
    )
    assert paired.json()["port"]["allowed_address_pairs"] == [{"ip_address": "10.0.0.200"}]


def test_binding_host_is_admin_only(api: Any) -> None:
    net = make_net(api.alice)
    make_subnet(api.alice, net["id"])
    neutron_error(
        api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"], "binding:host_id": "fake1"}}),
        403,
        "PolicyNotAuthorized",
    )


def test_admin_setting_the_binding_host_binds_the_port(api: Any, fake_drivers: Any) -> None:
    net = make_net(api.boss)
    make_subnet(api.boss, net["id"])
    port = make_port(api.boss, net["id"], **{"binding:host_id": "fake1"})
    assert port["binding:host_id"] == "fake1"
    assert (
        port["binding:vif_type"] == "bridge" and port["binding:vif_details"]["devname"] and port["status"] == "ACTIVE"
    )
    assert port["id"] in fake_drivers.network.state["fake1"]["ports"]
    unbound = api.boss.put(f"{V2}/ports/{port['id']}", json={"port": {"binding:host_id": ""}}).json()["port"]
    assert unbound["binding:vif_type"] == "unbound"
    assert port["id"] not in fake_drivers.network.state["fake1"]["ports"]


def test_bulk_create_is_all_or_nothing(api: Any) -> None:
    net = make_net(api.alice)
    make_subnet(api.alice, net["id"])
    r = api.alice.post(
        f"{V2}/ports", json={"ports": [{"network_id": net["id"], "name": "a"}, {"network_id": net["id"], "name": "b"}]}
    )
    assert r.status_code == 201, r.text
    ports = r.json()["ports"]
    assert [p["name"] for p in ports] == ["a", "b"] and len({p["fixed_ips"][0]["ip_address"] for p in ports}) == 2
    before = api.alice.get(f"{V2}/ports").json()["ports"]
    # the second one fails: the first is not kept
    neutron_error(
        api.alice.post(
            f"{V2}/ports", json={"ports": [{"network_id": net["id"], "name": "c"}, {"network_id": "no-such-net"}]}
        ),
        404,
        "NetworkNotFound",
    )
    assert api.alice.get(f"{V2}/ports").json()["ports"] == before
    r = api.alice.post(f"{V2}/networks", json={"networks": [{"name": "n1"}, {"name": "n2"}]})
    assert r.status_code == 201 and [n["name"] for n in r.json()["networks"]] == ["n1", "n2"]
    neutron_error(api.alice.post(f"{V2}/networks", json={"networks": []}), 400, "BadRequest")
