"""Subnet pools over HTTP: CRUD as Tempest drives it, allocation of subnets from a pool,
bounds, the default pool, isolation, and refusals that change nothing."""

from __future__ import annotations

import ipaddress
from typing import Any

from .conftest import V2, neutron_error
from .test_api_networks import make_net


def make_pool(client: Any, prefixes: list[str], **extra: Any) -> dict[str, Any]:
    r = client.post(f"{V2}/subnetpools", json={"subnetpool": {"name": "pool", "prefixes": prefixes, **extra}})
    assert r.status_code == 201, r.text
    return r.json()["subnetpool"]


def pool_subnet(client: Any, net_id: str, **body: Any) -> Any:
    return client.post(f"{V2}/subnets", json={"subnet": {"network_id": net_id, "ip_version": 4, **body}})


def test_create_list_show_update_delete(api: Any) -> None:
    aliases = {e["alias"] for e in api.alice.get(f"{V2}/extensions").json()["extensions"]}
    assert {"subnet_allocation", "default-subnetpools"} <= aliases
    pool = make_pool(api.alice, ["1.0.0.0/16", "2.0.0.0/16", "1.0.5.0/24"])
    assert pool["prefixes"] == ["1.0.0.0/16", "2.0.0.0/16"]  # collapsed, as Neutron does
    assert (pool["ip_version"], pool["min_prefixlen"], pool["max_prefixlen"], pool["default_prefixlen"]) == (
        4,
        8,
        32,
        8,
    )
    assert pool["project_id"] == api.alice_project and pool["shared"] is False and pool["is_default"] is False
    assert api.alice.get(f"{V2}/subnetpools/{pool['id']}").json()["subnetpool"]["name"] == "pool"
    assert [p["id"] for p in api.alice.get(f"{V2}/subnetpools").json()["subnetpools"]] == [pool["id"]]
    assert api.bob.get(f"{V2}/subnetpools").json()["subnetpools"] == []
    neutron_error(api.bob.get(f"{V2}/subnetpools/{pool['id']}"), 404, "SubnetPoolNotFound")
    r = api.alice.put(f"{V2}/subnetpools/{pool['id']}", json={"subnetpool": {"name": "renamed"}})
    assert r.status_code == 200 and r.json()["subnetpool"]["name"] == "renamed"
    assert r.json()["subnetpool"]["revision_number"] == pool["revision_number"] + 1
    assert api.alice.delete(f"{V2}/subnetpools/{pool['id']}").status_code == 204
    neutron_error(api.alice.get(f"{V2}/subnetpools/{pool['id']}"), 404, "SubnetPoolNotFound")


