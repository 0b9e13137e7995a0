"""Compute API through HTTP: shapes, microversions, errors, isolation."""

from .conftest import IMAGE_ID, api_wait


def _create(api, flavor_id, name="vm1", who="p1", **extra):
    body = {"server": {"name": name, "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none", **extra}}
    return api("POST", "/servers", who, body)


def test_version_discovery_and_echo(api):
    root = api.client.get("/compute/").json()
    assert root["versions"][1]["version"] == "2.79" and root["versions"][1]["min_version"] == "2.1"
    r = api.client.get("/compute/v2.1", headers={"X-Auth-Token": api.tokens["p1"]})
    assert r.json()["version"]["id"] == "v2.1"
    r = api("GET", "/flavors", version="2.30")
    assert r.headers["OpenStack-API-Version"] == "compute 2.30"
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.30"
    assert "OpenStack-API-Version" in r.headers["Vary"]
    r = api("GET", "/flavors", version="2.99")
    assert r.status_code == 406
    r = api.client.get(
        "/compute/v2.1/flavors", headers={"X-Auth-Token": api.tokens["p1"], "X-OpenStack-Nova-API-Version": "2.25"}
    )
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.25"


def test_create_show_list_update_delete(api, api_flavor, compute):
    r = _create(api, api_flavor["id"], metadata={"k": "v"}, config_drive=True)
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    assert r.headers["Location"].endswith(f"/servers/{sid}")
    server = api_wait(api, compute, sid, "ACTIVE")
    assert server["metadata"] == {"k": "v"}
    assert server["flavor"]["id"] == api_flavor["id"] and server["image"]["id"] == IMAGE_ID
    assert server["OS-EXT-STS:vm_state"] == "active" and server["OS-EXT-STS:power_state"] == 1
    assert "OS-EXT-SRV-ATTR:host" not in server  # admin-only
    admin_view = api("GET", f"/servers/{sid}", "admin").json()["server"]
    assert admin_view["OS-EXT-SRV-ATTR:host"] in ("fake1", "fake2")
    names = [s["name"] for s in api("GET", "/servers/detail?name=^vm").json()["servers"]]
    assert names == ["vm1"]
    assert api("GET", "/servers?name=nomatch").json()["servers"] == []
    r = api("PUT", f"/servers/{sid}", json={"server": {"name": "renamed"}})
    assert r.json()["server"]["name"] == "renamed"
    assert api("GET", "/servers/renamed").status_code == 404  # a name in the id slot
    r = api("DELETE", f"/servers/{sid}")
    assert r.status_code == 204 and r.content == b""
    compute.runner.wait_idle()
    assert api("GET", f"/servers/{sid}").status_code == 404
    gone = api("GET", "/servers/detail?changes-since=2000-01-01T00:00:00Z").json()["servers"]
    assert [s["status"] for s in gone] == ["DELETED"]


def test_paging_and_bad_filters(api, api_flavor, compute):
    ids = [_create(api, api_flavor["id"], name=f"s{i}").json()["server"]["id"] for i in range(3)]
    compute.runner.wait_idle()
    page = api("GET", "/servers?limit=2").json()
    assert len(page["servers"]) == 2 and "servers_links" in page
    rest = api("GET", f"/servers?limit=2&marker={page['servers'][-1]['id']}").json()
    assert {s["id"] for s in page["servers"] + rest["servers"]} == set(ids)
    assert api("GET", "/servers?marker=nope").status_code == 400
    assert api("GET", "/servers?changes-since=yesterday").status_code == 400
    r = api("GET", "/servers?status=BOGUS")  # Nova: an unknown status matches nothing
    assert r.status_code == 200 and r.json()["servers"] == []


