"""The ``fs`` volume driver: each volume is a raw or qcow2 file in one directory.

Files in ``path`` (a flat directory, so it can be moved as a whole):

* ``volume-<id>.<fmt>``: a volume (the driver's ``location`` is this file name);
* ``snapshot-<id>.<fmt>``: a snapshot;
* ``base-<uuid>.qcow2``: a frozen image that clones of an attached-free volume share;
* ``<file>.deleted``: a tombstone: the file was deleted but other files still use it as
  their qcow2 backing file; it goes away with its last dependant;
* ``exports/<file>@<host>``: the volume is exported to that host (attached).

How copies are made, best first (``copy_on_write`` in the result says which happened):

1. **reflink** (``FICLONE``, as ``cp --reflink=always`` does) when the file system shares
   extents (XFS with reflink, btrfs): instant at any size, and the copy is independent;
2. **qcow2 backing chain** when the volume is qcow2: the current file becomes a read-only
   base and the volume continues in a new overlay on top of it. Needs the volume to be
   detached (a running guest keeps writing to the old file), so it is refused while the
   volume is exported;
3. **full copy** (sparse-aware) otherwise, reported with ``copy_on_write=False`` and logged,
   unless ``full_copy = false``, which refuses instead.

Every new file is written under a temporary name, fsynced and renamed, so a crash leaves
either the old state or the new one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from overcast.datadir import private_dir, qemu_group
from overcast.errors import (
    BackendUnavailable,
    Conflict,
    DriverError,
    NotFound,
    UnsupportedOperation,
)
from overcast.hookspecs import hookimpl
from overcast.types import (
    Backend,
    BackendStats,
    ConfigOption,
    ConnectionInfo,
    Connector,
    DriverKind,
    ImageFile,
    LocalDevice,
    SnapshotRef,
    SnapshotResult,
    VolumeLocation,
    VolumeRef,
)

from overcast_storage_fs.durable import fsync_dir
from overcast_storage_fs.volumes_qcow2 import (
    OverlayTemplates,
    qcow2_backing_name,
    qcow2_virtual_size,
    qemu_img,
)

log = logging.getLogger(__name__)

GiB = 1024**3
FICLONE = 0x40049409  # _IOW(0x94, 9, int)
FORMATS = ("qcow2", "raw")

OPTIONS: list[ConfigOption] = [
    ConfigOption(DriverKind.VOLUME, "fs", "path", str, required=True, help="directory that holds the volume files"),
    ConfigOption(
        DriverKind.VOLUME, "fs", "format", str, default="qcow2", choices=FORMATS, help="file format of new volumes"
    ),
    ConfigOption(
        DriverKind.VOLUME,
        "fs",
        "full_copy",
        bool,
        default=True,
        help="allow a full data copy when neither reflink nor a qcow2 chain can be used (reported, never silent)",
    ),
]


# --------------------------------------------------------------------------------------
# Small helpers: commands, qcow2 headers, reflinks, atomic files
# --------------------------------------------------------------------------------------


def reflink(src: Path, dst: Path) -> None:
    """Share ``src``'s extents into a new ``dst`` (raises OSError if the FS cannot)."""
    with open(src, "rb") as s, open(dst, "wb") as d:
        fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
        os.fsync(d.fileno())


def probe_reflink(directory: Path) -> bool:
    """Whether ``directory``'s file system can reflink (tried once on a scratch file)."""
    src, dst = directory / f".probe-{uuid.uuid4().hex}", directory / f".probe-{uuid.uuid4().hex}"
    try:
        src.write_bytes(b"\0" * 4096)
        reflink(src, dst)
        return True
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EINVAL, errno.EXDEV, errno.ENOSYS, errno.EPERM):
            return False
        raise
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)


#: qemu-img's words when a running QEMU holds the image
LOCKED = 'Failed to get "write" lock'


