"""The ``hyperv`` hypervisor driver: Windows Hyper-V hosts driven by generated PowerShell over
WinRM (pywinrm; NTLM with message encryption by default, as a stock listener requires).

One Overcast host is one Hyper-V host (its own WinRM endpoint). Guests are Hyper-V VMs named
``Instance.name`` (``oc-<uuid>``); the user's display name only travels as data (``-Notes``).
Images and snapshot exports move through an SMB share both sides see: ``share_path`` is the
share as Overcast sees it (a local mount), ``share_unc`` the same share as Windows names it.
Every value in every script is a quoted literal (:mod:`overcast_hv_hyperv.powershell`).
"""
from __future__ import annotations

import functools
import os
import shutil
import threading
import uuid
from collections.abc import Sequence
from typing import Any, Callable

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

from overcast_hv_hyperv.client import HyperVAuthFailed, HyperVClient, HyperVUnreachable, PowerShellFailed
from overcast_hv_hyperv.powershell import Pattern, Script

NAME = "hyperv"
VIF_TYPE = "hyperv"
GiB = 1 << 30
MiB = 1 << 20
_HV = DriverKind.HYPERVISOR

OPTIONS = [
    ConfigOption(_HV, NAME, "url", str, required=True, help="WinRM endpoint, e.g. http://hv1.example:5985/wsman"),
    ConfigOption(_HV, NAME, "username", str, "Administrator", help="Windows account with Hyper-V rights"),
    ConfigOption(_HV, NAME, "password", str, required=True, secret=True, help="its password"),
    ConfigOption(_HV, NAME, "transport", str, "ntlm", choices=("ntlm", "kerberos", "credssp", "basic", "ssl"),
                 help="pywinrm transport; ntlm encrypts messages over http"),
    ConfigOption(_HV, NAME, "server_cert_validation", str, "validate", choices=("validate", "ignore"),
                 help="https certificate check"),
    ConfigOption(_HV, NAME, "share_path", str, "",
                 help="local mount of the SMB share used for images and snapshots (needed to boot images)"),
    ConfigOption(_HV, NAME, "share_unc", str, "", help="the same share as Windows names it: \\\\server\\share"),
    ConfigOption(_HV, NAME, "instances_path", str, "",
                 help="Windows directory for instance disks (default: the host's VirtualHardDiskPath)"),
    ConfigOption(_HV, NAME, "switch", str, "", help="virtual switch for NICs whose binding names none"),
    ConfigOption(_HV, NAME, "generation", int, 2, choices=(1, 2), help="VM generation"),
    ConfigOption(_HV, NAME, "timeout", float, 300.0, help="seconds one WinRM command may take"),
]

_POWER = {2: PowerState.RUNNING, 3: PowerState.SHUTDOWN, 6: PowerState.SUSPENDED, 9: PowerState.PAUSED,
          4: PowerState.RUNNING, 10: PowerState.RUNNING}
_INFO_PROPS = ["Name", "Id", "State", "ProcessorCount", "MemoryStartup", "MemoryAssigned", "Notes"]


def _opt(host: Host, key: str) -> Any:
    v = host.options.get(key)
    if v is None or v == "":
        v = next(o.default for o in OPTIONS if o.name == key)
    return v


