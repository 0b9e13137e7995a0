"""The ``lvm`` volume driver: each volume is a logical volume in one volume group.

Options: ``volume_group`` (required) and ``thin_pool`` (an existing thin pool LV in that
group; empty means thick volumes). Everything is done with the real lvm2 commands; reports
come from ``vgs``/``lvs --reportformat json``. ``location`` is ``<vg>/<lv>``.

Copies, and whether they share blocks (``copy_on_write`` says which happened):

* thin: snapshots, clones and volumes from snapshots are thin snapshots: instant, COW;
* thick: a snapshot is a classic COW snapshot (``lvcreate --snapshot -L``); a clone or a
  volume from a snapshot is a new LV filled by a full block copy (``qemu-img convert``),
  reported with ``copy_on_write=False`` (a thick volume cannot share blocks).

LVs must be active to be read or attached; the driver activates them where it needs the
device node. It never changes how lvm2 itself is configured: that is ``lvm.conf``'s job.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from overcast.errors import BackendUnavailable, Conflict, DriverError, NotFound, UnsupportedOperation
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

from overcast_storage_lvm.runner import CommandResult, CommandRunner, SubprocessRunner

log = logging.getLogger(__name__)

GiB = 1024**3
IMAGE_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhdx": "vhdx", "vhd": "vpc"}

OPTIONS: list[ConfigOption] = [
    ConfigOption(DriverKind.VOLUME, "lvm", "volume_group", str, required=True, help="the LVM volume group"),
    ConfigOption(
        DriverKind.VOLUME, "lvm", "thin_pool", str, default="", help="thin pool LV in the group (empty: thick)"
    ),
    ConfigOption(
        DriverKind.VOLUME,
        "lvm",
        "max_over_subscription_ratio",
        float,
        default=20.0,
        help="how far thin volumes may over-commit the pool",
    ),
]


def _quiet(stderr: str) -> str:
    """lvm2's stderr without its routine warnings, for error messages."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "WARNING" not in ln]
    return "; ".join(lines) or stderr.strip()


