"""The volume service end to end over the real ``fs`` driver: files on disk, copy-on-write
clones and snapshots, volumes from images and uploads to images (with a stand-in image
service that offers the calls the volume service makes)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import make_ctx
from overcast.config import parse_config
from overcast.errors import NotFound
from overcast.plugins import PluginManager
from overcast.testing.fakes import FakeDriversPlugin
from overcast.testing.fixtures import fake_config_data
from overcast.types import Connector, ImageFile, ImageRef

storage_fs = pytest.importorskip("overcast_storage_fs.plugin")


class StandInImages:
    """Images as files in a directory, with the peer interface of ``overcast.image.service``
    that the volume service uses (image_ref, fetch_to_cache, create_snapshot_record,
    upload_file, discard_image)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.refs: dict[str, ImageRef] = {}
        self.owner: dict[str, str] = {}
        self.deleted: list[str] = []

    def add(self, project: str, path: Path, disk_format: str) -> str:
        image_id = str(uuid.uuid4())
        shutil.copy(path, self.root / image_id)
        self.refs[image_id] = ImageRef(image_id, "img", disk_format, size=path.stat().st_size)
        self.owner[image_id] = project
        return image_id

    def image_ref(self, ctx: Any, image_id: str) -> ImageRef:
        if image_id not in self.refs or self.owner[image_id] != ctx.project_id:
            raise NotFound(f"Image {image_id} could not be found.")
        return self.refs[image_id]

    def fetch_to_cache(self, image: ImageRef, cache_dir: str, formats: list[str]) -> ImageFile:
        assert image.disk_format in formats
        dest = Path(cache_dir) / image.id
        shutil.copy(self.root / image.id, dest)
        return ImageFile(image, str(dest), image.disk_format)

    def create_snapshot_record(self, ctx: Any, name: str, properties: dict) -> str:
        image_id = str(uuid.uuid4())
        self.refs[image_id] = ImageRef(image_id, name, "raw")
        self.owner[image_id] = ctx.project_id
        return image_id

    def upload_file(self, image_id: str, path: str, disk_format: str) -> None:
        shutil.copy(path, self.root / image_id)
        self.refs[image_id] = ImageRef(image_id, self.refs[image_id].name, disk_format)

    def discard_image(self, image_id: str) -> None:
        self.deleted.append(image_id)


@pytest.fixture
def fs_cloud(tmp_path: Path) -> Iterator[tuple[Any, StandInImages, Path]]:
    from overcast.runtime import build_runtime

    data = fake_config_data(tmp_path)
    vols = tmp_path / "vols"
    data["volume_backends"] = {"files": {"driver": "fs", "path": str(vols), "format": "qcow2"}}
    cfg = parse_config(data, tmp_path / "overcast.toml")
    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    pm.register_plugin(storage_fs, name="storage_fs")
    runtime = build_runtime(cfg, pm=pm)
    (tmp_path / "images").mkdir()
    images = StandInImages(tmp_path / "images")
    runtime._services["image"] = images
    runtime.service("volume").start()
    try:
        yield runtime, images, vols
    finally:
        runtime.close()


def qemu_io(path: Path, cmd: str, fmt: str = "qcow2") -> bool:
    out = subprocess.run(["qemu-io", "-f", fmt, "-c", cmd, str(path)], capture_output=True, text=True)
    return out.returncode == 0 and "Pattern verification failed" not in out.stdout


def test_volume_life_on_files(fs_cloud: Any) -> None:
    runtime, images, vols = fs_cloud
    svc, ctx = runtime.service("volume"), make_ctx()
    src = svc.volumes.create(ctx, size=1, name="src")
    svc.tasks.wait()
    src = svc.volumes.get(ctx, src.id)
    assert src.status == "available" and (vols / src.location).is_file()
    assert qemu_io(vols / src.location, "write -P 0x42 0 1M")
    clone = svc.volumes.create(ctx, source_volid=src.id, size=2)
    snap = None
    svc.tasks.wait()
    clone = svc.volumes.get(ctx, clone.id)
    assert clone.status == "available" and clone.copy_on_write is True
    assert qemu_io(vols / clone.location, "read -P 0x42 0 1M")
    snap = svc.snapshots.create(ctx, src.id, name="s")
    svc.tasks.wait()
    from_snap = svc.volumes.create(ctx, snapshot_id=snap.id)
    svc.tasks.wait()
    from_snap = svc.volumes.get(ctx, from_snap.id)
    assert from_snap.status == "available" and qemu_io(vols / from_snap.location, "read -P 0x42 0 1M")
    svc.volumes.extend(ctx, clone.id, 3)
    svc.tasks.wait()
    assert svc.volumes.get(ctx, clone.id).size == 3
    # attach: the file connection the hypervisor gets
    node1 = Connector("node1", frozenset({"file"}))
    svc.reserve_attach(ctx, src.id, "srv-1")
    info = svc.initialize_connection(ctx, src.id, node1)
    assert info.driver_volume_type == "file" and Path(info.data["path"]) == vols / src.location
    svc.complete_attach(ctx, src.id, "srv-1", "/dev/vdb", "node1")
    svc.begin_detach(ctx, src.id, "srv-1")
    svc.terminate_connection(ctx, src.id, node1)
    svc.complete_detach(ctx, src.id, "srv-1")
    # delete everything; no file is left behind
    for vid in (from_snap.id, clone.id):
        svc.volumes.delete(ctx, vid)
    svc.volumes.delete(ctx, src.id, cascade=True)
    svc.tasks.wait()
    assert sorted(p.name for p in vols.iterdir() if p.name != "exports") == []


def test_volume_from_image_and_back(fs_cloud: Any, tmp_path: Path) -> None:
    runtime, images, vols = fs_cloud
    svc, ctx = runtime.service("volume"), make_ctx()
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    assert qemu_io(raw, "write -P 0x7e 1M 1M", "raw")
    image_id = images.add(ctx.project_id, raw, "raw")
    vol = svc.volumes.create(ctx, size=1, image_id=image_id)
    svc.tasks.wait()
    vol = svc.volumes.get(ctx, vol.id)
    assert vol.status == "available", vol.error
    assert vol.bootable and vol.image_metadata["image_id"] == image_id
    assert qemu_io(vols / vol.location, "read -P 0x7e 1M 1M")
    _, image = svc.volumes.upload_to_image(ctx, vol.id, "from-volume", "qcow2")
    svc.tasks.wait()
    assert svc.volumes.get(ctx, vol.id).status == "available" and not images.deleted
    assert qemu_io(images.root / image.id, "read -P 0x7e 1M 1M")
    # another project's image is not found, and nothing is created
    with pytest.raises(NotFound):
        svc.volumes.create(make_ctx("proj-b"), size=1, image_id=image_id)
    assert svc.volumes.list(make_ctx("proj-b")) == []
