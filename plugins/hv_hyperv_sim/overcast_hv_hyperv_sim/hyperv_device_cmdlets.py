"""Hyper-V cmdlets for devices and placement: hard disk drives (hot-plug only on SCSI),
network adapters and switches, and ``Move-VM`` between hosts of one fabric."""

from __future__ import annotations

import os
import shutil

from overcast_hv_hyperv_sim.hyperv_model import Disk, Nic, OFF, PAUSED, RUNNING, check_disk_file, vms_from
from overcast_hv_hyperv_sim.ps_interpreter import cmdlet
from overcast_hv_hyperv_sim.ps_lang import PsError, PsObject, hv_command_id, invalid_state, wildcard_match


@cmdlet(
    "Add-VMHardDiskDrive",
    params=["VMName", "VM", "Path", "ControllerType", "ControllerNumber", "ControllerLocation"],
    switches=["Passthru"],
    positional=["VMName"],
    pipeline="VM",
)
def add_vmhdd(ip, b, inp):
    h, out = ip.host, []
    path = str(b.get("Path", ""))
    for vm in vms_from(ip, "Add-VMHardDiskDrive", b, inp, "VMName"):
        ctype = str(b.get("ControllerType", "IDE" if vm.generation == 1 else "SCSI")).upper()
        if ctype not in ("IDE", "SCSI"):
            raise PsError(
                "Cannot bind parameter 'ControllerType'.",
                "CannotConvertArgumentNoMessage," + hv_command_id("Add-VMHardDiskDrive"),
                "InvalidArgument",
                "",
                "ParameterBindingException",
            )
        if ctype == "IDE" and vm.generation == 2:
            raise PsError(
                "Generation 2 virtual machines do not support IDE controllers.",
                "InvalidParameter," + hv_command_id("Add-VMHardDiskDrive"),
                "InvalidArgument",
                vm.name,
                "VirtualizationException",
            )
        if ctype == "IDE" and vm.state != OFF:
            raise invalid_state("Add-VMHardDiskDrive", vm, "add device 'Virtual Hard Disk'")
        check_disk_file(h, "Add-VMHardDiskDrive", path)
        for other_host in h.fabric.hosts.values():
            for other in other_host.vms:
                if any(h.local(d.path) == h.local(path) for d in other.disks):
                    raise PsError(
                        "Failed to add device 'Virtual Hard Disk'. The process cannot access the file "
                        "because it is being used by another process. ('%s')" % path,
                        "InvalidOperation," + hv_command_id("Add-VMHardDiskDrive"),
                        "ResourceBusy",
                        path,
                        "VirtualizationException",
                    )
        num = int(b.get("ControllerNumber", 0))
        used = {d.controller_location for d in vm.disks if d.controller_type == ctype and d.controller_number == num}
        loc = int(b["ControllerLocation"]) if "ControllerLocation" in b else next(i for i in range(64) if i not in used)
        if loc in used:
            raise PsError(
                "The controller location %d is already in use." % loc,
                "InvalidParameter," + hv_command_id("Add-VMHardDiskDrive"),
                "InvalidArgument",
                vm.name,
                "VirtualizationException",
            )
        d = Disk(path, ctype, num, loc)
        vm.disks.append(d)
        if b.get("Passthru"):
            out.append(h.disk_object(vm, d))
    return out


@cmdlet(
    "Get-VMHardDiskDrive",
    params=["VMName", "VM", "ControllerType", "ControllerNumber", "ControllerLocation"],
    positional=["VMName"],
    pipeline="VM",
)
def get_vmhdd(ip, b, inp):
    out = []
    for vm in vms_from(ip, "Get-VMHardDiskDrive", b, inp, "VMName"):
        for d in vm.disks:
            if "ControllerType" in b and str(b["ControllerType"]).upper() != d.controller_type:
                continue
            if "ControllerNumber" in b and int(b["ControllerNumber"]) != d.controller_number:
                continue
            if "ControllerLocation" in b and int(b["ControllerLocation"]) != d.controller_location:
                continue
            out.append(ip.host.disk_object(vm, d))
    return out