class LvmVolumeDriver:
    """Hook implementations for every backend whose table says ``driver = "lvm"``."""

    def __init__(self, runner: CommandRunner | None = None) -> None:
        self.runner: CommandRunner = runner or SubprocessRunner()

    # --- commands and reports -----------------------------------------------------------

    def _run(self, *argv: str, timeout: float = 600) -> CommandResult:
        result = self.runner.run(argv, timeout=timeout)
        if result.returncode == 127:
            raise BackendUnavailable(f"{argv[0]} is not installed (apt-get install lvm2 qemu-utils)")
        if result.returncode != 0:
            raise DriverError(f"{argv[0]} failed (exit {result.returncode}): {_quiet(result.stderr)}")
        return result

    def _report(self, command: str, kind: str, fields: str, *targets: str) -> list[dict[str, Any]]:
        argv = (command, "--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields, *targets)
        result = self.runner.run(argv, timeout=60)
        if result.returncode == 127:
            raise BackendUnavailable(f"{command} is not installed (apt-get install lvm2)")
        if result.returncode != 0:
            if "not found" in result.stderr or "Failed to find" in result.stderr:
                return []
            raise DriverError(f"{command} failed (exit {result.returncode}): {_quiet(result.stderr)}")
        try:
            return list(json.loads(result.stdout)["report"][0][kind])
        except (ValueError, KeyError, IndexError) as exc:
            raise DriverError(f"cannot parse {command} output: {exc}") from None

    def _vg(self, backend: Backend) -> str:
        return str(backend.options["volume_group"])

    def _pool(self, backend: Backend) -> str:
        return str(backend.options.get("thin_pool") or "")

    def _lvs(self, backend: Backend) -> dict[str, dict[str, Any]]:
        rows = self._report("lvs", "lv", "lv_name,lv_size,lv_attr,pool_lv,origin", self._vg(backend))
        return {row["lv_name"]: row for row in rows}

    def _lv_name(self, backend: Backend, location: str, what: str) -> str:
        vg, _, lv = location.partition("/")
        if vg != self._vg(backend) or not lv:
            raise NotFound(f"{what} has no data on backend {backend.name} (location {location!r})")
        return lv

    def _existing(self, backend: Backend, location: str, what: str) -> dict[str, Any]:
        lv = self._lv_name(backend, location, what)
        row = self._lvs(backend).get(lv)
        if row is None:
            raise NotFound(f"{what} has no data on backend {backend.name}: LV {location} is missing")
        return row

    def _device(self, backend: Backend, lv: str) -> str:
        return f"/dev/{self._vg(backend)}/{lv}"

    def _activate(self, backend: Backend, lv: str) -> str:
        """Activate ``lv`` (``-K``: thin snapshots skip activation by default); its device."""
        self._run("lvchange", "-ay", "-K", f"{self._vg(backend)}/{lv}")
        return self._device(backend, lv)

    # --- building blocks ----------------------------------------------------------------

    def _lvcreate(self, backend: Backend, lv: str, size_gb: int) -> None:
        vg, pool = self._vg(backend), self._pool(backend)
        if pool:
            self._run("lvcreate", "-y", "-n", lv, "-V", f"{size_gb}g", "--thinpool", f"{vg}/{pool}")
        else:
            self._run("lvcreate", "-y", "-n", lv, "-L", f"{size_gb}g", vg)

    def _thin_snapshot(self, backend: Backend, lv: str, origin: str) -> None:
        self._run("lvcreate", "-y", "--snapshot", "--setactivationskip", "n", "-n", lv, f"{self._vg(backend)}/{origin}")

    def _copy_blocks(self, backend: Backend, src_lv: str, dst_lv: str) -> None:
        src, dst = self._activate(backend, src_lv), self._activate(backend, dst_lv)
        self._run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, dst, timeout=24 * 3600)

    def _grow_to(self, backend: Backend, lv: str, size_gb: int) -> None:
        current = int(self._lvs(backend)[lv]["lv_size"])
        if size_gb * GiB > current:
            self._run("lvextend", "-L", f"{size_gb}g", f"{self._vg(backend)}/{lv}")

    def _new_copy(self, backend: Backend, volume: VolumeRef, origin: str) -> VolumeLocation:
        """``volume`` as a copy of LV ``origin``: a thin snapshot, or a thick full copy."""
        lv = f"volume-{volume.id}"
        if lv in self._lvs(backend):
            raise Conflict(f"volume {volume.id} already has data on backend {backend.name}")
        if self._pool(backend):
            self._thin_snapshot(backend, lv, origin)
            self._grow_to(backend, lv, volume.size_gb)
            return VolumeLocation(f"{self._vg(backend)}/{lv}", volume.size_gb, copy_on_write=True)
        self._lvcreate(backend, lv, volume.size_gb)
        try:
            self._copy_blocks(backend, origin, lv)
        except BaseException:
            self._run("lvremove", "-f", f"{self._vg(backend)}/{lv}")
            raise
        log.info("backend %s: %s is a full copy of %s (thick LVM cannot share blocks)", backend.name, lv, origin)
        return VolumeLocation(f"{self._vg(backend)}/{lv}", volume.size_gb, copy_on_write=False)

    # --- hooks: backend -------------------------------------------------------------------

    @hookimpl
    def vol_init_backend(self, backend: Backend) -> bool:
        vg = self._vg(backend)
        if not self._report("vgs", "vg", "vg_name", vg):
            raise BackendUnavailable(f"backend {backend.name}: volume group {vg!r} does not exist")
        pool = self._pool(backend)
        if pool:
            row = self._lvs(backend).get(pool)
            if row is None or not str(row["lv_attr"]).startswith("t"):
                raise BackendUnavailable(f"backend {backend.name}: {vg}/{pool} is not a thin pool")
        return True

    @hookimpl
    def vol_get_stats(self, backend: Backend) -> BackendStats:
        vg, pool = self._vg(backend), self._pool(backend)
        lvs = self._lvs(backend)
        provisioned = sum(int(r["lv_size"]) for n, r in lvs.items() if n.startswith("volume-"))
        if pool:
            row = self._report("lvs", "lv", "lv_name,lv_size,data_percent", f"{vg}/{pool}")
            if not row:
                raise BackendUnavailable(f"backend {backend.name}: thin pool {vg}/{pool} is missing")
            size = int(row[0]["lv_size"])
            used = size * float(row[0].get("data_percent") or 0) / 100
            return BackendStats(
                total_gb=round(size / GiB, 2),
                free_gb=round((size - used) / GiB, 2),
                thin_provisioning=True,
                max_over_subscription_ratio=float(backend.options.get("max_over_subscription_ratio") or 20.0),
                provisioned_gb=round(provisioned / GiB, 2),
                connection_types=frozenset({"block"}),
            )
        rows = self._report("vgs", "vg", "vg_name,vg_size,vg_free", vg)
        if not rows:
            raise BackendUnavailable(f"backend {backend.name}: volume group {vg!r} does not exist")
        return BackendStats(
            total_gb=round(int(rows[0]["vg_size"]) / GiB, 2),
            free_gb=round(int(rows[0]["vg_free"]) / GiB, 2),
            provisioned_gb=round(provisioned / GiB, 2),
            connection_types=frozenset({"block"}),
        )

    # --- hooks: volumes --------------------------------------------------------------------

    @hookimpl
    def vol_create(self, backend: Backend, volume: VolumeRef) -> VolumeLocation:
        lv = f"volume-{volume.id}"
        if lv in self._lvs(backend):
            raise Conflict(f"volume {volume.id} already has data on backend {backend.name}")
        self._lvcreate(backend, lv, volume.size_gb)
        return VolumeLocation(f"{self._vg(backend)}/{lv}", volume.size_gb)

    @hookimpl
    def vol_delete(self, backend: Backend, volume: VolumeRef) -> bool:
        if not volume.location:
            return True
        lv = self._lv_name(backend, volume.location, f"volume {volume.id}")
        lvs = self._lvs(backend)
        if lv not in lvs:
            return True
        dependants = sorted(n for n, r in lvs.items() if r.get("origin") == lv and not r.get("pool_lv"))
        if dependants:  # removing a thick origin would take its snapshots with it
            raise Conflict(f"volume {volume.id} has snapshots on backend {backend.name}: {', '.join(dependants)}")
        self._run("lvremove", "-f", volume.location)
        return True

    @hookimpl
    def vol_extend(self, backend: Backend, volume: VolumeRef, new_size_gb: int) -> bool:
        row = self._existing(backend, volume.location, f"volume {volume.id}")
        current = int(row["lv_size"])
        if new_size_gb * GiB < current:
            raise DriverError(f"cannot shrink volume {volume.id} from {current // GiB} to {new_size_gb} GiB")
        if new_size_gb * GiB > current:
            self._run("lvextend", "-L", f"{new_size_gb}g", volume.location)
        return True

    @hookimpl
    def vol_create_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> VolumeLocation:
        origin_row = self._existing(backend, snapshot.volume.location, f"volume {snapshot.volume.id}")
        lv = f"snap-{snapshot.id}"  # lvm2 reserves names starting "snapshot"
        size_gb = -(-int(origin_row["lv_size"]) // GiB)
        if self._pool(backend):
            self._run("lvcreate", "-y", "--snapshot", "-n", lv, snapshot.volume.location)
        else:  # a classic snapshot's COW area as big as the origin: it can never overflow
            self._run("lvcreate", "-y", "--snapshot", "-n", lv, "-L", f"{size_gb}g", snapshot.volume.location)
        return VolumeLocation(f"{self._vg(backend)}/{lv}", size_gb, copy_on_write=True)

    @hookimpl
    def vol_delete_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> bool:
        if not snapshot.location:
            return True
        lv = self._lv_name(backend, snapshot.location, f"snapshot {snapshot.id}")
        if lv in self._lvs(backend):
            self._run("lvremove", "-f", snapshot.location)
        return True

    @hookimpl
    def vol_create_from_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> VolumeLocation:
        row = self._existing(backend, snapshot.location, f"snapshot {snapshot.id}")
        return self._new_copy(backend, volume, row["lv_name"])

    @hookimpl
    def vol_clone(self, backend: Backend, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
        row = self._existing(backend, source.location, f"volume {source.id}")
        if self._pool(backend):
            return self._new_copy(backend, volume, row["lv_name"])
        # thick: copy from a temporary snapshot so the copy is consistent while the source is in use
        temp = SnapshotRef(id=f"clone-{volume.id}", volume=source)
        snap = self.vol_create_snapshot(backend=backend, snapshot=temp)
        try:
            return self._new_copy(backend, volume, self._lv_name(backend, snap.location, "temporary snapshot"))
        finally:
            self._run("lvremove", "-f", snap.location)

    # --- hooks: attach handshake -------------------------------------------------------------

    @hookimpl
    def vol_initialize_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> ConnectionInfo:
        row = self._existing(backend, volume.location, f"volume {volume.id}")
        if "block" not in connector.connection_types:
            offered = ", ".join(sorted(connector.connection_types)) or "none"
            raise UnsupportedOperation(
                f"host {connector.host} cannot attach block devices (it takes: {offered}); "
                f"backend {backend.name} exports only 'block'"
            )
        device = self._activate(backend, row["lv_name"])
        return ConnectionInfo(driver_volume_type="block", data={"device_path": device})

    @hookimpl
    def vol_terminate_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> bool:
        return True  # the LV stays active: another attachment (multi-attach) may still use it

    # --- hooks: images -------------------------------------------------------------------------

    @hookimpl
    def vol_copy_image_to_volume(self, backend: Backend, volume: VolumeRef, image: ImageFile) -> bool:
        row = self._existing(backend, volume.location, f"volume {volume.id}")
        src_fmt = "vpc" if image.disk_format == "vhd" else image.disk_format  # qemu calls VHD "vpc"
        info = json.loads(self._run("qemu-img", "info", "--output=json", "-f", src_fmt, image.path).stdout)
        if int(info["virtual-size"]) > int(row["lv_size"]):
            raise DriverError(
                f"image {image.image.id} needs {-(-int(info['virtual-size']) // GiB)} GiB; "
                f"volume {volume.id} has {int(row['lv_size']) // GiB} GiB"
            )
        device = self._activate(backend, row["lv_name"])
        self._run("qemu-img", "convert", "-n", "-f", src_fmt, "-O", "raw", image.path, device, timeout=24 * 3600)
        return True

    @hookimpl
    def vol_copy_volume_to_image(
        self, backend: Backend, volume: VolumeRef, disk_format: str, dest_path: str
    ) -> SnapshotResult:
        row = self._existing(backend, volume.location, f"volume {volume.id}")
        if disk_format not in IMAGE_FORMATS:
            raise UnsupportedOperation(f"backend {backend.name} cannot write images as {disk_format!r}")
        device = self._activate(backend, row["lv_name"])
        self._run(
            "qemu-img", "convert", "-f", "raw", "-O", IMAGE_FORMATS[disk_format], device, dest_path, timeout=24 * 3600
        )
        return SnapshotResult(path=dest_path, disk_format=disk_format, size=os.path.getsize(dest_path))

    # --- hooks: local byte access, for volume backups (issue 18) -------------------------------

    @hookimpl
    def vol_open_local(
        self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef | None, writable: bool
    ) -> LocalDevice:
        """The LV's own device node (a snapshot's LV for a snapshot): no copy. A restore writes
        straight onto the volume's LV, so a failed one leaves it partly written (the core then
        puts the volume in ``error_restoring``, as Cinder does)."""
        if writable and snapshot is not None:
            raise UnsupportedOperation(f"backend {backend.name} opens snapshots read-only")
        ref = snapshot.location if snapshot is not None else volume.location
        what = f"snapshot {snapshot.id}" if snapshot is not None else f"volume {volume.id}"
        row = self._existing(backend, ref, what)
        return LocalDevice(path=self._activate(backend, row["lv_name"]), size=int(row["lv_size"]), writable=writable)

    @hookimpl
    def vol_close_local(self, backend: Backend, volume: VolumeRef, device: LocalDevice, commit: bool) -> bool:
        return True  # the LV stays active, as after an attach; writes went to it directly
