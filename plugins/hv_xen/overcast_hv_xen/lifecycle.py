"""The ``xen`` driver's guest lifecycle: spawn (VM, VDI from the image, VBD, VIFs), destroy,
the power operations, snapshot to a VHD image, and the console log."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

from overcast.errors import Conflict, DriverError
from overcast.hookspecs import hookimpl
from overcast.remote import refuse_foreign_inputs
from overcast.types import BlockDevice, Host, ImageFile, Instance, InstanceInfo, SnapshotResult, VifDetails
from overcast_hv_xen import vhd
from overcast_hv_xen.base import NAME, GiB, MiB, VIF_TYPE, option, translate
from overcast_hv_xen.session import NULL_REF, XenError, XenSession, XenUnreachable


class LifecycleMixin:
    """Guest lifecycle operations of :class:`~overcast_hv_xen.driver.XenDriver`."""

    # ---- lifecycle -----------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_spawn(
        self,
        host: Host,
        instance: Instance,
        image: ImageFile | None,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
    ) -> InstanceInfo:
        x = self.session(host)
        if self._find_vm(host, instance, required=False):
            raise Conflict("instance %s already exists on xen host '%s'" % (instance.name, host.name))
        refuse_foreign_inputs(NAME, host, image, ("vhd", "raw"), network_info, VIF_TYPE)
        for bd in block_devices:
            self._iscsi(host, bd.connection_info)
        h = self._xen_host(host)
        made: list[tuple[str, str]] = []
        try:
            size = instance.flavor.root_gb * GiB
            image_size = 0
            if image is not None:
                image_size = os.path.getsize(image.path)
                if image.disk_format == "vhd":
                    with open(image.path, "rb") as f:
                        f.seek(-vhd.FOOTER_SIZE, os.SEEK_END)
                        virt = vhd.virtual_size(f.read(vhd.FOOTER_SIZE))
                else:
                    virt = image_size
                size = max(size, -(-virt // MiB) * MiB)
            if size <= 0:
                size = GiB
            vdi = x.call(
                "VDI.create",
                {
                    "name_label": "%s-root" % instance.name,
                    "name_description": "root disk of %s" % instance.uuid,
                    "SR": self._sr(host),
                    "virtual_size": str(size),
                    "type": "system",
                    "sharable": False,
                    "read_only": False,
                    "other_config": {"overcast_instance": instance.uuid, "overcast_disk": "root"},
                },
            )
            made.append(("VDI", vdi))
            if image is not None:
                with open(image.path, "rb") as f:
                    x.import_vdi(vdi, f, image_size, image.disk_format)
            vm = self._create_vm(host, instance, h)
            made.append(("VM", vm))
            x.call(
                "VBD.create",
                {
                    "VM": vm,
                    "VDI": vdi,
                    "userdevice": "0",
                    "bootable": True,
                    "mode": "RW",
                    "type": "Disk",
                    "empty": False,
                    "other_config": {"overcast_disk": "root"},
                    "qos_algorithm_type": "",
                    "qos_algorithm_params": {},
                },
            )
            for i, vif in enumerate(network_info):
                self._create_vif(host, vm, vif, i)
            for bd in block_devices:
                self._attach(host, vm, bd.connection_info, bd.mountpoint, plug=False)
            x.async_call("VM.start_on", vm, h, False, False, timeout=self._wait(host))
            return self._info(x.call("VM.get_record", vm))
        except BaseException:
            self._cleanup(x, made)
            raise

    def _cleanup(self, x: XenSession, made):
        for cls, ref in reversed(made):
            try:
                if cls == "VM":
                    if x.call("VM.get_power_state", ref) != "Halted":
                        x.call("VM.hard_shutdown", ref)
                    srs = [
                        x.call("VDI.get_SR", x.call("VBD.get_VDI", b))
                        for b in x.call("VM.get_VBDs", ref)
                        if x.call("VBD.get_other_config", b).get("overcast_volume")
                    ]
                    x.call("VM.destroy", ref)
                    for sr in srs:
                        self._release_volume_sr(x, sr)
                else:
                    x.call("VDI.destroy", ref)
            except (XenError, XenUnreachable):
                pass

    def _create_vm(self, host: Host, instance: Instance, xen_host: str) -> str:
        x = self.session(host)
        fl = instance.flavor
        mem = str(fl.memory_mb * MiB)
        other = {"overcast_instance": instance.uuid, "overcast_project": instance.project_id}
        template = option(host, "template")
        if template:
            refs = [r for r in x.call("VM.get_by_name_label", template) if x.call("VM.get_is_a_template", r)]
            if not refs:
                raise DriverError("xen host '%s': no template named %r" % (host.name, template))
            vm = x.async_call("VM.clone", refs[0], instance.name, timeout=self._wait(host))
            x.call("VM.provision", vm)
            x.call("VM.set_is_a_template", vm, False)
            for k, v in (
                ("memory_static_max", mem),
                ("memory_dynamic_max", mem),
                ("memory_dynamic_min", mem),
                ("memory_static_min", mem),
            ):
                x.call("VM.set_" + k, vm, v)
            x.call("VM.set_VCPUs_max", vm, str(fl.vcpus))
            x.call("VM.set_VCPUs_at_startup", vm, str(fl.vcpus))
            x.call("VM.set_name_description", vm, instance.display_name)
            x.call("VM.set_affinity", vm, xen_host)
            for k, v in other.items():
                x.call("VM.add_to_other_config", vm, k, v)
            return vm
        return x.call(
            "VM.create",
            {
                "name_label": instance.name,
                "name_description": instance.display_name,
                "user_version": "1",
                "is_a_template": False,
                "affinity": xen_host,
                "memory_static_max": mem,
                "memory_dynamic_max": mem,
                "memory_dynamic_min": mem,
                "memory_static_min": mem,
                "VCPUs_params": {},
                "VCPUs_max": str(fl.vcpus),
                "VCPUs_at_startup": str(fl.vcpus),
                "actions_after_shutdown": "destroy",
                "actions_after_reboot": "restart",
                "actions_after_crash": "restart",
                "PV_bootloader": "",
                "PV_kernel": "",
                "PV_ramdisk": "",
                "PV_args": "",
                "PV_bootloader_args": "",
                "PV_legacy_args": "",
                "HVM_boot_policy": "BIOS order",
                "HVM_boot_params": {"order": "dc"},
                "platform": {"acpi": "1", "apic": "true", "pae": "true", "viridian": "false", "nx": "true"},
                "PCI_bus": "",
                "other_config": other,
                "recommendations": "",
                "xenstore_data": {"vm-data/overcast/uuid": instance.uuid},
            },
        )

    def _network(self, host: Host, vif: VifDetails) -> str:
        x = self.session(host)
        label = vif.details.get("network") or option(host, "network")
        if label:
            refs = x.call("network.get_by_name_label", label)
            if not refs:
                raise DriverError("xen host '%s': no XAPI network named %r" % (host.name, label))
            return refs[0]
        bridge = vif.details.get("bridge")
        for ref, rec in x.call("network.get_all_records").items():
            if bridge and rec["bridge"] == bridge:
                return ref
            if not bridge and rec["other_config"].get("is_host_internal_management_network") != "true":
                return ref
        raise DriverError("xen host '%s': no usable XAPI network" % host.name)

    def _create_vif(self, host: Host, vm: str, vif: VifDetails, device: int) -> str:
        x = self.session(host)
        return x.call(
            "VIF.create",
            {
                "device": str(device),
                "network": self._network(host, vif),
                "VM": vm,
                "MAC": vif.mac_address,
                "MTU": str(vif.mtu),
                "other_config": {"overcast_port": vif.port_id},
                "qos_algorithm_type": "",
                "qos_algorithm_params": {},
            },
        )

    @hookimpl
    @translate
    def hv_destroy(self, host: Host, instance: Instance, destroy_disks: bool) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance, required=False)
        if vm is None:
            return True
        if x.call("VM.get_power_state", vm) != "Halted":
            x.async_call("VM.hard_shutdown", vm, timeout=self._wait(host))
        own_vdis, volume_srs = [], []
        for vbd in x.call("VM.get_VBDs", vm):
            rec = x.call("VBD.get_record", vbd)
            if rec["other_config"].get("overcast_disk") and rec["VDI"] != NULL_REF:
                own_vdis.append(rec["VDI"])
            elif rec["other_config"].get("overcast_volume") and rec["VDI"] != NULL_REF:
                volume_srs.append(x.call("VDI.get_SR", rec["VDI"]))
        snapshots = x.call("VM.get_snapshots", vm)
        x.call("VM.destroy", vm)
        for sr in volume_srs:  # volumes survive; their SRs are released
            self._release_volume_sr(x, sr)
        for snap in snapshots:
            self._destroy_snapshot(x, snap)
        if destroy_disks:
            for vdi in own_vdis:
                try:
                    x.call("VDI.destroy", vdi)
                except XenError as e:
                    if e.code != "HANDLE_INVALID":
                        raise
        return True

    def _destroy_snapshot(self, x: XenSession, snap: str) -> None:
        vdis = [x.call("VBD.get_VDI", b) for b in x.call("VM.get_VBDs", snap)]
        x.call("VM.destroy", snap)
        for vdi in vdis:
            if vdi != NULL_REF:
                x.call("VDI.destroy", vdi)

    @hookimpl
    @translate
    def hv_power_on(self, host: Host, instance: Instance) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        x.call("VM.remove_from_other_config", vm, "overcast_migration")  # a reverted migration's source
        state = x.call("VM.get_power_state", vm)
        if state == "Running":
            return True
        if state == "Suspended":
            x.async_call("VM.resume", vm, False, False, timeout=self._wait(host))
            return True
        x.async_call("VM.start_on", vm, self._xen_host(host), False, False, timeout=self._wait(host))
        return True

    @hookimpl
    @translate
    def hv_power_off(self, host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        state = x.call("VM.get_power_state", vm)
        if state == "Halted":
            return True
        if timeout > 0 and state == "Running":
            try:
                x.async_call("VM.clean_shutdown", vm, timeout=float(timeout))
                return True
            except XenError as e:  # no PV drivers, or the guest ignored us: stop it hard
                if e.code not in ("VM_MISSING_PV_DRIVERS", "TASK_TIMEOUT", "VM_BAD_POWER_STATE"):
                    raise
                if x.call("VM.get_power_state", vm) == "Halted":
                    return True
        x.async_call("VM.hard_shutdown", vm, timeout=self._wait(host))
        return True

    @hookimpl
    @translate
    def hv_reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        state = x.call("VM.get_power_state", vm)
        if state != "Running" and not (hard and state == "Paused"):
            raise Conflict(
                "xen host '%s': instance %s is %s; reboot needs it running" % (host.name, instance.name, state.lower())
            )
        if not hard:
            try:
                x.async_call("VM.clean_reboot", vm, timeout=self._wait(host))
                return True
            except XenError as e:
                if e.code not in ("VM_MISSING_PV_DRIVERS", "TASK_TIMEOUT"):
                    raise
        x.async_call("VM.hard_reboot", vm, timeout=self._wait(host))
        return True

    def _simple(self, host, instance, call):
        x = self.session(host)
        x.async_call(call, self._find_vm(host, instance), timeout=self._wait(host))
        return True

    @hookimpl
    @translate
    def hv_pause(self, host: Host, instance: Instance) -> bool:
        return self._simple(host, instance, "VM.pause")

    @hookimpl
    @translate
    def hv_unpause(self, host: Host, instance: Instance) -> bool:
        return self._simple(host, instance, "VM.unpause")

    @hookimpl
    @translate
    def hv_suspend(self, host: Host, instance: Instance) -> bool:
        return self._simple(host, instance, "VM.suspend")

    @hookimpl
    @translate
    def hv_resume(self, host: Host, instance: Instance) -> bool:
        x = self.session(host)
        x.async_call("VM.resume", self._find_vm(host, instance), False, False, timeout=self._wait(host))
        return True

    @hookimpl
    @translate
    def hv_snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        volumes = [
            x.call("VBD.get_VDI", b)
            for b in x.call("VM.get_VBDs", vm)
            if x.call("VBD.get_other_config", b).get("overcast_volume")
        ]
        snap = x.async_call("VM.snapshot", vm, "%s snapshot" % instance.name, volumes, timeout=self._wait(host))
        try:
            root = None
            for vbd in x.call("VM.get_VBDs", snap):
                rec = x.call("VBD.get_record", vbd)
                if rec["userdevice"] == "0" and rec["VDI"] != NULL_REF:
                    root = rec["VDI"]
            if root is None:
                raise DriverError(
                    "xen host '%s': instance %s has no root disk to snapshot" % (host.name, instance.name)
                )
            out_dir = host.state_dir or None
            if out_dir:
                os.makedirs(out_dir, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix="snapshot-", suffix=".vhd", dir=out_dir)
            try:
                with os.fdopen(fd, "wb") as f:
                    size = x.export_vdi(root, f, "vhd")
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:
                os.unlink(path)
                raise
            return SnapshotResult(path=path, disk_format="vhd", size=size, cleanup=True)
        finally:
            try:
                self._destroy_snapshot(x, snap)
            except (XenError, XenUnreachable):
                pass

    @hookimpl
    @translate
    def hv_get_console_output(self, host: Host, instance: Instance, length: int | None) -> str:
        import base64
        import zlib

        x = self.session(host)
        rec = x.call("VM.get_record", self._find_vm(host, instance))
        if rec["power_state"] not in ("Running", "Paused") or rec["resident_on"] == NULL_REF:
            return ""
        try:
            raw = x.call("host.call_plugin", rec["resident_on"], "console", "get_console_log", {"dom_id": rec["domid"]})
        except XenError as e:
            if e.code in ("XENAPI_MISSING_PLUGIN", "XENAPI_PLUGIN_FAILURE"):
                return ""
            raise
        text = zlib.decompress(base64.b64decode(raw)).decode("utf-8", errors="replace")
        if length:
            text = "\n".join(text.splitlines()[-int(length) :]) + "\n"
        return text
