"""Generic volume groups, group types and group snapshots; quota classes (issues 16 and 18)."""

from __future__ import annotations

from typing import Any

from .conftest import Api

V = {"OpenStack-API-Version": "volume 3.38"}


def _setup(api: Api, api_admin: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    vtype = api_admin.post("types", {"volume_type": {"name": "g-vt"}}).json()["volume_type"]
    r = api_admin.post("group_types", {"group_type": {"name": "gt", "group_specs": {"k": "v"}}}, headers=V)
    assert r.status_code == 202, r.text
    return vtype, r.json()["group_type"]


def test_group_types(api: Api, api_admin: Api) -> None:
    assert api_admin.get("group_types").status_code == 404  # before 3.11
    _, gtype = _setup(api, api_admin)
    assert gtype["group_specs"] == {"k": "v"} and gtype["is_public"] is True
    private = api_admin.post("group_types", {"group_type": {"name": "a-priv", "is_public": False}}, headers=V)
    pid = private.json()["group_type"]["id"]
    names = [
        t["name"] for t in api_admin.get("group_types?sort=name:asc&is_public=None", headers=V).json()["group_types"]
    ]
    assert names == ["a-priv", "gt"]
    assert [t["name"] for t in api_admin.get("group_types?is_public=false", headers=V).json()["group_types"]] == [
        "a-priv"
    ]
    # members see public types only, without specs; they cannot create
    seen = api.get("group_types", headers=V).json()["group_types"]
    assert [t["name"] for t in seen] == ["gt"] and "group_specs" not in seen[0]
    assert api.get(f"group_types/{pid}", headers=V).status_code == 404
    assert api.post("group_types", {"group_type": {"name": "x"}}, headers=V).status_code == 403
    assert api_admin.post("group_types", {"group_type": {"name": "gt"}}, headers=V).status_code == 409
    r = api_admin.put(f"group_types/{gtype['id']}", {"group_type": {"description": "d"}}, headers=V)
    assert r.status_code == 200 and r.json()["group_type"]["description"] == "d"
    # specs
    r = api_admin.post(f"group_types/{gtype['id']}/group_specs", {"group_specs": {"a": "1"}}, headers=V)
    assert r.status_code == 202 and r.json() == {"group_specs": {"a": "1"}}
    r = api_admin.put(f"group_types/{gtype['id']}/group_specs/a", {"a": "2"}, headers=V)
    assert r.json() == {"a": "2"}
    assert api_admin.get(f"group_types/{gtype['id']}/group_specs", headers=V).json()["group_specs"] == {
        "k": "v",
        "a": "2",
    }
    assert api_admin.delete(f"group_types/{gtype['id']}/group_specs/a", headers=V).status_code == 202
    assert api_admin.get(f"group_types/{gtype['id']}/group_specs/a", headers=V).status_code == 404
    assert api_admin.get("group_types/default", headers=V).status_code == 404
    assert api_admin.delete(f"group_types/{pid}", headers=V).status_code == 202


def test_groups_and_group_snapshots(api: Api, api_b: Api, api_admin: Api, settle: Any) -> None:
    vtype, gtype = _setup(api, api_admin)
    assert api.post("groups", {"group": {"group_type": gtype["id"], "volume_types": [vtype["id"]]}}).status_code == 404
    r = api.post(
        "groups", {"group": {"name": "g1", "group_type": gtype["id"], "volume_types": [vtype["id"]]}}, headers=V
    )
    assert r.status_code == 202, r.text
    gid = r.json()["group"]["id"]
    group = api.get(f"groups/{gid}", headers=V).json()["group"]
    assert group["status"] == "available" and group["volume_types"] == [vtype["id"]] and group["volumes"] == []
    assert api.post("groups", {"group": {"group_type": gtype["id"], "volume_types": []}}, headers=V).status_code == 400
    # other projects do not see it
    assert api_b.get(f"groups/{gid}", headers=V).status_code == 404
    assert api_b.get("groups/detail", headers=V).json()["groups"] == []
    # a volume in the group; another type is refused
    r = api.post("volumes", {"volume": {"size": 1, "volume_type": vtype["id"], "group_id": gid}}, headers=V)
    assert r.status_code == 202 and r.json()["volume"]["group_id"] == gid
    vid = r.json()["volume"]["id"]
    r = api.post("volumes", {"volume": {"size": 1, "group_id": gid}}, headers=V)
    assert r.status_code == 400
    assert (
        api_b.post(
            "volumes", {"volume": {"size": 1, "volume_type": vtype["id"], "group_id": gid}}, headers=V
        ).status_code
        == 404
    )
    settle()
    # a grouped volume goes only with its group
    assert api.delete(f"volumes/{vid}").status_code == 400
    # remove and add back
    other = api.post("volumes", {"volume": {"size": 1, "volume_type": vtype["id"]}}, headers=V).json()["volume"]["id"]
    settle()
    assert api.put(f"groups/{gid}", {"group": {"add_volumes": other, "name": "g1b"}}, headers=V).status_code == 202
    assert sorted(api.get(f"groups/{gid}", headers=V).json()["group"]["volumes"]) == sorted([vid, other])
    assert api.put(f"groups/{gid}", {"group": {"remove_volumes": other}}, headers=V).status_code == 202
    assert api.get(f"groups/{gid}", headers=V).json()["group"]["volumes"] == [vid]
    assert api.put(f"groups/{gid}", {"group": {}}, headers=V).status_code == 400
    # group snapshot: one snapshot per member
    r = api.post("group_snapshots", {"group_snapshot": {"group_id": gid, "name": "gs"}}, headers=V)
    assert r.status_code == 202, r.text
    gsid = r.json()["group_snapshot"]["id"]
    assert r.json()["group_snapshot"]["group_type_id"] == gtype["id"]
    settle()
    gs = api.get(f"group_snapshots/{gsid}", headers=V).json()["group_snapshot"]
    assert gs["status"] == "available" and gs["group_id"] == gid
    snaps = [s for s in api.get("snapshots/detail").json()["snapshots"] if s["volume_id"] == vid]
    assert len(snaps) == 1 and snaps[0]["status"] == "available"
    assert api.delete(f"snapshots/{snaps[0]['id']}").status_code == 400  # part of the group snapshot
    assert api_b.get(f"group_snapshots/{gsid}", headers=V).status_code == 404
    # a group from the group snapshot, and one from the group
    r = api.post("groups/action", {"create-from-src": {"group_snapshot_id": gsid, "name": "g2"}}, headers=V)
    assert r.status_code == 202, r.text
    g2 = r.json()["group"]["id"]
    r = api.post("groups/action", {"create-from-src": {"source_group_id": gid, "name": "g3"}}, headers=V)
    g3 = r.json()["group"]["id"]
    settle()
    for g in (g2, g3):
        shown = api.get(f"groups/{g}", headers=V).json()["group"]
        assert shown["status"] == "available" and len(shown["volumes"]) == 1
    assert api.get(f"groups/{g2}", headers=V).json()["group"]["group_snapshot_id"] == gsid
    # reset status is for admins (3.19/3.20)
    body = {"reset_status": {"status": "error"}}
    assert api.post(f"group_snapshots/{gsid}/action", body, headers=V).status_code == 403
    assert api_admin.post(f"/volume/v3/{api.project}/group_snapshots/{gsid}/action", body, headers=V).status_code == 202
    assert api.get(f"group_snapshots/{gsid}", headers=V).json()["group_snapshot"]["status"] == "error"
    assert api.post(f"groups/{g3}/action", body, headers=V).status_code == 403
    # deletes: the group with a snapshot is refused, then the snapshot goes, then the groups
    assert api.post(f"groups/{gid}/action", {"delete": {"delete-volumes": True}}, headers=V).status_code == 400
    assert api.post(f"groups/{g2}/action", {"delete": {"delete-volumes": True}}, headers=V).status_code == 202
    settle()
    assert api.delete(f"group_snapshots/{gsid}", headers=V).status_code == 202
    settle()
    assert api.get(f"group_snapshots/{gsid}", headers=V).status_code == 404
    assert [s for s in api.get("snapshots/detail").json()["snapshots"] if s["volume_id"] == vid] == []
    assert api.post(f"groups/{g3}/action", {"delete": {"delete-volumes": False}}, headers=V).status_code == 400
    for g in (gid, g3):
        assert api.post(f"groups/{g}/action", {"delete": {"delete-volumes": True}}, headers=V).status_code == 202
    settle()
    assert api.get("groups", headers=V).json()["groups"] == []
    assert [v["id"] for v in api.get("volumes").json()["volumes"]] == [other]


def test_quota_classes_and_per_volume_limit(api: Api, api_admin: Api, settle: Any) -> None:
    shown = api_admin.get("os-quota-class-sets/default").json()["quota_class_set"]
    assert shown["id"] == "default" and shown["per_volume_gigabytes"] == -1 and shown["groups"] == 10
    assert api.get("os-quota-class-sets/default").status_code == 403
    r = api_admin.put("os-quota-class-sets/default", {"quota_class_set": {"volumes": shown["volumes"] + 1}})
    assert r.status_code == 200 and r.json()["quota_class_set"]["volumes"] == shown["volumes"] + 1
    assert api.get(f"os-quota-sets/{api.project}/defaults").json()["quota_set"]["volumes"] == shown["volumes"] + 1
    assert api.get(f"os-quota-sets/{api.project}").json()["quota_set"]["volumes"] == shown["volumes"] + 1
    assert api_admin.put("os-quota-class-sets/default", {"quota_class_set": {"nope": 1}}).status_code == 400
    # per_volume_gigabytes is enforced on create
    r = api_admin.put(f"os-quota-sets/{api.project}", {"quota_set": {"per_volume_gigabytes": 2}})
    assert r.status_code == 200 and r.json()["quota_set"]["per_volume_gigabytes"] == 2
    r = api.post("volumes", {"volume": {"size": 3}})
    assert r.status_code == 413 and "VolumeSizeExceedsLimit" in r.text
    assert api.post("volumes", {"volume": {"size": 2}}).status_code == 202
    settle()