class FsVolumeDriver:
    """Hook implementations for every backend whose table says ``driver = "fs"``."""

    def __init__(self) -> None:
        self._reflink: dict[str, bool] = {}
        self._templates = OverlayTemplates()

    # --- paths and backend facts ------------------------------------------------------

    def _dir(self, backend: Backend) -> Path:
        return Path(str(backend.options["path"])).absolute()

    def _format(self, backend: Backend) -> str:
        return str(backend.options.get("format") or "qcow2")

    def _can_reflink(self, backend: Backend) -> bool:
        key = str(self._dir(backend))
        if key not in self._reflink:
            self._reflink[key] = probe_reflink(self._dir(backend))
        return self._reflink[key]

    def _file(self, backend: Backend, location: str, what: str) -> Path:
        if not location or "/" in location or location.startswith("."):
            raise NotFound(f"{what} has no data on backend {backend.name} (location {location!r})")
        path = self._dir(backend) / location
        if not path.exists():
            raise NotFound(f"{what} has no data on backend {backend.name}: {location} is missing")
        return path

    @staticmethod
    def _fmt_of(path: Path) -> str:
        return "qcow2" if path.suffix == ".qcow2" else "raw"

    def _virtual_size(self, path: Path) -> int:
        if self._fmt_of(path) == "raw":
            return path.stat().st_size
        size = qcow2_virtual_size(path)
        if size is None:
            raise DriverError(f"{path.name} is not a qcow2 file")
        return size

    def _exported_to(self, backend: Backend, location: str) -> list[str]:
        exports = self._dir(backend) / "exports"
        if not exports.is_dir():
            return []
        return sorted(p.name.split("@", 1)[1] for p in exports.glob(f"{location}@*"))

    def _all_files(self, backend: Backend) -> Iterator[Path]:
        for path in self._dir(backend).iterdir():
            if path.suffix in (".qcow2", ".raw") and not path.name.startswith(".") and path.is_file():
                yield path

    def _children(self, backend: Backend, path: Path) -> list[Path]:
        return [p for p in self._all_files(backend) if qcow2_backing_name(p) == path.name]

    # --- building blocks ----------------------------------------------------------------

    def _commit(self, tmp: Path, final: Path) -> None:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        fsync_dir(final.parent)

    def _tmp(self, final: Path) -> Path:
        return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.tmp{final.suffix}")

    def _create_blank(self, backend: Backend, final: Path, size_gb: int) -> None:
        tmp = self._tmp(final)
        try:
            if final.suffix == ".qcow2":
                qemu_img("create", "-q", "-f", "qcow2", str(tmp), str(size_gb * GiB))
            else:
                with open(tmp, "wb") as f:
                    f.truncate(size_gb * GiB)
            self._commit(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def _overlay(self, final: Path, backing: Path, size_gb: int) -> None:
        """A qcow2 file at ``final`` on top of ``backing`` (named relatively: movable)."""
        tmp = self._tmp(final)
        try:
            self._templates.write(tmp, backing.name, self._fmt_of(backing), size_gb * GiB)
            self._commit(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def _full_copy(self, backend: Backend, src: Path, final: Path, why: str) -> None:
        if not backend.options.get("full_copy", True):
            raise UnsupportedOperation(
                f"backend {backend.name} cannot copy {src.name} copy-on-write ({why}) and full_copy is off"
            )
        log.warning("backend %s: full copy of %s (%s)", backend.name, src.name, why)
        tmp = self._tmp(final)
        try:
            proc = subprocess.run(
                ["cp", "--sparse=always", "--reflink=never", str(src), str(tmp)], capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise DriverError(f"copying {src.name} failed: {proc.stderr.strip()}")
            self._commit(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def _freeze(self, backend: Backend, volume_path: Path, frozen: Path) -> None:
        """Chain step: the volume's current file becomes ``frozen`` (read-only from now on)
        and the volume continues in a fresh overlay at its own path."""
        size_gb = -(-self._virtual_size(volume_path) // GiB)
        os.replace(volume_path, frozen)
        try:
            self._overlay(volume_path, frozen, size_gb)
        except BaseException:
            os.replace(frozen, volume_path)  # put it back: nothing changed
            raise
        os.chmod(frozen, 0o444)
        fsync_dir(frozen.parent)

    def _copy(self, backend: Backend, src: Path, final: Path, size_gb: int, src_is_frozen: bool) -> bool:
        """Make ``final`` a copy of ``src``; returns whether it was copy-on-write."""
        final_fmt = self._fmt_of(final)
        if self._can_reflink(backend):
            tmp = self._tmp(final)
            try:
                reflink(src, tmp)
                self._commit(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)
            cow = True
        elif final_fmt == "qcow2" and src_is_frozen:
            self._overlay(final, src, size_gb)
            return True
        else:
            self._full_copy(backend, src, final, "no reflink on this file system and the source is not a frozen qcow2")
            cow = False
        self._grow(final, size_gb)
        return cow

    def _grow(self, path: Path, size_gb: int) -> None:
        if self._virtual_size(path) >= size_gb * GiB:
            return
        if self._fmt_of(path) == "qcow2":
            qemu_img("resize", "-q", str(path), str(size_gb * GiB))
        else:
            with open(path, "rb+") as f:
                f.truncate(size_gb * GiB)
                os.fsync(f.fileno())

    def _remove(self, backend: Backend, path: Path) -> None:
        """Delete ``path`` now if nothing is backed by it, else tombstone it; then collect
        tombstoned ancestors that lost their last dependant."""
        while path is not None and path.exists():
            if self._children(backend, path):
                path.with_name(path.name + ".deleted").touch()
                return
            parent_name = qcow2_backing_name(path)
            path.unlink()
            path.with_name(path.name + ".deleted").unlink(missing_ok=True)
            fsync_dir(path.parent)
            parent = path.with_name(parent_name) if parent_name else None
            if parent is None or not parent.with_name(parent.name + ".deleted").exists():
                return
            path = parent

    def _release_parent(self, backend: Backend, dest: Path, parent_name: str | None) -> None:
        """``dest`` got new content of its own: collect the backing file it no longer uses if
        that was already deleted (tombstoned)."""
        if parent_name:
            parent = dest.with_name(parent_name)
            if parent.with_name(parent.name + ".deleted").exists():
                self._remove(backend, parent)

    # --- hooks: backend -----------------------------------------------------------------

    @hookimpl
    def vol_init_backend(self, backend: Backend) -> bool:
        directory = self._dir(backend)
        try:
            private_dir(directory, qemu_group())  # QEMU (libvirt-qemu) must reach the files, no one else
            private_dir(directory / "exports", qemu_group())
        except OSError as exc:
            raise BackendUnavailable(f"backend {backend.name}: cannot use {directory}: {exc.strerror}") from None
        if not os.access(directory, os.W_OK):
            raise BackendUnavailable(f"backend {backend.name}: {directory} is not writable")
        if shutil.which("qemu-img") is None:
            raise BackendUnavailable(f"backend {backend.name}: qemu-img is not installed (apt-get install qemu-utils)")
        for stale in directory.glob(".*.tmp.*"):  # a crash mid-write left these; never acknowledged
            stale.unlink(missing_ok=True)
        self._reflink.pop(str(directory), None)
        return True

    @hookimpl
    def vol_get_stats(self, backend: Backend) -> BackendStats:
        st = os.statvfs(self._dir(backend))
        provisioned = sum(self._virtual_size(p) for p in self._all_files(backend) if p.name.startswith("volume-"))
        return BackendStats(
            total_gb=round(st.f_blocks * st.f_frsize / GiB, 2),
            free_gb=round(st.f_bavail * st.f_frsize / GiB, 2),
            thin_provisioning=True,  # sparse raw files and qcow2 both allocate on write
            max_over_subscription_ratio=1.0,
            provisioned_gb=round(provisioned / GiB, 2),
            connection_types=frozenset({"file"}),
        )

    # --- hooks: volumes -------------------------------------------------------------------

    @hookimpl
    def vol_create(self, backend: Backend, volume: VolumeRef) -> VolumeLocation:
        final = self._dir(backend) / f"volume-{volume.id}.{self._format(backend)}"
        if final.exists():
            raise Conflict(f"volume {volume.id} already has data on backend {backend.name}")
        self._create_blank(backend, final, volume.size_gb)
        return VolumeLocation(location=final.name, size_gb=volume.size_gb)

    @hookimpl
    def vol_delete(self, backend: Backend, volume: VolumeRef) -> bool:
        if not volume.location:
            return True
        hosts = self._exported_to(backend, volume.location)
        if hosts:
            raise Conflict(f"volume {volume.id} is still exported to {', '.join(hosts)}")
        path = self._dir(backend) / volume.location
        if path.exists():
            self._remove(backend, path)
        return True

    @hookimpl
    def vol_extend(self, backend: Backend, volume: VolumeRef, new_size_gb: int) -> bool:
        path = self._file(backend, volume.location, f"volume {volume.id}")
        current = self._virtual_size(path)
        if new_size_gb * GiB < current:
            raise DriverError(f"cannot shrink volume {volume.id} from {current // GiB} to {new_size_gb} GiB")
        try:
            self._grow(path, new_size_gb)
        except DriverError as exc:
            # In use by a running QEMU, which holds the qcow2 locked: qemu-img cannot resize
            # it, the hypervisor's hv_extend_volume (blockResize) does (see vol_extend's spec).
            if not (
                self._fmt_of(path) == "qcow2" and LOCKED in str(exc) and self._exported_to(backend, volume.location)
            ):
                raise
        return True

    @hookimpl
    def vol_create_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> VolumeLocation:
        src = self._file(backend, snapshot.volume.location, f"volume {snapshot.volume.id}")
        final = self._dir(backend) / f"snapshot-{snapshot.id}{src.suffix}"
        size_gb = -(-self._virtual_size(src) // GiB)
        if self._can_reflink(backend):
            tmp = self._tmp(final)
            try:
                reflink(src, tmp)
                self._commit(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)
            return VolumeLocation(location=final.name, size_gb=size_gb, copy_on_write=True)
        if src.suffix == ".qcow2":
            self._refuse_if_exported(backend, snapshot.volume, "snapshot")
            self._freeze(backend, src, final)
            return VolumeLocation(location=final.name, size_gb=size_gb, copy_on_write=True)
        self._full_copy(backend, src, final, "raw file on a file system without reflink")
        return VolumeLocation(location=final.name, size_gb=size_gb, copy_on_write=False)

    def _refuse_if_exported(self, backend: Backend, volume: VolumeRef, what: str) -> None:
        hosts = self._exported_to(backend, volume.location)
        if hosts:
            raise Conflict(
                f"cannot {what} volume {volume.id} while it is attached (to {', '.join(hosts)}): "
                f"backend {backend.name} has no reflink, and a qcow2 chain step needs the volume detached"
            )

    @hookimpl
    def vol_delete_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> bool:
        if snapshot.location:
            path = self._dir(backend) / snapshot.location
            if path.exists():
                self._remove(backend, path)
        return True

    @hookimpl
    def vol_create_from_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> VolumeLocation:
        src = self._file(backend, snapshot.location, f"snapshot {snapshot.id}")
        final = self._dir(backend) / f"volume-{volume.id}{src.suffix}"
        cow = self._copy(backend, src, final, volume.size_gb, src_is_frozen=src.suffix == ".qcow2")
        return VolumeLocation(location=final.name, size_gb=volume.size_gb, copy_on_write=cow)

    @hookimpl
    def vol_clone(self, backend: Backend, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
        src = self._file(backend, source.location, f"volume {source.id}")
        final = self._dir(backend) / f"volume-{volume.id}{src.suffix}"
        if not self._can_reflink(backend) and src.suffix == ".qcow2":
            self._refuse_if_exported(backend, source, "clone")
            base = self._dir(backend) / f"base-{uuid.uuid4()}.qcow2"
            self._freeze(backend, src, base)
            base.with_name(base.name + ".deleted").touch()  # lives only while clones use it
            self._overlay(final, base, volume.size_gb)
            return VolumeLocation(location=final.name, size_gb=volume.size_gb, copy_on_write=True)
        cow = self._copy(backend, src, final, volume.size_gb, src_is_frozen=False)
        return VolumeLocation(location=final.name, size_gb=volume.size_gb, copy_on_write=cow)

    # --- hooks: attach handshake -----------------------------------------------------------

    @hookimpl
    def vol_initialize_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> ConnectionInfo:
        path = self._file(backend, volume.location, f"volume {volume.id}")
        if "file" not in connector.connection_types:
            offered = ", ".join(sorted(connector.connection_types)) or "none"
            raise UnsupportedOperation(
                f"host {connector.host} cannot attach file volumes (it takes: {offered}); "
                f"backend {backend.name} exports only 'file'"
            )
        exports = self._dir(backend) / "exports"
        exports.mkdir(exist_ok=True)
        (exports / f"{volume.location}@{connector.host}").touch()
        return ConnectionInfo(driver_volume_type="file", data={"path": str(path), "format": self._fmt_of(path)})

    @hookimpl
    def vol_terminate_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> bool:
        (self._dir(backend) / "exports" / f"{volume.location}@{connector.host}").unlink(missing_ok=True)
        return True

    # --- hooks: images -----------------------------------------------------------------------

    @hookimpl
    def vol_copy_image_to_volume(self, backend: Backend, volume: VolumeRef, image: ImageFile) -> bool:
        dest = self._file(backend, volume.location, f"volume {volume.id}")
        src_fmt = "vpc" if image.disk_format == "vhd" else image.disk_format  # qemu calls VHD "vpc"
        info = json.loads(qemu_img("info", "--output=json", "-f", src_fmt, image.path))
        if int(info["virtual-size"]) > volume.size_gb * GiB:
            raise DriverError(
                f"image {image.image.id} needs {-(-int(info['virtual-size']) // GiB)} GiB; "
                f"volume {volume.id} has {volume.size_gb} GiB"
            )
        tmp = self._tmp(dest)
        parent_name = qcow2_backing_name(dest)
        try:
            qemu_img("convert", "-q", "-f", src_fmt, "-O", self._fmt_of(dest), image.path, str(tmp))
            self._grow(tmp, volume.size_gb)
            self._commit(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        self._release_parent(backend, dest, parent_name)
        return True

    @hookimpl
    def vol_copy_volume_to_image(
        self, backend: Backend, volume: VolumeRef, disk_format: str, dest_path: str
    ) -> SnapshotResult:
        src = self._file(backend, volume.location, f"volume {volume.id}")
        if disk_format not in ("raw", "qcow2", "vmdk", "vdi", "vhdx", "vhd"):
            raise UnsupportedOperation(f"backend {backend.name} cannot write images as {disk_format!r}")
        out_fmt = "vpc" if disk_format == "vhd" else disk_format
        qemu_img("convert", "-q", "-U", "-f", self._fmt_of(src), "-O", out_fmt, str(src), dest_path)
        return SnapshotResult(path=dest_path, disk_format=disk_format, size=os.path.getsize(dest_path))

    @hookimpl
    def vol_revert_to_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> bool:
        """Cinder's revert (issue 18). When the volume is a qcow2 overlay directly on the
        snapshot's frozen file (the latest chain step), a fresh empty overlay on it is the
        snapshot's content: instant. Otherwise the snapshot's file is reflinked (or, with
        ``full_copy``, copied) over the volume's, atomically."""
        dest = self._file(backend, volume.location, f"volume {volume.id}")
        src = self._file(backend, snapshot.location, f"snapshot {snapshot.id}")
        hosts = self._exported_to(backend, volume.location)
        if hosts:
            raise Conflict(f"cannot revert volume {volume.id} while it is attached (to {', '.join(hosts)})")
        parent_name = qcow2_backing_name(dest)
        size_gb = max(-(-self._virtual_size(dest) // GiB), volume.size_gb)
        if parent_name == src.name:
            self._overlay(dest, src, size_gb)
            return True
        if self._fmt_of(src) != self._fmt_of(dest):
            raise DriverError(f"snapshot {snapshot.id} is {self._fmt_of(src)}, volume {volume.id} {self._fmt_of(dest)}")
        if self._can_reflink(backend):
            tmp = self._tmp(dest)
            try:
                reflink(src, tmp)
                self._commit(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            self._full_copy(backend, src, dest, "revert to a snapshot without reflink")
        self._grow(dest, size_gb)
        self._release_parent(backend, dest, parent_name)
        return True

    # --- hooks: local byte access, for volume backups (issue 18) ------------------------------

    def _scratch(self, backend: Backend, what: str) -> Path:
        """A scratch raw file, named like the driver's temporaries (a restart removes it)."""
        return self._dir(backend) / f".{what}.{uuid.uuid4().hex[:8]}.tmp.raw"

    @hookimpl
    def vol_open_local(
        self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef | None, writable: bool
    ) -> LocalDevice:
        if writable:
            if snapshot is not None:
                raise UnsupportedOperation(f"backend {backend.name} opens snapshots read-only")
            dest = self._file(backend, volume.location, f"volume {volume.id}")
            hosts = self._exported_to(backend, volume.location)
            if hosts:
                raise Conflict(f"volume {volume.id} is attached (to {', '.join(hosts)}): it cannot be overwritten")
            size = max(self._virtual_size(dest), volume.size_gb * GiB)
            scratch = self._scratch(backend, f"restore-{volume.id}")
            with open(scratch, "wb") as f:
                f.truncate(size)  # sparse: reads as zeros, so the writer may skip zero chunks
            return LocalDevice(path=str(scratch), size=size, writable=True, zeroed=True, handle=scratch.name)
        if snapshot is not None:
            src = self._file(backend, snapshot.location, f"snapshot {snapshot.id}")
        else:
            src = self._file(backend, volume.location, f"volume {volume.id}")
        size = self._virtual_size(src)
        if self._fmt_of(src) == "raw":
            return LocalDevice(path=str(src), size=size)  # the file itself: no copy
        scratch = self._scratch(backend, f"read-{volume.id}")
        try:  # qcow2 (maybe a chain): a sparse raw view; zeros are not written
            qemu_img("convert", "-q", "-U", "-f", "qcow2", "-O", "raw", str(src), str(scratch))
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
        return LocalDevice(path=str(scratch), size=size, handle=scratch.name)

    @hookimpl
    def vol_close_local(self, backend: Backend, volume: VolumeRef, device: LocalDevice, commit: bool) -> bool:
        if not device.handle:
            return True
        if "/" in device.handle or not device.handle.startswith(".") or not device.handle.endswith(".tmp.raw"):
            raise DriverError(f"backend {backend.name}: {device.handle!r} is not a scratch file of this driver")
        scratch = self._dir(backend) / device.handle
        try:
            if device.writable and commit:
                dest = self._file(backend, volume.location, f"volume {volume.id}")
                parent_name = qcow2_backing_name(dest)
                if self._fmt_of(dest) == "raw":
                    os.chmod(scratch, dest.stat().st_mode & 0o7777)
                    self._commit(scratch, dest)
                else:
                    tmp = self._tmp(dest)
                    try:
                        qemu_img("convert", "-q", "-f", "raw", "-O", "qcow2", str(scratch), str(tmp))
                        self._commit(tmp, dest)
                    finally:
                        tmp.unlink(missing_ok=True)
                self._release_parent(backend, dest, parent_name)
        finally:
            scratch.unlink(missing_ok=True)
        return True
