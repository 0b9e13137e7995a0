"""The ``xen`` hypervisor driver: XenServer / XCP-ng pools through XAPI.

One Overcast host is one XAPI host of a pool (``xen_host``, the pool master by default); all
hosts of one pool share one logged-in session. Guests are XAPI VMs named ``Instance.name``
(``oc-<uuid>``); the user's display name only travels as data (``name_description``).
Disks are VDIs on the pool's default SR (or ``sr``), images arrive as VHD or raw through
``/import_raw_vdi``, snapshots leave as VHD through ``/export_raw_vdi``.
"""
from __future__ import annotations

import functools
import os
import tempfile
import threading
from collections.abc import Sequence
from typing import Any, Callable

from overcast.errors import (
    BackendUnavailable,
    Conflict,
    DriverError,
    NotFound,
    UnsupportedOperation,
)
from overcast.hookspecs import hookimpl
from overcast.types import (
    BlockDevice,
    ConfigOption,
    ConnectionInfo,
    Connector,
    DriverKind,
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

from overcast_hv_xen import vhd
from overcast_hv_xen.session import NULL_REF, XenError, XenSession, XenUnreachable

NAME = "xen"
VIF_TYPE = "xenapi"
GiB = 1 << 30
MiB = 1 << 20
_HV = DriverKind.HYPERVISOR

OPTIONS = [
    ConfigOption(_HV, NAME, "url", str, required=True,
                 help="XAPI endpoint of the pool master, e.g. https://xenpool.example:443/"),
    ConfigOption(_HV, NAME, "username", str, "root", help="XAPI user"),
    ConfigOption(_HV, NAME, "password", str, required=True, secret=True, help="XAPI password"),
    ConfigOption(_HV, NAME, "xen_host", str, "",
                 help="name_label of the pool member this Overcast host stands for (default: the pool master)"),
    ConfigOption(_HV, NAME, "sr", str, "", help="name_label of the SR for instance disks (default: the pool's default SR)"),
    ConfigOption(_HV, NAME, "network", str, "",
                 help="name_label of the XAPI network for NICs whose binding names none (default: the first pool network)"),
    ConfigOption(_HV, NAME, "template", str, "",
                 help="name_label of a template to clone guests from (default: build a blank HVM VM)"),
    ConfigOption(_HV, NAME, "verify_tls", bool, True, help="verify the XAPI HTTPS certificate"),
    ConfigOption(_HV, NAME, "timeout", float, 60.0, help="seconds to wait for one XAPI call"),
    ConfigOption(_HV, NAME, "task_timeout", float, 900.0, help="seconds to wait for one XAPI task"),
]

_POWER = {"Running": PowerState.RUNNING, "Halted": PowerState.SHUTDOWN, "Paused": PowerState.PAUSED,
          "Suspended": PowerState.SUSPENDED}
_CONFLICT = {"VM_BAD_POWER_STATE", "VM_IS_TEMPLATE", "OTHER_OPERATION_IN_PROGRESS", "DEVICE_ALREADY_ATTACHED",
             "DEVICE_ALREADY_DETACHED", "DEVICE_ALREADY_EXISTS", "VDI_IN_USE", "VM_MISSING_PV_DRIVERS",
             "HOST_NOT_ENOUGH_FREE_MEMORY", "VM_REQUIRES_SR", "VM_REQUIRES_NETWORK", "OPERATION_NOT_ALLOWED",
             "VM_MIGRATE_FAILED", "HOST_DISABLED", "SR_FULL"}


def _opt(host: Host, key: str) -> Any:
    v = host.options.get(key)
    if v is None:
        v = next(o.default for o in OPTIONS if o.name == key)
    return v


def translate(fn: Callable) -> Callable:
    """XAPI failures and unreachable endpoints become Overcast errors naming the host."""

    @functools.wraps(fn)
    def wrapper(self, *a, **kw):
        host = kw.get("host", a[0] if a else None)   # pluggy passes arguments positionally
        where = "xen host '%s'" % host.name if isinstance(host, Host) else "xen"
        try:
            return fn(self, *a, **kw)
        except XenUnreachable as e:
            raise BackendUnavailable("%s: %s" % (where, e)) from None
        except XenError as e:
            if e.code == "SESSION_AUTHENTICATION_FAILED":
                raise BackendUnavailable("%s: %s" % (where, e)) from None
            if e.code in ("HANDLE_INVALID", "UUID_INVALID"):
                raise NotFound("%s: %s" % (where, e)) from None
            if e.code in _CONFLICT:
                raise Conflict("%s: %s" % (where, e)) from None
            raise DriverError("%s: %s" % (where, e)) from None
    return wrapper


class XenDriver:
    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], XenSession] = {}
        self._lock = threading.Lock()

    # ---- plumbing ------------------------------------------------------------------------
    def session(self, host: Host) -> XenSession:
        key = (str(_opt(host, "url")), str(_opt(host, "username")))
        with self._lock:
            s = self._sessions.get(key)
            if s is None or s._password != _opt(host, "password"):
                s = XenSession(key[0], key[1], str(_opt(host, "password")), timeout=float(_opt(host, "timeout")),
                               verify_tls=bool(_opt(host, "verify_tls")))
                self._sessions[key] = s
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()

    def _xen_host(self, host: Host) -> str:
        x = self.session(host)
        label = _opt(host, "xen_host")
        if not label:
            pool = x.call("pool.get_all")[0]
            return x.call("pool.get_master", pool)
        refs = x.call("host.get_by_name_label", label)
        if not refs:
            raise DriverError("xen host '%s': the pool has no host named %r" % (host.name, label))
        return refs[0]

    def _sr(self, host: Host) -> str:
        x = self.session(host)
        label = _opt(host, "sr")
        if label:
            refs = x.call("SR.get_by_name_label", label)
            if not refs:
                raise DriverError("xen host '%s': the pool has no SR named %r" % (host.name, label))
            return refs[0]
        sr = x.call("pool.get_default_SR", x.call("pool.get_all")[0])
        if sr == NULL_REF:
            raise DriverError("xen host '%s': the pool has no default SR; set 'sr'" % host.name)
        return sr

    def _find_vm(self, host: Host, instance: Instance, required: bool = True) -> str | None:
        """The instance's VM on this host's pool member. During a cold migration two VMs carry
        the name (the stopped source and the copy for the destination); each Overcast host sees
        its own, by ``resident_on`` or, for a halted VM, ``affinity``."""
        x = self.session(host)
        h = self._xen_host(host)
        candidates = []
        for ref in x.call("VM.get_by_name_label", instance.name):
            rec = x.call("VM.get_record", ref)
            if not rec["is_a_snapshot"] and not rec["is_a_template"]:
                candidates.append((ref, rec))
        for ref, rec in candidates:
            if rec["resident_on"] == h or (rec["resident_on"] == NULL_REF and rec["affinity"] == h):
                return ref
        # elsewhere in the pool (started on another member by an operator, HA): still ours, unless
        # it is the source side of a cold migration, which belongs to the source host only
        others = [ref for ref, rec in candidates if rec["other_config"].get("overcast_migration") != "source"]
        if len(others) == 1 and len(candidates) == 1:
            return others[0]
        if required:
            raise NotFound("instance %s not found on xen host '%s'" % (instance.name, host.name))
        return None

    def _wait(self, host: Host) -> float:
        return float(_opt(host, "task_timeout"))

    @staticmethod
    def _info(rec: dict) -> InstanceInfo:
        mem_kb = int(rec["memory_static_max"]) // 1024
        return InstanceInfo(state=_POWER.get(rec["power_state"], PowerState.NOSTATE), max_mem_kb=mem_kb,
                            mem_kb=mem_kb if rec["power_state"] in ("Running", "Paused") else 0,
                            num_cpu=int(rec["VCPUs_max"]), internal_id=rec["uuid"])

    # ---- host ----------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_init_host(self, host: Host) -> bool:
        x = self.session(host)
        x.login()
        self._xen_host(host)
        self._sr(host)
        return True

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        return HvCapabilities(hypervisor_type="xen", image_types=frozenset({"vhd", "raw"}),
                              volume_connection_types=frozenset({"iscsi"}), vif_types=frozenset({VIF_TYPE}),
                              live_migration=True, shared_storage=True)

    @hookimpl
    @translate
    def hv_get_available_resource(self, host: Host) -> HostResources:
        x = self.session(host)
        h = self._xen_host(host)
        rec = x.call("host.get_record", h)
        metrics = x.call("host_metrics.get_record", rec["metrics"])
        total, free = int(metrics["memory_total"]), int(metrics["memory_free"])
        vcpus_used, running = 0, 0
        for vm in rec["resident_VMs"]:
            vrec = x.call("VM.get_record", vm)
            if vrec["is_control_domain"]:
                continue
            vcpus_used += int(vrec["VCPUs_at_startup"])
            running += 1
        sr = x.call("SR.get_record", self._sr(host))
        version = rec["software_version"].get("product_version", "0")
        parts = [int(p) for p in version.split(".")[:3] if p.isdigit()] + [0, 0, 0]
        return HostResources(
            vcpus=int(rec["cpu_info"].get("cpu_count", "0")), memory_mb=total // MiB,
            local_gb=int(sr["physical_size"]) // GiB, vcpus_used=vcpus_used,
            memory_mb_used=(total - free) // MiB, local_gb_used=-(-int(sr["physical_utilisation"]) // GiB),
            running_vms=running, hypervisor_type="xen",
            hypervisor_version=parts[0] * 1000000 + parts[1] * 1000 + parts[2],
            hypervisor_hostname=rec["hostname"] or rec["name_label"],
            cpu_info={k: rec["cpu_info"][k] for k in ("vendor", "modelname", "speed", "socket_count")
                      if k in rec["cpu_info"]})

    @hookimpl
    @translate
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        x = self.session(host)
        h = self._xen_host(host)
        names = []
        for rec in x.call("VM.get_all_records").values():
            if rec["is_a_template"] or rec["is_control_domain"] or "overcast_instance" not in rec["other_config"]:
                continue
            if rec["resident_on"] == h or (rec["resident_on"] == NULL_REF and rec["affinity"] == h):
                names.append(rec["name_label"])
        return sorted(names)

    @hookimpl
    @translate
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        x = self.session(host)
        return self._info(x.call("VM.get_record", self._find_vm(host, instance)))

    # ---- lifecycle -----------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_spawn(self, host: Host, instance: Instance, image: ImageFile | None,
                 network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice]) -> InstanceInfo:
        x = self.session(host)
        if self._find_vm(host, instance, required=False):
            raise Conflict("instance %s already exists on xen host '%s'" % (instance.name, host.name))
        if image is not None and image.disk_format not in ("vhd", "raw"):
            raise UnsupportedOperation("xen host '%s' cannot boot %s images (it takes vhd, raw)"
                                       % (host.name, image.disk_format))
        for vif in network_info:
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("xen host '%s' cannot plug vif type %r (it takes %s)"
                                           % (host.name, vif.vif_type, VIF_TYPE))
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
            vdi = x.call("VDI.create", {
                "name_label": "%s-root" % instance.name, "name_description": "root disk of %s" % instance.uuid,
                "SR": self._sr(host), "virtual_size": str(size), "type": "system", "sharable": False,
                "read_only": False, "other_config": {"overcast_instance": instance.uuid, "overcast_disk": "root"}})
            made.append(("VDI", vdi))
            if image is not None:
                with open(image.path, "rb") as f:
                    x.import_vdi(vdi, f, image_size, image.disk_format)
            vm = self._create_vm(host, instance, h)
            made.append(("VM", vm))
            x.call("VBD.create", {"VM": vm, "VDI": vdi, "userdevice": "0", "bootable": True, "mode": "RW",
                                  "type": "Disk", "empty": False, "other_config": {"overcast_disk": "root"},
                                  "qos_algorithm_type": "", "qos_algorithm_params": {}})
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
                    srs = [x.call("VDI.get_SR", x.call("VBD.get_VDI", b)) for b in x.call("VM.get_VBDs", ref)
                           if x.call("VBD.get_other_config", b).get("overcast_volume")]
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
        template = _opt(host, "template")
        if template:
            refs = [r for r in x.call("VM.get_by_name_label", template) if x.call("VM.get_is_a_template", r)]
            if not refs:
                raise DriverError("xen host '%s': no template named %r" % (host.name, template))
            vm = x.async_call("VM.clone", refs[0], instance.name, timeout=self._wait(host))
            x.call("VM.provision", vm)
            x.call("VM.set_is_a_template", vm, False)
            for k, v in (("memory_static_max", mem), ("memory_dynamic_max", mem), ("memory_dynamic_min", mem),
                         ("memory_static_min", mem)):
                x.call("VM.set_" + k, vm, v)
            x.call("VM.set_VCPUs_max", vm, str(fl.vcpus))
            x.call("VM.set_VCPUs_at_startup", vm, str(fl.vcpus))
            x.call("VM.set_name_description", vm, instance.display_name)
            x.call("VM.set_affinity", vm, xen_host)
            for k, v in other.items():
                x.call("VM.add_to_other_config", vm, k, v)
            return vm
        return x.call("VM.create", {
            "name_label": instance.name, "name_description": instance.display_name, "user_version": "1",
            "is_a_template": False, "affinity": xen_host, "memory_static_max": mem, "memory_dynamic_max": mem,
            "memory_dynamic_min": mem, "memory_static_min": mem, "VCPUs_params": {},
            "VCPUs_max": str(fl.vcpus), "VCPUs_at_startup": str(fl.vcpus), "actions_after_shutdown": "destroy",
            "actions_after_reboot": "restart", "actions_after_crash": "restart", "PV_bootloader": "",
            "PV_kernel": "", "PV_ramdisk": "", "PV_args": "", "PV_bootloader_args": "", "PV_legacy_args": "",
            "HVM_boot_policy": "BIOS order", "HVM_boot_params": {"order": "dc"},
            "platform": {"acpi": "1", "apic": "true", "pae": "true", "viridian": "false", "nx": "true"},
            "PCI_bus": "", "other_config": other, "recommendations": "",
            "xenstore_data": {"vm-data/overcast/uuid": instance.uuid}})

    def _network(self, host: Host, vif: VifDetails) -> str:
        x = self.session(host)
        label = vif.details.get("network") or _opt(host, "network")
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
        return x.call("VIF.create", {
            "device": str(device), "network": self._network(host, vif), "VM": vm, "MAC": vif.mac_address,
            "MTU": str(vif.mtu), "other_config": {"overcast_port": vif.port_id},
            "qos_algorithm_type": "", "qos_algorithm_params": {}})

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
        for sr in volume_srs:                         # volumes survive; their SRs are released
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
        x.call("VM.remove_from_other_config", vm, "overcast_migration")   # a reverted migration's source
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
            except XenError as e:   # no PV drivers, or the guest ignored us: stop it hard
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
            raise Conflict("xen host '%s': instance %s is %s; reboot needs it running"
                           % (host.name, instance.name, state.lower()))
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
        volumes = [x.call("VBD.get_VDI", b) for b in x.call("VM.get_VBDs", vm)
                   if x.call("VBD.get_other_config", b).get("overcast_volume")]
        snap = x.async_call("VM.snapshot", vm, "%s snapshot" % instance.name, volumes, timeout=self._wait(host))
        try:
            root = None
            for vbd in x.call("VM.get_VBDs", snap):
                rec = x.call("VBD.get_record", vbd)
                if rec["userdevice"] == "0" and rec["VDI"] != NULL_REF:
                    root = rec["VDI"]
            if root is None:
                raise DriverError("xen host '%s': instance %s has no root disk to snapshot" % (host.name, instance.name))
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
            raw = x.call("host.call_plugin", rec["resident_on"], "console", "get_console_log",
                         {"dom_id": rec["domid"]})
        except XenError as e:
            if e.code in ("XENAPI_MISSING_PLUGIN", "XENAPI_PLUGIN_FAILURE"):
                return ""
            raise
        text = zlib.decompress(base64.b64decode(raw)).decode("utf-8", errors="replace")
        if length:
            text = "\n".join(text.splitlines()[-int(length):]) + "\n"
        return text

    # ---- migration (within one pool) -------------------------------------------------------
    def _same_pool(self, a: Host, b: Host) -> None:
        if _opt(a, "url") != _opt(b, "url"):
            raise Conflict("xen hosts '%s' and '%s' are in different pools; XAPI migrates only within a pool"
                           % (a.name, b.name))

    @hookimpl
    @translate
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        self._same_pool(host, source)
        x = self.session(host)
        vm = self._find_vm(host, instance)
        dest = self._xen_host(host)
        if x.call("VM.get_resident_on", vm) == dest:
            raise Conflict("instance %s already runs on xen host '%s'" % (instance.name, host.name))
        x.call("VM.assert_can_boot_here", vm, dest)
        return MigrationData(source_host=source.name, dest_host=host.name, data={"xen_host": dest})

    @hookimpl
    @translate
    def hv_pre_live_migration(self, host: Host, instance: Instance, migration: MigrationData,
                              network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice]) -> MigrationData:
        return migration

    @hookimpl
    @translate
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        self._same_pool(host, dest)
        x = self.session(host)
        vm = self._find_vm(host, instance)
        target = self._xen_host(dest)
        x.async_call("VM.pool_migrate", vm, target, {"live": "true"}, timeout=self._wait(host))
        x.call("VM.set_affinity", vm, target)
        return True

    @hookimpl
    @translate
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return True

    @hookimpl
    @translate
    def hv_migrate_disk_and_power_off(self, host: Host, instance: Instance, dest: Host) -> MigrationData:
        """Stop the guest and copy it (``VM.copy``: disks included) for the destination host.
        The source VM stays, halted, until ``confirm_migration`` (or a revert powers it on)."""
        self._same_pool(host, dest)
        x = self.session(host)
        vm = self._find_vm(host, instance)
        target = self._xen_host(dest)
        if any(x.call("VBD.get_other_config", b).get("overcast_volume") for b in x.call("VM.get_VBDs", vm)):
            raise Conflict("xen host '%s': detach the volumes of %s before a cold migration (live migration "
                           "keeps them)" % (host.name, instance.name))
        self.hv_power_off(host=host, instance=instance, timeout=60, retry_interval=1)
        copy = x.async_call("VM.copy", vm, instance.name, NULL_REF, timeout=self._wait(host))
        try:
            x.call("VM.set_affinity", copy, target)
            x.call("VM.remove_from_other_config", copy, "overcast_migration")
            x.call("VM.remove_from_other_config", vm, "overcast_migration")
            x.call("VM.add_to_other_config", vm, "overcast_migration", "source")
        except BaseException:
            self._destroy_vm_and_disks(x, copy)
            raise
        return MigrationData(source_host=host.name, dest_host=dest.name,
                             data={"copy": x.call("VM.get_uuid", copy), "source": x.call("VM.get_uuid", vm)})

    @hookimpl
    @translate
    def hv_finish_migration(self, host: Host, instance: Instance, migration: MigrationData, image: ImageFile | None,
                            network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice],
                            power_on: bool) -> InstanceInfo:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        if power_on and x.call("VM.get_power_state", vm) == "Halted":
            x.async_call("VM.start_on", vm, self._xen_host(host), False, False, timeout=self._wait(host))
        return self._info(x.call("VM.get_record", vm))

    @hookimpl
    @translate
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        """Source side: the copy now serves the instance; delete the halted original."""
        x = self.session(host)
        source = migration.data.get("source")
        try:
            vm = x.call("VM.get_by_uuid", source) if source else self._find_vm(host, instance, required=False)
        except XenError as e:
            if e.code != "UUID_INVALID":
                raise
            vm = None
        if vm is not None:
            if x.call("VM.get_power_state", vm) != "Halted":
                raise Conflict("xen host '%s': the migration source of %s is running again; not deleting it"
                               % (host.name, instance.name))
            self._destroy_vm_and_disks(x, vm)
        return True

    def _destroy_vm_and_disks(self, x: XenSession, vm: str) -> None:
        if x.call("VM.get_power_state", vm) != "Halted":
            x.call("VM.hard_shutdown", vm)
        vdis = []
        for vbd in x.call("VM.get_VBDs", vm):
            rec = x.call("VBD.get_record", vbd)
            if rec["other_config"].get("overcast_disk") and rec["VDI"] != NULL_REF:
                vdis.append(rec["VDI"])
        snapshots = x.call("VM.get_snapshots", vm)
        x.call("VM.destroy", vm)
        for snap in snapshots:
            self._destroy_snapshot(x, snap)
        for vdi in vdis:
            x.call("VDI.destroy", vdi)

    # ---- volumes and vifs ------------------------------------------------------------------
    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        from urllib.parse import urlparse
        label = _opt(host, "xen_host") or host.name
        return Connector(host=host.name, connection_types=frozenset({"iscsi"}),
                         ip=urlparse(str(_opt(host, "url"))).hostname, os_type="xen",
                         extra={"xen_host": _opt(host, "xen_host"),
                                "initiator": "iqn.2026-01.org.overcast:%s" % "".join(
                                    c if c.isalnum() or c in ".-" else "-" for c in str(label).lower())})

    # ---- volumes: an iSCSI LUN becomes an SR (introduced, one PBD per pool host) with one VDI --
    @staticmethod
    def _iscsi(host: Host, info: ConnectionInfo) -> dict:
        if info.driver_volume_type != "iscsi":
            raise UnsupportedOperation("xen host '%s' cannot attach %r volumes (it takes iscsi)"
                                       % (host.name, info.driver_volume_type))
        d = info.data
        portal, iqn, lun = str(d.get("target_portal", "")), str(d.get("target_iqn", "")), d.get("target_lun")
        if not portal or not iqn or lun is None:
            raise DriverError("xen host '%s': iscsi connection data needs target_portal, target_iqn and "
                              "target_lun, got %r" % (host.name, dict(d)))
        ip, _, port = portal.rpartition(":") if ":" in portal else (portal, "", "3260")
        key = "%s|%s|%s" % (portal, iqn, lun)
        import uuid as _uuid
        return {"sr_uuid": str(_uuid.uuid5(_uuid.NAMESPACE_URL, "overcast-volume:" + key)),
                "volume_id": str(d.get("volume_id", "")),
                "device_config": {"target": ip, "port": port or "3260", "targetIQN": iqn, "LUNid": str(lun)}}

    def _volume_sr(self, host: Host, vol: dict) -> str:
        """Find or introduce the volume's SR, plugged on every pool member (so it can migrate)."""
        x = self.session(host)
        try:
            sr = x.call("SR.get_by_uuid", vol["sr_uuid"])
        except XenError as e:
            if e.code != "UUID_INVALID":
                raise
            sr = x.call("SR.introduce", vol["sr_uuid"], "overcast volume %s" % vol["volume_id"],
                        "iSCSI LUN %s" % vol["device_config"]["LUNid"], "iscsi", "", True,
                        {"overcast_volume": vol["volume_id"]})
        have = {x.call("PBD.get_host", p): p for p in x.call("SR.get_PBDs", sr)}
        try:
            for h in x.call("host.get_all"):
                pbd = have.get(h) or x.call("PBD.create", {"host": h, "SR": sr, "device_config": vol["device_config"],
                                                            "other_config": {}})
                if not x.call("PBD.get_currently_attached", pbd):
                    x.call("PBD.plug", pbd)
            x.call("SR.scan", sr)
        except BaseException:
            self._release_volume_sr(x, sr)
            raise
        return sr

    def _release_volume_sr(self, x: XenSession, sr: str) -> None:
        """Unplug and forget a volume SR nobody uses any more (the data stays on the array)."""
        for vdi in x.call("SR.get_VDIs", sr):
            if x.call("VDI.get_VBDs", vdi):
                return
        for pbd in x.call("SR.get_PBDs", sr):
            if x.call("PBD.get_currently_attached", pbd):
                x.call("PBD.unplug", pbd)
        x.call("SR.forget", sr)

    @staticmethod
    def _userdevice(mountpoint: str, used: set[str]) -> str:
        letter = str(mountpoint or "").rstrip("/")[-1:]
        if letter.isalpha() and letter.lower() != "a":
            n = ord(letter.lower()) - ord("a")
            if str(n) not in used and n < 16:
                return str(n)
        return next(str(i) for i in range(1, 16) if str(i) not in used)

    def _attach(self, host, vm, connection_info: ConnectionInfo, mountpoint: str, plug: bool):
        x = self.session(host)
        vol = self._iscsi(host, connection_info)
        sr = self._volume_sr(host, vol)
        vdis = x.call("SR.get_VDIs", sr)
        if not vdis:
            self._release_volume_sr(x, sr)
            raise DriverError("xen host '%s': the iSCSI LUN shows no disk after SR.scan" % host.name)
        used = {x.call("VBD.get_userdevice", b) for b in x.call("VM.get_VBDs", vm)}
        try:
            vbd = x.call("VBD.create", {"VM": vm, "VDI": vdis[0], "userdevice": self._userdevice(mountpoint, used),
                                        "bootable": False, "mode": "RW", "type": "Disk", "empty": False,
                                        "other_config": {"overcast_volume": vol["volume_id"] or vol["sr_uuid"]},
                                        "qos_algorithm_type": "", "qos_algorithm_params": {}})
        except BaseException:
            self._release_volume_sr(x, sr)
            raise
        if plug and x.call("VM.get_power_state", vm) == "Running":
            try:
                x.call("VBD.plug", vbd)
            except BaseException:
                x.call("VBD.destroy", vbd)
                self._release_volume_sr(x, sr)
                raise
        return vbd

    @hookimpl
    @translate
    def hv_attach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        self._iscsi(host, connection_info)          # refuse what we cannot attach before touching anything
        self._attach(host, self._find_vm(host, instance), connection_info, mountpoint, plug=True)
        return True

    @hookimpl
    @translate
    def hv_detach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        x = self.session(host)
        vol = self._iscsi(host, connection_info)
        vm = self._find_vm(host, instance)
        try:
            sr = x.call("SR.get_by_uuid", vol["sr_uuid"])
        except XenError as e:
            if e.code == "UUID_INVALID":
                return True                               # never attached here
            raise
        for vbd in x.call("VM.get_VBDs", vm):
            vdi = x.call("VBD.get_VDI", vbd)
            if vdi != NULL_REF and x.call("VDI.get_SR", vdi) == sr:
                if x.call("VBD.get_currently_attached", vbd):
                    x.async_call("VBD.unplug", vbd, timeout=self._wait(host))
                x.call("VBD.destroy", vbd)
        self._release_volume_sr(x, sr)
        return True

    @hookimpl
    @translate
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        existing = {x.call("VIF.get_record", v)["other_config"].get("overcast_port"): v for v in x.call("VM.get_VIFs", vm)}
        used = {int(x.call("VIF.get_device", v)) for v in existing.values()}
        running = x.call("VM.get_power_state", vm) == "Running"
        for vif in network_info:
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("xen host '%s' cannot plug vif type %r" % (host.name, vif.vif_type))
            if vif.port_id in existing:
                continue
            dev = next(i for i in range(64) if i not in used)
            used.add(dev)
            ref = self._create_vif(host, vm, vif, dev)
            if running:
                x.call("VIF.plug", ref)
        return True

    @hookimpl
    @translate
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        x = self.session(host)
        vm = self._find_vm(host, instance, required=False)
        if vm is None:
            return True
        ports = {v.port_id for v in network_info}
        for ref in x.call("VM.get_VIFs", vm):
            rec = x.call("VIF.get_record", ref)
            if rec["other_config"].get("overcast_port") in ports:
                if rec["currently_attached"]:
                    x.call("VIF.unplug", ref)
                x.call("VIF.destroy", ref)
        return True


__all__ = ["XenDriver", "OPTIONS", "NAME", "VIF_TYPE"]
