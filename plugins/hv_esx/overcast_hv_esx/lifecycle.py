"""The ``esx`` driver's guest lifecycle: images rewritten as flat VMDKs and uploaded to the
datastore, spawn, destroy, the power operations (guest shutdown with a power-off fallback)
and snapshot to a VMDK image."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence

from overcast.errors import Conflict, DriverError
from overcast.hookspecs import hookimpl
from overcast.remote import refuse_foreign_inputs
from overcast.types import BlockDevice, Host, ImageFile, Instance, InstanceInfo, SnapshotResult, VifDetails
from overcast_hv_esx.base import NAME, GiB, VIF_TYPE, not_found_faults, option, translate
from overcast_hv_esx.vim import VimError, VimUnreachable


class LifecycleMixin:
    """Guest lifecycle operations of :class:`~overcast_hv_esx.driver.EsxDriver`."""

    # ---- images ----------------------------------------------------------------------------
    def _flat_vmdk(self, host: Host, src: str, workdir: str, name: str) -> tuple[str, str]:
        """Rewrite any VMDK into ESX's descriptor + -flat layout with qemu-img."""
        qemu = shutil.which(str(option(host, "qemu_img")))
        if not qemu:
            raise DriverError("esx host '%s': qemu-img is needed to prepare VMDK images (apt: qemu-utils)" % host.name)
        desc = os.path.join(workdir, name + ".vmdk")
        p = subprocess.run(
            [qemu, "convert", "-q", "-O", "vmdk", "-o", "subformat=monolithicFlat", src, desc],
            capture_output=True,
            text=True,
        )
        if p.returncode != 0:
            raise DriverError("esx host '%s': qemu-img could not read the image: %s" % (host.name, p.stderr.strip()))
        return desc, os.path.join(workdir, name + "-flat.vmdk")

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
        from pyVmomi import vim

        refuse_foreign_inputs(NAME, host, image, ("vmdk",), network_info, VIF_TYPE)
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
                    for local, remote in (
                        (flat, "%s/%s-flat.vmdk" % (instance.name, instance.name)),
                        (desc, "%s/%s.vmdk" % (instance.name, instance.name)),
                    ):
                        with open(local, "rb") as f:
                            s.upload(dc.name, ds.name, remote, f, os.path.getsize(local))
                    uploaded = True
                disk_spec = vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    device=vim.vm.device.VirtualDisk(
                        key=-1,
                        unitNumber=0,
                        controllerKey=1000,
                        capacityInKB=size // 1024,
                        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                            fileName=disk_path, diskMode="persistent", thinProvisioned=True
                        ),
                    ),
                )
            else:
                disk_spec = vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    fileOperation="create",
                    device=vim.vm.device.VirtualDisk(
                        key=-1,
                        unitNumber=0,
                        controllerKey=1000,
                        capacityInKB=capacity_kb,
                        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                            diskMode="persistent", thinProvisioned=True
                        ),
                    ),
                )
            devices = [
                vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    device=vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, sharedBus="noSharing"),
                ),
                disk_spec,
            ]
            for i, vif in enumerate(network_info):
                devices.append(
                    vim.vm.device.VirtualDeviceSpec(operation="add", device=self._nic(host, h, vif, -100 - i))
                )
            spec = vim.vm.ConfigSpec(
                name=instance.name,
                memoryMB=fl.memory_mb,
                numCPUs=fl.vcpus,
                guestId="otherGuest64",
                annotation=instance.display_name,
                files=vim.vm.FileInfo(vmPathName="[%s]" % ds.name),
                deviceChange=devices,
                extraConfig=[vim.option.OptionValue(key="overcast.instance", value=instance.uuid)],
            )
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
        from pyVmomi import vim

        disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
        disk.capacityInKB = capacity_kb
        spec = vim.vm.ConfigSpec(deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)])
        self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")

    def _cleanup(self, host, vm, dc, ds, instance, uploaded):
        from pyVmomi import vmodl

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
            if not isinstance(e.fault, not_found_faults()):
                raise

    def _network(self, host: Host, h, vif: VifDetails):
        name = vif.details.get("portgroup") or vif.details.get("network") or option(host, "network")
        for net in h.network:
            if not name or net.name == name:
                return net
        raise DriverError("esx host '%s': no port group %r on %s" % (host.name, name, h.name))

    def _nic(self, host: Host, h, vif: VifDetails, key: int):
        from pyVmomi import vim

        net = self._network(host, h, vif)
        if isinstance(net, vim.dvs.DistributedVirtualPortgroup):
            backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
                port=vim.dvs.PortConnection(portgroupKey=net.key, switchUuid=net.config.distributedVirtualSwitch.uuid)
            )
        else:
            backing = vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=net.name, network=net)
        return vim.vm.device.VirtualVmxnet3(
            key=key,
            backing=backing,
            addressType="manual",
            macAddress=vif.mac_address,
            externalId=vif.port_id,
            connectable=vim.vm.device.VirtualDevice.ConnectInfo(
                startConnected=True, connected=True, allowGuestControl=True
            ),
        )

    @hookimpl
    @translate
    def hv_destroy(self, host: Host, instance: Instance, destroy_disks: bool) -> bool:
        from pyVmomi import vim, vmodl

        s = self.session(host)
        vm = self._vm(host, instance, required=False)
        if vm is None:
            return True

        def destroy():
            if vm.runtime.powerState != "poweredOff":
                self._wait(host, vm.PowerOffVM_Task(), "PowerOffVM_Task")
            # attached volumes survive: detach them first (the driver attaches volumes, and only
            # volumes, as independent disks, so they also stay out of snapshots)
            volumes = [
                d
                for d in vm.config.hardware.device
                if isinstance(d, vim.vm.device.VirtualDisk)
                and str(getattr(d.backing, "diskMode", "")).startswith("independent")
            ]
            if volumes:
                spec = vim.vm.ConfigSpec(
                    deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="remove", device=d) for d in volumes]
                )
                self._wait(host, vm.ReconfigVM_Task(spec=spec), "ReconfigVM_Task")
            if destroy_disks:
                self._wait(host, vm.Destroy_Task(), "Destroy_Task")  # deletes the VM's folder and disks
            else:
                vm.UnregisterVM()  # keeps the files on the datastore
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
            self._set_mark(host, vm, "")  # the source of a reverted migration serves again
        if vm.runtime.powerState == "poweredOn":
            return True
        self._wait(host, vm.PowerOnVM_Task(), "PowerOnVM_Task")
        return True

    @hookimpl
    @translate
    def hv_power_off(self, host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
        from pyVmomi import vim

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
            except VimError as e:  # no VMware Tools in the guest: power off instead
                if not isinstance(e.fault, (vim.fault.ToolsUnavailable, vim.fault.InvalidState)):
                    raise
        self._wait(host, vm.PowerOffVM_Task(), "PowerOffVM_Task")
        return True

    @hookimpl
    @translate
    def hv_reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        from pyVmomi import vim

        vm = self._vm(host, instance)
        if vm.runtime.powerState != "poweredOn":
            raise Conflict(
                "esx host '%s': instance %s is %s; reboot needs it running"
                % (host.name, instance.name, vm.runtime.powerState)
            )
        if not hard:
            try:
                self.session(host).run(vm.RebootGuest, "RebootGuest")
                return True
            except VimError as e:  # no VMware Tools: reset instead
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
            raise Conflict(
                "esx host '%s': instance %s is %s, not suspended" % (host.name, instance.name, vm.runtime.powerState)
            )
        self._wait(host, vm.PowerOnVM_Task(), "PowerOnVM_Task")
        return True

    @hookimpl
    @translate
    def hv_snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        from pyVmomi import vim

        s = self.session(host)
        vm = self._vm(host, instance)
        disk = next((d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)), None)
        if disk is None:
            raise DriverError("esx host '%s': instance %s has no disk to snapshot" % (host.name, instance.name))
        base = str(disk.backing.fileName)
        ds_name = base[1 : base.index("]")]
        dc = self._datacenter(vm)
        snap = self._wait(
            host,
            vm.CreateSnapshot_Task(
                name="overcast-%s" % uuid.uuid4(), description=image_name, memory=False, quiesce=False
            ),
            "CreateSnapshot_Task",
        )
        export = "overcast-exports/%s.vmdk" % uuid.uuid4()
        vdm = s.content.virtualDiskManager
        out_dir = host.state_dir or None
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        try:
            # the base disk is frozen while the snapshot exists: copy it on the datastore, then fetch
            try:
                s.content.fileManager.MakeDirectory(
                    name="[%s] overcast-exports" % ds_name, datacenter=dc, createParentDirectories=True
                )
            except vim.fault.FileAlreadyExists:
                pass
            self._wait(
                host,
                vdm.CopyVirtualDisk_Task(
                    sourceName=base, sourceDatacenter=dc, destName="[%s] %s" % (ds_name, export), destDatacenter=dc
                ),
                "CopyVirtualDisk_Task",
            )
            try:
                with tempfile.TemporaryDirectory(prefix="overcast-esx-", dir=out_dir) as work:
                    flat = os.path.join(work, "disk-flat.vmdk")
                    with open(flat, "wb") as f:
                        s.download(dc.name, ds_name, export.replace(".vmdk", "-flat.vmdk"), f)
                    qemu = shutil.which(str(option(host, "qemu_img")))
                    if not qemu:
                        raise DriverError("esx host '%s': qemu-img is needed to package snapshots" % host.name)
                    fd, path = tempfile.mkstemp(prefix="snapshot-", suffix=".vmdk", dir=out_dir)
                    os.close(fd)
                    p = subprocess.run(
                        [
                            qemu,
                            "convert",
                            "-q",
                            "-f",
                            "raw",
                            "-O",
                            "vmdk",
                            "-o",
                            "subformat=streamOptimized",
                            flat,
                            path,
                        ],
                        capture_output=True,
                        text=True,
                    )
                    if p.returncode != 0:
                        os.unlink(path)
                        raise DriverError("esx host '%s': qemu-img failed: %s" % (host.name, p.stderr.strip()))
            finally:
                self._delete_disk(host, dc, "[%s] %s" % (ds_name, export))
        finally:
            self._wait(host, snap.RemoveSnapshot_Task(removeChildren=False), "RemoveSnapshot_Task")
        return SnapshotResult(path=path, disk_format="vmdk", size=os.path.getsize(path), cleanup=True)
