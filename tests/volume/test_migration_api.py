"""Volume retype with migration and ``os-migrate_volume`` between backends (issue 18), over the
HTTP API with real ``fs`` backends: two pools (``gold``, raw files; ``silver``, qcow2) and an
``lvm`` backend this kernel cannot activate (no device-mapper), so it is down. The bytes after
a move are the same (sha256 of the raw content), the source's file is gone, the quota usage is
unchanged; every refusal is Cinder's 400 (or 403) and changes nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Api
from overcast.config import Config, parse_config
from overcast.plugins import PluginManager
from overcast.testing.fixtures import fake_config_data

storage_fs = pytest.importorskip("overcast_storage_fs.plugin")
storage_lvm = pytest.importorskip("overcast_storage_lvm.plugin")

MiB = 1 << 20


@pytest.fixture
def overcast_config(tmp_path: Path) -> Config:
    data = fake_config_data(tmp_path)
    data["volume_backends"] = {
        "gold": {"driver": "fs", "path": str(tmp_path / "gold"), "format": "raw"},
        "silver": {"driver": "fs", "path": str(tmp_path / "silver"), "format": "qcow2"},
        "lvm": {"driver": "lvm", "volume_group": "overcast-test-no-such-vg"},
    }
    return parse_config(data, tmp_path / "overcast.toml")


@pytest.fixture
def overcast_pm(overcast_pm: PluginManager) -> PluginManager:
    overcast_pm.register_plugin(storage_fs, name="storage_fs")
    overcast_pm.register_plugin(storage_lvm, name="storage_lvm")
    return overcast_pm


def raw_sha256(path: Path, tmp_path: Path) -> str:
    """The sha256 of a volume file's content as raw bytes (a qcow2 one converted first)."""
    fmt = subprocess.run(
        ["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True, check=True
    ).stdout
    if '"format": "qcow2"' in fmt:
        out = tmp_path / f"{path.name}.check.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path), str(out)], check=True)
        path = out
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.startswith(".")) if root.exists() else []


