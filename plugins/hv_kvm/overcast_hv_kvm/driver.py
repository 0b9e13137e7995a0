"""The ``kvm`` hypervisor driver: Overcast's ``hv_*`` hooks over libvirt-python.

One :class:`KvmDriver` serves every ``[hosts.NAME] driver = "kvm"`` host; each hook gets
the :class:`~overcast.types.Host` it acts on, and its options say which libvirt daemon
(``uri``) and which directory (``instances_dir``) to use.

Per instance the driver keeps ``<instances_dir>/<instance.name>/``:

* ``disk``        the root disk, a qcow2 overlay on the core's cached base image;
* ``console.log`` the serial console (a file chardev with ``append='on'``), which
  :meth:`KvmDriver.hv_get_console_output` reads.

Guests are recognised as ours by an ``<overcast:instance>`` element in the domain's
``<metadata>`` (:data:`overcast_hv_kvm.domxml.METADATA_NS`).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

import libvirt
from overcast.errors import Conflict, DriverError, NotFound, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import (
    BlockDevice,
    ConnectionInfo,
    Connector,
    Host,
    HostResources,
    HvCapabilities,
    ImageFile,
    Instance,
    InstanceInfo,
    MigrationData,
    PowerState,
    SnapshotResult,
    VifDetails,
)

from overcast_hv_kvm import domxml, images
from overcast_hv_kvm import migration as mig
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


class KvmDriver:
    """The ``hv_*`` hooks for QEMU/KVM hosts managed through libvirt."""

    def __init__(self, pool: ConnectionPool | None = None) -> None:
        self.pool = pool or ConnectionPool()

    # --- helpers ------------------------------------------------------------------------

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
        """Create a directory QEMU can reach: 0755, owned by ``file_owner`` if set."""
        os.makedirs(path, mode=0o755, exist_ok=True)
        os.chmod(path, 0o755)
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

    # --- host ---------------------------------------------------------------------------

    @hookimpl
    def hv_init_host(self, host: Host) -> bool:
        cfg = self.config(host)
        conn = self.pool.get(cfg.uri)
        with translated(f"reading capabilities of {cfg.uri}"):
            is_qemu = conn.getType() == "QEMU"  # not the test:// driver
            if is_qemu:
                caps = ET.fromstring(conn.getCapabilities())
                types = {d.get("type") for d in caps.findall("./guest/arch/domain")}
                if cfg.virt_type not in types:
                    raise DriverError(
                        f"host {host.name}: libvirt at {cfg.uri} cannot run virt_type "
                        f"'{cfg.virt_type}' guests (it offers {', '.join(sorted(filter(None, types)))}); "
                        "without hardware virtualization use virt_type = \"qemu\""
                    )
        self.prepare_dir(cfg, cfg.instances_dir)
        if is_qemu:
            self._check_traversable(cfg)
        return True

    @staticmethod
    def _check_traversable(cfg: KvmHostConfig) -> None:
        """QEMU runs as an unprivileged user: every parent of the instances directory must
        be searchable by others, or guests fail to start with a confusing error."""
        if cfg.file_owner:
            return  # a session daemon's user: the operator arranged access
        path = cfg.instances_dir
        while path and path != "/":
            if not os.stat(path).st_mode & 0o001:
                raise DriverError(
                    f"host {cfg.name}: {path} is not searchable by other users, so QEMU "
                    f"cannot reach instances in {cfg.instances_dir} (chmod o+x {path})"
                )
            path = os.path.dirname(path)

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        cfg = self.config(host)
        return HvCapabilities(
            hypervisor_type=cfg.virt_type,
            image_types=IMAGE_TYPES,
            volume_connection_types=domxml.VOLUME_TYPES,
            vif_types=domxml.VIF_TYPES,
            live_migration=True,
            shared_storage=False,
        )

    @hookimpl
    def hv_get_available_resource(self, host: Host) -> HostResources:
        cfg = self.config(host)
        conn = self.pool.get(cfg.uri)
        with translated(f"reading resources of {host.name}"):
            _model, memory_mb, cpus, *_ = conn.getInfo()
            vcpus_used = memory_used = running = 0
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                _state, _max_mem, mem_kb, ncpu, _cpu = dom.info()
                vcpus_used += int(ncpu)
                memory_used += int(mem_kb) // 1024
                running += 1
            version = conn.getVersion()
            hostname = conn.getHostname()
            cpu_info = self._cpu_info(conn.getCapabilities())
        os.makedirs(cfg.instances_dir, exist_ok=True)
        fs = os.statvfs(cfg.instances_dir)
        total_gb = fs.f_blocks * fs.f_frsize // GiB
        free_gb = fs.f_bavail * fs.f_frsize // GiB
        return HostResources(
            vcpus=int(cpus),
            memory_mb=int(memory_mb),
            local_gb=int(total_gb),
            vcpus_used=vcpus_used,
            memory_mb_used=memory_used,
            local_gb_used=int(max(0, total_gb - free_gb)),
            running_vms=running,
            hypervisor_type=cfg.virt_type,
            hypervisor_version=int(version),
            hypervisor_hostname=hostname,
            cpu_info=cpu_info,
        )

    @staticmethod
    def _cpu_info(caps_xml: str) -> dict[str, object]:
        cpu = ET.fromstring(caps_xml).find("./host/cpu")
        if cpu is None:
            return {}
        topo = cpu.find("topology")
        return {
            "arch": cpu.findtext("arch", ""),
            "model": cpu.findtext("model", ""),
            "vendor": cpu.findtext("vendor", ""),
            "topology": dict(topo.attrib) if topo is not None else {},
            "features": sorted(f.get("name", "") for f in cpu.findall("feature")),
        }

    @hookimpl
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        conn = self.conn(host)
        names = []
        with translated(f"listing guests on {host.name}"):
            for dom in conn.listAllDomains(0):
                try:
                    dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, domxml.METADATA_NS)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN_METADATA, libvirt.VIR_ERR_NO_DOMAIN):
                        continue
                    raise
                names.append(dom.name())
        return sorted(names)

    @hookimpl
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        return self.info(self.domain(host, instance))

    # --- lifecycle ----------------------------------------------------------------------

    @hookimpl
    def hv_spawn(
        self,
        host: Host,
        instance: Instance,
        image: ImageFile | None,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
    ) -> InstanceInfo:
        cfg = self.config(host)
        conn = self.pool.get(cfg.uri)
        try:
            conn.lookupByName(instance.name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise DriverError(f"looking up {instance.name}: {exc}") from exc
        else:
            raise Conflict(f"instance {instance.name} already exists on host {host.name}")

        inst_dir = cfg.instance_dir(instance.name)
        made_dir = not os.path.exists(inst_dir)
        dom: libvirt.virDomain | None = None
        try:
            self.prepare_dir(cfg, inst_dir)
            disks = self._spawn_disks(cfg, instance, image, block_devices, inst_dir)
            spec = self.domain_spec(cfg, instance, disks, network_info)
            with translated(f"defining {instance.name} on {host.name}"):
                dom = conn.defineXML(domxml.domain_xml(spec))
            with translated(f"starting {instance.name} on {host.name}"):
                dom.create()
            return self.info(dom)
        except BaseException:
            if dom is not None:
                try:
                    self.hard_stop(dom)
                    self.undefine(dom)
                except Exception:  # noqa: BLE001 - keep the original error
                    log.exception("cleaning up failed spawn of %s", instance.name)
            if made_dir:
                shutil.rmtree(inst_dir, ignore_errors=True)
            raise

    def _spawn_disks(
        self,
        cfg: KvmHostConfig,
        instance: Instance,
        image: ImageFile | None,
        block_devices: Sequence[BlockDevice],
        inst_dir: str,
    ) -> list[domxml.DiskSpec]:
        """The root disk (an overlay on the image, or blank) plus the volumes."""
        disks: list[domxml.DiskSpec] = []
        root_size = instance.flavor.root_gb * GiB or None
        disk_path = os.path.join(inst_dir, DISK_NAME)
        if os.path.exists(disk_path):
            os.unlink(disk_path)  # left by an earlier failed attempt: no domain uses it
        if image is not None:
            if image.disk_format not in IMAGE_TYPES:
                raise UnsupportedOperation(
                    f"kvm host {cfg.name} cannot boot {image.disk_format} images "
                    f"(it boots {', '.join(sorted(IMAGE_TYPES))})"
                )
            size = images.virtual_size(image.path)
            if root_size and root_size < size:
                raise DriverError(
                    f"flavor {instance.flavor.name} has a {instance.flavor.root_gb} GiB root disk, "
                    f"smaller than image {image.image.id}'s {size / GiB:.2f} GiB"
                )
            images.create_overlay(image.path, image.disk_format, disk_path, root_size)
        elif not block_devices:
            images.create_blank(disk_path, root_size or GiB)
        if os.path.exists(disk_path):
            chown_to(disk_path, cfg.file_owner)
            disks.append(domxml.DiskSpec("file", disk_path, "qcow2", "vda", cfg.disk_cachemode))
        return disks + self.volume_disks(cfg, instance, block_devices, [d.target_dev for d in disks])

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

    @hookimpl
    def hv_destroy(self, host: Host, instance: Instance, destroy_disks: bool) -> bool:
        cfg = self.config(host)
        try:
            dom = self.domain(host, instance)
        except NotFound:
            dom = None
        if dom is not None:
            self.hard_stop(dom)
            self.undefine(dom)
        if destroy_disks:
            inst_dir = cfg.instance_dir(instance.name)
            shutil.rmtree(inst_dir, ignore_errors=True)
            if os.path.exists(inst_dir):
                raise DriverError(f"could not remove {inst_dir}")
        return True

    @hookimpl
    def hv_reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        cfg = self.config(host)
        dom = self.domain(host, instance)
        if not hard:
            self.require_state(dom, (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED), "soft-reboot")
            # ACPI power button, wait, then start again; a guest that ignores it is reset.
            if not self._acpi_shutdown(dom, cfg.shutdown_timeout, retry_interval=10):
                log.info("%s ignored the ACPI shutdown for %ss; rebooting hard", dom.name(), cfg.shutdown_timeout)
                self.hard_stop(dom)
        else:
            self.hard_stop(dom)
            with translated(f"discarding saved state of {dom.name()}"):
                if dom.hasManagedSaveImage(0):
                    dom.managedSaveRemove(0)
        with translated(f"starting {dom.name()}"):
            dom.create()
        return True

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

    @hookimpl
    def hv_power_on(self, host: Host, instance: Instance) -> bool:
        dom = self.domain(host, instance)
        self.require_state(dom, (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_CRASHED), "power on")
        with translated(f"starting {dom.name()}"):
            dom.create()
        return True

    @hookimpl
    def hv_power_off(self, host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
        dom = self.domain(host, instance)
        with translated(f"reading the state of {dom.name()}"):
            if not dom.isActive():
                return True
        if timeout > 0 and self._acpi_shutdown(dom, timeout, retry_interval):
            return True
        self.hard_stop(dom)
        return True

    @hookimpl
    def hv_pause(self, host: Host, instance: Instance) -> bool:
        dom = self.domain(host, instance)
        self.require_state(dom, (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED), "pause")
        with translated(f"pausing {dom.name()}"):
            dom.suspend()
        return True

    @hookimpl
    def hv_unpause(self, host: Host, instance: Instance) -> bool:
        dom = self.domain(host, instance)
        self.require_state(dom, (libvirt.VIR_DOMAIN_PAUSED,), "unpause")
        with translated(f"unpausing {dom.name()}"):
            dom.resume()
        return True

    @hookimpl
    def hv_suspend(self, host: Host, instance: Instance) -> bool:
        dom = self.domain(host, instance)
        self.require_state(
            dom, (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED, libvirt.VIR_DOMAIN_PAUSED), "suspend"
        )
        with translated(f"suspending {dom.name()} (managed save)"):
            dom.managedSave(0)
        return True

    @hookimpl
    def hv_resume(self, host: Host, instance: Instance) -> bool:
        dom = self.domain(host, instance)
        with translated(f"resuming {dom.name()}"):
            if dom.isActive() or not dom.hasManagedSaveImage(0):
                raise Conflict(f"cannot resume {dom.name()}: it is not suspended")
            dom.create()  # restores the managed save image
        return True

    # --- snapshot and console -----------------------------------------------------------

    def root_disk(self, dom: libvirt.virDomain) -> domxml.DiskInfo:
        with translated(f"reading the definition of {dom.name()}"):
            xml = dom.XMLDesc(0)
        for disk in domxml.disks(xml):
            if disk.target_dev == "vda":
                return disk
        raise DriverError(f"{dom.name()} has no root disk (vda)")

    @hookimpl
    def hv_snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        cfg = self.config(host)
        dom = self.domain(host, instance)
        root = self.root_disk(dom)
        out_dir = os.path.join(cfg.instances_dir, ".snapshots")
        os.makedirs(out_dir, mode=0o700, exist_ok=True)
        dest = os.path.join(out_dir, f"{instance.name}-{uuidlib.uuid4().hex[:12]}.qcow2")
        state = self.state(dom)
        if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED):
            # Pausing stops the vCPUs and makes QEMU drain and flush the disk (qcow2
            # metadata included), so the image on disk is consistent while we read it
            # past QEMU's write lock (-U).
            with translated(f"pausing {dom.name()} for a snapshot"):
                dom.suspend()
            try:
                images.convert(root.path, dest, "qcow2", force_share=True)
            finally:
                with translated(f"resuming {dom.name()} after a snapshot"):
                    dom.resume()
        elif state == libvirt.VIR_DOMAIN_PAUSED:
            images.convert(root.path, dest, "qcow2", force_share=True)
        else:
            images.convert(root.path, dest, "qcow2")
        log.info("snapshot %s of %s -> %s", image_name, instance.name, dest)
        return SnapshotResult(path=dest, disk_format="qcow2", size=os.path.getsize(dest), cleanup=True)

    @hookimpl
    def hv_get_console_output(self, host: Host, instance: Instance, length: int | None) -> str:
        dom = self.domain(host, instance)
        with translated(f"reading the definition of {dom.name()}"):
            path = domxml.console_path(dom.XMLDesc(0))
        if not path or not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - MAX_CONSOLE_BYTES))
            data = f.read()
        text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\x00", "")
        if length is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-length:]) if length > 0 else ""
        return text

    # --- volumes ------------------------------------------------------------------------

    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        cfg = self.config(host)
        return Connector(
            host=host.name,
            connection_types=domxml.VOLUME_TYPES,
            ip=cfg.migration_address,
            extra={"hypervisor": "kvm", "uri": cfg.migration_uri},
        )

    @hookimpl
    def hv_attach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        cfg = self.config(host)
        dom = self.domain(host, instance)
        with translated(f"reading the definition of {dom.name()}"):
            current = domxml.disks(dom.XMLDesc(0))
            persistent = domxml.disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        used = sorted({d.target_dev for d in current + persistent})
        dev = domxml.target_dev(mountpoint, used)
        if dev in used:
            raise Conflict(f"{mountpoint or dev} is already in use on {instance.name}")
        disk = domxml.disk_from_connection(connection_info, dev, cfg.disk_cachemode)
        with translated(f"attaching {disk.path} to {instance.name} as {dev}"):
            dom.attachDeviceFlags(domxml.disk_xml(disk), self.live_flags(dom))
        return True

    def _find_volume_disk(
        self, dom: libvirt.virDomain, connection_info: ConnectionInfo, mountpoint: str
    ) -> domxml.DiskInfo | None:
        with translated(f"reading the definition of {dom.name()}"):
            current = domxml.disks(dom.XMLDesc(0))
        path = connection_info.data.get("path") or connection_info.data.get("device_path")
        dev = domxml.target_dev(mountpoint, []) if mountpoint and mountpoint != "auto" else None
        for disk in current:
            if disk.target_dev == "vda":
                continue
            if (dev and disk.target_dev == dev) or (not dev and path and disk.path == path):
                return disk
        return None

    @hookimpl
    def hv_detach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        dom = self.domain(host, instance)
        disk = self._find_volume_disk(dom, connection_info, mountpoint)
        if disk is None:
            raise NotFound(f"no volume attached at {mountpoint or '?'} on {instance.name}")
        live = bool(dom.isActive())
        with translated(f"detaching {disk.target_dev} from {instance.name}"):
            dom.detachDeviceFlags(disk.xml, self.live_flags(dom))
        if live:
            # The guest must release the device (ACPI hot-unplug); libvirt may return first.
            gone = wait_for(lambda: self._find_volume_disk(dom, connection_info, disk.target_dev) is None, 20)
            if not gone:
                raise DriverError(f"{instance.name} did not release {disk.target_dev} within 20 s")
        return True

    @hookimpl
    def hv_extend_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, new_size_gb: int
    ) -> bool:
        dom = self.domain(host, instance)
        disk = self._find_volume_disk(dom, connection_info, "")
        if disk is None:
            raise NotFound(f"volume {connection_info.data.get('path', '?')} is not attached to {instance.name}")
        with translated(f"growing {disk.target_dev} of {instance.name}"):
            if dom.isActive():
                dom.blockResize(disk.target_dev, new_size_gb * GiB, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
        return True

    # --- vifs ---------------------------------------------------------------------------

    @hookimpl
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        dom = self.domain(host, instance)
        with translated(f"reading the definition of {dom.name()}"):
            present = domxml.interfaces(dom.XMLDesc(0))
        for vif in network_info:
            if vif.mac_address.lower() in present:
                continue
            with translated(f"plugging port {vif.port_id} into {instance.name}"):
                dom.attachDeviceFlags(domxml.interface_xml(vif), self.live_flags(dom))
        return True

    @hookimpl
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        dom = self.domain(host, instance)
        with translated(f"reading the definition of {dom.name()}"):
            present = domxml.interfaces(dom.XMLDesc(0))
        for vif in network_info:
            xml = present.get(vif.mac_address.lower())
            if xml is None:
                continue
            with translated(f"unplugging port {vif.port_id} from {instance.name}"):
                dom.detachDeviceFlags(xml, self.live_flags(dom))
        return True

    # --- migration (see overcast_hv_kvm.migration) --------------------------------------

    @hookimpl
    def hv_migrate_disk_and_power_off(self, host: Host, instance: Instance, dest: Host) -> MigrationData:
        return mig.migrate_disk_and_power_off(self, host, instance, dest)

    @hookimpl
    def hv_finish_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        image: ImageFile | None,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
        power_on: bool,
    ) -> InstanceInfo:
        return mig.finish_migration(self, host, instance, migration, network_info, block_devices, power_on)

    @hookimpl
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return mig.confirm_migration(self, host, instance, migration)

    @hookimpl
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        return mig.check_can_live_migrate_destination(self, host, instance, source)

    @hookimpl
    def hv_pre_live_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
    ) -> MigrationData:
        return mig.pre_live_migration(self, host, instance, migration)

    @hookimpl
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        return mig.live_migration(self, host, instance, dest, migration)

    @hookimpl
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return mig.post_live_migration(self, host, instance, migration)
