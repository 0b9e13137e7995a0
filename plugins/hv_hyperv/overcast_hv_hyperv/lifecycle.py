"""The ``hyperv`` driver's guest lifecycle: images staged on the share (Convert-VHD), New-VM and
its devices, destroy, the power operations and Checkpoint-VM exports as snapshot images."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence

from overcast.errors import Conflict, DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.remote import refuse_foreign_inputs
from overcast.types import BlockDevice, Host, ImageFile, Instance, InstanceInfo, PowerState, SnapshotResult, VifDetails
from overcast_hv_hyperv.base import NAME, GiB, MiB, VIF_TYPE, POWER_STATES, option, translate
from overcast_hv_hyperv.client import HyperVAuthFailed, HyperVUnreachable, PowerShellFailed
from overcast_hv_hyperv.powershell import Pattern, Script


class LifecycleMixin:
    """Guest lifecycle operations of :class:`~overcast_hv_hyperv.driver.HyperVDriver`."""

    # ---- lifecycle -----------------------------------------------------------------------
    def _stage_image(self, host: Host, image: ImageFile) -> str:
        """Copy the image onto the share once; returns its Windows path."""
        local, unc = self._share(host, "boot images")
        ext = image.disk_format
        name = "%s.%s" % (image.image.id, ext)
        dst = os.path.join(local, "images", name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not (os.path.exists(dst) and os.path.getsize(dst) == os.path.getsize(image.path)):
            tmp = dst + ".part-%s" % uuid.uuid4().hex
            shutil.copyfile(image.path, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, dst)
        return "%s\\images\\%s" % (unc, name)

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
        refuse_foreign_inputs(NAME, host, image, ("vhdx", "vhd"), network_info, VIF_TYPE)
        for bd in block_devices:
            self._check_volume(host, bd.connection_info)
        if self._exists(host, instance):
            raise Conflict("instance %s already exists on hyperv host '%s'" % (instance.name, host.name))
        c = self.client(host)
        fl = instance.flavor
        disk = "%s\\%s.vhdx" % (self._disk_dir(host), instance.name)
        size = max(fl.root_gb, 1) * GiB
        created_disk = created_vm = False
        try:
            if image is not None:
                src = self._stage_image(host, image)
                s = Script().cmd("Convert-VHD", Path=src, DestinationPath=disk, VHDType="Dynamic")
                created_disk = True
                s.json("Get-VHD", select=["Size"], Path=disk)
                [vhd] = c.json(s.text())
                if fl.root_gb and int(vhd["Size"]) < size:
                    self._run(host, Script().cmd("Resize-VHD", Path=disk, SizeBytes=size))
            else:
                created_disk = True
                self._run(host, Script().quiet("New-VHD", Path=disk, SizeBytes=size, Dynamic=True))
            created_vm = True
            return self._define(host, instance, disk, network_info, block_devices, start=True)
        except BaseException:
            self._cleanup(host, instance, disk, created_vm, created_disk)
            raise

    def _define(
        self,
        host: Host,
        instance: Instance,
        disk: str,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
        start: bool,
    ) -> InstanceInfo:
        """Create the VM around an existing root disk (spawn, and a cold migration's destination)."""
        fl = instance.flavor
        s = Script()
        s.quiet(
            "New-VM",
            Name=instance.name,
            MemoryStartupBytes=fl.memory_mb * MiB,
            Generation=int(option(host, "generation")),
            VHDPath=disk,
        )
        s.cmd(
            "Set-VM",
            Name=Pattern(instance.name),
            ProcessorCount=fl.vcpus,
            StaticMemory=True,
            Notes=instance.display_name,
            AutomaticStopAction="TurnOff",
        )
        s.cmd("Remove-VMNetworkAdapter", VMName=Pattern(instance.name), Name="*")
        for vif in network_info:
            s.cmd(
                "Add-VMNetworkAdapter",
                VMName=Pattern(instance.name),
                Name=vif.port_id,
                SwitchName=self._switch(host, vif),
                StaticMacAddress=vif.mac_address.replace(":", "").upper(),
            )
        self._run(host, s)
        for bd in block_devices:
            self._attach(host, instance, bd.connection_info)
        if start:
            self._run(host, Script().cmd("Start-VM", Name=Pattern(instance.name)))
        return self._info(self._vm(host, instance))

    def _cleanup(self, host, instance, disk, vm, made_disk):
        try:
            if vm:
                s = Script()
                s.cmd("Stop-VM", Name=Pattern(instance.name), TurnOff=True, Force=True, ErrorAction="SilentlyContinue")
                s.cmd("Remove-VM", Name=Pattern(instance.name), Force=True, ErrorAction="SilentlyContinue")
                self._run(host, s)
            if made_disk:
                self._run(
                    host, Script().cmd("Remove-Item", LiteralPath=disk, Force=True, ErrorAction="SilentlyContinue")
                )
        except (PowerShellFailed, HyperVUnreachable, HyperVAuthFailed):
            pass

    def _switch(self, host: Host, vif: VifDetails) -> str:
        sw = vif.details.get("switch") or vif.details.get("vswitch") or option(host, "switch")
        if not sw:
            switches = self.client(host).json(Script().json("Get-VMSwitch", select=["Name"]).text())
            if not switches:
                raise DriverError("hyperv host '%s' has no virtual switch; set 'switch'" % host.name)
            sw = switches[0]["Name"]
        return str(sw)

    @hookimpl
    @translate
    def hv_destroy(self, host: Host, instance: Instance, destroy_disks: bool) -> bool:
        c = self.client(host)
        try:
            vm = self._vm(host, instance)
        except NotFound:
            return True
        name = Pattern(instance.name)
        disks = c.json(
            Script()
            .json(
                "Get-VMHardDiskDrive",
                select=["Path", "ControllerType", "ControllerNumber", "ControllerLocation"],
                VMName=name,
            )
            .text()
        )
        s = Script()
        if int(vm["State"]) != 3:
            s.cmd("Stop-VM", Name=name, TurnOff=True, Force=True)
        s.cmd("Get-VMSnapshot", VMName=name, pipe=["Remove-VMSnapshot"])
        s.cmd("Remove-VM", Name=name, Force=True)
        self._run(host, s)
        if destroy_disks:
            own = "%s\\%s." % (self._disk_dir(host), instance.name)
            paths = [d["Path"] for d in disks if str(d["Path"]).lower().startswith(own.lower())]
            paths = paths or [own + "vhdx"]
            s = Script()
            for p in paths:
                s.cmd("Remove-Item", LiteralPath=p, Force=True, ErrorAction="SilentlyContinue")
            self._run(host, s)
        return True

    @hookimpl
    @translate
    def hv_power_on(self, host: Host, instance: Instance) -> bool:
        vm = self._vm(host, instance)
        if int(vm["State"]) == 2:
            return True
        if int(vm["State"]) == 9:
            self._run(host, Script().cmd("Resume-VM", Name=Pattern(instance.name)))
        else:
            self._run(host, Script().cmd("Start-VM", Name=Pattern(instance.name)))
        return True

    @hookimpl
    @translate
    def hv_power_off(self, host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
        vm = self._vm(host, instance)
        if int(vm["State"]) == 3:
            return True
        name = Pattern(instance.name)
        if timeout > 0 and int(vm["State"]) == 2:
            try:
                self._run(host, Script().cmd("Stop-VM", Name=name, Force=True))
                return True
            except PowerShellFailed as e:  # no shutdown integration service: turn it off
                if e.error.reason not in ("Unavailable", "InvalidState", "OperationFailed"):
                    raise
        self._run(host, Script().cmd("Stop-VM", Name=name, TurnOff=True, Force=True))
        return True

    @hookimpl
    @translate
    def hv_reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        vm = self._vm(host, instance)
        if int(vm["State"]) != 2:
            raise Conflict(
                "hyperv host '%s': instance %s is %s; reboot needs it running"
                % (host.name, instance.name, POWER_STATES.get(int(vm["State"]), PowerState.NOSTATE).value)
            )
        name = Pattern(instance.name)
        if not hard:
            try:
                self._run(host, Script().cmd("Restart-VM", Name=name, Type="Reboot", Force=True))
                return True
            except PowerShellFailed as e:
                if e.error.reason != "Unavailable":
                    raise
        self._run(host, Script().cmd("Restart-VM", Name=name, Force=True))
        return True

    def _simple(self, host, instance, cmdlet):
        self._vm(host, instance)
        self._run(host, Script().cmd(cmdlet, Name=Pattern(instance.name)))
        return True

    @hookimpl
    @translate
    def hv_pause(self, host: Host, instance: Instance) -> bool:
        return self._simple(host, instance, "Suspend-VM")

    @hookimpl
    @translate
    def hv_unpause(self, host: Host, instance: Instance) -> bool:
        return self._simple(host, instance, "Resume-VM")

    @hookimpl
    @translate
    def hv_suspend(self, host: Host, instance: Instance) -> bool:
        return self._simple(host, instance, "Save-VM")

    @hookimpl
    @translate
    def hv_resume(self, host: Host, instance: Instance) -> bool:
        vm = self._vm(host, instance)
        if int(vm["State"]) != 6:
            raise Conflict("hyperv host '%s': instance %s is not suspended" % (host.name, instance.name))
        return self._simple(host, instance, "Start-VM")

    @hookimpl
    @translate
    def hv_snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        local, unc = self._share(host, "export snapshots")
        c = self.client(host)
        self._vm(host, instance)
        name = Pattern(instance.name)
        cp = "overcast-%s" % uuid.uuid4()
        export = "%s.vhdx" % uuid.uuid4()
        s = Script().cmd("Checkpoint-VM", Name=name, SnapshotName=cp)
        s.json("Get-VMSnapshot", depth=3, VMName=name, Name=Pattern(cp))
        [snap] = c.json(s.text())
        try:
            drives = snap.get("HardDrives") or []
            if not drives:
                raise DriverError("hyperv host '%s': instance %s has no disk to snapshot" % (host.name, instance.name))
            root = drives[0]["Path"]  # the frozen parent of the running differencing disk
            self._run(
                host,
                Script().cmd(
                    "Convert-VHD", Path=root, DestinationPath="%s\\exports\\%s" % (unc, export), VHDType="Dynamic"
                ),
            )
        finally:
            self._run(host, Script().cmd("Remove-VMSnapshot", VMName=name, Name=Pattern(cp)))
        path = os.path.join(local, "exports", export)
        return SnapshotResult(path=path, disk_format="vhdx", size=os.path.getsize(path), cleanup=True)
