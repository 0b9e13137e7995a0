"""The ``kvm`` hypervisor driver: Overcast's ``hv_*`` hooks over libvirt-python.

One :class:`KvmDriver` serves every ``[hosts.NAME] driver = "kvm"`` host; each hook gets
the :class:`~overcast.types.Host` it acts on, and its options say which libvirt daemon
(``uri``) and which directory (``instances_dir``) to use. This module has the host,
lifecycle, snapshot and console hooks; :mod:`.devices` the volume and vif hooks and
:mod:`.migration` the migration hooks (mixins; pluggy finds inherited hook methods).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import libvirt
from overcast.errors import Conflict, DriverError, NotFound, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import (
    BlockDevice,
    Host,
    HostResources,
    HvCapabilities,
    ImageFile,
    Instance,
    InstanceInfo,
    SnapshotResult,
    VifDetails,
)

from overcast_hv_kvm import domxml, images
from overcast_hv_kvm.base import (
    DISK_NAME,
    IMAGE_TYPES,
    MAX_CONSOLE_BYTES,
    GiB,
    chown_to,
)
from overcast_hv_kvm.consoles import ConsoleHooks
from overcast_hv_kvm.devices import DeviceHooks
from overcast_hv_kvm.diagnostics import DiagnosticsHooks
from overcast_hv_kvm.errors import translated
from overcast_hv_kvm.migration import MigrationHooks
from overcast_hv_kvm.options import KvmHostConfig
from overcast_hv_kvm.rescue import RescueHooks

log = logging.getLogger(__name__)


class KvmDriver(DeviceHooks, MigrationHooks, ConsoleHooks, RescueHooks, DiagnosticsHooks):
    """The ``hv_*`` hooks for QEMU/KVM hosts managed through libvirt."""

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
                        'without hardware virtualization use virt_type = "qemu"'
                    )
        self.prepare_dir(cfg, cfg.instances_dir)
        if is_qemu:
            self._check_traversable(cfg)
        return True

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
            resize=True,
            boot_from_volume=True,  # hv_spawn: no image, the /dev/vda volume is the root disk
        )

    @hookimpl
    def hv_get_available_resource(self, host: Host) -> HostResources:
        cfg = self.config(host)
        conn = self.pool.get(cfg.uri)
        with translated(f"reading resources of {host.name}"):
            _model, memory_mb, cpus, *_ = conn.getInfo()
            vcpus_used = memory_used = running = 0
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                try:
                    _state, _max_mem, mem_kb, ncpu, _cpu = dom.info()
                except libvirt.libvirtError as exc:
                    # destroyed since the listing (servers come and go while the heartbeat
                    # reads): not running, and no reason to fail the whole report
                    if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                        continue
                    raise
                vcpus_used += int(ncpu)
                memory_used += int(mem_kb) // 1024
                running += 1
            version = conn.getVersion()
            hostname = conn.getHostname()
            cpu_info = self._cpu_info(conn.getCapabilities())
        self.prepare_dir(cfg, cfg.instances_dir)
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
        """Our guests on this host: domains with our metadata whose files live in this
        host's ``instances_dir`` (one daemon may serve several Overcast hosts or clouds,
        e.g. in tests; each lists only its own)."""
        cfg = self.config(host)
        conn = self.pool.get(cfg.uri)
        prefix = cfg.instances_dir.rstrip("/") + "/"
        names = []
        with translated(f"listing guests on {host.name}"):
            for dom in conn.listAllDomains(0):
                try:
                    xml = dom.XMLDesc(0)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                        continue  # undefined while we listed
                    raise
                if not domxml.metadata(xml):
                    continue
                console = domxml.console_path(xml) or ""
                if console.startswith(prefix):
                    names.append(dom.name())
        return sorted(names)

    @hookimpl
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        return self.info(self.domain(host, instance))

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

        if image is not None and conn.getType() == "QEMU":
            # the base image stays QEMU's backing file: it must be reachable by QEMU's user
            self._check_traversable(cfg, image.path, f"image {image.image.id}")
        inst_dir = cfg.instance_dir(instance.name)
        made_dir = not os.path.exists(inst_dir)
        dom: libvirt.virDomain | None = None
        try:
            self.prepare_dir(cfg, inst_dir)
            disks = self._spawn_disks(cfg, instance, image, block_devices, inst_dir)
            disks += self.config_drive_disks(cfg, host, instance, [d.target_dev for d in disks])
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
            size = images.base_virtual_size(image.path, image.disk_format)
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
            # a paused guest runs no code to answer the power button: it is stopped hard at once
            # (libvirt refuses the ACPI shutdown of a domain that is not running; issue 16)
            paused = dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
        if timeout > 0 and not paused and self._acpi_shutdown(dom, timeout, retry_interval):
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
        try:
            with open(path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - MAX_CONSOLE_BYTES))
                data = f.read()
        except OSError as exc:
            raise DriverError(f"reading the console log of {instance.name} ({path}): {exc.strerror}") from exc
        text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\x00", "")
        if length is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-length:]) if length > 0 else ""
        return text