@cmdlet(
    "Remove-VMHardDiskDrive",
    params=["VMName", "VMHardDiskDrive", "ControllerType", "ControllerNumber", "ControllerLocation"],
    switches=["Passthru"],
    positional=["VMName"],
    pipeline="VMHardDiskDrive",
)
def remove_vmhdd(ip, b, inp):
    h = ip.host
    if inp:
        pairs = [(h.find("Remove-VMHardDiskDrive", vm_id=o["VMId"])[0], o) for o in inp]
    else:
        pairs = [(vm, None) for vm in vms_from(ip, "Remove-VMHardDiskDrive", b, [], "VMName")]
    for vm, o in pairs:
        want = (
            str((o or b).get("ControllerType", "SCSI")).upper()
            if o is None
            else ("IDE" if o["ControllerType"] == 0 else "SCSI"),
            int((o or b).get("ControllerNumber", 0)),
            int((o or b).get("ControllerLocation", 0)),
        )
        d = next((d for d in vm.disks if (d.controller_type, d.controller_number, d.controller_location) == want), None)
        if d is None:
            raise PsError(
                "No hard disk drive is attached at %s %d:%d of '%s'." % (want + (vm.name,)),
                "ObjectNotFound," + hv_command_id("Remove-VMHardDiskDrive"),
                "ObjectNotFound",
                vm.name,
                "VirtualizationException",
            )
        if d.controller_type == "IDE" and vm.state != OFF:
            raise invalid_state("Remove-VMHardDiskDrive", vm, "remove device 'Virtual Hard Disk'")
        vm.disks.remove(d)
    return []


@cmdlet("Get-VMNetworkAdapter", params=["VMName", "VM", "Name"], positional=["VMName"], pipeline="VM")
def get_vmnic(ip, b, inp):
    out = []
    for vm in vms_from(ip, "Get-VMNetworkAdapter", b, inp, "VMName"):
        out += [ip.host.nic_object(vm, n) for n in vm.nics if "Name" not in b or wildcard_match(str(b["Name"]), n.name)]
    return out


@cmdlet(
    "Add-VMNetworkAdapter",
    params=["VMName", "VM", "Name", "SwitchName", "StaticMacAddress"],
    switches=["Passthru"],
    positional=["VMName"],
    pipeline="VM",
)
def add_vmnic(ip, b, inp):
    out = []
    for vm in vms_from(ip, "Add-VMNetworkAdapter", b, inp, "VMName"):
        if vm.generation == 1 and vm.state != OFF:
            raise invalid_state("Add-VMNetworkAdapter", vm, "add device 'Synthetic Ethernet Port'")
        sw = b.get("SwitchName")
        if sw is not None:
            _switch(ip.host, "Add-VMNetworkAdapter", sw)
        n = Nic(name=str(b.get("Name", "Network Adapter")), switch=sw)
        if b.get("StaticMacAddress"):
            n.mac = str(b["StaticMacAddress"]).replace("-", "").replace(":", "").upper()
        vm.nics.append(n)
        if b.get("Passthru"):
            out.append(ip.host.nic_object(vm, n))
    return out


def _switch(h, cmdlet, name):
    sw = next((s for s in h.switches if s["Name"].lower() == str(name).lower()), None)
    if sw is None:
        raise PsError(
            'Hyper-V was unable to find a virtual switch with name "%s".' % name,
            "InvalidParameter," + hv_command_id(cmdlet),
            "InvalidArgument",
            "%s:String" % name,
            "VirtualizationException",
            cmdlet,
        )
    return sw


@cmdlet(
    "Connect-VMNetworkAdapter",
    params=["VMName", "Name", "SwitchName", "VMNetworkAdapter"],
    switches=["Passthru"],
    positional=["VMName"],
    pipeline="VMNetworkAdapter",
)
def connect_vmnic(ip, b, inp):
    _switch(ip.host, "Connect-VMNetworkAdapter", b.get("SwitchName"))
    for vm in vms_from(ip, "Connect-VMNetworkAdapter", b, [], "VMName"):
        nics = [n for n in vm.nics if "Name" not in b or wildcard_match(str(b["Name"]), n.name)]
        if not nics:
            raise PsError(
                "No network adapter named '%s' was found on '%s'." % (b.get("Name"), vm.name),
                "ObjectNotFound," + hv_command_id("Connect-VMNetworkAdapter"),
                "ObjectNotFound",
                vm.name,
                "VirtualizationException",
            )
        for n in nics:
            n.switch = str(b["SwitchName"])
    return []


