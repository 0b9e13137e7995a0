"""The ``fs`` volume driver: the contract suite, qcow2 chains on any file system, and
reflink copies on a loop-mounted XFS (root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.errors import Conflict, DriverError, UnsupportedOperation
from overcast.plugins import DriverCaller, PluginManager
from overcast.testing.contract import VolumeContract
from overcast.types import Backend, Connector, DriverKind, ImageFile, ImageRef, SnapshotRef, VolumeRef
from overcast_storage_fs import plugin
from overcast_storage_fs.volumes import qcow2_backing_name

GiB = 1024**3
FILE_HOST = Connector(host="node1", connection_types=frozenset({"file"}))


@pytest.fixture
def driver() -> DriverCaller:
    pm = PluginManager()
    pm.register_plugin(plugin, name="storage_fs")
    return pm.driver("volume", "fs")


def make_backend(path: Path, **options: object) -> Backend:
    return Backend(
        DriverKind.VOLUME, "files", "fs", {"path": str(path), "format": "qcow2", "full_copy": True, **options}
    )


@pytest.fixture
def target(tmp_path: Path, driver: DriverCaller) -> Backend:
    backend = make_backend(tmp_path / "vols")
    driver.init_backend(backend=backend)
    return backend


def vol(size_gb: int = 1) -> VolumeRef:
    vid = str(uuid.uuid4())
    return VolumeRef(id=vid, name=f"v-{vid[:6]}", size_gb=size_gb, project_id="p")


def created(driver: DriverCaller, backend: Backend, v: VolumeRef, loc) -> VolumeRef:  # noqa: ANN001
    return VolumeRef(v.id, v.name, v.size_gb, v.project_id, loc.location)


def write_pattern(path: Path, fmt: str, pattern: int, offset: int = 0) -> None:
    subprocess.run(
        ["qemu-io", "-f", fmt, "-c", f"write -P {pattern} {offset} 1M", str(path)], check=True, capture_output=True
    )


def read_matches(path: Path, fmt: str, pattern: int, offset: int = 0) -> bool:
    out = subprocess.run(
        ["qemu-io", "-f", fmt, "-c", f"read -P {pattern} {offset} 1M", str(path)], capture_output=True, text=True
    )
    return out.returncode == 0 and "Pattern verification failed" not in out.stdout


class TestFsVolumeContractQcow2(VolumeContract):
    """The shared contract, on a plain directory (qcow2 backing chains, no reflink here)."""


class TestFsVolumeContractRaw(VolumeContract):
    @pytest.fixture
    def target(self, tmp_path: Path, driver: DriverCaller) -> Backend:
        backend = make_backend(tmp_path / "raw", format="raw")
        driver.init_backend(backend=backend)
        return backend


def test_qcow2_chain_snapshot_keeps_old_content_and_volume_keeps_writing(driver: DriverCaller, target: Backend) -> None:
    root = Path(target.options["path"])
    v = vol()
    v = created(driver, target, v, driver.create(backend=target, volume=v))
    write_pattern(root / v.location, "qcow2", 0xAA)
    snap = SnapshotRef(str(uuid.uuid4()), v)
    loc = driver.create_snapshot(backend=target, snapshot=snap)
    assert loc.copy_on_write is True
    snap = SnapshotRef(snap.id, v, location=loc.location)
    assert qcow2_backing_name(root / v.location) == loc.location  # the volume now sits on the snapshot
    write_pattern(root / v.location, "qcow2", 0xBB)
    assert read_matches(root / loc.location, "qcow2", 0xAA)

    from_snap = vol(2)
    made = driver.create_from_snapshot(backend=target, volume=from_snap, snapshot=snap)
    assert made.copy_on_write is True
    assert read_matches(root / made.location, "qcow2", 0xAA)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(root / made.location)], capture_output=True, text=True, check=True
        ).stdout
    )
    assert info["virtual-size"] == 2 * GiB

    # deleting the snapshot while volumes still use it keeps the data (tombstone) ...
    assert driver.delete_snapshot(backend=target, snapshot=snap) is True
    assert (root / loc.location).exists() and (root / (loc.location + ".deleted")).exists()
    assert read_matches(root / v.location, "qcow2", 0xBB)
    # ... and the last user's deletion collects it
    driver.delete(backend=target, volume=created(driver, target, from_snap, made))
    driver.delete(backend=target, volume=v)
    leftovers = sorted(p.name for p in root.iterdir() if p.name != "exports")
    assert leftovers == []


def test_qcow2_clone_is_copy_on_write_and_independent(driver: DriverCaller, target: Backend) -> None:
    root = Path(target.options["path"])
    src = vol()
    src = created(driver, target, src, driver.create(backend=target, volume=src))
    write_pattern(root / src.location, "qcow2", 0x11)
    clone = vol()
    loc = driver.clone(backend=target, volume=clone, source=src)
    assert loc.copy_on_write is True
    write_pattern(root / src.location, "qcow2", 0x22)
    assert read_matches(root / loc.location, "qcow2", 0x11)
    driver.delete(backend=target, volume=src)
    assert read_matches(root / loc.location, "qcow2", 0x11)
    driver.delete(backend=target, volume=created(driver, target, clone, loc))
    assert sorted(p.name for p in root.iterdir() if p.name != "exports") == []


def test_chain_step_refused_while_attached(driver: DriverCaller, target: Backend) -> None:
    v = vol()
    v = created(driver, target, v, driver.create(backend=target, volume=v))
    info = driver.initialize_connection(backend=target, volume=v, connector=FILE_HOST)
    assert info.driver_volume_type == "file" and info.data["format"] == "qcow2"
    assert Path(info.data["path"]).is_file()
    with pytest.raises(Conflict, match="attached"):
        driver.create_snapshot(backend=target, snapshot=SnapshotRef(str(uuid.uuid4()), v))
    with pytest.raises(Conflict, match="exported"):
        driver.delete(backend=target, volume=v)
    driver.terminate_connection(backend=target, volume=v, connector=FILE_HOST)
    driver.delete(backend=target, volume=v)


def test_raw_without_reflink_reports_full_copy_or_refuses(driver: DriverCaller, tmp_path: Path) -> None:
    backend = make_backend(tmp_path / "raw", format="raw")
    driver.init_backend(backend=backend)
    src = vol()
    src = created(driver, backend, src, driver.create(backend=backend, volume=src))
    loc = driver.clone(backend=backend, volume=vol(), source=src)
    assert loc.copy_on_write is False  # honest: ext4 has no reflink
    strict = make_backend(tmp_path / "raw", format="raw", full_copy=False)
    with pytest.raises(UnsupportedOperation, match="full_copy"):
        driver.clone(backend=strict, volume=vol(), source=src)


def test_extend_and_stats(driver: DriverCaller, target: Backend) -> None:
    v = vol()
    v = created(driver, target, v, driver.create(backend=target, volume=v))
    driver.extend(backend=target, volume=v, new_size_gb=3)
    stats = driver.get_stats(backend=target)
    assert stats.provisioned_gb == 3 and stats.connection_types == frozenset({"file"})
    st = os.statvfs(target.options["path"])
    assert abs(stats.free_gb - st.f_bavail * st.f_frsize / GiB) < 0.5


def test_extend_of_a_qcow2_a_running_qemu_holds_is_left_to_the_hypervisor(
    driver: DriverCaller, target: Backend
) -> None:
    """Online extend: a QEMU process (``qemu-io``, holding the image open like a guest does)
    locks the qcow2, so ``qemu-img resize`` cannot run. Exported to a host, the driver leaves
    the growth to ``hv_extend_volume`` (blockResize); not exported, the lock is an error."""
    v = vol()
    v = created(driver, target, v, driver.create(backend=target, volume=v))
    path = Path(target.options["path"]) / v.location
    holder = subprocess.Popen(
        ["qemu-io", "-f", "qcow2", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert holder.stdout.read(len("qemu-io> ")) == "qemu-io> "  # the image is open (and locked)
        with pytest.raises(DriverError, match="lock"):
            driver.extend(backend=target, volume=v, new_size_gb=2)
        driver.initialize_connection(backend=target, volume=v, connector=FILE_HOST)
        assert driver.extend(backend=target, volume=v, new_size_gb=2) is True
    finally:
        holder.communicate("quit\n", timeout=10)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(path)], capture_output=True, text=True, check=True
        ).stdout
    )
    assert info["virtual-size"] == GiB  # untouched: the hypervisor's blockResize grows it
    driver.terminate_connection(backend=target, volume=v, connector=FILE_HOST)
    driver.extend(backend=target, volume=v, new_size_gb=2)  # nobody holds it now: resized here
    assert driver.get_stats(backend=target).provisioned_gb == 2


def test_image_round_trip(driver: DriverCaller, target: Backend, tmp_path: Path) -> None:
    image_path = tmp_path / "img.raw"
    with open(image_path, "wb") as f:
        f.truncate(4 * 1024 * 1024)
    write_pattern(image_path, "raw", 0x5A)
    v = vol()
    v = created(driver, target, v, driver.create(backend=target, volume=v))
    image = ImageFile(ImageRef(id="img1", name="img", disk_format="raw"), str(image_path), "raw")
    assert driver.copy_image_to_volume(backend=target, volume=v, image=image) is True
    assert read_matches(Path(target.options["path"]) / v.location, "qcow2", 0x5A)
    out = driver.copy_volume_to_image(
        backend=target, volume=v, disk_format="qcow2", dest_path=str(tmp_path / "up.qcow2")
    )
    assert out.disk_format == "qcow2" and out.size > 0
    assert read_matches(tmp_path / "up.qcow2", "qcow2", 0x5A)


# --- reflink on a loop-mounted XFS (root) ------------------------------------------------


@pytest.fixture
def xfs_dir(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mkfs.xfs") is None:
        pytest.skip("root: a loop-mounted XFS needs root and xfsprogs")
    image, mnt = tmp_path / "xfs.img", tmp_path / "mnt"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(2 * GiB)
    subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.mark.root
class TestFsVolumeContractReflink(VolumeContract):
    @pytest.fixture
    def target(self, xfs_dir: Path, driver: DriverCaller) -> Backend:
        backend = make_backend(xfs_dir / "vols", format="raw")
        driver.init_backend(backend=backend)
        return backend


@pytest.mark.root
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_reflink_clone_and_snapshot_are_cow_and_independent(driver: DriverCaller, xfs_dir: Path, fmt: str) -> None:
    backend = make_backend(xfs_dir / "vols", format=fmt)
    driver.init_backend(backend=backend)
    root = xfs_dir / "vols"
    src = vol()
    src = created(driver, backend, src, driver.create(backend=backend, volume=src))
    write_pattern(root / src.location, fmt, 0x31)
    # reflink works while attached: no chain step is needed
    driver.initialize_connection(backend=backend, volume=src, connector=FILE_HOST)
    snap_loc = driver.create_snapshot(backend=backend, snapshot=SnapshotRef(str(uuid.uuid4()), src))
    clone_loc = driver.clone(backend=backend, volume=vol(), source=src)
    assert snap_loc.copy_on_write and clone_loc.copy_on_write
    assert qcow2_backing_name(root / clone_loc.location) is None  # independent file, no chain
    write_pattern(root / src.location, fmt, 0x32)
    assert read_matches(root / snap_loc.location, fmt, 0x31)
    assert read_matches(root / clone_loc.location, fmt, 0x31)
    driver.terminate_connection(backend=backend, volume=src, connector=FILE_HOST)


def test_templated_overlay_is_what_qemu_img_writes(tmp_path: Path) -> None:
    from overcast_storage_fs.volumes import OverlayTemplates

    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "base-one.qcow2"), "1G"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "base-two.qcow2"), "1G"], check=True)
    templates = OverlayTemplates()
    for name in ("base-one.qcow2", "base-two.qcow2"):  # the second reuses the first's template
        dest = tmp_path / f"over-{name}"
        templates.write(dest, name, "qcow2", 2 * GiB)
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "--output=json", str(dest)], capture_output=True, text=True, check=True
            ).stdout
        )
        assert info["backing-filename"] == name and info["backing-filename-format"] == "qcow2"
        assert info["virtual-size"] == 2 * GiB
        subprocess.run(["qemu-img", "check", "-q", str(dest)], check=True)
        assert qcow2_backing_name(dest) == name
    expected = tmp_path / "expected.qcow2"
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-u",
            "-b",
            "base-two.qcow2",
            "-F",
            "qcow2",
            str(expected),
            str(2 * GiB),
        ],
        check=True,
    )
    assert expected.read_bytes() == (tmp_path / "over-base-two.qcow2").read_bytes()


def test_open_local_for_backups_refuses_an_attached_volume_and_keeps_clone_chains(
    driver: DriverCaller, target: Backend
) -> None:
    """vol_open_local (issue 18): a qcow2 clone (an overlay on a frozen base) restored through
    a scratch raw file becomes a standalone qcow2 with the written data; the base it no
    longer needs goes; no scratch file stays; an exported volume is not overwritten."""
    from overcast.errors import Conflict

    src_ref = vol()
    src = created(driver, target, src_ref, driver.create(backend=target, volume=src_ref))
    write_pattern(Path(target.options["path"]) / src.location, "qcow2", 0x11)
    clone_ref = vol()
    clone = created(driver, target, clone_ref, driver.clone(backend=target, volume=clone_ref, source=src))
    clone_path = Path(target.options["path"]) / clone.location
    assert qcow2_backing_name(clone_path)  # an overlay on the frozen base
    dev = driver.open_local(backend=target, volume=clone, snapshot=None, writable=False)
    with open(dev.path, "rb") as f:
        assert f.read(1024 * 1024) == b"\x11" * 1024 * 1024  # the raw view of the chain
    driver.close_local(backend=target, volume=clone, device=dev, commit=False)
    dev = driver.open_local(backend=target, volume=clone, snapshot=None, writable=True)
    assert dev.zeroed
    with open(dev.path, "r+b") as f:
        f.write(b"\x22" * 1024 * 1024)
    driver.close_local(backend=target, volume=clone, device=dev, commit=True)
    assert qcow2_backing_name(clone_path) is None and read_matches(clone_path, "qcow2", 0x22)
    assert read_matches(Path(target.options["path"]) / src.location, "qcow2", 0x11)  # the source is untouched
    assert not list(Path(target.options["path"]).glob(".*.tmp.*"))

    driver.initialize_connection(backend=target, volume=src, connector=FILE_HOST)
    with pytest.raises(Conflict, match="attached"):
        driver.open_local(backend=target, volume=src, snapshot=None, writable=True)
    driver.terminate_connection(backend=target, volume=src, connector=FILE_HOST)
