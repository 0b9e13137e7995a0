"""The Cinder v3 HTTP API over fake volume drivers: shapes, status codes, errors, isolation."""

from __future__ import annotations

from typing import Any

from .conftest import Api


def create(api: Api, settle: Any, **body: Any) -> dict[str, Any]:
    r = api.post("volumes", {"volume": {"size": 1, "name": "v", **body}})
    assert r.status_code == 202, r.text
    settle()
    return api.get(f"volumes/{r.json()['volume']['id']}").json()["volume"]


def test_version_discovery(http: Any) -> None:
    for path in ("/volume", "/volume/", "/volume/v3", "/volume/v3/"):
        r = http.get(path)
        versions = r.json()["versions"]
        assert versions[0]["id"] == "v3.0" and versions[0]["version"] == "3.71" and versions[0]["min_version"] == "3.0"
        assert versions[0]["links"][0]["href"].endswith("/volume/v3/")


def test_create_show_list_with_osc_body(api: Api, settle: Any) -> None:
    body = {
        "volume": {
            "name": "vol1",
            "size": 1,
            "snapshot_id": None,
            "description": None,
            "volume_type": None,
            "metadata": None,
            "consistencygroup_id": None,
            "source_volid": None,
            "imageRef": None,
            "availability_zone": None,
            "backup_id": None,
        }
    }
    r = api.post("volumes", body, headers={"OpenStack-API-Version": "volume 3.71"})
    assert r.status_code == 202 and r.headers["content-length"] == str(len(r.content))
    assert r.headers["OpenStack-API-Version"] == "volume 3.71"
    vol = r.json()["volume"]
    assert vol["status"] == "creating" and vol["bootable"] == "false" and vol["attachments"] == []
    assert (
        vol["volume_type"] == "__DEFAULT__" and "os-vol-tenant-attr:tenant_id" not in vol
    )  # admins only, and not on create
    settle()
    shown = api.get(f"volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "available" and shown["size"] == 1
    assert "os-vol-host-attr:host" not in shown  # admins only
    listed = api.get("volumes/detail").json()["volumes"]
    assert [v["id"] for v in listed] == [vol["id"]]
    assert api.get("volumes").json()["volumes"][0].keys() == {"id", "name", "links"}
    assert api.get("volumes/vol1").status_code == 404  # OSC looks names up by id first
    assert api.get("volumes/detail?name=vol1").json()["volumes"][0]["id"] == vol["id"]
    assert api.delete(f"volumes/{vol['id']}?cascade=False").status_code == 202
    settle()
    assert api.get(f"volumes/{vol['id']}").status_code == 404


def test_paging_and_filters(api: Api, settle: Any) -> None:
    ids = [create(api, settle, name=f"p{i}", metadata={"k": str(i % 2)})["id"] for i in range(5)]
    first = api.get("volumes/detail?limit=2").json()
    assert len(first["volumes"]) == 2 and first["volumes_links"][0]["rel"] == "next"
    seen = [v["id"] for v in first["volumes"]]
    marker = seen[-1]
    while True:
        page = api.get(f"volumes/detail?limit=2&marker={marker}").json()
        seen += [v["id"] for v in page["volumes"]]
        if "volumes_links" not in page:
            break
        marker = page["volumes"][-1]["id"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert len(api.get('volumes/detail?metadata={"k": "1"}').json()["volumes"]) == 2
    assert api.get("volumes/detail?limit=-1").status_code == 400
    assert api.get("volumes/detail?marker=nope").status_code == 404
    assert api.get("volumes/detail?sort=size:sideways").status_code == 400


def test_other_project_cannot_see_or_attach(api: Api, api_b: Api, settle: Any) -> None:
    vol = create(api, settle)
    assert api_b.get(f"volumes/{vol['id']}").status_code == 404
    assert api_b.get("volumes/detail").json()["volumes"] == []
    r = api_b.post(f"volumes/{vol['id']}/action", {"os-attach": {"instance_uuid": "srv-b", "mountpoint": "/dev/vdb"}})
    assert r.status_code == 404 and "itemNotFound" in r.json()
    r = api_b.post("attachments", {"attachment": {"volume_uuid": vol["id"], "instance_uuid": "srv-b"}})
    assert r.status_code == 404
    assert api_b.delete(f"volumes/{vol['id']}").status_code == 404
    # a token of project B naming project A in the path is refused
    r = api_b.get(f"/volume/v3/{api.project}/volumes/{vol['id']}")
    assert r.status_code == 403 and "forbidden" in r.json()
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["status"] == "available"


def test_bad_input_is_refused_in_cinder_format_and_changes_nothing(api: Api, settle: Any) -> None:
    vol = create(api, settle, size=2)
    r = api.post(f"volumes/{vol['id']}/action", {"os-extend": {"new_size": 1}})
    assert r.status_code == 400 and "greater than current size" in r.json()["badRequest"]["message"]
    r = api.post("volumes", {"volume": {"size": 1, "volume_type": "no-such-type"}})
    assert r.status_code == 404 and "no-such-type" in r.json()["itemNotFound"]["message"]
    for bad in (
        {"size": 0},
        {"size": "big"},
        {"size": True},
        {},
        {"size": 1, "metadata": {"k": 1}},
        {"size": 1, "availability_zone": "mars"},
    ):
        r = api.post("volumes", {"volume": bad})
        assert r.status_code == 400, (bad, r.text)
        assert "badRequest" in r.json()
    assert api.post("volumes", {"nothing": {}}).status_code == 400
    assert api.post(f"volumes/{vol['id']}/action", {"os-frobnicate": {}}).status_code == 400
    assert [v["id"] for v in api.get("volumes/detail").json()["volumes"]] == [vol["id"]]
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["size"] == 2


def test_over_quota_is_413_and_creates_nothing(api: Api, api_admin: Api, settle: Any) -> None:
    r = api_admin.put(f"os-quota-sets/{api.project}", {"quota_set": {"gigabytes": 3, "volumes": 2}})
    assert r.status_code == 200 and r.json()["quota_set"]["gigabytes"] == 3
    create(api, settle, size=2)
    r = api.post("volumes", {"volume": {"size": 2}})
    assert r.status_code == 413 and "gigabytes quota" in r.json()["overLimit"]["message"]
    create(api, settle, size=1)
    r = api.post("volumes", {"volume": {"size": 1}})
    assert r.status_code == 413 and "volumes" in r.json()["overLimit"]["message"]
    q = api.get(f"os-quota-sets/{api.project}?usage=True").json()["quota_set"]
    assert q["gigabytes"] == {"limit": 3, "in_use": 3, "reserved": 0, "allocated": 0}
    assert len(api.get("volumes").json()["volumes"]) == 2
    limits = api.get("limits").json()["limits"]["absolute"]
    assert limits["totalGigabytesUsed"] == 3 and limits["maxTotalVolumes"] == 2
    # members cannot raise their own quota; other projects' quotas are not theirs to read
    assert api.put(f"os-quota-sets/{api.project}", {"quota_set": {"gigabytes": 100}}).status_code == 403
    assert api.get(f"os-quota-sets/{api_admin.project}").status_code == 403


def test_delete_in_use_is_refused(api: Api, settle: Any) -> None:
    vol = create(api, settle)
    assert (
        api.post(
            f"volumes/{vol['id']}/action", {"os-attach": {"instance_uuid": "srv-1", "mountpoint": "/dev/vdb"}}
        ).status_code
        == 202
    )
    shown = api.get(f"volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "in-use" and shown["attachments"][0]["server_id"] == "srv-1"
    r = api.delete(f"volumes/{vol['id']}")
    assert r.status_code == 400 and "attached" in r.json()["badRequest"]["message"]
    # a second server cannot take a volume that is not multi-attach
    r = api.post(f"volumes/{vol['id']}/action", {"os-attach": {"instance_uuid": "srv-2", "mountpoint": "/dev/vdc"}})
    assert r.status_code == 400
    att_id = shown["attachments"][0]["attachment_id"]
    assert api.post(f"volumes/{vol['id']}/action", {"os-detach": {"attachment_id": att_id}}).status_code == 202
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["status"] == "available"


def test_multiattach_type_allows_several_servers(api: Api, api_admin: Api, settle: Any) -> None:
    r = api_admin.post("types", {"volume_type": {"name": "shared", "extra_specs": {"multiattach": "<is> True"}}})
    assert r.status_code == 200
    assert api.post("types", {"volume_type": {"name": "mine"}}).status_code == 403
    vol = create(api, settle, volume_type="shared")
    assert vol["multiattach"] is True and vol["volume_type"] == "shared"
    for server in ("srv-1", "srv-2"):
        r = api.post(
            "attachments",
            {
                "attachment": {
                    "volume_uuid": vol["id"],
                    "instance_uuid": server,
                    "connector": {"host": "fake1", "connection_types": ["fake"]},
                }
            },
            headers={"OpenStack-API-Version": "volume 3.54"},
        )
        assert r.status_code == 200, r.text
        att = r.json()["attachment"]
        assert att["connection_info"]["driver_volume_type"] == "fake"
        assert api.post(f"attachments/{att['id']}/action", {"os-complete": None}).status_code == 204
    shown = api.get(f"volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "in-use" and {a["server_id"] for a in shown["attachments"]} == {"srv-1", "srv-2"}
    # the same server twice is refused
    assert (
        api.post("attachments", {"attachment": {"volume_uuid": vol["id"], "instance_uuid": "srv-1"}}).status_code == 400
    )
    for att in api.get("attachments").json()["attachments"]:
        assert api.delete(f"attachments/{att['id']}").status_code == 200
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["status"] == "available"
    # a type in use cannot be deleted
    type_id = api_admin.get("types").json()["volume_types"]
    shared = next(t for t in type_id if t["name"] == "shared")
    assert api_admin.delete(f"types/{shared['id']}").status_code == 400


def test_snapshots_and_volumes_from_them(api: Api, settle: Any) -> None:
    vol = create(api, settle, size=2)
    r = api.post("snapshots", {"snapshot": {"volume_id": vol["id"], "name": "s1", "force": False}})
    assert r.status_code == 202
    settle()
    snap = api.get(f"snapshots/{r.json()['snapshot']['id']}").json()["snapshot"]
    assert snap["status"] == "available" and snap["size"] == 2
    assert [s["name"] for s in api.get("snapshots/detail").json()["snapshots"]] == ["s1"]
    from_snap = create(api, settle, snapshot_id=snap["id"], size=None)
    assert from_snap["status"] == "available" and from_snap["size"] == 2 and from_snap["snapshot_id"] == snap["id"]
    clone = create(api, settle, source_volid=vol["id"], size=3)
    assert clone["status"] == "available" and clone["source_volid"] == vol["id"]
    r = api.post("volumes", {"volume": {"source_volid": vol["id"], "size": 1}})
    assert r.status_code == 400  # smaller than the source
    r = api.delete(f"volumes/{vol['id']}")
    assert r.status_code == 400 and "dependent snapshots" in r.json()["badRequest"]["message"]
    assert api.delete(f"snapshots/{snap['id']}").status_code == 202
    settle()
    assert api.get(f"snapshots/{snap['id']}").status_code == 404
    q = api.get(f"os-quota-sets/{api.project}?usage=True").json()["quota_set"]
    assert q["snapshots"]["in_use"] == 0 and q["gigabytes"]["in_use"] == 2 + 2 + 3


def test_extend_and_update(api: Api, settle: Any) -> None:
    vol = create(api, settle)
    assert api.post(f"volumes/{vol['id']}/action", {"os-extend": {"new_size": 4}}).status_code == 202
    settle()
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["size"] == 4
    r = api.put(f"volumes/{vol['id']}", {"volume": {"name": "renamed", "description": "d"}})
    assert r.json()["volume"]["name"] == "renamed"
    r = api.post(f"volumes/{vol['id']}/metadata", {"metadata": {"a": "1"}})
    assert r.json()["metadata"] == {"a": "1"}
    assert api.post(f"volumes/{vol['id']}/action", {"os-set_bootable": {"bootable": True}}).status_code == 200
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["bootable"] == "true"


def test_readonly_flag_shows_in_metadata_once_set(api: Api, settle: Any) -> None:
    vol = create(api, settle, metadata={"a": "1"})
    assert vol["metadata"] == {"a": "1"}  # never set: not shown
    for flag in (True, False):
        r = api.post(f"volumes/{vol['id']}/action", {"os-update_readonly_flag": {"readonly": flag}})
        assert r.status_code == 202, r.text
        assert api.get(f"volumes/{vol['id']}").json()["volume"]["metadata"] == {"a": "1", "readonly": str(flag)}
    assert api.get(f"volumes/{vol['id']}/metadata").json()["metadata"] == {"a": "1"}  # the user's own only
    r = api.post(f"volumes/{vol['id']}/action", {"os-update_readonly_flag": {}})
    assert r.status_code == 400 and "readonly" in r.json()["badRequest"]["message"]


def test_admin_services_and_types(api: Api, api_admin: Api) -> None:
    services = api_admin.get("os-services").json()["services"]
    assert services == [
        {**services[0], "binary": "cinder-volume", "host": "overcast@fake", "state": "up", "status": "enabled"}
    ]
    assert api.get("os-services").status_code == 403
    r = api_admin.put("os-services/disable", {"host": "overcast@fake", "binary": "cinder-volume"})
    assert r.status_code == 200 and r.json()["status"] == "disabled"
    # as Cinder: accepted, then in error, with a user message saying why
    r = api.post("volumes", {"volume": {"size": 1}})
    assert r.status_code == 202 and r.json()["volume"]["status"] == "error"
    assert [v["status"] for v in api.get("volumes/detail").json()["volumes"]] == ["error"]
    assert api_admin.get(f"/volume/v3/{api.project}/volumes/{r.json()['volume']['id']}").status_code == 200
    types = api.get("types").json()["volume_types"]
    assert [t["name"] for t in types] == ["__DEFAULT__"] and "extra_specs" not in types[0]
    assert api.get("types/default").json()["volume_type"]["name"] == "__DEFAULT__"


def test_unsupported_microversion_is_406(api: Api) -> None:
    r = api.get("volumes", headers={"OpenStack-API-Version": "volume 3.99"})
    assert r.status_code == 406


def test_availability_zones(api: Api) -> None:
    zones = api.get("os-availability-zone").json()["availabilityZoneInfo"]
    assert zones == [{"zoneName": "nova", "zoneState": {"available": True}}]


def test_volume_and_snapshot_fields_follow_microversion_and_role(api: Api, api_admin: Api, settle: Any) -> None:
    base = {
        "id",
        "name",
        "description",
        "size",
        "status",
        "availability_zone",
        "created_at",
        "updated_at",
        "attachments",
        "bootable",
        "encrypted",
        "multiattach",
        "metadata",
        "snapshot_id",
        "source_volid",
        "volume_type",
        "user_id",
        "replication_status",
        "consistencygroup_id",
        "links",
    }
    r = api.post("volumes", {"volume": {"size": 1, "name": "mv"}})
    assert set(r.json()["volume"]) == base  # 3.0, a member, the create response
    vid = r.json()["volume"]["id"]
    settle()
    tenant = {"os-vol-tenant-attr:tenant_id"}  # GET only; admins and the project's readers
    assert set(api.get(f"volumes/{vid}").json()["volume"]) == base | tenant
    v371 = {"OpenStack-API-Version": "volume 3.71"}
    at_371 = api.get(f"volumes/{vid}", headers=v371).json()["volume"]
    assert set(at_371) == base | tenant | {
        "group_id",
        "service_uuid",
        "shared_targets",
        "volume_type_id",
        "consumes_quota",
    }
    admin_view = api_admin.get(f"/volume/v3/{api.project}/volumes/{vid}", headers=v371).json()["volume"]
    assert set(admin_view) - set(at_371) == {
        "migration_status",
        "provider_id",
        "cluster_name",
        "os-vol-host-attr:host",
        "os-vol-mig-status-attr:migstat",
        "os-vol-mig-status-attr:name_id",
    }
    updated = api_admin.put(f"/volume/v3/{api.project}/volumes/{vid}", {"volume": {"name": "n"}}).json()["volume"]
    assert not [k for k in updated if k.startswith("os-vol-")]
    snap = api.post("snapshots", {"snapshot": {"volume_id": vid, "name": "s"}}).json()["snapshot"]
    assert set(snap) == {
        "id",
        "name",
        "description",
        "volume_id",
        "size",
        "status",
        "created_at",
        "updated_at",
        "metadata",
    }
    settle()
    shown = api.get(f"snapshots/{snap['id']}").json()["snapshot"]
    assert set(shown) - set(snap) == {
        "os-extended-snapshot-attributes:project_id",
        "os-extended-snapshot-attributes:progress",
    }
    at_371 = api.get(f"snapshots/{snap['id']}", headers=v371).json()["snapshot"]
    assert set(at_371) - set(shown) == {"group_snapshot_id", "user_id", "consumes_quota"}


def test_extensions_list(api: Api) -> None:
    r = api.get("extensions")
    assert r.status_code == 200
    aliases = {e["alias"] for e in r.json()["extensions"]}
    assert {"os-vol-tenant-attr", "os-volume-actions", "os-extended-snapshot-attributes"} <= aliases
    assert all(set(e) == {"alias", "name", "description", "links", "updated"} for e in r.json()["extensions"])


def test_metadata_items_for_volumes_and_snapshots(api: Api, settle: Any) -> None:
    vol = create(api, settle)
    snap = api.post("snapshots", {"snapshot": {"volume_id": vol["id"], "metadata": {"a": "1"}}}).json()["snapshot"]
    settle()
    for base in (f"volumes/{vol['id']}/metadata", f"snapshots/{snap['id']}/metadata"):
        assert api.post(base, {"metadata": {"b": "2"}}).json()["metadata"]["b"] == "2"
        assert api.put(f"{base}/c", {"meta": {"c": "3"}}).json() == {"meta": {"c": "3"}}
        assert api.get(f"{base}/c").json() == {"meta": {"c": "3"}}
        assert api.put(f"{base}/c", {"meta": {"d": "3"}}).status_code == 400
        assert api.put(base, {"metadata": {"only": "x"}}).json() == {"metadata": {"only": "x"}}
        assert api.delete(f"{base}/only").status_code == 200
        assert api.get(f"{base}/only").status_code == 404
        assert api.get(base).json() == {"metadata": {}}
    for method in ("GET", "PUT", "DELETE"):
        assert api.request(method, "volumes/").status_code == 404


def _v(minor: int) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume 3.{minor}"}


def test_summary_sort_offset_and_clones_as_cinder(api: Any, api_admin: Any, settle: Any) -> None:
    a = create(api, settle, name="a", metadata={"k": "1"})
    b = create(api, settle, name="b", metadata={"k": "2"})
    assert api.get("volumes/summary").status_code == 404  # before 3.12
    summary = api.get("volumes/summary", headers=_v(36)).json()["volume-summary"]
    assert summary == {"total_size": 2, "total_count": 2, "metadata": {"k": ["1", "2"]}}
    assert "metadata" not in api.get("volumes/summary", headers=_v(12)).json()["volume-summary"]
    names = [v["name"] for v in api.get("volumes?sort_key=name&sort_dir=asc").json()["volumes"]]
    assert names == ["a", "b"]
    assert [v["name"] for v in api.get("volumes?sort=name:asc&offset=1").json()["volumes"]] == ["b"]
    assert api.get("volumes?sort_key=bogus").status_code == 400
    for vol in (a, b):
        api.post("snapshots", {"snapshot": {"volume_id": vol["id"], "name": "s-" + vol["name"]}})
    settle()
    snaps = [s["name"] for s in api.get("snapshots?sort_key=name&sort_dir=desc").json()["snapshots"]]
    assert snaps == ["s-b", "s-a"]
    assert [s["name"] for s in api.get("snapshots?sort_key=name&sort_dir=asc&offset=1").json()["snapshots"]] == ["s-b"]
    # a clone of a bootable volume is bootable
    assert api.post(f"volumes/{a['id']}/action", {"os-set_bootable": {"bootable": True}}).status_code == 200
    clone = create(api, settle, source_volid=a["id"])
    assert clone["bootable"] == "true"
    # reset-status takes Cinder's maintenance, which only a force-delete gets past
    r = api_admin.post(
        f"/volume/v3/{api.project}/volumes/{b['id']}/action", {"os-reset_status": {"status": "maintenance"}}
    )
    assert r.status_code == 202, r.text
    assert api.delete(f"volumes/{b['id']}").status_code == 400


def test_type_create_and_services_follow_cinder_shapes(api_admin: Any) -> None:
    made = api_admin.post("types", {"volume_type": {"name": "t-shape"}}).json()["volume_type"]
    assert "qos_specs_id" not in made  # not in Cinder's create response
    assert api_admin.get(f"types/{made['id']}").json()["volume_type"]["qos_specs_id"] is None
    base = api_admin.get("os-services").json()["services"][0]
    assert "cluster" not in base and "backend_state" not in base
    later = api_admin.get("os-services", headers=_v(49)).json()["services"][0]
    assert later["cluster"] is None and later["backend_state"] in ("up", "down")
