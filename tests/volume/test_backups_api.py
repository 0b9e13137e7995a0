"""Cinder's backup API (issue 18) over the fake volume driver and the fake backup target:
full and incremental backups, restore byte-identical, force through a temporary snapshot,
export/import of the record, and each refusal with Cinder's text and nothing changed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from typing import Any

from overcast.types import VolumeRef

from .conftest import Api

MiB = 1024 * 1024


def _volume(api: Api, settle: Any, size: int = 1, **body: Any) -> dict[str, Any]:
    r = api.post("volumes", {"volume": {"size": size, "name": "v", **body}})
    assert r.status_code == 202, r.text
    settle()
    vol = api.get(f"volumes/{r.json()['volume']['id']}").json()["volume"]
    assert vol["status"] == "available"
    return vol


def _blocks(fake_drivers: Any, cloud: Any, volume_id: str) -> dict[int, bytes]:
    loc = _location(cloud, volume_id)
    return fake_drivers.volume.volumes["fake"][loc]["blocks"]


def _location(cloud: Any, volume_id: str) -> str:
    from overcast.db.models.volume import Volume

    with cloud.runtime.db.session() as s:
        return s.get(Volume, volume_id).location


def _digest(fake_drivers: Any, cloud: Any, volume_id: str) -> str:
    """sha256 of the whole volume as the driver hands it out (vol_open_local)."""
    from overcast.db.models.volume import Volume

    with cloud.runtime.db.session() as s:
        row = s.get(Volume, volume_id)
        ref = VolumeRef(row.id, row.name or "", row.size, row.project_id, row.location)
    backend = cloud.runtime.drivers.volume_backends["fake"]
    device = fake_drivers.volume.vol_open_local(backend=backend, volume=ref, snapshot=None, writable=False)
    try:
        h = hashlib.sha256()
        with open(device.path, "rb") as f:
            while chunk := f.read(8 * MiB):
                h.update(chunk)
        return h.hexdigest()
    finally:
        fake_drivers.volume.vol_close_local(backend=backend, volume=ref, device=device, commit=False)


def _backup(api: Api, settle: Any, volume_id: str, **body: Any) -> dict[str, Any]:
    r = api.post("backups", {"backup": {"volume_id": volume_id, "name": "b", **body}})
    assert r.status_code == 202, r.text
    assert r.json()["backup"].keys() == {"id", "name", "links"}
    settle()
    return api.get(f"backups/{r.json()['backup']['id']}").json()["backup"]


def _objects(fake_drivers: Any, project: str, container: str = "volumebackups") -> dict[str, bytes]:
    return fake_drivers.backup.containers.get((project, container), {})


def test_full_backup_restores_byte_identical_into_a_new_volume(
    api: Api, settle: Any, cloud: Any, fake_drivers: Any
) -> None:
    vol = _volume(api, settle)
    blocks = _blocks(fake_drivers, cloud, vol["id"])
    blocks[0] = os.urandom(3 * MiB)
    blocks[700 * MiB] = b"tail" * 1000
    before = _digest(fake_drivers, cloud, vol["id"])
    assert api.post(f"volumes/{vol['id']}/metadata", {"metadata": {"vol-meta1": "value1"}}).status_code == 200

    backup = _backup(api, settle, vol["id"], description="first")
    assert backup["status"] == "available", backup["fail_reason"]
    assert backup["size"] == 1 and backup["container"] == "volumebackups" and backup["is_incremental"] is False
    assert backup["volume_id"] == vol["id"] and backup["has_dependent_backups"] is False
    objects = _objects(fake_drivers, api.project)
    # 32 chunks of 32 MiB, two of them with data: two chunk objects and the metadata object
    assert backup["object_count"] == 3 and len(objects) == 3
    index = json.loads(next(v for k, v in objects.items() if k.endswith("_metadata")))
    assert len(index["chunks"]) == 32 and sum(1 for c in index["chunks"] if c["object"]) == 2
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["status"] == "available"

    r = api.post(f"backups/{backup['id']}/restore", {"restore": {"name": "restored"}})
    assert r.status_code == 202, r.text
    restore = r.json()["restore"]
    assert restore["backup_id"] == backup["id"] and restore["volume_name"] == "restored"
    settle()
    new = api.get(f"volumes/{restore['volume_id']}").json()["volume"]
    assert new["status"] == "available" and new["size"] == 1
    assert new["metadata"] == {"vol-meta1": "value1"}  # as Cinder: the volume's metadata comes back too
    assert _digest(fake_drivers, cloud, new["id"]) == before
    assert api.get(f"backups/{backup['id']}").json()["backup"]["status"] == "available"


def test_incremental_stores_only_the_changed_chunk(api: Api, settle: Any, cloud: Any, fake_drivers: Any) -> None:
    vol = _volume(api, settle)
    blocks = _blocks(fake_drivers, cloud, vol["id"])
    for i in range(4):
        blocks[i * 32 * MiB] = os.urandom(MiB)
    r = api.post("backups", {"backup": {"volume_id": vol["id"], "incremental": True}})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Invalid backup: No backups available to do an incremental backup."
    full = _backup(api, settle, vol["id"])
    assert full["object_count"] == 5
    blocks[64 * MiB] = os.urandom(MiB)  # one chunk changes
    after_change = _digest(fake_drivers, cloud, vol["id"])
    incr = _backup(api, settle, vol["id"], incremental=True)
    assert incr["status"] == "available" and incr["is_incremental"] is True
    assert incr["object_count"] == 2  # the changed chunk and the metadata object
    shown = api.get(f"backups/{full['id']}").json()["backup"]
    assert shown["has_dependent_backups"] is True
    r = api.delete(f"backups/{full['id']}")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Invalid backup: Incremental backups exist for this backup."

    target = _volume(api, settle)
    r = api.post(f"backups/{incr['id']}/restore", {"restore": {"volume_id": target["id"]}})
    assert r.status_code == 202
    settle()
    assert api.get(f"volumes/{target['id']}").json()["volume"]["status"] == "available"
    assert _digest(fake_drivers, cloud, target["id"]) == after_change

    assert api.delete(f"backups/{incr['id']}").status_code == 202
    settle()
    assert api.get(f"backups/{incr['id']}").status_code == 404
    assert len(_objects(fake_drivers, api.project)) == 5  # the full backup's objects stay whole
    assert api.delete(f"backups/{full['id']}").status_code == 202
    settle()
    assert _objects(fake_drivers, api.project) == {}


def test_refusals_answer_cinder_text_and_change_nothing(
    api: Api, api_b: Api, api_admin: Api, settle: Any, cloud: Any, fake_drivers: Any
) -> None:
    vol = _volume(api, settle, size=2)
    _blocks(fake_drivers, cloud, vol["id"])[0] = b"x" * MiB
    backup = _backup(api, settle, vol["id"])
    volumes_before = {v["id"] for v in api.get("volumes").json()["volumes"]}

    small = _volume(api, settle, size=1)
    volumes_before.add(small["id"])
    r = api.post(f"backups/{backup['id']}/restore", {"restore": {"volume_id": small["id"]}})
    assert r.status_code == 400
    assert (
        r.json()["badRequest"]["message"] == "Invalid volume: volume size 1 is too small to restore backup of size 2."
    )

    busy = _volume(api, settle, size=2)
    volumes_before.add(busy["id"])
    r = api_admin.post(
        f"/volume/v3/{api.project}/volumes/{busy['id']}/action", {"os-reset_status": {"status": "in-use"}}
    )
    assert r.status_code == 202, r.text
    r = api.post(f"backups/{backup['id']}/restore", {"restore": {"volume_id": busy["id"]}})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Invalid volume: Volume to be restored to must be available"
    r = api.post("backups", {"backup": {"volume_id": busy["id"]}})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Invalid volume: Backing up an in-use volume must use the force flag."

    # another project sees neither the backup nor can it restore onto this project's volume
    assert api_b.get(f"backups/{backup['id']}").status_code == 404
    r = api_b.post(f"backups/{backup['id']}/restore", {"restore": {}})
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == f"Backup {backup['id']} could not be found."
    assert api_b.delete(f"backups/{backup['id']}").status_code == 404
    assert api_b.get("backups/detail").json()["backups"] == []
    other = _volume(api_b, settle, size=2)
    r = api_b.post("backups", {"backup": {"volume_id": vol["id"]}})
    assert r.status_code == 404
    r = api.post(f"backups/{backup['id']}/restore", {"restore": {"volume_id": other["id"]}})
    assert r.status_code == 404

    # nothing changed: no volume made, statuses as they were, the data untouched
    assert {v["id"] for v in api.get("volumes").json()["volumes"]} == volumes_before
    assert api.get(f"volumes/{small['id']}").json()["volume"]["status"] == "available"
    assert api.get(f"volumes/{busy['id']}").json()["volume"]["status"] == "in-use"
    assert api.get(f"backups/{backup['id']}").json()["backup"]["status"] == "available"
    assert _blocks(fake_drivers, cloud, small["id"]) == {}

    assert api.post("backups", {"backup": {"volume_id": vol["id"], "bogus": 1}}).status_code == 400
    assert api.post("backups", {"backup": {"volume_id": vol["id"], "container": "a/b"}}).status_code == 400
    assert api.get(f"backups/{backup['id']}/export_record").status_code == 403  # admin only, as in Cinder


def test_force_backs_up_an_in_use_volume_through_a_temporary_snapshot(
    api: Api, api_admin: Api, settle: Any, cloud: Any, fake_drivers: Any
) -> None:
    vol = _volume(api, settle)
    _blocks(fake_drivers, cloud, vol["id"])[5 * MiB] = b"live" * 4096
    before = _digest(fake_drivers, cloud, vol["id"])
    r = api_admin.post(
        f"/volume/v3/{api.project}/volumes/{vol['id']}/action", {"os-reset_status": {"status": "in-use"}}
    )
    assert r.status_code == 202
    backup = _backup(api, settle, vol["id"], force=True)
    assert backup["status"] == "available", backup["fail_reason"]
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["status"] == "in-use"
    assert fake_drivers.volume.snapshots["fake"] == {}  # the temporary snapshot is gone
    r = api.post(f"backups/{backup['id']}/restore", {"restore": {}})
    settle()
    assert _digest(fake_drivers, cloud, r.json()["restore"]["volume_id"]) == before


def test_backup_of_a_snapshot_and_listing_filters(api: Api, settle: Any, cloud: Any, fake_drivers: Any) -> None:
    vol = _volume(api, settle)
    _blocks(fake_drivers, cloud, vol["id"])[0] = b"s" * MiB
    r = api.post("snapshots", {"snapshot": {"volume_id": vol["id"], "name": "s"}})
    settle()
    snap_id = r.json()["snapshot"]["id"]
    b1 = _backup(api, settle, vol["id"], snapshot_id=snap_id, name="from-snap")
    assert b1["status"] == "available" and b1["snapshot_id"] == snap_id
    assert api.get(f"snapshots/{snap_id}").json()["snapshot"]["status"] == "available"
    b2 = _backup(api, settle, vol["id"], name="second", container="mine")
    assert b2["container"] == "mine" and set(_objects(fake_drivers, api.project, "mine"))
    names = [b["name"] for b in api.get("backups/detail?name=second").json()["backups"]]
    assert names == ["second"]
    assert len(api.get(f"backups?volume_id={vol['id']}").json()["backups"]) == 2
    page = api.get("backups/detail?limit=1").json()
    assert len(page["backups"]) == 1 and page["backups_links"][0]["rel"] == "next"
    r = api.put(f"backups/{b1['id']}", {"backup": {"name": "renamed"}}, headers={"OpenStack-API-Version": "volume 3.9"})
    assert r.status_code == 200 and r.json()["backup"]["name"] == "renamed"
    shown = api.get(f"backups/{b1['id']}", headers={"OpenStack-API-Version": "volume 3.64"}).json()["backup"]
    assert shown["metadata"] == {} and shown["encryption_key_id"] is None and "user_id" in shown


def test_export_and_import_record(api_admin: Api, settle: Any, cloud: Any, fake_drivers: Any) -> None:
    api = api_admin
    vol = _volume(api, settle)
    _blocks(fake_drivers, cloud, vol["id"])[0] = os.urandom(MiB)
    before = _digest(fake_drivers, cloud, vol["id"])
    backup = _backup(api, settle, vol["id"])
    record = api.get(f"backups/{backup['id']}/export_record").json()["backup-record"]
    assert record["backup_service"] == "overcast.backup.fake"
    r = api.post("backups/import_record", {"backup-record": record})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Invalid backup: Backup already exists in database."
    # the same objects, known under another record (as after a database loss)
    data = json.loads(base64.b64decode(record["backup_url"]))
    data["id"] = str(uuid.uuid4())
    url = base64.b64encode(json.dumps(data).encode()).decode()
    r = api.post("backups/import_record", {"backup-record": {**record, "backup_url": url}})
    assert r.status_code == 201, r.text
    settle()
    imported = api.get(f"backups/{data['id']}").json()["backup"]
    assert imported["status"] == "available" and imported["volume_id"] == "0000-0000-0000-0000"
    r = api.post(f"backups/{data['id']}/restore", {"restore": {}})
    settle()
    assert _digest(fake_drivers, cloud, r.json()["restore"]["volume_id"]) == before
    bad = base64.b64encode(json.dumps({**data, "id": str(uuid.uuid4()), "object_prefix": "nothing"}).encode()).decode()
    r = api.post("backups/import_record", {"backup-record": {**record, "backup_url": bad}})
    settle()
    failed = api.get(f"backups/{r.json()['backup']['id']}").json()["backup"]
    assert failed["status"] == "error" and "missing" in failed["fail_reason"]
    r = api.post("backups/import_record", {"backup-record": {**record, "backup_service": "cinder.backup.drivers.nfs"}})
    assert r.status_code == 400


def test_quota_counts_backups(api: Api, settle: Any, cloud: Any) -> None:
    vol = _volume(api, settle)
    _backup(api, settle, vol["id"])
    limits = api.get("limits").json()["limits"]["absolute"]
    assert limits["totalBackupsUsed"] == 1 and limits["totalBackupGigabytesUsed"] == 1
