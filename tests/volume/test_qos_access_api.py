"""QoS specs, private volume type access and os-services refusals (issues 16 and 18)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api
from overcast.errors import BadRequest
from overcast.types import Connector


def test_qos_specs_life_cycle(api: Api, api_admin: Api) -> None:
    r = api_admin.post("qos-specs", {"qos_specs": {"name": "gold", "consumer": "front-end", "read_iops_sec": "2000"}})
    assert r.status_code == 200, r.text
    qos = r.json()["qos_specs"]
    assert qos == {"id": qos["id"], "name": "gold", "consumer": "front-end", "specs": {"read_iops_sec": "2000"}}
    assert r.json()["links"][0]["rel"] == "self"
    assert qos in api_admin.get("qos-specs").json()["qos_specs"]
    # duplicate names, bad consumers, members: Cinder's refusals
    r = api_admin.post("qos-specs", {"qos_specs": {"name": "gold"}})
    assert r.status_code == 409 and "already exists" in r.json()["conflictingRequest"]["message"]
    assert api_admin.post("qos-specs", {"qos_specs": {"name": "x", "consumer": "nobody"}}).status_code == 400
    assert api.get("qos-specs").status_code == 403
    assert api.post("qos-specs", {"qos_specs": {"name": "mine"}}).status_code == 403
    # keys: set returns what was set, unset removes, an unknown key is 404
    r = api_admin.put(f"qos-specs/{qos['id']}", {"qos_specs": {"total_bytes_sec": "1048576"}})
    assert r.status_code == 200 and r.json() == {"qos_specs": {"total_bytes_sec": "1048576"}}
    shown = api_admin.get(f"qos-specs/{qos['id']}").json()["qos_specs"]
    assert shown["specs"] == {"read_iops_sec": "2000", "total_bytes_sec": "1048576"}
    assert api_admin.put(f"qos-specs/{qos['id']}/delete_keys", {"keys": ["read_iops_sec"]}).status_code == 202
    assert api_admin.get(f"qos-specs/{qos['id']}").json()["qos_specs"]["specs"] == {"total_bytes_sec": "1048576"}
    assert api_admin.put(f"qos-specs/{qos['id']}/delete_keys", {"keys": ["nope"]}).status_code == 404
    # associations with volume types
    t1 = api_admin.post("types", {"volume_type": {"name": "q1"}}).json()["volume_type"]
    t2 = api_admin.post("types", {"volume_type": {"name": "q2"}}).json()["volume_type"]
    for t in (t1, t2):
        assert api_admin.get(f"qos-specs/{qos['id']}/associate?vol_type_id={t['id']}").status_code == 202
    assert api_admin.get(f"types/{t1['id']}").json()["volume_type"]["qos_specs_id"] == qos["id"]
    assoc = api_admin.get(f"qos-specs/{qos['id']}/associations").json()["qos_associations"]
    assert sorted(a["id"] for a in assoc) == sorted([t1["id"], t2["id"]])
    assert {a["association_type"] for a in assoc} == {"volume_type"}
    other = api_admin.post("qos-specs", {"qos_specs": {"name": "silver"}}).json()["qos_specs"]
    r = api_admin.get(f"qos-specs/{other['id']}/associate?vol_type_id={t1['id']}")
    assert r.status_code == 400 and "already associated" in r.json()["badRequest"]["message"]
    assert api_admin.get(f"qos-specs/{qos['id']}/associate").status_code == 400
    assert api_admin.get(f"qos-specs/{qos['id']}/associate?vol_type_id=nope").status_code == 404
    assert api_admin.get(f"qos-specs/{qos['id']}/disassociate?vol_type_id={t1['id']}").status_code == 202
    assert api_admin.get(f"types/{t1['id']}").json()["volume_type"]["qos_specs_id"] is None
    # in use: delete needs force; disassociate_all frees it
    assert api_admin.delete(f"qos-specs/{qos['id']}").status_code == 400
    assert api_admin.get(f"qos-specs/{qos['id']}/disassociate_all").status_code == 202
    assert api_admin.get(f"qos-specs/{qos['id']}/associations").json()["qos_associations"] == []
    assert api_admin.delete(f"qos-specs/{qos['id']}").status_code == 202
    r = api_admin.get(f"qos-specs/{qos['id']}")
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404


def test_private_type_access(api: Api, api_b: Api, api_admin: Api, settle: Any) -> None:
    made = api_admin.post(
        "types", {"volume_type": {"name": "private", "os-volume-type-access:is_public": False}}
    ).json()["volume_type"]
    assert made["is_public"] is False
    tid = made["id"]
    # no access yet: the type does not exist for the project
    assert api.post("volumes", {"volume": {"size": 1, "volume_type": tid}}).status_code == 404
    assert api.get(f"types/{tid}").status_code == 404
    assert tid not in [t["id"] for t in api.get("types").json()["volume_types"]]
    assert api.post(f"types/{tid}/action", {"addProjectAccess": {"project": api.project}}).status_code == 403
    r = api_admin.post(f"types/{tid}/action", {"addProjectAccess": {"project": api.project}})
    assert r.status_code == 202, r.text
    assert api_admin.post(f"types/{tid}/action", {"addProjectAccess": {"project": api.project}}).status_code == 409
    listed = api_admin.get(f"types/{tid}/os-volume-type-access").json()["volume_type_access"]
    assert listed == [{"volume_type_id": tid, "project_id": api.project}]
    # the granted project sees and uses it; another project still does not
    assert api.get(f"types/{tid}").status_code == 200
    assert tid in [t["id"] for t in api.get("types").json()["volume_types"]]
    r = api.post("volumes", {"volume": {"size": 1, "volume_type": tid}})
    assert r.status_code == 202, r.text
    settle()
    assert api_b.post("volumes", {"volume": {"size": 1, "volume_type": tid}}).status_code == 404
    assert api_b.get(f"types/{tid}").status_code == 404
    # removal
    assert api_admin.post(f"types/{tid}/action", {"removeProjectAccess": {"project": api.project}}).status_code == 202
    assert api_admin.post(f"types/{tid}/action", {"removeProjectAccess": {"project": api.project}}).status_code == 404
    assert api.get(f"types/{tid}").status_code == 404
    # a public type has no access list
    public = api_admin.post("types", {"volume_type": {"name": "pub"}}).json()["volume_type"]
    assert api_admin.get(f"types/{public['id']}/os-volume-type-access").status_code == 404
    r = api_admin.post(f"types/{public['id']}/action", {"addProjectAccess": {"project": api.project}})
    assert r.status_code == 400


def test_type_update_and_extra_specs_answers(api_admin: Api) -> None:
    made = api_admin.post("types", {"volume_type": {"name": "upd", "extra_specs": {"a": "1"}}}).json()["volume_type"]
    r = api_admin.put(f"types/{made['id']}", {"volume_type": {"description": "d"}})
    assert r.status_code == 200
    assert set(r.json()["volume_type"]) == {"id", "name", "description", "is_public", "extra_specs"}
    r = api_admin.post(f"types/{made['id']}/extra_specs", {"extra_specs": {"b": "2"}})
    assert r.json() == {"extra_specs": {"b": "2"}}  # only what was set
    assert api_admin.get(f"types/{made['id']}/extra_specs").json()["extra_specs"] == {"a": "1", "b": "2"}


def test_services_refusals(api_admin: Api) -> None:
    service = api_admin.get("os-services").json()["services"][0]
    host = service["host"]
    assert [s["host"] for s in api_admin.get("os-services?host=overcast").json()["services"]] == [host]
    r = api_admin.put("os-services/enable", {"host": "invalid_host", "binary": "cinder-volume"})
    assert r.status_code == 404
    r = api_admin.put("os-services/disable", {"host": host, "binary": "invalid_binary"})
    assert r.status_code == 404
    r = api_admin.put("os-services/disable-log-reason", {"host": host, "binary": "cinder-volume"})
    assert r.status_code == 400
    assert api_admin.put("os-services/freeze", {"host": "invalid_host"}).status_code == 400
    # nothing above disabled the backend
    assert api_admin.get("os-services").json()["services"][0]["status"] == "enabled"
    r = api_admin.put(
        "os-services/disable-log-reason", {"host": host, "binary": "cinder-volume", "disabled_reason": "m"}
    )
    assert r.status_code == 200
    assert r.json() == {
        "host": host,
        "service": "cinder-volume",
        "binary": "cinder-volume",
        "disabled": True,
        "status": "disabled",
        "disabled_reason": "m",
    }
    r = api_admin.put("os-services/enable", {"host": host, "binary": "cinder-volume"})
    assert r.status_code == 200 and r.json()["disabled_reason"] is None and r.json()["status"] == "enabled"


def test_pools_capabilities_and_hosts(api: Api, api_admin: Api, settle: Any) -> None:
    pools = api_admin.get("scheduler-stats/get_pools").json()["pools"]
    assert pools == [{"name": "overcast@fake#fake"}]
    detail = api_admin.get("scheduler-stats/get_pools?detail=True").json()["pools"][0]["capabilities"]
    assert detail["volume_backend_name"] == "fake" and detail["vendor_name"] == "Open Source"
    caps = api_admin.get("capabilities/overcast@fake#fake").json()
    assert caps["namespace"] == "OS::Storage::Capabilities::overcast@fake"
    assert (caps["vendor_name"], caps["storage_protocol"]) == (detail["vendor_name"], detail["storage_protocol"])
    assert api_admin.get("capabilities/elsewhere@fake").status_code == 404
    assert api.get("scheduler-stats/get_pools").status_code == 403
    hosts = api_admin.get("os-hosts").json()["hosts"]
    assert {(h["host_name"], h["service"]) for h in hosts} >= {
        ("overcast", "cinder-scheduler"),
        ("overcast@fake", "cinder-volume"),
    }
    r = api.post("volumes", {"volume": {"size": 2}})
    assert r.status_code == 202
    settle()
    usage = api_admin.get("os-hosts/overcast@fake").json()["host"]
    total = usage[0]["resource"]
    assert total["project"] == "(total)" and total["volume_count"] == "1" and total["total_volume_gb"] == "2"
    assert {u["resource"]["project"] for u in usage[1:]} == {api.project}
    assert api_admin.get("os-hosts/nowhere").status_code == 404
    assert api.get("os-hosts").status_code == 403


def test_encryption_types_are_refused(api_admin: Api) -> None:
    tid = api_admin.post("types", {"volume_type": {"name": "enc"}}).json()["volume_type"]["id"]
    assert api_admin.get(f"types/{tid}/encryption").json() == {}
    body = {"encryption": {"provider": "luks", "control_location": "front-end"}}
    r = api_admin.post(f"types/{tid}/encryption", body)
    assert r.status_code == 400 and "key manager" in r.json()["badRequest"]["message"]
    assert api_admin.post("types/nope/encryption", body).status_code == 404


def test_unplaceable_volume_errors_with_a_user_message(api: Api, api_b: Api, api_admin: Api, settle: Any) -> None:
    specs = {"storage_protocol": "carrier-pigeon", "vendor_name": "nobody"}
    tid = api_admin.post("types", {"volume_type": {"name": "bogus", "extra_specs": specs}}).json()["volume_type"]["id"]
    r = api.post("volumes", {"volume": {"size": 1, "volume_type": tid}})
    assert r.status_code == 202
    vid = r.json()["volume"]["id"]
    settle()
    assert api.get(f"volumes/{vid}").json()["volume"]["status"] == "error"
    v33 = {"OpenStack-API-Version": "volume 3.3"}
    assert api.get("messages").status_code == 404  # before 3.3
    messages = api.get("messages", headers=v33).json()["messages"]
    assert [m["resource_uuid"] for m in messages] == [vid]
    msg = messages[0]
    assert msg["event_id"] == "VOLUME_VOLUME_001_003" and msg["resource_type"] == "VOLUME"
    assert msg["user_message"] == "schedule allocate volume:Could not find any available weighted backend."
    assert api.get(f"messages/{msg['id']}", headers=v33).json()["message"]["id"] == msg["id"]
    assert api_admin.get("messages", headers=v33).json()["messages"][0]["id"] == msg["id"]  # admins see all
    assert api_b.get("messages", headers=v33).json()["messages"] == []
    assert api_b.get(f"/volume/v3/{api_b.project}/messages/{msg['id']}", headers=v33).status_code == 404
    assert api.delete(f"messages/{msg['id']}", headers=v33).status_code == 204
    assert api.get(f"messages/{msg['id']}", headers=v33).status_code == 404
    # a type asking for what the backend offers places
    caps = api_admin.get("scheduler-stats/get_pools?detail=true").json()["pools"][0]["capabilities"]
    good = {"storage_protocol": caps["storage_protocol"], "vendor_name": caps["vendor_name"]}
    tid2 = api_admin.post("types", {"volume_type": {"name": "good", "extra_specs": good}}).json()["volume_type"]["id"]
    r = api.post("volumes", {"volume": {"size": 1, "volume_type": tid2}})
    settle()
    assert api.get(f"volumes/{r.json()['volume']['id']}").json()["volume"]["status"] == "available"
    assert api.delete(f"volumes/{vid}").status_code == 202


def test_snapshot_actions(api: Api, api_admin: Api, settle: Any) -> None:
    vol = api.post("volumes", {"volume": {"size": 1}}).json()["volume"]
    settle()
    snap = api.post("snapshots", {"snapshot": {"volume_id": vol["id"]}}).json()["snapshot"]
    settle()
    admin = f"/volume/v3/{api.project}/snapshots/{snap['id']}/action"
    assert api.post(f"snapshots/{snap['id']}/action", {"os-reset_status": {"status": "creating"}}).status_code == 403
    assert api_admin.post(admin, {"os-reset_status": {"status": "bogus"}}).status_code == 400
    assert api_admin.post(admin, {"os-reset_status": {"status": "creating"}}).status_code == 202
    # the hypervisor's progress report: creating -> error with 80%
    r = api.post(
        f"snapshots/{snap['id']}/action", {"os-update_snapshot_status": {"status": "error", "progress": "80%"}}
    )
    assert r.status_code == 202
    shown = api_admin.get(f"/volume/v3/{api.project}/snapshots/{snap['id']}").json()["snapshot"]
    assert shown["status"] == "error" and shown["os-extended-snapshot-attributes:progress"] == "80%"
    r = api.post(f"snapshots/{snap['id']}/action", {"os-update_snapshot_status": {"status": "available"}})
    assert r.status_code == 400  # not from error
    assert api.post(f"snapshots/{snap['id']}/action", {"os-force_delete": {}}).status_code == 403
    assert api_admin.post(admin, {"os-reset_status": {"status": "deleting"}}).status_code == 202
    assert api_admin.post(admin, {"os-force_delete": {}}).status_code == 202
    settle()
    assert api.get(f"snapshots/{snap['id']}").status_code == 404


def test_retype_without_migration(api: Api, api_admin: Api, settle: Any) -> None:
    t1 = api_admin.post("types", {"volume_type": {"name": "rt1"}}).json()["volume_type"]
    t2 = api_admin.post("types", {"volume_type": {"name": "rt2"}}).json()["volume_type"]
    far = api_admin.post(
        "types", {"volume_type": {"name": "rt3", "extra_specs": {"volume_backend_name": "elsewhere"}}}
    ).json()["volume_type"]
    vol = api.post("volumes", {"volume": {"size": 1, "volume_type": t1["name"]}}).json()["volume"]
    settle()
    r = api.post(f"volumes/{vol['id']}/action", {"os-retype": {"new_type": t2["name"], "migration_policy": "never"}})
    assert r.status_code == 202, r.text
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["volume_type"] == "rt2"
    r = api.post(f"volumes/{vol['id']}/action", {"os-retype": {"new_type": far["id"], "migration_policy": "on-demand"}})
    assert r.status_code == 400 and "migration" in r.json()["badRequest"]["message"]
    assert api.post(f"volumes/{vol['id']}/action", {"os-retype": {"new_type": "nope"}}).status_code == 404


def test_image_metadata_actions(api: Api, api_b: Api, settle: Any) -> None:
    vol = api.post("volumes", {"volume": {"size": 1}}).json()["volume"]
    settle()
    act = f"volumes/{vol['id']}/action"
    r = api.post(act, {"os-set_image_metadata": {"metadata": {"image_name": "img", "ramdisk_id": "rd"}}})
    assert r.status_code == 200 and r.json() == {"metadata": {"image_name": "img", "ramdisk_id": "rd"}}
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["volume_image_metadata"]["ramdisk_id"] == "rd"
    assert api.post(act, {"os-unset_image_metadata": {"key": "ramdisk_id"}}).status_code == 200
    assert api.post(act, {"os-unset_image_metadata": {"key": "ramdisk_id"}}).status_code == 404
    assert api.post(act, {"os-show_image_metadata": {}}).json() == {"metadata": {"image_name": "img"}}
    other = f"/volume/v3/{api_b.project}/volumes/{vol['id']}/action"
    assert api_b.post(other, {"os-show_image_metadata": {}}).status_code == 404


def test_force_detach(api: Api, api_admin: Api, settle: Any) -> None:
    vol = api.post("volumes", {"volume": {"size": 1}}).json()["volume"]
    settle()
    act = f"volumes/{vol['id']}/action"
    server = "11111111-2222-3333-4444-555555555555"
    assert api.post(act, {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}}).status_code == 202
    att = api.get(f"volumes/{vol['id']}").json()["volume"]["attachments"][0]
    admin_act = f"/volume/v3/{api.project}/{act}"
    assert api_admin.post(admin_act, {"os-reset_status": {"status": "error"}}).status_code == 202
    assert api.post(act, {"os-force_detach": {"attachment_id": att["attachment_id"]}}).status_code == 403
    r = api_admin.post(admin_act, {"os-force_detach": {"attachment_id": att["attachment_id"], "connector": None}})
    assert r.status_code == 202, r.text
    shown = api.get(f"volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "available" and shown["attachments"] == []
    # as Cinder: a detach with nothing attached is a no-op
    assert api.post(act, {"os-detach": {}}).status_code == 202
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["status"] == "available"


def test_force_detach_refuses_an_exported_attachment_without_its_connector(
    volumes: Any, ctx: Any, admin_ctx: Any, settle: Any
) -> None:
    vol = volumes.volumes.create(ctx, size=1)
    settle()
    host = Connector(host="fake1", connection_types=frozenset({"fake"}))
    att = volumes.attachments.reserve(ctx, vol.id, "srv-1")
    volumes.attachments.initialize_connection(ctx, vol.id, host, att.id)
    with pytest.raises(BadRequest, match="connector"):
        volumes.attachments.force_detach(admin_ctx, vol.id, att.id, None)
    volumes.attachments.force_detach(admin_ctx, vol.id, att.id, host)
    assert volumes.volumes.get(ctx, vol.id).status == "available"