def test_bad_create_input_changes_nothing(api, api_flavor, compute):
    r = _create(api, "no-such-flavor")
    assert r.status_code == 400 and "Flavor no-such-flavor could not be found" in r.json()["badRequest"]["message"]
    r = api(
        "POST",
        "/servers",
        json={"server": {"name": "x", "flavorRef": api_flavor["id"], "imageRef": "nope", "networks": "none"}},
    )
    assert r.status_code == 400 and "Image nope could not be found" in r.json()["badRequest"]["message"]
    r = api("POST", "/servers", json={"server": {"name": "x", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID}})
    assert r.status_code == 400  # networks is required from 2.37
    r = api(
        "POST",
        "/servers",
        json={"server": {"name": "", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}},
    )
    assert r.status_code == 400
    assert api("POST", "/servers", json=None, data=b"{not json").status_code == 400
    r = _create(api, api_flavor["id"], config_drive="maybe")
    assert r.status_code == 400 and "config_drive" in r.json()["badRequest"]["message"]
    r = _create(api, api_flavor["id"], user_data="not base64!")
    assert r.status_code == 400 and "base 64" in r.json()["badRequest"]["message"]
    assert api("GET", "/servers").json()["servers"] == []
    limits = api("GET", "/limits").json()["limits"]["absolute"]
    assert limits["totalInstancesUsed"] == 0 and limits["totalCoresUsed"] == 0


def test_over_quota_is_403(api, api_flavor, compute):
    p1 = api.projects["p1"]
    r = api("PUT", f"/os-quota-sets/{p1}", "admin", {"quota_set": {"instances": 1}})
    assert r.status_code == 200 and r.json()["quota_set"]["instances"] == 1
    assert api("PUT", f"/os-quota-sets/{p1}", "p1", {"quota_set": {"instances": 50}}).status_code == 403
    assert api("GET", f"/os-quota-sets/{p1}", "p2").status_code == 403
    assert _create(api, api_flavor["id"]).status_code == 202
    r = _create(api, api_flavor["id"], name="vm2")
    assert r.status_code == 403 and "Quota exceeded for instances" in r.json()["forbidden"]["message"]
    assert len(api("GET", "/servers").json()["servers"]) == 1


def test_no_valid_host_is_error_with_reason(api, compute):
    r = api("POST", "/flavors", "admin", {"flavor": {"name": "huge", "ram": 10**7, "vcpus": 1, "disk": 1}})
    fid = r.json()["flavor"]["id"]
    api("PUT", f"/os-quota-sets/{api.projects['p1']}", "admin", {"quota_set": {"ram": -1}})
    sid = _create(api, fid).json()["server"]["id"]
    server = api_wait(api, compute, sid, "ERROR")
    assert server["fault"]["code"] == 500
    assert (
        "No valid host was found" in server["fault"]["message"] and "RamFilter rejected 2" in server["fault"]["message"]
    )


def test_wrong_state_is_409_and_isolation(api, api_flavor, compute):
    sid = _create(api, api_flavor["id"]).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    r = api("POST", f"/servers/{sid}/action", json={"os-start": None})
    assert r.status_code == 409 and "conflictingRequest" in r.json()
    # another project can neither see nor act on it
    assert api("GET", f"/servers/{sid}", "p2").status_code == 404
    assert api("POST", f"/servers/{sid}/action", "p2", {"os-stop": None}).status_code == 404
    assert api("DELETE", f"/servers/{sid}", "p2").status_code == 404
    assert api("GET", "/servers", "p2").json()["servers"] == []
    assert api("GET", "/servers/detail?all_tenants=1", "p2").json()["servers"] == []
    assert len(api("GET", "/servers/detail?all_tenants=1", "admin").json()["servers"]) == 1
    # readers cannot act; unknown actions are 400
    assert api("POST", f"/servers/{sid}/action", "reader", {"os-stop": None}).status_code == 403
    assert api("POST", f"/servers/{sid}/action", json={"frobnicate": None}).status_code == 400
    assert api("GET", f"/servers/{sid}", "p1").json()["server"]["status"] == "ACTIVE"