@cmdlet("Disconnect-VMNetworkAdapter", params=["VMName", "Name"], switches=["Passthru"], positional=["VMName"])
def disconnect_vmnic(ip, b, inp):
    for vm in vms_from(ip, "Disconnect-VMNetworkAdapter", b, [], "VMName"):
        for n in vm.nics:
            if "Name" not in b or wildcard_match(str(b["Name"]), n.name):
                n.switch = None
    return []


@cmdlet("Remove-VMNetworkAdapter", params=["VMName", "Name"], switches=["Passthru"], positional=["VMName"])
def remove_vmnic(ip, b, inp):
    for vm in vms_from(ip, "Remove-VMNetworkAdapter", b, [], "VMName"):
        keep = [n for n in vm.nics if not wildcard_match(str(b.get("Name", "*")), n.name)]
        if len(keep) != len(vm.nics) and vm.generation == 1 and vm.state != OFF:
            raise invalid_state("Remove-VMNetworkAdapter", vm, "remove device 'Synthetic Ethernet Port'")
        vm.nics = keep
    return []


@cmdlet("Get-VMSwitch", params=["Name"], positional=["Name"])
def get_vmswitch(ip, b, inp):
    return [
        PsObject("Microsoft.HyperV.PowerShell.VMSwitch", dict(s))
        for s in ip.host.switches
        if "Name" not in b or wildcard_match(str(b["Name"]), s["Name"])
    ]


@cmdlet(
    "Move-VM",
    params=["Name", "VM", "DestinationHost", "DestinationStoragePath"],
    switches=["IncludeStorage", "Passthru"],
    positional=["Name", "DestinationHost"],
    pipeline="VM",
)
def move_vm(ip, b, inp):
    h = ip.host
    dest = h.fabric.hosts.get(str(b.get("DestinationHost", "")).lower())
    for vm in vms_from(ip, "Move-VM", b, inp):
        if dest is None:
            raise PsError(
                "The operation failed because the destination host '%s' could not be reached: the "
                "Virtual Machine Management Service on the destination host is not available."
                % b.get("DestinationHost"),
                "ObjectNotFound," + hv_command_id("Move-VM"),
                "ObjectNotFound",
                vm.name,
                "VirtualizationException",
                "Move-VM",
            )
        if dest is h:
            raise PsError(
                "Migration did not succeed. The source and destination host are the same.",
                "InvalidParameter," + hv_command_id("Move-VM"),
                "InvalidArgument",
                vm.name,
                "VirtualizationException",
                "Move-VM",
            )
        if vm.state in (RUNNING, PAUSED) and vm.memory > dest.memory - dest.used_memory():
            raise PsError(
                "Migration did not succeed. Not enough memory in the system to start the virtual "
                "machine %s on host '%s'." % (vm.name, dest.name),
                "OperationFailed," + hv_command_id("Move-VM"),
                "NotSpecified",
                vm.name,
                "VirtualizationException",
                "Move-VM",
            )
        local_disks = [d for d in vm.disks if not d.path.startswith("\\\\")]
        if local_disks and not b.get("IncludeStorage"):
            raise PsError(
                "Migration did not succeed. The virtual machine '%s' uses storage that is local to "
                "host '%s'; use -IncludeStorage." % (vm.name, h.name),
                "InvalidOperation," + hv_command_id("Move-VM"),
                "InvalidOperation",
                vm.name,
                "VirtualizationException",
                "Move-VM",
            )
        if local_disks:
            target_dir = str(b.get("DestinationStoragePath") or dest.vhd_dir)
            os.makedirs(dest.local(target_dir), exist_ok=True)
            for d in local_disks:
                newpath = target_dir.rstrip("\\") + "\\" + d.path.split("\\")[-1]
                shutil.move(h.local(d.path), dest.local(newpath))
                d.path = newpath
        h.vms.remove(vm)
        dest.vms.append(vm)
        vm.console.append("[sim] %s live-migrated from %s to %s" % (vm.name, h.name, dest.name))
    return []