def test_subnets_take_free_blocks_and_pool_in_use_is_kept(api: Any) -> None:
    pool = make_pool(api.alice, ["10.20.0.0/22"], default_prefixlen=24, min_prefixlen=24, max_prefixlen=28)
    net = make_net(api.alice)
    first = pool_subnet(api.alice, net["id"], subnetpool_id=pool["id"]).json()["subnet"]
    assert first["cidr"] == "10.20.0.0/24" and first["subnetpool_id"] == pool["id"]
    assert first["gateway_ip"] == "10.20.0.1"
    named = pool_subnet(api.alice, make_net(api.alice, "n2")["id"], subnetpool_id=pool["id"], cidr="10.20.2.0/24")
    assert named.status_code == 201 and named.json()["subnet"]["cidr"] == "10.20.2.0/24"
    small = pool_subnet(api.alice, make_net(api.alice, "n3")["id"], subnetpool_id=pool["id"], prefixlen=28)
    assert small.json()["subnet"]["cidr"] == "10.20.1.0/28"  # the first free block, between the others
    # refusals: taken, outside, too short or too long, cidr with prefixlen; nothing is made
    before = len(api.alice.get(f"{V2}/subnets").json()["subnets"])
    n4 = make_net(api.alice, "n4")["id"]
    neutron_error(
        pool_subnet(api.alice, n4, subnetpool_id=pool["id"], cidr="10.20.2.0/25"), 409, "SubnetAllocationError"
    )
    neutron_error(
        pool_subnet(api.alice, n4, subnetpool_id=pool["id"], cidr="10.99.0.0/24"), 409, "SubnetAllocationError"
    )
    neutron_error(
        pool_subnet(api.alice, n4, subnetpool_id=pool["id"], prefixlen=23), 400, "MinPrefixSubnetAllocationError"
    )
    neutron_error(
        pool_subnet(api.alice, n4, subnetpool_id=pool["id"], prefixlen=29), 400, "MaxPrefixSubnetAllocationError"
    )
    neutron_error(
        pool_subnet(api.alice, n4, subnetpool_id=pool["id"], cidr="10.20.3.0/24", prefixlen=24), 400, "InvalidInput"
    )
    neutron_error(pool_subnet(api.bob, make_net(api.bob)["id"], subnetpool_id=pool["id"]), 404, "SubnetPoolNotFound")
    assert len(api.alice.get(f"{V2}/subnets").json()["subnets"]) == before
    # the last /24 is taken, then the pool is full
    last = pool_subnet(api.alice, n4, subnetpool_id=pool["id"]).json()["subnet"]
    assert last["cidr"] == "10.20.3.0/24"
    full = pool_subnet(api.alice, make_net(api.alice, "n5")["id"], subnetpool_id=pool["id"])
    assert "Insufficient prefix space" in neutron_error(full, 409, "SubnetAllocationError")["message"]
    # a pool with allocations is kept; prefixes only grow
    neutron_error(api.alice.delete(f"{V2}/subnetpools/{pool['id']}"), 409, "SubnetPoolInUse")
    shrink = api.alice.put(f"{V2}/subnetpools/{pool['id']}", json={"subnetpool": {"prefixes": ["10.20.0.0/23"]}})
    neutron_error(shrink, 400, "IllegalSubnetPoolPrefixUpdate")
    grow = api.alice.put(f"{V2}/subnetpools/{pool['id']}", json={"subnetpool": {"prefixes": ["10.20.0.0/21"]}})
    assert grow.json()["subnetpool"]["prefixes"] == ["10.20.0.0/21"]
    more = pool_subnet(api.alice, make_net(api.alice, "n6")["id"], subnetpool_id=pool["id"]).json()["subnet"]
    assert ipaddress.ip_network(more["cidr"]).subnet_of(ipaddress.ip_network("10.20.4.0/22"))
    for sub in api.alice.get(f"{V2}/subnets", params={"subnetpool_id": pool["id"]}).json()["subnets"]:
        assert api.alice.delete(f"{V2}/subnets/{sub['id']}").status_code == 204
    assert api.alice.delete(f"{V2}/subnetpools/{pool['id']}").status_code == 204


def test_bad_pools_are_refused(api: Any) -> None:
    neutron_error(api.alice.post(f"{V2}/subnetpools", json={"subnetpool": {"name": "x"}}), 400, "InvalidInput")
    mixed = api.alice.post(f"{V2}/subnetpools", json={"subnetpool": {"prefixes": ["10.0.0.0/8", "fd00::/48"]}})
    neutron_error(mixed, 400, "PrefixVersionMismatch")
    bounds = api.alice.post(
        f"{V2}/subnetpools", json={"subnetpool": {"prefixes": ["10.0.0.0/8"], "min_prefixlen": 24, "max_prefixlen": 20}}
    )
    neutron_error(bounds, 400, "IllegalSubnetPoolPrefixBounds")
    shared = api.alice.post(f"{V2}/subnetpools", json={"subnetpool": {"prefixes": ["10.0.0.0/8"], "shared": True}})
    neutron_error(shared, 403, "PolicyNotAuthorized")
    assert api.alice.get(f"{V2}/subnetpools").json()["subnetpools"] == []


def test_default_and_shared_pools(api: Any) -> None:
    net = make_net(api.alice)
    neutron_error(pool_subnet(api.alice, net["id"], use_default_subnetpool=True), 400, "InvalidInput")
    pool = make_pool(api.boss, ["172.30.0.0/16"], is_default=True, shared=True, default_prefixlen=26)
    dup = api.boss.post(f"{V2}/subnetpools", json={"subnetpool": {"prefixes": ["172.31.0.0/16"], "is_default": True}})
    neutron_error(dup, 400, "InvalidInput")
    sub = pool_subnet(api.alice, net["id"], use_default_subnetpool=True).json()["subnet"]
    assert sub["cidr"] == "172.30.0.0/26" and sub["subnetpool_id"] == pool["id"]
    assert api.bob.get(f"{V2}/subnetpools/{pool['id']}").status_code == 200  # shared: every project sees it
    neutron_error(
        api.bob.put(f"{V2}/subnetpools/{pool['id']}", json={"subnetpool": {"name": "mine"}}), 403, "PolicyNotAuthorized"
    )
