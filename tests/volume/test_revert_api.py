"""Cinder's ``revert`` action (3.40, issue 18) over the fake volume driver: the volume gets
its latest snapshot's content back; each refusal answers Cinder's text and changes nothing."""

from __future__ import annotations

from typing import Any

from .conftest import Api

V340 = {"OpenStack-API-Version": "volume 3.40"}


def _blocks(cloud: Any, fake_drivers: Any, volume_id: str) -> dict[int, bytes]:
    from overcast.db.models.volume import Volume

    with cloud.runtime.db.session() as s:
        loc = s.get(Volume, volume_id).location
    return fake_drivers.volume.volumes["fake"][loc]["blocks"]


def _snapshot(api: Api, settle: Any, volume_id: str, name: str) -> str:
    r = api.post("snapshots", {"snapshot": {"volume_id": volume_id, "name": name}})
    assert r.status_code == 202, r.text
    settle()
    return str(r.json()["snapshot"]["id"])


def test_revert_to_the_latest_snapshot(api: Api, api_b: Api, settle: Any, cloud: Any, fake_drivers: Any) -> None:
    r = api.post("volumes", {"volume": {"size": 1, "name": "rv"}})
    vid = r.json()["volume"]["id"]
    settle()
    r = api.post(f"volumes/{vid}/action", {"revert": {"snapshot_id": "x"}}, headers=V340)
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == f"Volume {vid} doesn't have any snapshots."
    _blocks(cloud, fake_drivers, vid)[0] = b"one"
    first = _snapshot(api, settle, vid, "s1")
    _blocks(cloud, fake_drivers, vid)[0] = b"two"
    latest = _snapshot(api, settle, vid, "s2")
    _blocks(cloud, fake_drivers, vid)[0] = b"three"

    r = api.post(f"volumes/{vid}/action", {"revert": {"snapshot_id": latest}})  # 3.0: no such action
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "There is no such action: revert"
    r = api.post(f"volumes/{vid}/action", {"revert": {"snapshot_id": first}}, headers=V340)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == f"Specified snapshot {first} is not the latest one of volume {vid}."
    r = api_b.post(
        f"/volume/v3/{api_b.project}/volumes/{vid}/action", {"revert": {"snapshot_id": latest}}, headers=V340
    )
    assert r.status_code == 404  # another project's volume
    assert _blocks(cloud, fake_drivers, vid)[0] == b"three"  # nothing changed

    r = api.post(f"volumes/{vid}/action", {"revert": {"snapshot_id": latest}}, headers=V340)
    assert r.status_code == 202, r.text
    settle()
    assert _blocks(cloud, fake_drivers, vid)[0] == b"two"
    assert api.get(f"volumes/{vid}").json()["volume"]["status"] == "available"
    assert api.get(f"snapshots/{latest}").json()["snapshot"]["status"] == "available"

    assert api.post(f"volumes/{vid}/action", {"os-extend": {"new_size": 2}}).status_code == 202
    settle()
    r = api.post(f"volumes/{vid}/action", {"revert": {"snapshot_id": latest}}, headers=V340)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        f"Can't revert volume {vid} to its latest snapshot {latest}. The volume size must be equal to the snapshot size."
    )


def test_revert_refuses_a_volume_that_is_not_available(api: Api, api_admin: Api, settle: Any) -> None:
    r = api.post("volumes", {"volume": {"size": 1, "name": "busy"}})
    vid = r.json()["volume"]["id"]
    settle()
    snap = _snapshot(api, settle, vid, "s")
    api_admin.post(f"/volume/v3/{api.project}/volumes/{vid}/action", {"os-reset_status": {"status": "in-use"}})
    r = api.post(f"volumes/{vid}/action", {"revert": {"snapshot_id": snap}}, headers=V340)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        f"Invalid volume: Volume {vid} status must be available, but current status is: in-use."
    )
    assert api.get(f"snapshots/{snap}").json()["snapshot"]["status"] == "available"
