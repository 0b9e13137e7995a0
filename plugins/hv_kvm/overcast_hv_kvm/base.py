"""Shared plumbing of the ``kvm`` driver: configuration, connections, domain lookup and
state, and the domain definition. The hook implementations live in :mod:`.driver`,
:mod:`.devices` and :mod:`.migration`, as mixins over :class:`DriverBase`.

Per instance the driver keeps ``<instances_dir>/<instance.name>/``:

* ``disk``        the root disk, a qcow2 overlay on the core's cached base image;
* ``console.log`` the serial console (a file chardev with ``append='on'``);
* ``disk.config`` the config drive, if the instance has user data (:mod:`.configdrive`).

Guests are recognised as ours by an ``<overcast:instance>`` element in the domain's
``<metadata>`` (:data:`overcast_hv_kvm.domxml.METADATA_NS`).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence

import libvirt
from overcast.datadir import private_dir, qemu_group
from overcast.errors import Conflict, DriverError, NotFound
from overcast.types import (
    BlockDevice,
    Host,
    Instance,
    InstanceInfo,
    PowerState,
    VifDetails,
)

from overcast_hv_kvm import configdrive, domxml, images
from overcast_hv_kvm.chardev import free_port
from overcast_hv_kvm.connection import ConnectionPool
from overcast_hv_kvm.errors import translated
from overcast_hv_kvm.options import KvmHostConfig

log = logging.getLogger(__name__)

GiB = images.GiB
IMAGE_TYPES = frozenset({"qcow2", "raw"})
#: Console output returned at most (the tail), like Nova's MAX_CONSOLE_BYTES.
MAX_CONSOLE_BYTES = 1024 * 1024
DISK_NAME = "disk"
CONSOLE_NAME = "console.log"

_STATES: dict[int, PowerState] = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def chown_to(path: str, owner: str) -> None:
    """``chown owner path`` (``user`` or ``user:group``); a no-op for an empty owner."""
    if not owner:
        return
    user, _, group = owner.partition(":")
    shutil.chown(path, user=user, group=group or None)


class DriverBase:
    """Helpers every group of hooks uses; holds the connection pool."""

    def __init__(self, pool: ConnectionPool | None = None) -> None:
        self.pool = pool or ConnectionPool()

    @staticmethod
    def config(host: Host) -> KvmHostConfig:
        return KvmHostConfig.from_host(host)

    def conn(self, host: Host) -> libvirt.virConnect:
        return self.pool.get(self.config(host).uri)

    def domain(self, host: Host, instance: Instance) -> libvirt.virDomain:
        conn = self.conn(host)
        try:
            return conn.lookupByName(instance.name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise NotFound(f"instance {instance.name} not found on host {host.name}") from None
            raise DriverError(f"looking up {instance.name} on {host.name}: {exc}") from exc

    @staticmethod
    def state(dom: libvirt.virDomain) -> int:
        with translated(f"reading the state of {dom.name()}"):
            return int(dom.state()[0])

    def info(self, dom: libvirt.virDomain) -> InstanceInfo:
        with translated(f"reading the state of {dom.name()}"):
            state, max_mem, mem, ncpu, cpu_time = dom.info()
            power = _STATES.get(state, PowerState.NOSTATE)
            if state == libvirt.VIR_DOMAIN_SHUTOFF and dom.hasManagedSaveImage(0):
                power = PowerState.SUSPENDED
            return InstanceInfo(
                state=power,
                max_mem_kb=int(max_mem),
                mem_kb=int(mem),
                num_cpu=int(ncpu),
                cpu_time_ns=int(cpu_time),
                internal_id=dom.UUIDString(),
            )

    @staticmethod
    def require_state(dom: libvirt.virDomain, allowed: Sequence[int], doing: str) -> int:
        with translated(f"reading the state of {dom.name()}"):
            state = int(dom.state()[0])
        if state not in allowed:
            now = _STATES.get(state, PowerState.NOSTATE).value
            if state == libvirt.VIR_DOMAIN_SHUTOFF and dom.hasManagedSaveImage(0):
                now = PowerState.SUSPENDED.value
            raise Conflict(f"cannot {doing} {dom.name()}: it is {now}")
        return state

    @staticmethod
    def live_flags(dom: libvirt.virDomain) -> int:
        """Device changes go to the persistent config, and to the live guest if it runs."""
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        return flags

    def prepare_dir(self, cfg: KvmHostConfig, path: str) -> None:
        """Create a directory QEMU can reach and no one else: owned by ``file_owner`` if set
        (0700), else 0750 with the system QEMU user's group (:mod:`overcast.datadir`)."""
        private_dir(path, None if cfg.file_owner else qemu_group())
        chown_to(path, cfg.file_owner)

    @staticmethod
    def hard_stop(dom: libvirt.virDomain) -> None:
        """Destroy the domain if it runs (already stopped is fine)."""
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:  # it just stopped
                raise DriverError(f"stopping {dom.name()}: {exc}") from exc

    @staticmethod
    def undefine(dom: libvirt.virDomain) -> None:
        flags = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        try:
            dom.undefineFlags(flags)
        except libvirt.libvirtError as exc:
            code = exc.get_error_code()
            if code == libvirt.VIR_ERR_NO_DOMAIN:
                return
            if code in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
                with translated(f"undefining {dom.name()}"):
                    dom.undefine()
                return
            raise DriverError(f"undefining {dom.name()}: {exc}") from exc

    @staticmethod
    def _check_traversable(cfg: KvmHostConfig, target: str | None = None, what: str = "instances") -> None:
        """QEMU runs as an unprivileged user: every directory above its files must be
        searchable by it (by others, or by its group), or guests fail to start with a
        confusing error."""
        if cfg.file_owner:
            return  # a session daemon's user: the operator arranged access
        target = target or cfg.instances_dir
        group = qemu_group()
        path = target if os.path.isdir(target) else os.path.dirname(target)
        while path and path != "/":
            st = os.stat(path)
            if not (st.st_mode & 0o001 or (st.st_mode & 0o010 and group is not None and st.st_gid == group)):
                raise DriverError(
                    f"host {cfg.name}: {path} is not searchable by QEMU's user, so QEMU "
                    f"cannot reach {what} in {target} (chmod o+x {path}, or g+x with QEMU's group)"
                )
            path = os.path.dirname(path)

    @staticmethod
    def volume_disks(
        cfg: KvmHostConfig, instance: Instance, block_devices: Sequence[BlockDevice], used: list[str]
    ) -> list[domxml.DiskSpec]:
        """Disks for attached volumes, at their mountpoints (serial = volume id)."""
        disks = []
        used = list(used)
        for bdm in block_devices:
            dev = domxml.target_dev(bdm.mountpoint, used)
            if dev in used:
                raise Conflict(f"two disks of {instance.name} want {dev}")
            used.append(dev)
            disk = domxml.disk_from_connection(bdm.connection_info, dev, cfg.disk_cachemode)
            if not disk.serial:
                disk = domxml.DiskSpec(disk.kind, disk.path, disk.fmt, dev, disk.cache, bdm.volume_id)
            disks.append(disk)
        return disks

    @staticmethod
    def config_drive_disks(
        cfg: KvmHostConfig, host: Host, instance: Instance, used: Sequence[str]
    ) -> list[domxml.DiskSpec]:
        """(Re)build the instance's config drive in its directory, if it wants one, and
        return its read-only disk on the *last* virtio name not in ``used`` (or ``[]``): as
        Nova's libvirt driver does, so volumes attached later take vdb, vdc... and never find
        their name taken by the drive."""
        if not configdrive.wanted(instance):
            return []
        path = os.path.join(cfg.instance_dir(instance.name), configdrive.FILE_NAME)
        configdrive.build(path, instance, host)
        chown_to(path, cfg.file_owner)
        return [configdrive.disk_spec(path, domxml.last_free_dev(used), cfg.disk_cachemode)]

    @staticmethod
    def domain_spec(
        cfg: KvmHostConfig,
        instance: Instance,
        disks: Sequence[domxml.DiskSpec],
        vifs: Sequence[VifDetails],
    ) -> domxml.DomainSpec:
        inst_dir = cfg.instance_dir(instance.name)
        return domxml.DomainSpec(
            name=instance.name,
            uuid=instance.uuid,
            memory_mb=instance.flavor.memory_mb,
            vcpus=instance.flavor.vcpus,
            virt_type=cfg.virt_type,
            machine_type=cfg.machine_type,
            cpu_mode=cfg.cpu_mode,
            cpu_model=cfg.cpu_model,
            console_path=os.path.join(inst_dir, CONSOLE_NAME),
            serial_port=free_port() if cfg.serial_console else 0,  # issue 17
            vnc=cfg.vnc_console,
            disks=disks,
            vifs=vifs,
            metadata={
                "uuid": instance.uuid,
                "display_name": instance.display_name,
                "project_id": instance.project_id,
                "flavor_id": instance.flavor.id,
                "image_id": instance.image.id if instance.image else "",
            },
        )

    def _acpi_shutdown(self, dom: libvirt.virDomain, timeout: float, retry_interval: float) -> bool:
        """Press the ACPI power button every ``retry_interval`` s until the guest is off or
        ``timeout`` s pass. True if it stopped."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                dom.shutdown()
            except libvirt.libvirtError as exc:
                if not dom.isActive():
                    return True
                raise DriverError(f"shutting down {dom.name()}: {exc}") from exc
            step = min(max(retry_interval, 1), deadline - time.monotonic())
            if wait_for(lambda: not dom.isActive(), step):
                return True
        return not dom.isActive()

    def root_disk(self, dom: libvirt.virDomain) -> domxml.DiskInfo:
        with translated(f"reading the definition of {dom.name()}"):
            xml = dom.XMLDesc(0)
        for disk in domxml.disks(xml):
            if disk.target_dev == "vda":
                return disk
        raise DriverError(f"{dom.name()} has no root disk (vda)")
