"""``/os-aggregates`` (issue 18): Nova's CRUD, host membership and metadata with its error
texts, zones that would move a host refused, and the AggregateInstanceExtraSpecsFilter."""

from __future__ import annotations

from .conftest import IMAGE_ID, api_wait
from .test_resize import _flavor


def test_aggregate_crud_hosts_and_metadata(api, compute):
    r = api("POST", "/os-aggregates", "admin", {"aggregate": {"name": "fast", "availability_zone": "nova"}})
    assert r.status_code == 200, r.text
    agg = r.json()["aggregate"]
    assert agg["name"] == "fast" and agg["availability_zone"] == "nova" and "hosts" not in agg
    aid = agg["id"]
    r = api("POST", "/os-aggregates", "admin", {"aggregate": {"name": "fast"}})
    assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == "Aggregate fast already exists."
    assert api("POST", "/os-aggregates", "p1", {"aggregate": {"name": "x"}}).status_code == 403

    def act(body, who="admin"):
        return api("POST", f"/os-aggregates/{aid}/action", who, body)

    r = act({"add_host": {"host": "fake1"}})
    assert r.status_code == 200 and r.json()["aggregate"]["hosts"] == ["fake1"]
    r = act({"add_host": {"host": "fake1"}})
    assert (
        r.status_code == 409 and r.json()["conflictingRequest"]["message"] == f"Aggregate {aid} already has host fake1."
    )
    r = act({"add_host": {"host": "nowhere"}})
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Compute host nowhere could not be found."
    r = act({"set_metadata": {"metadata": {"ssd": "true", "gone": "x"}}})
    assert r.json()["aggregate"]["metadata"] == {"availability_zone": "nova", "ssd": "true", "gone": "x"}
    r = act({"set_metadata": {"metadata": {"gone": None}}})
    assert r.json()["aggregate"]["metadata"] == {"availability_zone": "nova", "ssd": "true"}
    r = act({"set_metadata": {"metadata": {"availability_zone": "elsewhere"}}})
    assert r.status_code == 400 and "already in availability zone" in r.json()["badRequest"]["message"]
    r = api("PUT", f"/os-aggregates/{aid}", "admin", {"aggregate": {"name": "faster"}})
    assert r.status_code == 200 and r.json()["aggregate"]["name"] == "faster"
    listed = api("GET", "/os-aggregates", "admin").json()["aggregates"]
    assert [(a["name"], a["hosts"]) for a in listed] == [("faster", ["fake1"])]
    r = api("DELETE", f"/os-aggregates/{aid}", "admin")
    assert r.status_code == 400 and "Host aggregate is not empty" in r.json()["badRequest"]["message"]
    r = act({"remove_host": {"host": "fake2"}})
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == f"Aggregate {aid} has no host fake2."
    assert act({"remove_host": {"host": "fake1"}}).json()["aggregate"]["hosts"] == []
    assert api("DELETE", f"/os-aggregates/{aid}", "admin").status_code == 200
    assert api("GET", f"/os-aggregates/{aid}", "admin").status_code == 404


def test_flavor_extra_specs_place_servers_on_matching_aggregates(api, api_flavor, compute):
    aid = api("POST", "/os-aggregates", "admin", {"aggregate": {"name": "ssd"}}).json()["aggregate"]["id"]
    api("POST", f"/os-aggregates/{aid}/action", "admin", {"add_host": {"host": "fake2"}})
    api("POST", f"/os-aggregates/{aid}/action", "admin", {"set_metadata": {"metadata": {"disk": "ssd"}}})
    ssd = _flavor(api, "m1.ssd", 1, 512, 1)
    r = api(
        "POST",
        f"/flavors/{ssd}/os-extra_specs",
        "admin",
        {"extra_specs": {"aggregate_instance_extra_specs:disk": "ssd"}},
    )
    assert r.status_code == 200, r.text
    for i in range(3):
        body = {"server": {"name": f"s{i}", "flavorRef": ssd, "imageRef": IMAGE_ID, "networks": "none"}}
        sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
        assert api_wait(api, compute, sid, "ACTIVE", "admin")["OS-EXT-SRV-ATTR:host"] == "fake2"
    nvme = _flavor(api, "m1.nvme", 1, 512, 1)
    api(
        "POST",
        f"/flavors/{nvme}/os-extra_specs",
        "admin",
        {"extra_specs": {"aggregate_instance_extra_specs:disk": "nvme"}},
    )
    body = {"server": {"name": "n", "flavorRef": nvme, "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    failed = api_wait(api, compute, sid, "ERROR", "admin")
    assert "AggregateInstanceExtraSpecsFilter" in failed["fault"]["message"]
