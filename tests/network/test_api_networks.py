"""Networks and subnets over HTTP: shapes, status codes, isolation, filters and paging."""

from __future__ import annotations

from typing import Any

from .conftest import V2, neutron_error


def make_net(client: Any, name: str = "net1", **extra: Any) -> dict[str, Any]:
    r = client.post(f"{V2}/networks", json={"network": {"name": name, "admin_state_up": True, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["network"]


def make_subnet(client: Any, net_id: str, cidr: str = "10.0.0.0/24", **extra: Any) -> dict[str, Any]:
    r = client.post(
        f"{V2}/subnets", json={"subnet": {"name": "sub", "ip_version": 4, "network_id": net_id, "cidr": cidr, **extra}}
    )
    assert r.status_code == 201, r.text
    return r.json()["subnet"]


def test_version_discovery_and_extensions(api: Any) -> None:
    versions = api.anonymous.get("/networking/").json()["versions"]
    assert versions[0]["id"] == "v2.0" and versions[0]["status"] == "CURRENT"
    assert versions[0]["links"][0]["href"].endswith("/networking/v2.0/")
    assert api.anonymous.get("/networking").status_code == 200
    names = {r["collection"] for r in api.anonymous.get(f"{V2}").json()["resources"]}
    assert {"networks", "subnets", "ports", "routers", "floatingips", "security-groups"} <= names
    aliases = {e["alias"] for e in api.alice.get(f"{V2}/extensions").json()["extensions"]}
    assert {"router", "external-net", "security-group", "quotas", "provider", "binding"} <= aliases
    assert api.alice.get(f"{V2}/extensions/router").json()["extension"]["alias"] == "router"
    neutron_error(api.alice.get(f"{V2}/extensions/nope"), 404, "NotFound")


def test_network_lifecycle_and_shape(api: Any) -> None:
    net = make_net(api.alice)
    for key in (
        "id",
        "name",
        "status",
        "admin_state_up",
        "subnets",
        "shared",
        "router:external",
        "project_id",
        "tenant_id",
        "mtu",
        "availability_zones",
        "port_security_enabled",
        "tags",
        "created_at",
        "updated_at",
        "revision_number",
        "description",
    ):
        assert key in net
    assert net["status"] == "ACTIVE" and net["mtu"] == 1450 and net["subnets"] == []
    assert "provider:network_type" not in net  # admin-only attributes
    shown = api.boss.get(f"{V2}/networks/{net['id']}").json()["network"]
    assert shown["provider:network_type"] == "vxlan" and 1001 <= shown["provider:segmentation_id"] <= 65000
    updated = api.alice.put(f"{V2}/networks/{net['id']}", json={"network": {"name": "renamed"}})
    assert updated.status_code == 200 and updated.json()["network"]["name"] == "renamed"
    r = api.alice.delete(f"{V2}/networks/{net['id']}")
    assert r.status_code == 204 and r.content == b""
    neutron_error(api.alice.get(f"{V2}/networks/{net['id']}"), 404, "NetworkNotFound")


def test_name_in_id_slot_is_404_and_name_filter_finds_it(api: Any) -> None:
    net = make_net(api.alice, "by-name")
    neutron_error(api.alice.get(f"{V2}/networks/by-name"), 404, "NetworkNotFound")
    found = api.alice.get(f"{V2}/networks", params={"name": "by-name"}).json()["networks"]
    assert [n["id"] for n in found] == [net["id"]]


def test_projects_are_isolated_but_shared_networks_are_visible(api: Any) -> None:
    private = make_net(api.alice, "private")
    neutron_error(api.bob.get(f"{V2}/networks/{private['id']}"), 404, "NetworkNotFound")
    neutron_error(api.bob.delete(f"{V2}/networks/{private['id']}"), 404, "NetworkNotFound")
    neutron_error(
        api.bob.put(f"{V2}/networks/{private['id']}", json={"network": {"name": "x"}}), 404, "NetworkNotFound"
    )
    assert private["id"] not in {n["id"] for n in api.bob.get(f"{V2}/networks").json()["networks"]}
    r = api.bob.post(
        f"{V2}/subnets", json={"subnet": {"network_id": private["id"], "cidr": "10.9.0.0/24", "ip_version": 4}}
    )
    neutron_error(r, 404, "NetworkNotFound")
    neutron_error(
        api.alice.post(f"{V2}/networks", json={"network": {"name": "s", "shared": True}}), 403, "PolicyNotAuthorized"
    )
    shared = make_net(api.boss, "shared", shared=True)
    assert shared["id"] in {n["id"] for n in api.bob.get(f"{V2}/networks").json()["networks"]}
    neutron_error(api.bob.delete(f"{V2}/networks/{shared['id']}"), 403, "PolicyNotAuthorized")


def test_reader_cannot_create(api: Any) -> None:
    r = api.reader.post(f"{V2}/networks", json={"network": {"name": "x"}})
    assert r.status_code == 403 and r.json()["NeutronError"]["message"]  # the identity service's policy check
    assert api.anonymous.get(f"{V2}/networks").status_code == 401


def test_fields_filters_and_marker_paging(api: Any) -> None:
    ids = {make_net(api.alice, f"page{i}")["id"] for i in range(5)}
    r = api.alice.get(f"{V2}/networks", params=[("fields", "id"), ("fields", "name")]).json()["networks"]
    assert all(set(n) == {"id", "name"} for n in r)
    seen: list[str] = []
    url = f"{V2}/networks?limit=2"
    while url:
        body = api.alice.get(url).json()
        seen += [n["id"] for n in body["networks"]]
        nxt = [link["href"] for link in body.get("networks_links", []) if link["rel"] == "next"]
        url = nxt[0] if nxt else ""
    assert len(seen) == len(set(seen)) and set(seen) == ids
    assert (
        api.alice.get(f"{V2}/networks", params={"shared": "false", "name": "page3"}).json()["networks"][0]["name"]
        == "page3"
    )
    neutron_error(api.alice.get(f"{V2}/networks?limit=-1"), 400, "BadRequest")
    neutron_error(api.alice.get(f"{V2}/networks?limit=abc"), 400, "BadRequest")


def test_bad_network_input_changes_nothing(api: Any) -> None:
    before = api.boss.get(f"{V2}/networks").json()["networks"]
    neutron_error(api.alice.post(f"{V2}/networks", json={"network": {"name": 5}}), 400, "InvalidInput")
    neutron_error(api.alice.post(f"{V2}/networks", json={"network": {"bogus": 1}}), 400, "HTTPBadRequest")
    neutron_error(api.alice.post(f"{V2}/networks", json={"nope": {}}), 400, "BadRequest")
    neutron_error(
        api.boss.post(f"{V2}/networks", json={"network": {"provider:network_type": "vlan"}}), 400, "InvalidInput"
    )
    neutron_error(api.alice.post(f"{V2}/networks", json={"network": {"mtu": 9000}}), 400, "InvalidInput")
    assert api.boss.get(f"{V2}/networks").json()["networks"] == before


def test_flat_network_per_physnet_and_vxlan_ids_unique(api: Any) -> None:
    body = {"provider:network_type": "flat", "provider:physical_network": "public", "router:external": True}
    make_net(api.boss, "ext", **body)
    neutron_error(api.boss.post(f"{V2}/networks", json={"network": {"name": "ext2", **body}}), 409, "FlatNetworkInUse")
    a = make_net(api.boss, "a", **{"provider:segmentation_id": 5000})
    neutron_error(
        api.boss.post(f"{V2}/networks", json={"network": {"provider:segmentation_id": 5000}}), 409, "TunnelIdInUse"
    )
    vnis = {
        api.boss.get(f"{V2}/networks/{make_net(api.alice, f'v{i}')['id']}").json()["network"][
            "provider:segmentation_id"
        ]
        for i in range(3)
    }
    assert len(vnis) == 3 and a["provider:segmentation_id"] == 5000


def test_subnet_defaults_and_validation(api: Any) -> None:
    net = make_net(api.alice)
    sub = make_subnet(
        api.alice,
        net["id"],
        dns_nameservers=["8.8.8.8"],
        host_routes=[{"destination": "10.5.0.0/16", "nexthop": "10.0.0.9"}],
    )
    assert sub["gateway_ip"] == "10.0.0.1" and sub["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert sub["enable_dhcp"] is True and sub["dns_nameservers"] == ["8.8.8.8"]
    assert api.alice.get(f"{V2}/networks/{net['id']}").json()["network"]["subnets"] == [sub["id"]]
    bad = [
        ({"cidr": "10.0.0.0/33"}, "InvalidInput"),
        ({"cidr": "10.1.0.5/24"}, "InvalidInput"),
        ({"cidr": "banana"}, "InvalidInput"),
        ({"cidr": "10.0.0.128/25"}, "InvalidInput"),  # overlaps sub on the same network
        ({"cidr": "10.2.0.0/24", "gateway_ip": "10.3.0.1"}, "InvalidInput"),
        (
            {"cidr": "10.2.0.0/24", "allocation_pools": [{"start": "10.2.0.10", "end": "10.3.0.5"}]},
            "OutOfBoundsAllocationPool",
        ),
        ({"cidr": "10.2.0.0/24", "ip_version": 6}, "InvalidInput"),
        ({"cidr": "10.2.0.0/24", "dns_nameservers": ["not-an-ip"]}, "InvalidInput"),
    ]
    for extra, error_type in bad:
        r = api.alice.post(f"{V2}/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4, **extra}})
        neutron_error(r, 400, error_type)
    r = api.alice.post(
        f"{V2}/subnets",
        json={
            "subnet": {
                "network_id": net["id"],
                "ip_version": 4,
                "cidr": "10.2.0.0/24",
                "gateway_ip": "10.2.0.5",
                "allocation_pools": [{"start": "10.2.0.2", "end": "10.2.0.9"}],
            }
        },
    )
    neutron_error(r, 409, "GatewayConflictWithAllocationPools")
    assert api.alice.get(f"{V2}/subnets").json()["subnets"] == [sub]


def test_ipv6_subnet(api: Any) -> None:
    net = make_net(api.alice)
    sub = make_subnet(api.alice, net["id"], cidr="fd00:1::/64", ip_version=6)
    assert sub["gateway_ip"] == "fd00:1::1" and sub["allocation_pools"][0]["start"] == "fd00:1::2"
    port = api.alice.post(f"{V2}/ports", json={"port": {"network_id": net["id"]}}).json()["port"]
    assert port["fixed_ips"][0]["ip_address"].startswith("fd00:1::")
