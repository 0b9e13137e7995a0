"""The ``esx`` hypervisor driver: VMware vCenter or ESXi through the vSphere API (pyvmomi).

One Overcast host is one ESXi ``HostSystem`` (``esx_host``; default: the first host the
endpoint lists). Guests are VMs named ``Instance.name`` (``oc-<uuid>``); the user's display name
only travels as data (the VM's annotation). Images are VMDKs: the driver rewrites each with
``qemu-img`` into ESX's native descriptor + ``-flat`` layout, uploads both to the datastore over
``/folder``, and builds the VM around that disk. Snapshots copy the frozen base disk with
``CopyVirtualDisk``, download it and hand back a standalone streamOptimized VMDK.
"""
from __future__ import annotations

import functools
import http.client
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Sequence
from typing import Any, Callable

from pyVmomi import vim, vmodl

from overcast.errors import BackendUnavailable, Conflict, DriverError, NotFound, UnsupportedOperation
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

from overcast_hv_esx.vim import VimError, VimSession, VimUnreachable

NAME = "esx"
VIF_TYPE = "vmware"
GiB = 1 << 30
MiB = 1 << 20
_HV = DriverKind.HYPERVISOR

OPTIONS = [
    ConfigOption(_HV, NAME, "url", str, required=True, help="vCenter or ESXi SDK URL, e.g. https://vc.example/sdk"),
    ConfigOption(_HV, NAME, "username", str, required=True, help="vSphere user"),
    ConfigOption(_HV, NAME, "password", str, required=True, secret=True, help="its password"),
    ConfigOption(_HV, NAME, "esx_host", str, "", help="name of the HostSystem this Overcast host stands for"),
    ConfigOption(_HV, NAME, "datastore", str, "", help="datastore for instance disks (default: the host's first)"),
    ConfigOption(_HV, NAME, "network", str, "", help="port group for NICs whose binding names none"),
    ConfigOption(_HV, NAME, "verify_tls", bool, True, help="verify the endpoint's certificate"),
    ConfigOption(_HV, NAME, "timeout", float, 600.0, help="seconds to wait for one vSphere task"),
    ConfigOption(_HV, NAME, "qemu_img", str, "qemu-img", help="qemu-img binary used to rewrite VMDKs"),
]

_POWER = {"poweredOn": PowerState.RUNNING, "poweredOff": PowerState.SHUTDOWN, "suspended": PowerState.SUSPENDED}
_CONFLICT = (vim.fault.InvalidState, vim.fault.TaskInProgress, vim.fault.ToolsUnavailable,
             vim.fault.InsufficientResourcesFault, vim.fault.FileAlreadyExists, vim.fault.VmConfigFault)
_NOT_FOUND = (vmodl.fault.ManagedObjectNotFound, vim.fault.NotFound, vim.fault.FileNotFound)
_UNSUPPORTED = (vmodl.fault.MethodNotFound, vmodl.fault.NotImplemented, vmodl.fault.NotSupported)


def _opt(host: Host, key: str) -> Any:
    v = host.options.get(key)
    if v is None or v == "":
        v = next(o.default for o in OPTIONS if o.name == key)
    return v