class World:
    def __init__(self, api: Api, admin: Api, tmp_path: Path, settle: Any) -> None:
        self.api, self.admin, self.tmp, self.settle = api, admin, tmp_path, settle
        self.types = {
            name: admin.post(
                "types", {"volume_type": {"name": f"t-{name}", "extra_specs": {"volume_backend_name": name}}}
            ).json()["volume_type"]
            for name in ("gold", "silver", "lvm")
        }
        # the SDK's find_type (``volume set --type NAME``) lists with Cinder's is_public=none: every type
        listed = {t["name"] for t in admin.get("types?is_public=none").json()["volume_types"]}
        assert {"t-gold", "t-silver", "t-lvm"} <= listed

    def admin_view(self, vid: str) -> dict[str, Any]:
        return self.admin.get(f"/volume/v3/{self.api.project}/volumes/{vid}").json()["volume"]

    def action(self, vid: str, body: dict[str, Any], admin: bool = False) -> Any:
        who = self.admin if admin else self.api
        return who.post(f"/volume/v3/{self.api.project}/volumes/{vid}/action", body)

    def wait(self, vid: str, done: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            vol = self.admin_view(vid)
            if done(vol):
                return vol
            assert time.monotonic() < deadline, vol
            time.sleep(0.1)

    def volume_with_data(self, backend: str, size: int = 1) -> tuple[dict[str, Any], Path]:
        vol = self.api.post(
            "volumes", {"volume": {"size": size, "name": f"on-{backend}", "volume_type": f"t-{backend}"}}
        ).json()["volume"]
        self.settle()
        vol = self.wait(vol["id"], lambda v: v["status"] == "available")
        path = self.file_of(vol["id"], backend)
        if backend == "gold":  # raw: write data in the middle and at the end, holes between
            with open(path, "r+b") as f:
                f.seek(5 * MiB)
                f.write(os.urandom(3 * MiB + 12345))
                f.seek(size * 1024 * MiB - 4096)
                f.write(os.urandom(4096))
        else:
            subprocess.run(
                ["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 7M 2M", str(path)], check=True, capture_output=True
            )
        return vol, path

    def file_of(self, vid: str, backend: str) -> Path:
        service = self.admin.cloud.runtime.service("volume")
        with service.runtime.db.session() as s:
            from overcast.db.models.volume import Volume

            row = s.get(Volume, vid)
            assert row.backend == backend
            return self.tmp / backend / str(row.location)

    def usage(self) -> dict[str, int]:
        q = self.api.get(f"os-quota-sets/{self.api.project}?usage=True").json()["quota_set"]
        return {k: q[k]["in_use"] for k in ("volumes", "gigabytes")}


@pytest.fixture
def world(api: Api, api_admin: Api, tmp_path: Path, settle: Any) -> World:
    return World(api, api_admin, tmp_path, settle)


def test_retype_on_demand_moves_the_data(world: World) -> None:
    vol, path = world.volume_with_data("gold")
    before, usage = raw_sha256(path, world.tmp), world.usage()
    gold_before = files(world.tmp / "gold")
    # migration_policy never (the default): Cinder's refusal, nothing changes
    r = world.action(vol["id"], {"os-retype": {"new_type": "t-silver"}})
    assert r.status_code == 400 and "Retype requires migration but is not allowed" in r.text, r.text
    shown = world.admin_view(vol["id"])
    assert (shown["volume_type"], shown["status"], shown["migration_status"]) == ("t-gold", "available", None)

    r = world.action(vol["id"], {"os-retype": {"new_type": "t-silver", "migration_policy": "on-demand"}})
    assert r.status_code == 202, r.text
    world.settle()
    moved = world.wait(vol["id"], lambda v: v["migration_status"] in ("success", "error"))
    assert moved["migration_status"] == "success", moved
    assert moved["status"] == "available" and moved["volume_type"] == "t-silver"
    assert moved["os-vol-host-attr:host"] == "overcast@silver#silver"
    assert moved["id"] == vol["id"] and moved["name"] == "on-gold" and moved["size"] == 1
    new_path = world.file_of(vol["id"], "silver")
    assert raw_sha256(new_path, world.tmp) == before  # the same bytes, now in a qcow2 file
    assert path.name not in files(world.tmp / "gold")  # the source is freed
    assert len(files(world.tmp / "gold")) == len(gold_before) - 1
    assert files(world.tmp / "silver") == [new_path.name]
    assert world.usage() == usage  # the temporary target used no quota, and is gone
    listed = world.admin.get(f"/volume/v3/{world.api.project}/volumes/detail?all_tenants=1").json()["volumes"]
    assert [v["id"] for v in listed if v["name"] == "on-gold"] == [vol["id"]]
    # the owner sees the volume, not the migration's bookkeeping
    own = world.api.get(f"volumes/{vol['id']}").json()["volume"]
    assert "migration_status" not in own and "os-vol-host-attr:host" not in own

    # and back by the admin action, locked meanwhile (maintenance), onto the raw pool
    r = world.action(vol["id"], {"os-migrate_volume": {"host": "overcast@gold#gold"}}, admin=True)
    assert r.status_code == 400 and "No valid backend was found" in r.text  # its type asks for silver
    world.action(vol["id"], {"os-retype": {"new_type": world.types["gold"]["id"], "migration_policy": "on-demand"}})
    world.settle()
    back = world.wait(vol["id"], lambda v: v["status"] == "available" and v["volume_type"] == "t-gold")
    assert back["migration_status"] == "success" and back["os-vol-host-attr:host"] == "overcast@gold#gold"
    assert raw_sha256(world.file_of(vol["id"], "gold"), world.tmp) == before
    assert files(world.tmp / "silver") == []
    assert world.usage() == usage


def test_os_migrate_volume_between_pools(world: World) -> None:
    untyped = world.admin.post("types", {"volume_type": {"name": "anywhere"}}).json()["volume_type"]
    vol = world.api.post("volumes", {"volume": {"size": 1, "volume_type": untyped["name"]}}).json()["volume"]
    world.settle()
    vol = world.wait(vol["id"], lambda v: v["status"] == "available")
    source = vol["os-vol-host-attr:host"].split("#")[0].split("@")[1]
    dest = "silver" if source == "gold" else "gold"
    path = world.file_of(vol["id"], source)
    if source == "gold":
        with open(path, "r+b") as f:
            f.seek(MiB)
            f.write(os.urandom(2 * MiB))
    else:
        subprocess.run(
            ["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 1M 2M", str(path)], check=True, capture_output=True
        )
    before, usage = raw_sha256(path, world.tmp), world.usage()
    body = {"os-migrate_volume": {"host": f"overcast@{dest}#{dest}", "force_host_copy": True, "lock_volume": True}}

    # an admin's action only
    assert world.action(vol["id"], body).status_code == 403
    for host, why in (
        ("overcast@nowhere", "Invalid host: No available service named 'overcast@nowhere'"),
        ("elsewhere@gold", "Invalid host"),
        (f"overcast@{source}#{source}", "destination host/cluster must be different than the current one"),
        ("overcast@lvm#lvm", "No valid backend was found. lvm: not reachable"),  # no device-mapper here
    ):
        r = world.action(vol["id"], {"os-migrate_volume": {"host": host}}, admin=True)
        assert r.status_code == 400 and why in r.text, (host, r.text)
    r = world.action(vol["id"], {"os-migrate_volume": {"host": f"overcast@{dest}", "bogus": 1}}, admin=True)
    assert r.status_code == 400
    shown = world.admin_view(vol["id"])
    assert (shown["status"], shown["migration_status"], shown["os-vol-host-attr:host"]) == (
        "available",
        None,
        f"overcast@{source}#{source}",
    )

    r = world.action(vol["id"], body, admin=True)
    assert r.status_code == 202, r.text
    world.settle()
    moved = world.wait(vol["id"], lambda v: v["migration_status"] in ("success", "error"))
    assert moved["migration_status"] == "success" and moved["status"] == "available", moved
    assert moved["os-vol-host-attr:host"] == f"overcast@{dest}#{dest}" and moved["volume_type"] == "anywhere"
    assert raw_sha256(world.file_of(vol["id"], dest), world.tmp) == before
    assert files(world.tmp / source) == []
    assert world.usage() == usage
    # os-migrate_volume_completion: Cinder's checks (nothing is mid-migration now)
    other = world.api.post("volumes", {"volume": {"size": 1, "volume_type": untyped["name"]}}).json()["volume"]
    world.settle()
    done = world.action(vol["id"], {"os-migrate_volume_completion": {"new_volume": other["id"]}}, admin=True)
    assert done.status_code == 400 and "Destination volume not mid-migration." in done.text, done.text
    done = world.action(other["id"], {"os-migrate_volume_completion": {"new_volume": vol["id"]}}, admin=True)
    assert done.status_code == 400 and "Source volume not mid-migration." in done.text, done.text
    assert world.action(vol["id"], {"os-migrate_volume_completion": {"new_volume": other["id"]}}).status_code == 403


def test_refusals_change_nothing(world: World) -> None:
    vol, path = world.volume_with_data("gold")
    before = raw_sha256(path, world.tmp)

    def unchanged() -> None:
        shown = world.admin_view(vol["id"])
        assert shown["volume_type"] == "t-gold" and shown["os-vol-host-attr:host"] == "overcast@gold#gold"
        assert shown["migration_status"] is None and shown["status"] in ("available", "in-use")
        assert raw_sha256(path, world.tmp) == before and files(world.tmp / "silver") == []

    # onto a backend that cannot take it (LVM: no device-mapper on this kernel)
    r = world.action(vol["id"], {"os-retype": {"new_type": "t-lvm", "migration_policy": "on-demand"}})
    assert r.status_code == 400 and "No valid backend was found" in r.text and "lvm: not reachable" in r.text, r.text
    unchanged()
    # a volume with snapshots (Cinder's manager text)
    snap = world.api.post("snapshots", {"snapshot": {"volume_id": vol["id"]}}).json()["snapshot"]
    world.settle()
    r = world.action(vol["id"], {"os-retype": {"new_type": "t-silver", "migration_policy": "on-demand"}})
    assert r.status_code == 400 and "Volume must not have snapshots." in r.text, r.text
    r = world.action(vol["id"], {"os-migrate_volume": {"host": "overcast@silver"}}, admin=True)
    assert r.status_code == 400 and "have snapshots" in r.text
    unchanged()
    world.api.delete(f"snapshots/{snap['id']}")
    world.settle()
    # an attached volume: no hypervisor driver here swaps a running guest's disk
    server = "11111111-2222-3333-4444-555555555555"
    assert (
        world.action(vol["id"], {"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}}).status_code == 202
    )
    r = world.action(vol["id"], {"os-retype": {"new_type": "t-silver", "migration_policy": "on-demand"}})
    assert r.status_code == 400 and "is attached" in r.text and "swap volume" in r.text, r.text
    untyped = world.admin.post("types", {"volume_type": {"name": "loose"}}).json()["volume_type"]
    r = world.action(vol["id"], {"os-retype": {"new_type": untyped["name"]}})
    assert r.status_code == 202  # no move needed: the type changes in place, attached or not
    r = world.action(vol["id"], {"os-migrate_volume": {"host": "overcast@silver"}}, admin=True)
    assert r.status_code == 400 and "is attached" in r.text, r.text
    shown = world.admin_view(vol["id"])
    assert shown["status"] == "in-use" and shown["migration_status"] is None
    assert raw_sha256(path, world.tmp) == before and files(world.tmp / "silver") == []
    # a bad policy, and a migrate with both host and cluster (3.16)
    r = world.action(vol["id"], {"os-retype": {"new_type": "t-silver", "migration_policy": "sometimes"}})
    assert r.status_code == 400
    r = world.admin.post(
        f"/volume/v3/{world.api.project}/volumes/{vol['id']}/action",
        {"os-migrate_volume": {"host": "overcast@silver", "cluster": "c1"}},
        headers={"OpenStack-API-Version": "volume 3.16"},
    )
    assert r.status_code == 400 and "Only one of host or cluster" in r.text, r.text


def test_copy_device_skips_holes_and_checks(tmp_path: Path) -> None:
    from overcast.volume.backup_chunks import copy_device, digest_device
    from overcast.types import LocalDevice

    src, dst = tmp_path / "src.raw", tmp_path / "dst.raw"
    with open(src, "wb") as f:
        f.truncate(20 * MiB)
        f.seek(6 * MiB + 7)
        f.write(os.urandom(MiB))
    with open(dst, "wb") as f:
        f.truncate(20 * MiB)
    a, b = LocalDevice(path=str(src), size=20 * MiB), LocalDevice(path=str(dst), size=20 * MiB, zeroed=True)
    digest = copy_device(a, b, 4 * MiB, 2)
    assert src.read_bytes() == dst.read_bytes()
    assert digest_device(b, 20 * MiB, 4 * MiB, 2) == digest
    assert os.stat(dst).st_blocks * 512 <= 4 * MiB  # one 4 MiB chunk written: the holes stayed holes
    with open(dst, "r+b") as f:
        f.seek(15 * MiB)
        f.write(b"x")
    assert digest_device(b, 20 * MiB, 4 * MiB, 2) != digest


def test_a_failed_copy_leaves_the_volume_where_it_was(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the data moves (``lock_volume``: ``maintenance``), the target is an admin's to see and
    the volume refuses other work; a copy that fails discards the target and sets
    ``migration_status: error``, the volume back as it was on its own backend."""
    from overcast.agent.volume import VolumeAgent
    from overcast.errors import DriverError

    untyped = world.admin.post("types", {"volume_type": {"name": "free"}}).json()["volume_type"]
    vol = world.api.post("volumes", {"volume": {"size": 1, "volume_type": untyped["name"]}}).json()["volume"]
    world.settle()
    vol = world.wait(vol["id"], lambda v: v["status"] == "available")
    source = vol["os-vol-host-attr:host"].split("#")[0].split("@")[1]
    dest = "silver" if source == "gold" else "gold"
    path = world.file_of(vol["id"], source)
    before, usage = raw_sha256(path, world.tmp), world.usage()
    seen: dict[str, Any] = {}

    def failing_copy(self: Any, backend_name: str, volume: Any, dest_backend: str, dest: Any) -> int:
        seen["during"] = world.admin_view(vol["id"])
        admin_list = world.admin.get(f"/volume/v3/{world.api.project}/volumes/detail?all_tenants=1").json()["volumes"]
        seen["targets"] = [v for v in admin_list if (v.get("migration_status") or "").startswith("target:")]
        seen["owner_list"] = [v["id"] for v in world.api.get("volumes").json()["volumes"]]
        seen["attach"] = world.action(vol["id"], {"os-attach": {"instance_uuid": "x" * 8, "mountpoint": "/dev/vdb"}})
        seen["delete"] = world.api.delete(f"volumes/{vol['id']}")
        raise DriverError("the destination's disk is full")

    monkeypatch.setattr(VolumeAgent, "copy_volume", failing_copy)
    body = {"os-migrate_volume": {"host": f"overcast@{dest}", "lock_volume": True}}
    assert world.action(vol["id"], body, admin=True).status_code == 202
    world.settle()
    failed = world.wait(vol["id"], lambda v: v["migration_status"] == "error")
    assert (seen["during"]["status"], seen["during"]["migration_status"]) == ("maintenance", "migrating")
    assert [t["migration_status"] for t in seen["targets"]] == [f"target:{vol['id']}"]
    assert seen["owner_list"] == [vol["id"]]  # not the target
    assert seen["attach"].status_code == 400 and seen["delete"].status_code == 400
    assert failed["status"] == "available" and failed["os-vol-host-attr:host"] == f"overcast@{source}#{source}"
    assert raw_sha256(path, world.tmp) == before and files(world.tmp / dest) == []
    listed = world.admin.get(f"/volume/v3/{world.api.project}/volumes/detail?all_tenants=1").json()["volumes"]
    assert [v["id"] for v in listed] == [vol["id"]] and world.usage() == usage
    # migration_status error allows another try (Cinder's AVAILABLE_MIGRATION_STATUS)
    monkeypatch.undo()
    assert world.action(vol["id"], body, admin=True).status_code == 202
    world.settle()
    moved = world.wait(vol["id"], lambda v: v["migration_status"] == "success")
    assert moved["status"] == "available" and raw_sha256(world.file_of(vol["id"], dest), world.tmp) == before
