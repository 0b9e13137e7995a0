"""Volume transfers between projects (issue 18): create shows the auth key once, a wrong key
is Cinder's 400 and changes nothing, accept moves the volume, its snapshots and the quota."""

from __future__ import annotations

from typing import Any

from .conftest import Api


def _volume(api: Api, settle: Any) -> str:
    r = api.post("volumes", {"volume": {"size": 2, "name": "gift"}})
    settle()
    return str(r.json()["volume"]["id"])


def _used(api: Api) -> dict[str, int]:
    limits = api.get("limits").json()["limits"]["absolute"]
    return {k: limits[k] for k in ("totalVolumesUsed", "totalGigabytesUsed", "totalSnapshotsUsed")}


def test_transfer_with_the_right_key_only(api: Api, api_b: Api, settle: Any) -> None:
    vid = _volume(api, settle)
    api.post("snapshots", {"snapshot": {"volume_id": vid, "name": "s"}})
    settle()
    r = api.post("os-volume-transfer", {"transfer": {"volume_id": vid, "name": "t"}})
    assert r.status_code == 202, r.text
    transfer = r.json()["transfer"]
    key, tid = transfer["auth_key"], transfer["id"]
    assert len(key) == 16 and transfer["volume_id"] == vid and transfer["name"] == "t"
    assert api.get(f"volumes/{vid}").json()["volume"]["status"] == "awaiting-transfer"
    shown = api.get(f"os-volume-transfer/{tid}").json()["transfer"]
    assert "auth_key" not in shown and shown["created_at"]
    assert [t["id"] for t in api.get("os-volume-transfer/detail").json()["transfers"]] == [tid]
    assert api_b.get("os-volume-transfer").json()["transfers"] == []  # only the owner lists it
    assert api.post("os-volume-transfer", {"transfer": {"volume_id": vid}}).json()["badRequest"]["message"] == (
        "Invalid volume: status must be available"
    )
    assert api.delete(f"volumes/{vid}").status_code == 400  # awaiting a transfer

    r = api_b.post(f"os-volume-transfer/{tid}/accept", {"accept": {"auth_key": "0" * 16}})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == f"Invalid auth key: Attempt to transfer {tid} with invalid auth key."
    assert api.get(f"volumes/{vid}").json()["volume"]["status"] == "awaiting-transfer"  # nothing changed
    assert api_b.get(f"volumes/{vid}").status_code == 404
    assert _used(api) == {"totalVolumesUsed": 1, "totalGigabytesUsed": 4, "totalSnapshotsUsed": 1}

    r = api_b.post(f"os-volume-transfer/{tid}/accept", {"accept": {"auth_key": key}})
    assert r.status_code == 202, r.text
    assert r.json()["transfer"]["id"] == tid and r.json()["transfer"]["volume_id"] == vid
    vol = api_b.get(f"volumes/{vid}").json()["volume"]
    assert vol["status"] == "available"
    assert api.get(f"volumes/{vid}").status_code == 404
    assert [s["volume_id"] for s in api_b.get("snapshots").json()["snapshots"]] == [vid]
    assert _used(api) == {"totalVolumesUsed": 0, "totalGigabytesUsed": 0, "totalSnapshotsUsed": 0}
    assert _used(api_b) == {"totalVolumesUsed": 1, "totalGigabytesUsed": 4, "totalSnapshotsUsed": 1}
    assert api_b.post(f"os-volume-transfer/{tid}/accept", {"accept": {"auth_key": key}}).status_code == 404


def test_delete_gives_the_volume_back_and_new_path_needs_355(api: Api, settle: Any) -> None:
    vid = _volume(api, settle)
    assert api.post("volume-transfers", {"transfer": {"volume_id": vid}}).status_code == 404
    v355 = {"OpenStack-API-Version": "volume 3.57"}
    r = api.post("volume-transfers", {"transfer": {"volume_id": vid, "no_snapshots": True}}, headers=v355)
    assert r.status_code == 202, r.text
    t = r.json()["transfer"]
    assert t["no_snapshots"] is True and t["source_project_id"] == api.project and t["accepted"] is False
    assert api.delete(f"volume-transfers/{t['id']}", headers=v355).status_code == 202
    assert api.get(f"volumes/{vid}").json()["volume"]["status"] == "available"
    assert api.get(f"os-volume-transfer/{t['id']}").status_code == 404