def translate(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(self, *a, **kw):
        host = kw.get("host", a[0] if a else None)
        where = "esx host '%s'" % host.name if isinstance(host, Host) else "esx"
        try:
            return fn(self, *a, **kw)
        except VimUnreachable as e:
            raise BackendUnavailable("%s: %s" % (where, e)) from None
        except (VimError, vmodl.MethodFault) as exc:
            e = exc if isinstance(exc, VimError) else VimError(exc)   # a fault raised by a direct call
            f = e.fault
            if isinstance(f, (vim.fault.InvalidLogin, vim.fault.NotAuthenticated)):
                raise BackendUnavailable("%s: vSphere refused the credentials (%s)" % (where, e)) from None
            if isinstance(f, _NOT_FOUND):
                raise NotFound("%s: %s" % (where, e)) from None
            if isinstance(f, _CONFLICT):
                raise Conflict("%s: %s" % (where, e)) from None
            if isinstance(f, _UNSUPPORTED):
                raise UnsupportedOperation("%s: %s" % (where, e)) from None
            raise DriverError("%s: %s" % (where, e)) from None
        except (OSError, http.client.HTTPException) as e:
            raise BackendUnavailable("%s: vSphere did not answer: %s" % (where, e)) from None
    return wrapper


class EsxDriver:
    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], VimSession] = {}
        self._lock = threading.Lock()

    # ---- plumbing ------------------------------------------------------------------------
    def session(self, host: Host) -> VimSession:
        key = (str(_opt(host, "url")), str(_opt(host, "username")))
        with self._lock:
            s = self._sessions.get(key)
            if s is None or s._password != _opt(host, "password"):
                s = VimSession(key[0], key[1], str(_opt(host, "password")), verify_tls=bool(_opt(host, "verify_tls")))
                self._sessions[key] = s
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()

    def _timeout(self, host: Host) -> float:
        return float(_opt(host, "timeout"))

    def _wait(self, host: Host, task, call: str):
        return self.session(host).wait(task, call, self._timeout(host))

    def _host(self, host: Host) -> vim.HostSystem:
        s = self.session(host)
        name = _opt(host, "esx_host")

        def find():
            hosts = s.objects(vim.HostSystem)
            if not name:
                if not hosts:
                    raise DriverError("esx host '%s': the endpoint has no ESXi host" % host.name)
                return hosts[0]
            for h in hosts:
                if h.name == name:
                    return h
            raise DriverError("esx host '%s': the endpoint has no ESXi host named %r" % (host.name, name))
        return s.run(find, "find host")

    def _datacenter(self, obj) -> vim.Datacenter:
        while obj is not None and not isinstance(obj, vim.Datacenter):
            obj = obj.parent
        return obj

    def _datastore(self, host: Host, h: vim.HostSystem) -> vim.Datastore:
        name = _opt(host, "datastore")
        for ds in h.datastore:
            if not name or ds.name == name:
                return ds
        raise DriverError("esx host '%s': no datastore %r on %s" % (host.name, name, h.name))

    @staticmethod
    def _mark(vm) -> str:
        for opt in (vm.config.extraConfig or []):
            if opt.key == "overcast.migration":
                return str(opt.value)
        return ""

    def _vm(self, host: Host, instance: Instance, required: bool = True) -> vim.VirtualMachine | None:
        """The instance's VM on this host. During a cold migration two VMs carry the name (the
        stopped source and its clone on the destination); each Overcast host sees its own."""
        s = self.session(host)

        def find():
            vms = s.vms_named(instance.name)
            if not vms:
                return None
            h = self._host(host)
            for vm in vms:
                if vm.runtime.host == h:
                    return vm
            # moved by DRS or an operator: still ours, unless it is a migration's source
            if len(vms) == 1 and self._mark(vms[0]) != "source":
                return vms[0]
            return None
        vm = s.run(find, "find VM")
        if vm is None and required:
            raise NotFound("instance %s not found on esx host '%s'" % (instance.name, host.name))
        return vm

    def _set_mark(self, host: Host, vm, value: str) -> None:
        spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="overcast.migration", value=value)])
        self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")

    @staticmethod
    def _info(vm: vim.VirtualMachine) -> InstanceInfo:
        cfg = vm.summary.config
        state = _POWER.get(str(vm.runtime.powerState), PowerState.NOSTATE)
        mem = int(cfg.memorySizeMB or 0) * 1024
        return InstanceInfo(state=state, max_mem_kb=mem, mem_kb=mem if state == PowerState.RUNNING else 0,
                            num_cpu=int(cfg.numCpu or 0), internal_id=str(cfg.instanceUuid or cfg.uuid or vm._moId))

    # ---- host ----------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_init_host(self, host: Host) -> bool:
        s = self.session(host)
        s.connect()
        h = self._host(host)
        self._datastore(host, h)
        return True

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        return HvCapabilities(hypervisor_type="vmware", image_types=frozenset({"vmdk"}),
                              volume_connection_types=frozenset({"vmdk"}), vif_types=frozenset({VIF_TYPE}),
                              live_migration=True, shared_storage=True)

    @hookimpl
    @translate
    def hv_get_available_resource(self, host: Host) -> HostResources:
        s = self.session(host)

        def read():
            h = self._host(host)
            hw = h.summary.hardware
            stats = h.summary.quickStats
            ds = self._datastore(host, h).summary
            vcpus_used, running = 0, 0
            for vm in s.objects(vim.VirtualMachine):
                try:
                    if vm.runtime.host == h and vm.runtime.powerState == "poweredOn":
                        running += 1
                        vcpus_used += int(vm.summary.config.numCpu or 0)
                except vmodl.fault.ManagedObjectNotFound:
                    continue
            about = s.content.about
            ver = [int(p) for p in str(about.version).split(".")[:3] if p.isdigit()] + [0, 0, 0]
            return HostResources(
                vcpus=int(hw.numCpuThreads or hw.numCpuCores), memory_mb=int(hw.memorySize) // MiB,
                local_gb=int(ds.capacity) // GiB, vcpus_used=vcpus_used,
                memory_mb_used=int(stats.overallMemoryUsage or 0), local_gb_used=-(-(int(ds.capacity) - int(ds.freeSpace)) // GiB),
                running_vms=running, hypervisor_type="vmware",
                hypervisor_version=ver[0] * 1000000 + ver[1] * 1000 + ver[2], hypervisor_hostname=h.name,
                cpu_info={"model": str(hw.cpuModel), "vendor": str(hw.vendor), "cores": int(hw.numCpuCores)})
        return s.run(read, "read resources")

    @hookimpl
    @translate
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        s = self.session(host)

        def names():
            h = self._host(host)
            out = []
            for vm in s.objects(vim.VirtualMachine):
                try:
                    if vm.name.startswith("oc-") and vm.runtime.host == h:
                        out.append(vm.name)
                except vmodl.fault.ManagedObjectNotFound:
                    continue
            return sorted(out)
        return s.run(names, "list VMs")

    @hookimpl
    @translate
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        s = self.session(host)
        vm = self._vm(host, instance)
        return s.run(lambda: self._info(vm), "read VM")

    # ---- images ----------------------------------------------------------------------------
    def _flat_vmdk(self, host: Host, src: str, workdir: str, name: str) -> tuple[str, str]:
        """Rewrite any VMDK into ESX's descriptor + -flat layout with qemu-img."""
        qemu = shutil.which(str(_opt(host, "qemu_img")))
        if not qemu:
            raise DriverError("esx host '%s': qemu-img is needed to prepare VMDK images (apt: qemu-utils)" % host.name)
        desc = os.path.join(workdir, name + ".vmdk")
        p = subprocess.run([qemu, "convert", "-q", "-O", "vmdk", "-o", "subformat=monolithicFlat", src, desc],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise DriverError("esx host '%s': qemu-img could not read the image: %s" % (host.name, p.stderr.strip()))
        return desc, os.path.join(workdir, name + "-flat.vmdk")

    # ---- lifecycle -----------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_spawn(self, host: Host, instance: Instance, image: ImageFile | None,
                 network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice]) -> InstanceInfo:
        if image is not None and image.disk_format != "vmdk":
            raise UnsupportedOperation("esx host '%s' cannot boot %s images (it takes vmdk)" % (host.name, image.disk_format))
        for vif in network_info:
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("esx host '%s' cannot plug vif type %r (it takes %s)"
                                           % (host.name, vif.vif_type, VIF_TYPE))
        for bd in block_devices:
            self._volume_path(host, bd.connection_info)
        s = self.session(host)
        if self._vm(host, instance, required=False) is not None:
            raise Conflict("instance %s already exists on esx host '%s'" % (instance.name, host.name))
        h = self._host(host)
        dc = self._datacenter(h)
        ds = self._datastore(host, h)
        fl = instance.flavor
        disk_path = "[%s] %s/%s.vmdk" % (ds.name, instance.name, instance.name)
        uploaded = False
        vm = None
        try:
            capacity_kb = max(fl.root_gb, 1) * GiB // 1024
            disk_spec = None
            if image is not None:
                with tempfile.TemporaryDirectory(prefix="overcast-esx-") as work:
                    desc, flat = self._flat_vmdk(host, image.path, work, instance.name)
                    size = os.path.getsize(flat)
                    capacity_kb = max(capacity_kb, size // 1024)
                    for local, remote in ((flat, "%s/%s-flat.vmdk" % (instance.name, instance.name)),
                                          (desc, "%s/%s.vmdk" % (instance.name, instance.name))):
                        with open(local, "rb") as f:
                            s.upload(dc.name, ds.name, remote, f, os.path.getsize(local))
                    uploaded = True
                disk_spec = vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    device=vim.vm.device.VirtualDisk(
                        key=-1, unitNumber=0, controllerKey=1000, capacityInKB=size // 1024,
                        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                            fileName=disk_path, diskMode="persistent", thinProvisioned=True)))
            else:
                disk_spec = vim.vm.device.VirtualDeviceSpec(
                    operation="add", fileOperation="create",
                    device=vim.vm.device.VirtualDisk(
                        key=-1, unitNumber=0, controllerKey=1000, capacityInKB=capacity_kb,
                        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent",
                                                                              thinProvisioned=True)))
            devices = [vim.vm.device.VirtualDeviceSpec(
                operation="add", device=vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0,
                                                                              sharedBus="noSharing")), disk_spec]
            for i, vif in enumerate(network_info):
                devices.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=self._nic(host, h, vif, -100 - i)))
            spec = vim.vm.ConfigSpec(name=instance.name, memoryMB=fl.memory_mb, numCPUs=fl.vcpus,
                                     guestId="otherGuest64", annotation=instance.display_name,
                                     files=vim.vm.FileInfo(vmPathName="[%s]" % ds.name), deviceChange=devices,
                                     extraConfig=[vim.option.OptionValue(key="overcast.instance", value=instance.uuid)])
            pool = h.parent.resourcePool
            vm = self._wait(host, dc.vmFolder.CreateVM_Task(config=spec, pool=pool, host=h), "CreateVM_Task")
            if image is not None and capacity_kb * 1024 > size:
                self._grow_root(host, vm, capacity_kb)
            for bd in block_devices:
                self._attach(host, vm, bd.connection_info)
            self._wait(host, vm.PowerOnVM_Task(), "PowerOnVM_Task")
            return self._info(vm)
        except BaseException:
            self._cleanup(host, vm, dc, ds, instance, uploaded)
            raise

    def _grow_root(self, host: Host, vm, capacity_kb: int) -> None:
        disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
        disk.capacityInKB = capacity_kb
        spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)])
        self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")

    def _cleanup(self, host, vm, dc, ds, instance, uploaded):
        s = self.session(host)
        try:
            if vm is not None:
                if vm.runtime.powerState != "poweredOff":
                    s.wait(vm.PowerOffVM_Task(), "PowerOffVM_Task", 60)
                s.wait(vm.Destroy_Task(), "Destroy_Task", 60)
            elif uploaded:
                self._delete_disk(host, dc, "[%s] %s/%s.vmdk" % (ds.name, instance.name, instance.name))
        except (VimError, VimUnreachable, vmodl.MethodFault):
            pass

    def _delete_disk(self, host: Host, dc, path: str) -> None:
        s = self.session(host)
        vdm = s.content.virtualDiskManager
        try:
            self._wait(host, vdm.DeleteVirtualDisk_Task(name=path, datacenter=dc), "DeleteVirtualDisk_Task")
        except VimError as e:
            if not isinstance(e.fault, _NOT_FOUND):
                raise

    def _network(self, host: Host, h, vif: VifDetails):
        name = vif.details.get("portgroup") or vif.details.get("network") or _opt(host, "network")
        for net in h.network:
            if not name or net.name == name:
                return net
        raise DriverError("esx host '%s': no port group %r on %s" % (host.name, name, h.name))

    def _nic(self, host: Host, h, vif: VifDetails, key: int):
        net = self._network(host, h, vif)
        if isinstance(net, vim.dvs.DistributedVirtualPortgroup):
            backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
                port=vim.dvs.PortConnection(portgroupKey=net.key,
                                            switchUuid=net.config.distributedVirtualSwitch.uuid))
        else:
            backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=net.name, network=net)
        return vim.vm.device.VirtualVmxnet3(
            key=key, backing=backing, addressType="manual", macAddress=vif.mac_address,
            externalId=vif.port_id,
            connectable=vim.vm.device.VirtualDevice.ConnectInfo(startConnected=True, connected=True,
                                                                allowGuestControl=True))

    @hookimpl
    @translate
    def hv_destroy(self, host: Host, instance: Instance, destroy_disks: bool) -> bool:
        s = self.session(host)
        vm = self._vm(host, instance, required=False)
        if vm is None:
            return True

        def destroy():
            if vm.runtime.powerState != "poweredOff":
                self._wait(host, vm.PowerOffVM_Task(), "PowerOffVM_Task")
            # attached volumes survive: detach them first (the driver attaches volumes, and only
            # volumes, as independent disks, so they also stay out of snapshots)
            volumes = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)
                       and str(getattr(d.backing, "diskMode", "")).startswith("independent")]
            if volumes:
                spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="remove", device=d)
                                                       for d in volumes])
                self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")
            if destroy_disks:
                self._wait(host, vm.Destroy_Task(), "Destroy_Task")      # deletes the VM's folder and disks
            else:
                vm.UnregisterVM()                                        # keeps the files on the datastore
            return True
        try:
            return s.run(destroy, "destroy VM")
        except VimError as e:
            if isinstance(e.fault, vmodl.fault.ManagedObjectNotFound):
                return True
            raise

    @hookimpl
    @translate
    def hv_power_on(self, host: Host, instance: Instance) -> bool:
        vm = self._vm(host, instance)
        if self._mark(vm):
            self._set_mark(host, vm, "")           # the source of a reverted migration serves again
        if vm.runtime.powerState == "poweredOn":
            return True
        self._wait(host, vm.PowerOnVM_Task(), "PowerOnVM_Task")
        return True

    @hookimpl
    @translate
    def hv_power_off(self, host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
        import time
        vm = self._vm(host, instance)
        if vm.runtime.powerState == "poweredOff":
            return True
        if timeout > 0 and vm.runtime.powerState == "poweredOn":
            try:
                self.session(host).run(vm.ShutdownGuest, "ShutdownGuest")
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    if vm.runtime.powerState == "poweredOff":
                        return True
                    time.sleep(min(max(retry_interval, 0.05), 1.0) if retry_interval else 0.2)
            except VimError as e:       # no VMware Tools in the guest: power off instead
                if not isinstance(e.fault, (vim.fault.ToolsUnavailable, vim.fault.InvalidState)):
                    raise
        self._wait(host, vm.PowerOffVM_Task(), "PowerOffVM_Task")
        return True

    @hookimpl
    @translate
    def hv_reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        vm = self._vm(host, instance)
        if vm.runtime.powerState != "poweredOn":
            raise Conflict("esx host '%s': instance %s is %s; reboot needs it running"
                           % (host.name, instance.name, vm.runtime.powerState))
        if not hard:
            try:
                self.session(host).run(vm.RebootGuest, "RebootGuest")
                return True
            except VimError as e:       # no VMware Tools: reset instead
                if not isinstance(e.fault, vim.fault.ToolsUnavailable):
                    raise
        self._wait(host, vm.ResetVM_Task(), "ResetVM_Task")
        return True

    @hookimpl
    @translate
    def hv_suspend(self, host: Host, instance: Instance) -> bool:
        vm = self._vm(host, instance)
        self._wait(host, vm.SuspendVM_Task(), "SuspendVM_Task")
        return True

    @hookimpl
    @translate
    def hv_resume(self, host: Host, instance: Instance) -> bool:
        vm = self._vm(host, instance)
        if vm.runtime.powerState != "suspended":
            raise Conflict("esx host '%s': instance %s is %s, not suspended"
                           % (host.name, instance.name, vm.runtime.powerState))
        self._wait(host, vm.PowerOnVM_Task(), "PowerOnVM_Task")
        return True

    @hookimpl
    @translate
    def hv_snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        s = self.session(host)
        vm = self._vm(host, instance)
        disk = next((d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)), None)
        if disk is None:
            raise DriverError("esx host '%s': instance %s has no disk to snapshot" % (host.name, instance.name))
        base = str(disk.backing.fileName)
        ds_name = base[1:base.index("]")]
        dc = self._datacenter(vm)
        snap = self._wait(host, vm.CreateSnapshot_Task(name="overcast-%s" % uuid.uuid4(), description=image_name,
                                                       memory=False, quiesce=False), "CreateSnapshot_Task")
        export = "overcast-exports/%s.vmdk" % uuid.uuid4()
        vdm = s.content.virtualDiskManager
        out_dir = host.state_dir or None
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        try:
            # the base disk is frozen while the snapshot exists: copy it on the datastore, then fetch
            try:
                s.content.fileManager.MakeDirectory(name="[%s] overcast-exports" % ds_name, datacenter=dc,
                                                    createParentDirectories=True)
            except vim.fault.FileAlreadyExists:
                pass
            self._wait(host, vdm.CopyVirtualDisk_Task(sourceName=base, sourceDatacenter=dc,
                                                      destName="[%s] %s" % (ds_name, export), destDatacenter=dc),
                       "CopyVirtualDisk_Task")
            try:
                with tempfile.TemporaryDirectory(prefix="overcast-esx-", dir=out_dir) as work:
                    flat = os.path.join(work, "disk-flat.vmdk")
                    with open(flat, "wb") as f:
                        s.download(dc.name, ds_name, export.replace(".vmdk", "-flat.vmdk"), f)
                    qemu = shutil.which(str(_opt(host, "qemu_img")))
                    if not qemu:
                        raise DriverError("esx host '%s': qemu-img is needed to package snapshots" % host.name)
                    fd, path = tempfile.mkstemp(prefix="snapshot-", suffix=".vmdk", dir=out_dir)
                    os.close(fd)
                    p = subprocess.run([qemu, "convert", "-q", "-f", "raw", "-O", "vmdk", "-o",
                                        "subformat=streamOptimized", flat, path], capture_output=True, text=True)
                    if p.returncode != 0:
                        os.unlink(path)
                        raise DriverError("esx host '%s': qemu-img failed: %s" % (host.name, p.stderr.strip()))
            finally:
                self._delete_disk(host, dc, "[%s] %s" % (ds_name, export))
        finally:
            self._wait(host, snap.RemoveSnapshot_Task(removeChildren=False), "RemoveSnapshot_Task")
        return SnapshotResult(path=path, disk_format="vmdk", size=os.path.getsize(path), cleanup=True)

    # ---- migration (RelocateVM within one vCenter) --------------------------------------------
    def _same_endpoint(self, a: Host, b: Host) -> None:
        if _opt(a, "url") != _opt(b, "url"):
            raise Conflict("esx hosts '%s' and '%s' are managed by different endpoints; vMotion needs one vCenter"
                           % (a.name, b.name))

    @hookimpl
    @translate
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        self._same_endpoint(host, source)
        vm = self._vm(source, instance)
        dest = self._host(host)
        if vm.runtime.host == dest:
            raise Conflict("instance %s already runs on esx host '%s'" % (instance.name, host.name))
        free_mb = int(dest.summary.hardware.memorySize) // MiB - int(dest.summary.quickStats.overallMemoryUsage or 0)
        if free_mb < int(vm.summary.config.memorySizeMB or 0):
            raise Conflict("esx host '%s' has %d MiB free; instance %s needs %d MiB"
                           % (host.name, free_mb, instance.name, vm.summary.config.memorySizeMB))
        return MigrationData(source_host=source.name, dest_host=host.name, data={"esx_host": dest.name})

    @hookimpl
    @translate
    def hv_pre_live_migration(self, host: Host, instance: Instance, migration: MigrationData,
                              network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice]) -> MigrationData:
        return migration

    def _relocate(self, host: Host, instance: Instance, dest: Host) -> None:
        self._same_endpoint(host, dest)
        vm = self._vm(host, instance)
        target = self._host(dest)
        spec = vim.vm.RelocateSpec(host=target, pool=target.parent.resourcePool)
        self._wait(host, vm.RelocateVM_Task(spec=spec), "RelocateVM_Task")

    @hookimpl
    @translate
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        self._relocate(host, instance, dest)
        return True

    @hookimpl
    @translate
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return True

    def _migration_folder(self, host: Host, dc) -> vim.Folder:
        for child in dc.vmFolder.childEntity:
            if isinstance(child, vim.Folder) and child.name == "overcast-migrations":
                return child
        try:
            return dc.vmFolder.CreateFolder("overcast-migrations")
        except vim.fault.DuplicateName:
            return next(c for c in dc.vmFolder.childEntity if isinstance(c, vim.Folder) and c.name == "overcast-migrations")

    @hookimpl
    @translate
    def hv_migrate_disk_and_power_off(self, host: Host, instance: Instance, dest: Host) -> MigrationData:
        """Stop the guest and clone it (disks included) onto the destination host. The source VM
        stays, powered off, until ``confirm_migration``; a revert simply powers it on again."""
        self._same_endpoint(host, dest)
        vm = self._vm(host, instance)
        target = self._host(dest)
        self.hv_power_off(host=host, instance=instance, timeout=60, retry_interval=1)
        dc = self._datacenter(vm)
        spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(host=target, pool=target.parent.resourcePool),
                                powerOn=False, template=False)
        clone = self._wait(host, vm.CloneVM_Task(folder=self._migration_folder(host, dc), name=instance.name, spec=spec),
                           "CloneVM_Task")
        if clone.runtime.host != target:
            # placement may override the requested host (DRS; vcsim 0.24.2 ignores it): insist
            self._wait(host, clone.RelocateVM_Task(spec=vim.vm.RelocateSpec(host=target, pool=target.parent.resourcePool)),
                       "RelocateVM_Task")
        self._set_mark(host, vm, "source")
        return MigrationData(source_host=host.name, dest_host=dest.name,
                             data={"source": str(vm.config.instanceUuid), "clone": str(clone.config.instanceUuid)})

    @hookimpl
    @translate
    def hv_finish_migration(self, host: Host, instance: Instance, migration: MigrationData, image: ImageFile | None,
                            network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice],
                            power_on: bool) -> InstanceInfo:
        vm = self._vm(host, instance)
        if power_on and vm.runtime.powerState != "poweredOn":
            self._wait(host, vm.PowerOnVM_Task(), "PowerOnVM_Task")
        return self._info(vm)

    @hookimpl
    @translate
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        """Source side: the clone now serves the instance; delete the powered-off original."""
        s = self.session(host)
        source = migration.data.get("source")
        vm = s.run(lambda: s.content.searchIndex.FindByUuid(None, source, True, True), "FindByUuid") if source else None
        if vm is None:
            return True
        if vm.runtime.powerState != "poweredOff":
            raise Conflict("esx host '%s': the migration source of %s is running again; not deleting it"
                           % (host.name, instance.name))
        self._wait(host, vm.Destroy_Task(), "Destroy_Task")
        return True

    # ---- volumes: VMDK files on a datastore the host sees ------------------------------------
    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        from urllib.parse import urlparse
        return Connector(host=host.name, connection_types=frozenset({"vmdk"}),
                         ip=urlparse(str(_opt(host, "url"))).hostname, os_type="vmware",
                         extra={"esx_host": _opt(host, "esx_host")})

    def _volume_path(self, host: Host, info: ConnectionInfo) -> str:
        if info.driver_volume_type != "vmdk":
            raise UnsupportedOperation("esx host '%s' cannot attach %r volumes (it takes vmdk)"
                                       % (host.name, info.driver_volume_type))
        path = str(info.data.get("path") or info.data.get("datastore_path") or "")
        if not (path.startswith("[") and "] " in path and path.endswith(".vmdk")):
            raise DriverError("esx host '%s': vmdk connection data needs 'path' like '[ds] dir/x.vmdk', got %r"
                              % (host.name, dict(info.data)))
        return path

    def _attach(self, host: Host, vm, info: ConnectionInfo) -> None:
        path = self._volume_path(host, info)
        used = {d.unitNumber for d in vm.config.hardware.device
                if getattr(d, "controllerKey", None) == 1000 and d.unitNumber is not None}
        unit = next(u for u in range(1, 16) if u not in used and u != 7)
        disk = vim.vm.device.VirtualDisk(
            key=-1, unitNumber=unit, controllerKey=1000,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(fileName=path, diskMode="independent_persistent"))
        spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="add", device=disk)])
        self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")

    @hookimpl
    @translate
    def hv_attach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        self._volume_path(host, connection_info)      # refuse what we cannot attach before looking anything up
        self._attach(host, self._vm(host, instance), connection_info)
        return True

    @hookimpl
    @translate
    def hv_detach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        path = self._volume_path(host, connection_info)
        vm = self._vm(host, instance)
        for d in vm.config.hardware.device:
            if isinstance(d, vim.vm.device.VirtualDisk) and str(d.backing.fileName) == path:
                spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="remove", device=d)])
                self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")
        return True

    # ---- vifs ---------------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        vm = self._vm(host, instance)
        h = vm.runtime.host
        have = {getattr(d, "externalId", None) for d in vm.config.hardware.device
                if isinstance(d, vim.vm.device.VirtualEthernetCard)}
        changes = []
        for i, vif in enumerate(network_info):
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("esx host '%s' cannot plug vif type %r" % (host.name, vif.vif_type))
            if vif.port_id not in have:
                changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=self._nic(host, h, vif, -200 - i)))
        if changes:
            self._wait(host, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=changes)), "ReconfigVM_Task")
        return True

    @hookimpl
    @translate
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        vm = self._vm(host, instance, required=False)
        if vm is None:
            return True
        ports = {v.port_id for v in network_info}
        nics = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)
                and (getattr(d, "externalId", None) in ports or str(getattr(d, "macAddress", "")).lower()
                     in {v.mac_address.lower() for v in network_info})]
        if nics:
            spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="remove", device=d)
                                                   for d in nics])
            self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")
        return True


__all__ = ["EsxDriver", "OPTIONS", "NAME", "VIF_TYPE"]
