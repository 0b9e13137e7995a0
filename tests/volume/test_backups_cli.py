"""Volume backups end to end (issue 18): the real ``openstack`` CLI against ``overcast up``
with a real ``fs`` volume backend, the ``fs`` object store and the built-in ``objectstore``
backup target. A 1 GiB volume with data is backed up and restored byte-identical; an
incremental backup after a 4 MiB change stores about one chunk; the backup's objects are
ordinary objects of the project (``openstack container list`` / ``object list``)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("overcast_storage_fs")

pytestmark = [pytest.mark.clients, pytest.mark.slow]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def volumes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backup-volumes")


@pytest.fixture(scope="module")
def running_cloud_config(volumes_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    objects = tmp_path_factory.mktemp("backup-objects")
    return {
        "volume_backends": {"files": {"driver": "fs", "path": str(volumes_dir), "format": "raw"}},
        "object_store": {"driver": "fs", "path": str(objects)},
        "backup": {"driver": "objectstore"},
    }


def wait_status(cloud: Any, kind: list[str], ref: str, want: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = cloud.openstack(*kind, "show", ref, "-f", "json")
        if shown["status"] == want:
            return shown
        assert shown["status"] not in ("error", "error_deleting", "error_restoring"), shown
        assert time.monotonic() < deadline, f"{ref} stayed {shown['status']}"
        time.sleep(0.5)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            h.update(chunk)
    return h.hexdigest()


def test_backup_restore_incremental_with_the_cli(running_cloud: Any, volumes_dir: Path) -> None:
    os_ = running_cloud.openstack
    os_("volume", "type", "create", "--property", "volume_backend_name=files", "files")
    vol = os_("volume", "create", "--size", "1", "--type", "files", "data-vol", "-f", "json")
    wait_status(running_cloud, ["volume"], "data-vol", "available")
    path = volumes_dir / f"volume-{vol['id']}.raw"
    with open(path, "r+b") as f:  # data as a guest would leave it: 96 MiB spread over the disk
        for offset in (0, 192 * MiB, 896 * MiB):
            f.seek(offset)
            f.write(os.urandom(32 * MiB))
    before = sha256_of(path)

    os_("volume", "backup", "create", "--name", "full", "data-vol", "-f", "json")
    full = wait_status(running_cloud, ["volume", "backup"], "full", "available")
    assert full["size"] == 1 and full["container"] == "volumebackups"
    assert full["object_count"] == 4, full  # three 32 MiB chunks of data, zeros skipped, plus the index

    containers = [c["Name"] for c in os_("container", "list", "-f", "json")]
    assert "volumebackups" in containers
    objects = os_("object", "list", "volumebackups", "-f", "json")
    names = [o["Name"] for o in objects]
    assert len(names) == 4 and any(n.endswith("_metadata") for n in names)
    assert all(n.startswith(f"volume_{vol['id']}/") for n in names)
    full_bytes = sum(int(o["Bytes"]) for o in os_("object", "list", "--long", "volumebackups", "-f", "json"))

    restored = os_("volume", "backup", "restore", "full", "restored-vol", "-f", "json")
    new_id = restored["volume_id"]
    wait_status(running_cloud, ["volume"], new_id, "available")
    assert sha256_of(volumes_dir / f"volume-{new_id}.raw") == before

    with open(path, "r+b") as f:  # 4 MiB change inside the second chunk of data
        f.seek(194 * MiB)
        f.write(os.urandom(4 * MiB))
    changed = sha256_of(path)
    os_("volume", "backup", "create", "--incremental", "--name", "incr", "data-vol", "-f", "json")
    incr = wait_status(running_cloud, ["volume", "backup"], "incr", "available")
    assert incr["is_incremental"] is True and incr["object_count"] == 2
    listing = os_("object", "list", "--long", "volumebackups", "-f", "json")
    incr_bytes = sum(int(o["Bytes"]) for o in listing) - full_bytes
    print(
        f"\nfull backup stored {full_bytes / MiB:.1f} MiB; incremental after a 4 MiB change stored {incr_bytes / MiB:.1f} MiB"
    )
    assert incr_bytes <= 33 * MiB  # about one 32 MiB chunk (random data does not compress) and the index

    target = os_("volume", "create", "--size", "1", "--type", "files", "target-vol", "-f", "json")
    wait_status(running_cloud, ["volume"], "target-vol", "available")
    refused = os_("volume", "backup", "restore", "incr", "target-vol", check=False)
    assert refused.returncode != 0 and "already exists" in refused.stderr  # the CLI's own guard
    os_("volume", "backup", "restore", "--force", "incr", "target-vol", "-f", "json")
    wait_status(running_cloud, ["volume"], "target-vol", "available")
    assert sha256_of(volumes_dir / f"volume-{target['id']}.raw") == changed

    failed = os_("volume", "backup", "delete", "full", check=False)
    assert failed.returncode != 0 and "Incremental backups exist for this backup" in failed.stderr
    os_("volume", "backup", "delete", "incr")
    os_("volume", "backup", "delete", "full")
    deadline = time.monotonic() + 60
    while os_("object", "list", "volumebackups", "-f", "json"):
        assert time.monotonic() < deadline, "the backups' objects were not deleted"
        time.sleep(0.5)