def test_every_action_over_http(api, api_flavor, compute):
    sid = _create(api, api_flavor["id"]).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    steps = [
        ({"os-stop": None}, "SHUTOFF"),
        ({"os-start": None}, "ACTIVE"),
        ({"reboot": {"type": "SOFT"}}, "ACTIVE"),
        ({"reboot": {"type": "HARD"}}, "ACTIVE"),
        ({"pause": None}, "PAUSED"),
        ({"unpause": None}, "ACTIVE"),
        ({"suspend": None}, "SUSPENDED"),
        ({"resume": None}, "ACTIVE"),
    ]
    for body, status in steps:
        r = api("POST", f"/servers/{sid}/action", json=body)
        assert r.status_code == 202 and r.content == b"", (body, r.text)
        api_wait(api, compute, sid, status)
    out = api("POST", f"/servers/{sid}/action", json={"os-getConsoleOutput": {"length": 5}}).json()["output"]
    assert "FAKE-REBOOTED" in out and len(out.split("\n")) == 5
    r = api("POST", f"/servers/{sid}/action", json={"createImage": {"name": "snap"}})
    assert r.status_code == 202 and "/image/v2/images/" in r.headers["Location"]
    image_id = r.headers["Location"].rsplit("/", 1)[-1]
    api_wait(api, compute, sid, "ACTIVE")
    assert compute.runtime.service("image").images[image_id]["status"] == "active"
    assert compute.runtime.service("image").images[image_id]["ref"].disk_format == "raw"
    # migrations are admin-only
    assert api("POST", f"/servers/{sid}/action", json={"migrate": None}).status_code == 403
    host = api("GET", f"/servers/{sid}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]
    r = api("POST", f"/servers/{sid}/action", "admin", {"os-migrateLive": {"host": None, "block_migration": "auto"}})
    assert r.status_code == 202
    moved = api_wait(api, compute, sid, "ACTIVE", "admin")
    assert moved["OS-EXT-SRV-ATTR:host"] != host
    assert api("POST", f"/servers/{sid}/action", "admin", {"migrate": None}).status_code == 202
    api_wait(api, compute, sid, "VERIFY_RESIZE", "admin")
    assert api("POST", f"/servers/{sid}/action", json={"confirmResize": None}).status_code == 204
    final = api_wait(api, compute, sid, "ACTIVE", "admin")
    assert final["OS-EXT-SRV-ATTR:host"] == host


def test_flavors_keypairs_groups_and_admin_views(api, api_flavor):
    assert api("POST", "/flavors", "p1", {"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1}}).status_code == 403
    assert (
        api("POST", "/flavors", "admin", {"flavor": {"name": "m1.tiny", "ram": 1, "vcpus": 1, "disk": 1}}).status_code
        == 409
    )
    assert (
        api("POST", "/flavors", "admin", {"flavor": {"name": "bad", "ram": -1, "vcpus": 1, "disk": 1}}).status_code
        == 400
    )
    listed = api("GET", "/flavors/detail?is_public=None").json()["flavors"]
    assert listed[0]["swap"] == "" and listed[0]["os-flavor-access:is_public"] is True
    r = api(
        "POST", f"/flavors/{api_flavor['id']}/os-extra_specs", "admin", {"extra_specs": {"hw:cpu_policy": "shared"}}
    )
    assert r.json() == {"extra_specs": {"hw:cpu_policy": "shared"}}
    priv = api(
        "POST",
        "/flavors",
        "admin",
        {"flavor": {"name": "priv", "ram": 1, "vcpus": 1, "disk": 1, "os-flavor-access:is_public": False}},
    ).json()["flavor"]
    assert api("GET", f"/flavors/{priv['id']}", "p1").status_code == 404
    api("POST", f"/flavors/{priv['id']}/action", "admin", {"addTenantAccess": {"tenant": api.projects["p1"]}})
    assert api("GET", f"/flavors/{priv['id']}", "p1").status_code == 200
    assert api("GET", f"/flavors/{priv['id']}", "p2").status_code == 404
    r = api("POST", "/os-keypairs", json={"keypair": {"name": "k1"}})
    assert r.status_code == 201 and "PRIVATE KEY" in r.json()["keypair"]["private_key"]
    assert api("POST", "/os-keypairs", json={"keypair": {"name": "k1"}}).status_code == 409
    assert api("POST", "/os-keypairs", json={"keypair": {"name": "k2", "public_key": "garbage"}}).status_code == 400
    assert [k["keypair"]["name"] for k in api("GET", "/os-keypairs").json()["keypairs"]] == ["k1"]
    assert api("GET", "/os-keypairs/k1", "p2").status_code == 404
    g = api("POST", "/os-server-groups", json={"server_group": {"name": "g", "policies": ["anti-affinity"]}})
    assert g.status_code == 200 and g.json()["server_group"]["policies"] == ["anti-affinity"]
    assert api("GET", f"/os-server-groups/{g.json()['server_group']['id']}", "p2").status_code == 404
    hyp = api("GET", "/os-hypervisors/detail", "admin").json()["hypervisors"]
    assert {h["hypervisor_hostname"] for h in hyp} == {"fake1", "fake2"} and all(h["state"] == "up" for h in hyp)
    assert api("GET", "/os-hypervisors", "p1").status_code == 403
    stats = api("GET", "/os-hypervisors/statistics", "admin").json()["hypervisor_statistics"]
    assert stats["count"] == 2 and stats["vcpus"] == 32
    services = api("GET", "/os-services", "admin").json()["services"]
    assert {(s["binary"], s["host"], s["state"]) for s in services} >= {("nova-compute", "fake1", "up")}
    zones = api("GET", "/os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]


def test_lock_actions_log_and_disabled_hosts(api, api_flavor, compute):
    sid = _create(api, api_flavor["id"]).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    assert api("POST", f"/servers/{sid}/action", json={"lock": None}).status_code == 202
    assert api("GET", f"/servers/{sid}").json()["server"]["locked"] is True
    assert api("POST", f"/servers/{sid}/action", json={"os-stop": None}).status_code == 409
    assert api("POST", f"/servers/{sid}/action", json={"unlock": None}).status_code == 202
    assert api("POST", f"/servers/{sid}/action", json={"os-stop": None}).status_code == 202
    api_wait(api, compute, sid, "SHUTOFF")
    actions = api("GET", f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["stop", "unlock", "lock", "create"]  # lock recorded (issue 18)
    assert api("GET", f"/servers/{sid}/os-instance-actions", "p2").status_code == 404
    # a disabled host takes no new servers; ComputeFilter says so when none is left
    for host in ("fake1", "fake2"):
        r = api(
            "PUT",
            "/os-services/disable-log-reason",
            "admin",
            {"host": host, "binary": "nova-compute", "disabled_reason": "maintenance"},
        )
        assert r.status_code == 200 and r.json()["service"]["status"] == "disabled"
    assert api("PUT", "/os-services/disable", "p1", {"host": "fake1", "binary": "nova-compute"}).status_code == 403
    late = _create(api, api_flavor["id"], name="late").json()["server"]["id"]
    failed = api_wait(api, compute, late, "ERROR")
    assert "ComputeFilter rejected 2" in failed["fault"]["message"]
    services = api("GET", "/os-services", "admin").json()["services"]
    assert {s["host"]: s["status"] for s in services if s["binary"] == "nova-compute"} == {
        "fake1": "disabled",
        "fake2": "disabled",
    }
    api("PUT", "/os-services/enable", "admin", {"host": "fake1", "binary": "nova-compute"})
    ok = _create(api, api_flavor["id"], name="ok").json()["server"]["id"]
    assert api_wait(api, compute, ok, "ACTIVE", "admin")


def test_server_tags(api, api_flavor, compute):
    sid = _create(api, api_flavor["id"]).json()["server"]["id"]
    other = _create(api, api_flavor["id"], name="other").json()["server"]["id"]
    assert api("GET", f"/servers/{sid}/tags", version="2.25").status_code == 404
    assert api("PUT", f"/servers/{sid}/tags", json={"tags": ["b", "a"]}).json() == {"tags": ["a", "b"]}
    assert api("PUT", f"/servers/{sid}/tags/c").status_code == 201
    assert api("PUT", f"/servers/{sid}/tags/c").status_code == 204
    assert api("GET", f"/servers/{sid}/tags/c").status_code == 204
    assert api("GET", f"/servers/{sid}/tags/zz").status_code == 404
    assert api("PUT", f"/servers/{sid}/tags", json={"tags": ["bad,tag"]}).status_code == 400
    assert api("GET", f"/servers/{sid}/tags", "p2").status_code == 404
    assert api("GET", f"/servers/{sid}").json()["server"]["tags"] == ["a", "b", "c"]
    assert [s["id"] for s in api("GET", "/servers?tags=a,c").json()["servers"]] == [sid]
    assert [s["id"] for s in api("GET", "/servers?not-tags-any=a").json()["servers"]] == [other]
    assert api("DELETE", f"/servers/{sid}/tags/a").status_code == 204
    assert api("DELETE", f"/servers/{sid}/tags").status_code == 204
    assert api("GET", f"/servers/{sid}/tags").json() == {"tags": []}


def test_hypervisor_and_keypair_paging(api):
    page = api("GET", "/os-hypervisors?limit=1", "admin").json()
    assert len(page["hypervisors"]) == 1 and "hypervisors_links" in page
    rest = api("GET", f"/os-hypervisors?limit=1&marker={page['hypervisors'][0]['id']}", "admin").json()
    assert {page["hypervisors"][0]["hypervisor_hostname"], rest["hypervisors"][0]["hypervisor_hostname"]} == {
        "fake1",
        "fake2",
    }
    for name in ("k1", "k2", "k3"):
        assert api("POST", "/os-keypairs", json={"keypair": {"name": name}}).status_code == 201
    first = api("GET", "/os-keypairs?limit=2").json()
    assert [k["keypair"]["name"] for k in first["keypairs"]] == ["k1", "k2"] and "keypairs_links" in first
    assert [k["keypair"]["name"] for k in api("GET", "/os-keypairs?marker=k2").json()["keypairs"]] == ["k3"]


def test_scheduler_hints_where_the_cli_sends_them_are_honoured(api, api_flavor, compute):
    """``openstack server create --hint group=G`` sends ``OS-SCH-HNT:scheduler_hints`` beside
    ``server`` (issue 22): the anti-affinity group is enforced, not dropped."""
    group = api(
        "POST", "/os-server-groups", json={"server_group": {"name": "g", "policies": ["anti-affinity"]}}
    ).json()["server_group"]

    def create(name, hints, key="OS-SCH-HNT:scheduler_hints"):
        body = {
            "server": {"name": name, "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"},
            key: hints,
        }
        return api("POST", "/servers", json=body)

    a = create("a", {"group": group["id"]}).json()["server"]["id"]
    b = create("b", {"group": group["id"]}, key="os:scheduler_hints").json()["server"]["id"]
    hosts = {
        api_wait(api, compute, sid, "ACTIVE", who="p1")["id"]: api("GET", f"/servers/{sid}", "admin").json()["server"][
            "OS-EXT-SRV-ATTR:host"
        ]
        for sid in (a, b)
    }
    assert len(set(hosts.values())) == 2
    members = api("GET", f"/os-server-groups/{group['id']}").json()["server_group"]["members"]
    assert sorted(members) == sorted([a, b])
    c = create("c", {"group": group["id"]}).json()["server"]["id"]
    assert api_wait(api, compute, c, "ERROR")["status"] == "ERROR"  # two fake hosts, both taken
    # a hint nothing here honours is refused, not dropped; so are hints inside "server"
    r = create("d", {"query": '["=", "$free_ram_mb", 1024]'})
    assert r.status_code == 400 and "query" in r.json()["badRequest"]["message"]
    r = create("d", ["group"])
    assert r.status_code == 400
    r = api(
        "POST",
        "/servers",
        json={
            "server": {
                "name": "d",
                "flavorRef": api_flavor["id"],
                "imageRef": IMAGE_ID,
                "networks": "none",
                "os:scheduler_hints": {"group": group["id"]},
            }
        },
    )
    assert r.status_code == 400 and "os:scheduler_hints" in r.json()["badRequest"]["message"]
    assert len(api("GET", "/servers").json()["servers"]) == 3


def test_a_fault_traceback_is_shown_to_admins_only(api, api_flavor, compute):
    """A controller-side failure records its traceback in the fault's details; Nova shows a
    500 fault's details to admins only (issue 22)."""
    sid = _create(api, api_flavor["id"], name="doomed").json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    try:
        raise RuntimeError("embedded null character")
    except RuntimeError as exc:
        compute.transitions.fault(sid, exc, vm_state="error")
    mine = api("GET", f"/servers/{sid}").json()["server"]
    assert mine["status"] == "ERROR" and mine["fault"]["code"] == 500 and "details" not in mine["fault"]
    admin = api("GET", f"/servers/{sid}", "admin").json()["server"]["fault"]
    assert "Traceback" in admin["details"] and "embedded null character" in admin["details"]


def test_version_discovery_lists_v2_0_then_v2_1_and_serves_v2_at_base(api, api_flavor):
    versions = api.client.get("/compute/").json()["versions"]
    assert [v["id"] for v in versions] == ["v2.0", "v2.1"]
    assert versions[0]["status"] == "SUPPORTED" and versions[0]["links"][0]["href"].endswith("/compute/v2/")
    assert api.client.get("/compute/v2/").json()["version"]["id"] == "v2.0"
    # the legacy endpoint is the v2.1 API at 2.1, whatever microversion is asked for
    headers = {"X-Auth-Token": api.tokens["p1"], "OpenStack-API-Version": "compute 2.37"}
    r = api.client.get(f"/compute/v2/flavors/{api_flavor['id']}", headers=headers)
    assert r.status_code == 200 and r.json()["flavor"]["id"] == api_flavor["id"]
    assert r.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    assert api.client.get("/compute/v2/servers/nope", headers=headers).status_code == 404


def test_admin_pass_and_access_ips(api, api_flavor, compute):
    r = _create(
        api,
        api_flavor["id"],
        adminPass="given-pass",
        accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2",
        accessIPv4="1.1.1.1",
    )
    assert r.status_code == 202 and r.json()["server"]["adminPass"] == "given-pass"
    sid = r.json()["server"]["id"]
    server = api_wait(api, compute, sid, "ACTIVE")
    assert (server["accessIPv4"], server["accessIPv6"]) == ("1.1.1.1", "::babe:dc0c:1602")
    generated = _create(api, api_flavor["id"], name="vm2").json()["server"]["adminPass"]
    assert len(generated) >= 8
    assert _create(api, api_flavor["id"], accessIPv6="notanip").status_code == 400
    assert _create(api, api_flavor["id"], accessIPv4="1.1.1.300").status_code == 400
    r = api("PUT", f"/servers/{sid}", json={"server": {"accessIPv6": "2001:0db8:0000:0000:0000:0000:0000:0001"}})
    assert r.json()["server"]["accessIPv6"] == "2001:db8::1"
    assert api("PUT", f"/servers/{sid}", json={"server": {"accessIPv4": "x"}}).status_code == 400


def test_multiple_create(api, api_flavor, compute):
    r = _create(api, api_flavor["id"], name="many", min_count=2, max_count=3)
    assert r.status_code == 202 and "reservation_id" not in r.json()
    compute.runner.wait_idle()
    names = sorted(s["name"] for s in api("GET", "/servers").json()["servers"])
    assert names == ["many-1", "many-2", "many-3"]
    assert _create(api, api_flavor["id"], min_count=3, max_count=2).status_code == 400
    assert _create(api, api_flavor["id"], min_count=0).status_code == 400
    # the request's reservation id instead of a server: the one all its servers carry
    r = _create(api, api_flavor["id"], name="resv", min_count=2, max_count=2, return_reservation_id=True)
    assert r.status_code == 202 and set(r.json()) == {"reservation_id"}, r.text
    rid = r.json()["reservation_id"]
    assert rid.startswith("r-") and len(rid) == 10
    compute.runner.wait_idle()
    same = api("GET", f"/servers?reservation_id={rid}").json()["servers"]
    assert sorted(s["name"] for s in same) == ["resv-1", "resv-2"]
    detail = api("GET", f"/servers/{same[0]['id']}", "admin", version="2.3").json()["server"]
    assert detail["OS-EXT-SRV-ATTR:reservation_id"] == rid
    assert _create(api, api_flavor["id"], return_reservation_id="maybe").status_code == 400
    for s in same:
        api("DELETE", f"/servers/{s['id']}")
    compute.runner.wait_idle()
    # as many as the quota allows, at least min_count (instances quota: 10 by default)
    r = _create(api, api_flavor["id"], name="fill", min_count=1, max_count=50)
    assert r.status_code == 202
    compute.runner.wait_idle()
    assert len(api("GET", "/servers").json()["servers"]) == 10
    r = _create(api, api_flavor["id"], name="over", min_count=1)
    assert r.status_code == 403
    assert len(api("GET", "/servers").json()["servers"]) == 10


def test_server_metadata_api(api, api_flavor, compute):
    sid = _create(api, api_flavor["id"], metadata={"a": "1", "b": "2"}).json()["server"]["id"]
    base = f"/servers/{sid}/metadata"
    assert api("GET", base).json() == {"metadata": {"a": "1", "b": "2"}}
    r = api("POST", base, json={"metadata": {"b": "20", "c": "3"}})
    assert r.status_code == 200 and r.json() == {"metadata": {"a": "1", "b": "20", "c": "3"}}
    r = api("PUT", base, json={"metadata": {"x": "9"}})
    assert r.status_code == 200 and r.json() == {"metadata": {"x": "9"}}
    assert api("GET", base).json() == {"metadata": {"x": "9"}}
    r = api("PUT", f"{base}/y", json={"meta": {"y": "8"}})
    assert r.status_code == 200 and r.json() == {"meta": {"y": "8"}}
    assert api("GET", f"{base}/y").json() == {"meta": {"y": "8"}}
    assert api("PUT", f"{base}/y", json={"meta": {"z": "8"}}).status_code == 400  # body and URI mismatch
    assert api("PUT", f"{base}/y", json={"meta": {"y": "1", "z": "2"}}).status_code == 400
    assert api("DELETE", f"{base}/x").status_code == 204
    assert api("GET", f"{base}/x").status_code == 404
    assert api("DELETE", f"{base}/x").status_code == 404
    assert api("GET", f"/servers/{sid}").json()["server"]["metadata"] == {"y": "8"}
    assert api("POST", base, json={"metadata": {f"k{i}": "v" for i in range(129)}}).status_code == 403  # the quota
    assert api("GET", base, "p2").status_code == 404  # another project's server
    assert api("POST", base, "reader", json={"metadata": {"r": "1"}}).status_code == 403


def test_update_response_has_extended_attributes_only_from_2_75(api, api_flavor, compute):
    sid = _create(api, api_flavor["id"]).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    basic = {
        "id",
        "name",
        "status",
        "tenant_id",
        "user_id",
        "metadata",
        "hostId",
        "image",
        "flavor",
        "created",
        "updated",
        "addresses",
        "accessIPv4",
        "accessIPv6",
        "links",
        "OS-DCF:diskConfig",
        "progress",
    }
    at_21 = api("PUT", f"/servers/{sid}", json={"server": {"name": "a"}}, version="2.1").json()["server"]
    assert set(at_21) == basic
    at_237 = api("PUT", f"/servers/{sid}", json={"server": {"name": "b"}}).json()["server"]
    assert set(at_237) == basic | {"locked", "description", "tags"}
    shown = api("GET", f"/servers/{sid}").json()["server"]
    assert {"OS-EXT-STS:vm_state", "OS-EXT-AZ:availability_zone", "key_name"} <= set(shown)
    assert "security_groups" not in shown  # no port, so no group: Nova leaves the field out
    admin_update = api("PUT", f"/servers/{sid}", "admin", json={"server": {"name": "c"}}).json()["server"]
    assert not [k for k in admin_update if k.startswith("OS-EXT-")]


def test_quota_sets_have_every_key_of_the_microversion(api):
    p1 = api.projects["p1"]
    at_21 = api("GET", f"/os-quota-sets/{p1}", version="2.1").json()["quota_set"]
    assert set(at_21) == {
        "id",
        "instances",
        "cores",
        "ram",
        "floating_ips",
        "fixed_ips",
        "metadata_items",
        "key_pairs",
        "security_groups",
        "security_group_rules",
        "server_groups",
        "server_group_members",
        "injected_files",
        "injected_file_content_bytes",
        "injected_file_path_bytes",
    }
    assert at_21["floating_ips"] == 50 and at_21["security_groups"] == 10  # Neutron's limits, which enforce them
    defaults = api("GET", f"/os-quota-sets/{p1}/defaults", version="2.1").json()["quota_set"]
    assert set(defaults) == set(at_21)
    at_237 = api("GET", f"/os-quota-sets/{p1}").json()["quota_set"]
    assert not {"floating_ips", "fixed_ips", "security_groups", "security_group_rules"} & set(at_237)
    detail = api("GET", f"/os-quota-sets/{p1}/detail").json()["quota_set"]
    assert detail["metadata_items"] == {"limit": 128, "in_use": 0, "reserved": 0}
    r = api("PUT", f"/os-quota-sets/{p1}", "admin", {"quota_set": {"cores": 7, "metadata_items": 128}}, version="2.1")
    assert r.status_code == 200 and r.json()["quota_set"]["cores"] == 7 and r.json()["quota_set"]["floating_ips"] == 50
    # issue 16: every key of the version is set; the network ones in the network service, which enforces them
    every = {k: 20 for k in at_21 if k != "id"}
    r = api("PUT", f"/os-quota-sets/{p1}", "admin", {"quota_set": {**every, "force": True}}, version="2.1")
    assert r.status_code == 200, r.text
    assert {k: v for k, v in r.json()["quota_set"].items() if k != "id"} == every
    neutron = api.client.get(f"/networking/v2.0/quotas/{p1}", headers={"X-Auth-Token": api.tokens["admin"]}).json()
    assert neutron["quota"]["floatingip"] == 20 and neutron["quota"]["security_group_rule"] == 20
    r = api("PUT", f"/os-quota-sets/{p1}", "admin", {"quota_set": {"fixed_ips": 5}}, version="2.36")
    assert r.status_code == 400 and "fixed_ips" in r.json()["badRequest"]["message"]
    r = api("PUT", f"/os-quota-sets/{p1}", "admin", {"quota_set": {"floating_ips": -2}}, version="2.1")
    assert r.status_code == 400
    limits = api("GET", "/limits").json()["limits"]["absolute"]
    assert (limits["maxServerMeta"], limits["maxServerGroupMembers"]) == (20, 20)


def test_server_ips(api, api_flavor, compute):
    sid = _create(api, api_flavor["id"]).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    r = api("GET", f"/servers/{sid}/ips")
    assert r.status_code == 200 and r.json() == {"addresses": {}}
    assert api("GET", f"/servers/{sid}/ips/private").status_code == 404
    assert api("GET", f"/servers/{sid}/ips", "p2").status_code == 404


def test_plain_addresses_drop_the_extensions():
    from overcast.api.compute.views import plain_addresses

    full = {
        "tenant": [
            {
                "version": 4,
                "addr": "10.0.0.5",
                "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:01",
            }
        ]
    }
    assert plain_addresses(full) == {"tenant": [{"version": 4, "addr": "10.0.0.5"}]}


def test_rebuild(api, api_flavor, compute):
    from .conftest import IMAGE_ID

    images = compute.runtime.service("image")
    other = "22222222-2222-4222-8222-222222222222"
    images.add(other)
    sid = _create(api, api_flavor["id"], metadata={"old": "1"}).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    body = {
        "rebuild": {
            "imageRef": other,
            "name": "rebuilt",
            "metadata": {"rebuild": "server"},
            "adminPass": "pw1",
            "accessIPv6": "2001:db8:0:0:0:0:0:1",
        }
    }
    r = api("POST", f"/servers/{sid}/action", json=body, version="2.1")
    assert r.status_code == 202, r.text
    server = r.json()["server"]
    assert server["adminPass"] == "pw1" and server["image"]["id"] == other and server["status"] == "REBUILD"
    assert "OS-EXT-STS:vm_state" not in server  # the update view before 2.75
    done = api_wait(api, compute, sid, "ACTIVE")
    assert (done["name"], done["metadata"], done["image"]["id"], done["accessIPv6"]) == (
        "rebuilt",
        {"rebuild": "server"},
        other,
        "2001:db8::1",
    )
    actions = [a["action"] for a in api("GET", f"/servers/{sid}/os-instance-actions").json()["instanceActions"]]
    assert "rebuild" in actions
    # a stopped server is stopped again afterwards
    api("POST", f"/servers/{sid}/action", json={"os-stop": None})
    api_wait(api, compute, sid, "SHUTOFF")
    assert api("POST", f"/servers/{sid}/action", json={"rebuild": {"imageRef": IMAGE_ID}}).status_code == 202
    assert api_wait(api, compute, sid, "SHUTOFF")["image"]["id"] == IMAGE_ID
    # refused, changing nothing
    for bad in (
        {"imageRef": "nope"},
        {},
        {"imageRef": IMAGE_ID, "personality": []},
        {"imageRef": IMAGE_ID, "preserve_ephemeral": True},
    ):
        assert api("POST", f"/servers/{sid}/action", json={"rebuild": bad}).status_code == 400, bad
    assert api("POST", "/servers/no-such-server/action", json={"rebuild": {"imageRef": IMAGE_ID}}).status_code == 404
    assert api("GET", f"/servers/{sid}").json()["server"]["image"]["id"] == IMAGE_ID