def translate(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(self, *a, **kw):
        host = kw.get("host", a[0] if a else None)
        where = "hyperv host '%s'" % host.name if isinstance(host, Host) else "hyperv"
        try:
            return fn(self, *a, **kw)
        except (HyperVUnreachable, HyperVAuthFailed) as e:
            raise BackendUnavailable("%s: %s" % (where, e)) from None
        except PowerShellFailed as e:
            err = e.error
            text = "%s: %s%s" % (where, (err.cmdlet + ": ") if err.cmdlet else "", err.message)
            if err.error_id:
                text += " [%s]" % err.error_id
            if "unable to find a virtual machine" in err.message or err.category == "ObjectNotFound" and \
                    err.reason in ("InvalidParameter",):
                raise NotFound(text) from None
            if err.reason in ("InvalidState", "Unavailable") or err.category in ("InvalidOperation", "ResourceBusy",
                                                                                  "ResourceUnavailable"):
                raise Conflict(text) from None
            raise DriverError(text) from None
    return wrapper


class HyperVDriver:
    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], HyperVClient] = {}
        self._hostinfo: dict[str, dict] = {}
        self._lock = threading.Lock()

    # ---- plumbing ------------------------------------------------------------------------
    def client(self, host: Host) -> HyperVClient:
        key = (str(_opt(host, "url")), str(_opt(host, "username")))
        with self._lock:
            c = self._clients.get(key)
            if c is None or c._password != _opt(host, "password"):
                c = HyperVClient(key[0], key[1], str(_opt(host, "password")), transport=str(_opt(host, "transport")),
                                 server_cert_validation=str(_opt(host, "server_cert_validation")),
                                 timeout=float(_opt(host, "timeout")))
                self._clients[key] = c
        return c

    def close(self) -> None:
        with self._lock:
            self._clients.clear()
            self._hostinfo.clear()

    def host_info(self, host: Host, refresh: bool = False) -> dict:
        key = str(_opt(host, "url"))
        if refresh or key not in self._hostinfo:
            [info] = self.client(host).json(Script().json(
                "Get-VMHost", select=["ComputerName", "LogicalProcessorCount", "MemoryCapacity",
                                      "VirtualHardDiskPath", "VirtualMachinePath"]).text())
            self._hostinfo[key] = info
        return self._hostinfo[key]

    def _disk_dir(self, host: Host) -> str:
        return str(_opt(host, "instances_path") or self.host_info(host)["VirtualHardDiskPath"]).rstrip("\\")

    def _share(self, host: Host, what: str) -> tuple[str, str]:
        local, unc = _opt(host, "share_path"), _opt(host, "share_unc")
        if not local or not unc:
            raise UnsupportedOperation("hyperv host '%s' needs share_path and share_unc to %s" % (host.name, what))
        return str(local), str(unc).rstrip("\\")

    def _vm(self, host: Host, instance: Instance) -> dict:
        s = Script().json("Get-VM", select=_INFO_PROPS, Name=Pattern(instance.name))
        try:
            found = self.client(host).json(s.text())
        except PowerShellFailed as e:
            if "unable to find a virtual machine" in e.error.message:
                raise NotFound("instance %s not found on hyperv host '%s'" % (instance.name, host.name)) from None
            raise
        if not found:
            raise NotFound("instance %s not found on hyperv host '%s'" % (instance.name, host.name))
        return found[0]

    def _exists(self, host: Host, instance: Instance) -> bool:
        try:
            self._vm(host, instance)
            return True
        except NotFound:
            return False

    @staticmethod
    def _info(vm: dict) -> InstanceInfo:
        mem = int(vm.get("MemoryStartup") or 0) // 1024
        return InstanceInfo(state=_POWER.get(int(vm["State"]), PowerState.NOSTATE), max_mem_kb=mem,
                            mem_kb=int(vm.get("MemoryAssigned") or 0) // 1024,
                            num_cpu=int(vm.get("ProcessorCount") or 0), internal_id=str(vm["Id"]))

    def _run(self, host: Host, script: Script) -> str:
        return self.client(host).run(script.text())

    # ---- host ----------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_init_host(self, host: Host) -> bool:
        self.host_info(host, refresh=True)
        if _opt(host, "share_path"):
            for sub in ("images", "exports"):
                os.makedirs(os.path.join(str(_opt(host, "share_path")), sub), exist_ok=True)
        return True

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        return HvCapabilities(hypervisor_type="hyperv", image_types=frozenset({"vhdx", "vhd"}),
                              volume_connection_types=frozenset({"smbfs"}), vif_types=frozenset({VIF_TYPE}),
                              live_migration=True, shared_storage=False)

    @hookimpl
    @translate
    def hv_get_available_resource(self, host: Host) -> HostResources:
        info = self.host_info(host)
        c = self.client(host)
        s = Script()
        s.json("Get-CimInstance", select=["TotalVisibleMemorySize", "FreePhysicalMemory"], ClassName="Win32_OperatingSystem")
        [os_info] = c.json(s.text())
        drive = self._disk_dir(host)[:2].upper()
        disks = c.json(Script().json("Get-CimInstance", select=["Size", "FreeSpace"], ClassName="Win32_LogicalDisk",
                                     Filter="DeviceID='%s'" % drive).text()) if drive[1:] == ":" else []
        disk = disks[0] if disks else {"Size": 0, "FreeSpace": 0}      # a UNC instances_path: no local disk
        vms = c.json(Script().json("Get-VM", select=["Name", "State", "ProcessorCount"]).text())
        running = [v for v in vms if int(v["State"]) in (2, 9)]
        total_kb, free_kb = int(os_info["TotalVisibleMemorySize"]), int(os_info["FreePhysicalMemory"])
        return HostResources(
            vcpus=int(info["LogicalProcessorCount"]), memory_mb=total_kb // 1024,
            local_gb=int(disk["Size"]) // GiB, vcpus_used=sum(int(v["ProcessorCount"]) for v in running),
            memory_mb_used=(total_kb - free_kb) // 1024,
            local_gb_used=-(-(int(disk["Size"]) - int(disk["FreeSpace"])) // GiB), running_vms=len(running),
            hypervisor_type="hyperv", hypervisor_version=10000, hypervisor_hostname=str(info["ComputerName"]))

    @hookimpl
    @translate
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        vms = self.client(host).json(Script().json("Get-VM", select=["Name"]).text())
        return sorted(v["Name"] for v in vms if str(v["Name"]).startswith("oc-"))

    @hookimpl
    @translate
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        return self._info(self._vm(host, instance))

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
    def hv_spawn(self, host: Host, instance: Instance, image: ImageFile | None,
                 network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice]) -> InstanceInfo:
        if image is not None and image.disk_format not in ("vhd", "vhdx"):
            raise UnsupportedOperation("hyperv host '%s' cannot boot %s images (it takes vhdx, vhd)"
                                       % (host.name, image.disk_format))
        for vif in network_info:
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("hyperv host '%s' cannot plug vif type %r (it takes %s)"
                                           % (host.name, vif.vif_type, VIF_TYPE))
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

    def _define(self, host: Host, instance: Instance, disk: str, network_info: Sequence[VifDetails],
                block_devices: Sequence[BlockDevice], start: bool) -> InstanceInfo:
        """Create the VM around an existing root disk (spawn, and a cold migration's destination)."""
        fl = instance.flavor
        s = Script()
        s.quiet("New-VM", Name=instance.name, MemoryStartupBytes=fl.memory_mb * MiB,
                Generation=int(_opt(host, "generation")), VHDPath=disk)
        s.cmd("Set-VM", Name=Pattern(instance.name), ProcessorCount=fl.vcpus, StaticMemory=True,
              Notes=instance.display_name, AutomaticStopAction="TurnOff")
        s.cmd("Remove-VMNetworkAdapter", VMName=Pattern(instance.name), Name="*")
        for vif in network_info:
            s.cmd("Add-VMNetworkAdapter", VMName=Pattern(instance.name), Name=vif.port_id,
                  SwitchName=self._switch(host, vif), StaticMacAddress=vif.mac_address.replace(":", "").upper())
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
                self._run(host, Script().cmd("Remove-Item", LiteralPath=disk, Force=True, ErrorAction="SilentlyContinue"))
        except (PowerShellFailed, HyperVUnreachable, HyperVAuthFailed):
            pass

    def _switch(self, host: Host, vif: VifDetails) -> str:
        sw = vif.details.get("switch") or vif.details.get("vswitch") or _opt(host, "switch")
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
        disks = c.json(Script().json("Get-VMHardDiskDrive", select=["Path", "ControllerType", "ControllerNumber",
                                                                    "ControllerLocation"], VMName=name).text())
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
            except PowerShellFailed as e:        # no shutdown integration service: turn it off
                if e.error.reason not in ("Unavailable", "InvalidState", "OperationFailed"):
                    raise
        self._run(host, Script().cmd("Stop-VM", Name=name, TurnOff=True, Force=True))
        return True

    @hookimpl
    @translate
    def hv_reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        vm = self._vm(host, instance)
        if int(vm["State"]) != 2:
            raise Conflict("hyperv host '%s': instance %s is %s; reboot needs it running"
                           % (host.name, instance.name, _POWER.get(int(vm["State"]), PowerState.NOSTATE).value))
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
            root = drives[0]["Path"]          # the frozen parent of the running differencing disk
            self._run(host, Script().cmd("Convert-VHD", Path=root, DestinationPath="%s\\exports\\%s" % (unc, export),
                                         VHDType="Dynamic"))
        finally:
            self._run(host, Script().cmd("Remove-VMSnapshot", VMName=name, Name=Pattern(cp)))
        path = os.path.join(local, "exports", export)
        return SnapshotResult(path=path, disk_format="vhdx", size=os.path.getsize(path), cleanup=True)

    # ---- migration ---------------------------------------------------------------------------
    def _target(self, dest: Host) -> dict:
        info = self.host_info(dest, refresh=True)
        return {"computer_name": info["ComputerName"], "storage_path": self._disk_dir(dest)}

    @hookimpl
    @translate
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        vm = self._vm(source, instance)
        target = self._target(host)
        if str(target["computer_name"]).lower() == str(self.host_info(source)["ComputerName"]).lower():
            raise Conflict("hyperv hosts '%s' and '%s' are the same Hyper-V host" % (source.name, host.name))
        [os_info] = self.client(host).json(Script().json(
            "Get-CimInstance", select=["FreePhysicalMemory"], ClassName="Win32_OperatingSystem").text())
        if int(os_info["FreePhysicalMemory"]) * 1024 < int(vm.get("MemoryStartup") or 0):
            raise Conflict("hyperv host '%s' has %d MiB free; instance %s needs %d MiB"
                           % (host.name, int(os_info["FreePhysicalMemory"]) // 1024, instance.name,
                              int(vm["MemoryStartup"]) // MiB))
        return MigrationData(source_host=source.name, dest_host=host.name, data=target)

    @hookimpl
    @translate
    def hv_pre_live_migration(self, host: Host, instance: Instance, migration: MigrationData,
                              network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice]) -> MigrationData:
        return migration

    def _move(self, host: Host, instance: Instance, data: dict) -> None:
        self._run(host, Script().cmd("Move-VM", Name=Pattern(instance.name), DestinationHost=data["computer_name"],
                                     IncludeStorage=True, DestinationStoragePath=data["storage_path"]))

    @hookimpl
    @translate
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        data = dict(migration.data) or self._target(dest)
        self._move(host, instance, data)
        return True

    @hookimpl
    @translate
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return True

    @hookimpl
    @translate
    def hv_migrate_disk_and_power_off(self, host: Host, instance: Instance, dest: Host) -> MigrationData:
        """Stop the guest and copy its root disk to the share for the destination. The source VM
        stays (stopped) until ``confirm_migration``; a revert simply powers it on again."""
        local, unc = self._share(host, "cold-migrate")
        if str(_opt(host, "share_unc")).rstrip("\\").lower() != str(_opt(dest, "share_unc") or "").rstrip("\\").lower():
            raise Conflict("hyperv hosts '%s' and '%s' do not share an SMB share; cold migration needs one"
                           % (host.name, dest.name))
        disks = self.client(host).json(Script().json("Get-VMHardDiskDrive", select=["Path"],
                                                     VMName=Pattern(instance.name)).text())
        own = "%s\\%s." % (self._disk_dir(host), instance.name)
        roots = [d["Path"] for d in disks if str(d["Path"]).lower().startswith(own.lower())]
        if not roots:
            raise DriverError("hyperv host '%s': instance %s has no root disk to migrate" % (host.name, instance.name))
        self.hv_power_off(host=host, instance=instance, timeout=60, retry_interval=1)
        transit = "%s.vhdx" % uuid.uuid4()
        os.makedirs(os.path.join(local, "migrations"), exist_ok=True)
        self._run(host, Script().cmd("Convert-VHD", Path=roots[0], DestinationPath="%s\\migrations\\%s" % (unc, transit),
                                     VHDType="Dynamic"))
        return MigrationData(source_host=host.name, dest_host=dest.name, data={"transit": transit})

    @hookimpl
    @translate
    def hv_finish_migration(self, host: Host, instance: Instance, migration: MigrationData, image: ImageFile | None,
                            network_info: Sequence[VifDetails], block_devices: Sequence[BlockDevice],
                            power_on: bool) -> InstanceInfo:
        local, unc = self._share(host, "receive a cold migration")
        transit = str(migration.data["transit"])
        if "\\" in transit or "/" in transit:
            raise DriverError("hyperv host '%s': bad migration data %r" % (host.name, dict(migration.data)))
        if self._exists(host, instance):
            raise Conflict("instance %s already exists on hyperv host '%s'" % (instance.name, host.name))
        disk = "%s\\%s.vhdx" % (self._disk_dir(host), instance.name)
        self._run(host, Script().cmd("Convert-VHD", Path="%s\\migrations\\%s" % (unc, transit), DestinationPath=disk,
                                     VHDType="Dynamic"))
        try:
            info = self._define(host, instance, disk, network_info, block_devices, start=power_on)
        except BaseException:
            self._cleanup(host, instance, disk, True, True)
            raise
        try:
            os.unlink(os.path.join(local, "migrations", transit))
        except FileNotFoundError:
            pass
        return info

    @hookimpl
    @translate
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        """Source side: the destination now serves the instance; delete the stopped original."""
        return self.hv_destroy(host=host, instance=instance, destroy_disks=True)

    # ---- volumes (SMB: a VHD/VHDX file on a share, as Cinder's SMB driver exports) ----------------
    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        from urllib.parse import urlparse
        return Connector(host=host.name, connection_types=frozenset({"smbfs"}),
                         ip=urlparse(str(_opt(host, "url"))).hostname, os_type="windows")

    def _check_volume(self, host: Host, info: ConnectionInfo) -> str:
        if info.driver_volume_type != "smbfs":
            raise UnsupportedOperation("hyperv host '%s' cannot attach %r volumes (it takes smbfs)"
                                       % (host.name, info.driver_volume_type))
        export = str(info.data.get("export", "")).replace("/", "\\").rstrip("\\")
        name = str(info.data.get("name", ""))
        fmt = str(info.data.get("format", os.path.splitext(name)[1].lstrip(".") or "vhdx"))
        if not export.startswith("\\\\") or not name or "\\" in name or "/" in name:
            raise DriverError("hyperv host '%s': bad smbfs connection data %r" % (host.name, dict(info.data)))
        if fmt not in ("vhd", "vhdx"):
            raise UnsupportedOperation("hyperv host '%s' cannot attach %s volume files" % (host.name, fmt))
        return "%s\\%s" % (export, name)

    def _attach(self, host: Host, instance: Instance, info: ConnectionInfo) -> None:
        path = self._check_volume(host, info)
        self._run(host, Script().cmd("Add-VMHardDiskDrive", VMName=Pattern(instance.name), ControllerType="SCSI",
                                     ControllerNumber=0, Path=path))

    @hookimpl
    @translate
    def hv_attach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        self._vm(host, instance)
        self._attach(host, instance, connection_info)
        return True

    @hookimpl
    @translate
    def hv_detach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        path = self._check_volume(host, connection_info)
        drives = self.client(host).json(Script().json(
            "Get-VMHardDiskDrive", select=["Path", "ControllerType", "ControllerNumber", "ControllerLocation"],
            VMName=Pattern(instance.name)).text())
        for d in drives:
            if str(d["Path"]).lower() == path.lower():
                self._run(host, Script().cmd(
                    "Remove-VMHardDiskDrive", VMName=Pattern(instance.name),
                    ControllerType="IDE" if int(d["ControllerType"]) == 0 else "SCSI",
                    ControllerNumber=int(d["ControllerNumber"]), ControllerLocation=int(d["ControllerLocation"])))
                return True
        return True    # not attached: nothing to do

    # ---- vifs ---------------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        name = Pattern(instance.name)
        nics = self.client(host).json(Script().json("Get-VMNetworkAdapter", select=["Name", "SwitchName"],
                                                    VMName=name).text())
        have = {n["Name"]: n for n in nics}
        s = Script()
        for vif in network_info:
            if vif.vif_type != VIF_TYPE:
                raise UnsupportedOperation("hyperv host '%s' cannot plug vif type %r" % (host.name, vif.vif_type))
            sw = self._switch(host, vif)
            if vif.port_id in have:
                if have[vif.port_id]["SwitchName"] != sw:
                    s.cmd("Connect-VMNetworkAdapter", VMName=name, Name=Pattern(vif.port_id), SwitchName=sw)
            else:
                s.cmd("Add-VMNetworkAdapter", VMName=name, Name=vif.port_id, SwitchName=sw,
                      StaticMacAddress=vif.mac_address.replace(":", "").upper())
        if len(s.lines) > 1:
            self._run(host, s)
        return True

    @hookimpl
    @translate
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        if not self._exists(host, instance):
            return True
        s = Script()
        for vif in network_info:
            s.cmd("Remove-VMNetworkAdapter", VMName=Pattern(instance.name), Name=Pattern(vif.port_id))
        if len(s.lines) > 1:
            self._run(host, s)
        return True


__all__ = ["HyperVDriver", "OPTIONS", "NAME", "VIF_TYPE"]
