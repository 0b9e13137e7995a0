"""``/os-hosts`` (issue 16, before 2.43): the hosts of the services, a compute host's
resources per project, enabling a host, Nova's refusals (400, 404, 501) and admin only."""

from __future__ import annotations

from .conftest import IMAGE_ID, api_wait


def test_list_and_zone_filter(api):
    hosts = api("GET", "/os-hosts", "admin").json()["hosts"]
    assert {"host_name": "fake1", "service": "compute", "zone": "nova"} in hosts
    assert {"host_name": "controller", "service": "scheduler", "zone": "internal"} in hosts
    nova = api("GET", "/os-hosts?zone=nova", "admin").json()["hosts"]
    assert sorted(h["host_name"] for h in nova) == ["fake1", "fake2"]
    assert api("GET", "/os-hosts?zone=", "admin").json()["hosts"] == hosts
    assert api("GET", "/os-hosts?zone=xxx", "admin").json()["hosts"] == []
    assert api("GET", "/os-hosts", "admin", version="2.43").status_code == 404


def test_show_counts_each_projects_servers(api, api_flavor, compute):
    for who in ("p1", "p2"):
        body = {"server": {"name": who, "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
        r = api("POST", "/servers", who, body)
        assert r.status_code == 202, r.text
        host = api_wait(api, compute, r.json()["server"]["id"], "ACTIVE", "admin")["OS-EXT-SRV-ATTR:host"]
    r = api("GET", f"/os-hosts/{host}", "admin")
    assert r.status_code == 200, r.text
    resources = [item["resource"] for item in r.json()["host"]]
    assert [x["project"] for x in resources[:3]] == ["(total)", "(used_now)", "(used_max)"]
    assert all(x["host"] == host for x in resources)
    per_project = {x["project"]: x for x in resources[3:]}
    assert set(per_project) <= {api.projects["p1"], api.projects["p2"]}
    assert sum(x["memory_mb"] for x in per_project.values()) == resources[2]["memory_mb"]
    assert all(x["cpu"] % 1 == 0 and x["memory_mb"] % 512 == 0 for x in per_project.values())
    r = api("GET", "/os-hosts/nonexistent_hostname", "admin")
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == "Compute host nonexistent_hostname could not be found."


def test_update_enables_and_refuses(api):
    r = api("PUT", "/os-hosts/fake1", "admin", {"status": "disable"})
    assert r.status_code == 200 and r.json() == {"host": "fake1", "status": "disabled"}
    services = api("GET", "/os-services?binary=nova-compute&host=fake1", "admin").json()["services"]
    assert services[0]["status"] == "disabled"
    assert "fake1" not in [h["host_name"] for h in api("GET", "/os-hosts", "admin").json()["hosts"]]
    r = api("PUT", "/os-hosts/fake1", "admin", {"status": "Enable"})
    assert r.json() == {"host": "fake1", "status": "enabled"}
    r = api("PUT", "/os-hosts/fake1", "admin", {"status": "invalid", "maintenance_mode": "enable"})
    assert r.status_code == 400 and "status" in r.json()["badRequest"]["message"]
    r = api("PUT", "/os-hosts/fake1", "admin", {"status": "enable", "maintenance_mode": "invalid"})
    assert r.status_code == 400 and "maintenance_mode" in r.json()["badRequest"]["message"]
    r = api("PUT", "/os-hosts/fake1", "admin", {})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "'status' or 'maintenance_mode' needed for host update"
    r = api("PUT", "/os-hosts/nonexistent_hostname", "admin", {"status": "enable"})
    assert (
        r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Host nonexistent_hostname could not be found."
    )
    r = api("PUT", "/os-hosts/fake1", "admin", {"maintenance_mode": "enable"})
    assert r.status_code == 501
    assert r.json()["notImplemented"]["message"] == "The requested functionality is not supported."


def test_power_actions(api):
    for action in ("startup", "shutdown", "reboot"):
        r = api("GET", f"/os-hosts/nonexistent_hostname/{action}", "admin")
        assert r.status_code == 404, r.text
        assert api("GET", f"/os-hosts/fake1/{action}", "admin").status_code == 501
        assert api("GET", f"/os-hosts/fake1/{action}", "p1").status_code == 403


def test_admin_only(api):
    assert api("GET", "/os-hosts", "p1").status_code == 403
    assert api("GET", "/os-hosts/fake1", "p1").status_code == 403
    assert api("PUT", "/os-hosts/fake1", "p1", {"status": "enable"}).status_code == 403
