"""Issue 16's smaller compute gaps: os-resetState (admin), an empty server update, and the
hypervisor search and servers by hostname pattern (before 2.53)."""

from __future__ import annotations

from .conftest import IMAGE_ID, api_wait


def _server(api, flavor_id, compute, who="p1", version="2.37"):
    body = {"server": {"name": "g", "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", who, body, version=version).json()["server"]["id"]
    return api_wait(api, compute, sid, "ACTIVE", who)


def test_reset_state(api, api_flavor, compute):
    sid = _server(api, api_flavor["id"], compute)["id"]
    assert api("POST", f"/servers/{sid}/action", "p1", {"os-resetState": {"state": "error"}}).status_code == 403
    r = api("POST", f"/servers/{sid}/action", "admin", {"os-resetState": {"state": "error"}})
    assert r.status_code == 202, r.text
    assert api("GET", f"/servers/{sid}", "p1").json()["server"]["status"] == "ERROR"
    for bad in ({"state": "paused"}, {}, None, {"state": "active", "x": 1}):
        assert api("POST", f"/servers/{sid}/action", "admin", {"os-resetState": bad}).status_code == 400, bad
    assert api("POST", f"/servers/{sid}/action", "admin", {"os-resetState": {"state": "active"}}).status_code == 202
    assert api("GET", f"/servers/{sid}", "p1").json()["server"]["status"] == "ACTIVE"
    gone = "00000000-0000-0000-0000-000000000000"
    assert api("POST", f"/servers/{gone}/action", "admin", {"os-resetState": {"state": "active"}}).status_code == 404


def test_empty_update_changes_nothing(api, api_flavor, compute):
    server = _server(api, api_flavor["id"], compute, version="2.75")
    r = api("PUT", f"/servers/{server['id']}", "p1", {"server": {}}, version="2.75")
    assert r.status_code == 200 and r.json()["server"]["name"] == server["name"]
    assert api("PUT", f"/servers/{server['id']}", "p1", {"server": {"bogus": 1}}).status_code == 400


def test_hypervisor_search_and_servers(api, api_flavor, compute):
    server = _server(api, api_flavor["id"], compute, who="p2")
    host = api("GET", f"/servers/{server['id']}", "admin").json()["server"]["OS-EXT-SRV-ATTR:hypervisor_hostname"]
    found = api("GET", "/os-hypervisors/fake/search", "admin").json()["hypervisors"]
    assert sorted(h["hypervisor_hostname"] for h in found) == ["fake1", "fake2"]
    assert set(found[0]) == {"id", "hypervisor_hostname", "state", "status"}
    r = api("GET", f"/os-hypervisors/{host}/servers", "admin")
    assert r.status_code == 200, r.text
    assert r.json()["hypervisors"][0]["servers"] == [{"name": "g", "uuid": server["id"]}]
    other = "fake2" if host == "fake1" else "fake1"
    assert "servers" not in api("GET", f"/os-hypervisors/{other}/servers", "admin").json()["hypervisors"][0]
    r = api("GET", "/os-hypervisors/nomatch/search", "admin")
    assert (
        r.status_code == 404
        and r.json()["itemNotFound"]["message"] == "No hypervisor matching 'nomatch' could be found."
    )
    assert api("GET", "/os-hypervisors/nomatch/servers", "admin").status_code == 404
    assert api("GET", "/os-hypervisors/fake/search", "p1").status_code == 403
    assert api("GET", "/os-hypervisors/fake/servers", "p1").status_code == 403
    assert api("GET", "/os-hypervisors/fake/search", "admin", version="2.53").status_code == 404


def test_restore_force_delete_and_inject_network_info(api, api_flavor, compute):
    sid = _server(api, api_flavor["id"], compute)["id"]
    r = api("POST", f"/servers/{sid}/action", "p1", {"restore": None})
    assert r.status_code == 409
    assert (
        r.json()["conflictingRequest"]["message"] == f"Cannot 'restore' instance {sid} while it is in vm_state active"
    )
    assert api("POST", f"/servers/{sid}/action", "p2", {"restore": None}).status_code == 404
    assert api("POST", f"/servers/{sid}/action", "p1", {"injectNetworkInfo": None}).status_code == 403
    assert api("POST", f"/servers/{sid}/action", "admin", {"injectNetworkInfo": None}).status_code == 202
    compute.runner.wait_idle(timeout=10)
    assert api("POST", f"/servers/{sid}/action", "p2", {"forceDelete": None}).status_code == 404
    assert api("POST", f"/servers/{sid}/action", "p1", {"forceDelete": None}).status_code == 202
    compute.runner.wait_idle(timeout=10)
    assert api("GET", f"/servers/{sid}", "p1").status_code == 404


def test_empty_tenant_id_is_not_the_list(api):
    r = api("GET", "/os-simple-tenant-usage/?start=2026-01-01T00:00:00&end=2026-02-01T00:00:00", "admin")
    assert r.status_code == 404


def test_hypervisor_uptime_where_the_driver_cannot(api):
    """The fake driver has no ``hv_get_host_uptime``: Nova's 501 (the kvm driver's is in its tests)."""
    hid = api("GET", "/os-hypervisors", "admin").json()["hypervisors"][0]["id"]
    assert api("GET", f"/os-hypervisors/{hid}/uptime", "admin").status_code == 501
    assert api("GET", "/os-hypervisors/999/uptime", "admin").status_code == 404
    assert api("GET", f"/os-hypervisors/{hid}/uptime", "p1").status_code == 403


def test_same_host_and_different_host_hints(api, api_flavor, compute):
    first = _server(api, api_flavor["id"], compute)["id"]
    host = api("GET", f"/servers/{first}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]

    def boot(hints, who="p1"):
        body = {"server": {"name": "h", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
        r = api("POST", "/servers", who, {**body, "os:scheduler_hints": hints})
        assert r.status_code == 202, r.text
        compute.runner.wait_idle(timeout=10)
        return api("GET", f"/servers/{r.json()['server']['id']}", "admin").json()["server"]

    for _ in range(2):
        assert boot({"same_host": first})["OS-EXT-SRV-ATTR:host"] == host
        assert boot({"different_host": [first]})["OS-EXT-SRV-ATTR:host"] not in (None, host)
    failed = boot({"same_host": first}, who="p2")  # another project's server: no host to join
    assert failed["status"] == "ERROR" and "SameHostFilter" in failed["fault"]["message"]
    body = {"server": {"name": "h", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    r = api("POST", "/servers", "p1", {**body, "os:scheduler_hints": {"same_host": "nope"}})
    assert r.status_code == 400 and "same_host" in r.json()["badRequest"]["message"]
    r = api("POST", "/servers", "p1", {**body, "os:scheduler_hints": {"query": "[]"}})
    assert r.status_code == 400


def test_metadata_items_and_group_members_quotas_hold(api, api_flavor, compute):
    p1 = api.projects["p1"]
    r = api("PUT", f"/os-quota-sets/{p1}", "admin", {"quota_set": {"metadata_items": 2, "server_group_members": 1}})
    assert r.status_code == 200, r.text
    body = {"server": {"name": "m", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    r = api("POST", "/servers", "p1", {"server": {**body["server"], "metadata": {"a": "1", "b": "2", "c": "3"}}})
    assert r.status_code == 403 and r.json()["forbidden"]["message"] == "Maximum number of metadata items exceeds 2"
    sid = _server(api, api_flavor["id"], compute)["id"]
    assert api("PUT", f"/servers/{sid}/metadata", "p1", {"metadata": {"a": "1", "b": "2"}}).status_code == 200
    assert api("POST", f"/servers/{sid}/metadata", "p1", {"metadata": {"c": "3"}}).status_code == 403
    assert api("GET", f"/servers/{sid}/metadata", "p1").json()["metadata"] == {"a": "1", "b": "2"}
    r = api(
        "POST",
        f"/servers/{sid}/action",
        "p1",
        {"rebuild": {"imageRef": IMAGE_ID, "metadata": {"x": "1", "y": "2", "z": "3"}}},
    )
    assert r.status_code == 403
    group = api("POST", "/os-server-groups", "p1", {"server_group": {"name": "g", "policies": ["affinity"]}}).json()
    hints = {"group": group["server_group"]["id"]}
    assert api("POST", "/servers", "p1", {**body, "os:scheduler_hints": hints}).status_code == 202
    r = api("POST", "/servers", "p1", {**body, "os:scheduler_hints": hints})
    assert r.status_code == 403 and r.json()["forbidden"]["message"] == "Quota exceeded, too many servers in group"
    # p2's limits are its own
    assert (
        api(
            "POST", "/servers", "p2", {"server": {**body["server"], "metadata": {"a": "1", "b": "2", "c": "3"}}}
        ).status_code
        == 202
    )
    compute.runner.wait_idle(timeout=10)


def test_swap_volume_is_checked_then_refused(api, api_flavor, compute):
    import uuid

    sid = _server(api, api_flavor["id"], compute)["id"]
    volumes = compute.runtime._services["volume"]
    attached, spare = str(uuid.uuid4()), str(uuid.uuid4())
    volumes.add(attached, api.projects["p1"])
    volumes.add(spare, api.projects["p1"])
    path = f"/servers/{sid}/os-volume_attachments"
    assert api("POST", path, "p1", {"volumeAttachment": {"volumeId": attached}}).status_code == 200
    body = {"volumeAttachment": {"volumeId": spare}}
    assert api("PUT", f"{path}/{attached}", "p1", body).status_code == 403
    assert api("PUT", f"{path}/{uuid.uuid4()}", "admin", body).status_code == 404
    assert api("PUT", f"{path}/{spare}", "admin", body).status_code == 404  # not attached here
    r = api("PUT", f"{path}/{attached}", "admin", {"volumeAttachment": {"volumeId": str(uuid.uuid4())}})
    assert r.status_code == 400
    r = api("PUT", f"{path}/{attached}", "admin", body)
    assert (
        r.status_code == 501
        and r.json()["notImplemented"]["message"] == "The requested functionality is not supported."
    )
    assert volumes.volumes[attached]["status"] == "in-use" and volumes.volumes[spare]["status"] == "available"


def test_blank_image_id_is_404(api):
    assert api("DELETE", "/images/", "p1").status_code == 404
    assert api("GET", "/images/", "p1").status_code == 404
