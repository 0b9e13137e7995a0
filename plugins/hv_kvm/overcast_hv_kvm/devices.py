"""Volume and vif hooks of the ``kvm`` driver: hot-plug of ``file``/``block`` disks and
``bridge`` NICs (persistent config, plus the live guest when it runs)."""

from __future__ import annotations

from collections.abc import Sequence

import libvirt
from overcast.errors import Conflict, DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.types import ConnectionInfo, Connector, Host, Instance, VifDetails

from overcast_hv_kvm import domxml
from overcast_hv_kvm.base import DriverBase, GiB, wait_for
from overcast_hv_kvm.errors import translated


class DeviceHooks(DriverBase):
    """``hv_get_volume_connector``, ``hv_attach/detach/extend_volume``, ``hv_plug/unplug_vifs``,
    ``hv_attach/detach_interface``."""

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
        # A repeated request (the guest did not release the disk in time the first time) finds
        # the disk gone from the persistent definition already: ask the live guest only.
        with translated(f"reading the definition of {dom.name()}"):
            persistent = domxml.disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if live else 0
        if any(d.target_dev == disk.target_dev for d in persistent):
            flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if not flags:
            return True
        with translated(f"detaching {disk.target_dev} from {instance.name}"):
            dom.detachDeviceFlags(disk.xml, flags)
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

    @hookimpl
    def hv_attach_interface(self, host: Host, instance: Instance, vif: VifDetails) -> bool:
        dom = self.domain(host, instance)
        xml = domxml.interface_xml(vif)  # BadRequest for a vif_type this driver cannot plug
        with translated(f"reading the definition of {dom.name()}"):
            present = set(domxml.interfaces(dom.XMLDesc(0))) | set(
                domxml.interfaces(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            )
        if vif.mac_address.lower() in present:
            raise Conflict(f"{instance.name} already has a NIC with MAC {vif.mac_address}")
        with translated(f"hot-plugging port {vif.port_id} into {instance.name}"):
            dom.attachDeviceFlags(xml, self.live_flags(dom))  # LIVE|CONFIG while it runs
        return True

    @hookimpl
    def hv_detach_interface(self, host: Host, instance: Instance, vif: VifDetails) -> bool:
        dom = self.domain(host, instance)
        mac = vif.mac_address.lower()
        with translated(f"reading the definition of {dom.name()}"):
            live_xml = domxml.interfaces(dom.XMLDesc(0)).get(mac) if dom.isActive() else None
            config_xml = domxml.interfaces(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).get(mac)
        if live_xml is not None:
            # The guest releases the NIC (ACPI hot-unplug) after libvirt may already have
            # returned: wait for it to leave the live definition.
            with translated(f"hot-unplugging port {vif.port_id} from {instance.name}"):
                dom.detachDeviceFlags(live_xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            if not wait_for(lambda: mac not in domxml.interfaces(dom.XMLDesc(0)), 20):
                raise DriverError(f"{instance.name} did not release the NIC of port {vif.port_id} within 20 s")
        if config_xml is not None:
            with translated(f"removing port {vif.port_id} from the definition of {instance.name}"):
                dom.detachDeviceFlags(config_xml, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        return True
