"""Hyper-V cmdlets for VMs: Get/New/Set/Start/Stop/Restart/Save/Suspend/Resume/Remove-VM and
checkpoints, with Hyper-V's state rules and error records."""

from __future__ import annotations

import os
import shutil
import time
import uuid as uuidlib

from overcast_hv_hyperv_sim.hyperv_model import (
    Checkpoint,
    Disk,
    Nic,
    OFF,
    PAUSED,
    RUNNING,
    SAVED,
    VM,
    check_disk_file,
    vms_from,
)
from overcast_hv_hyperv_sim.ps_interpreter import cmdlet
from overcast_hv_hyperv_sim.ps_lang import (
    PsError,
    PsObject,
    hv_command_id,
    has_wildcards,
    invalid_state,
    ps_date,
    wildcard_match,
)


@cmdlet("Get-VM", params=["Name", "Id", "ComputerName"], positional=["Name"])
def get_vm(ip, b, inp):
    h = ip.host
    if "Id" in b:
        return [h.vm_object(v) for v in h.find("Get-VM", vm_id=b["Id"])]
    if "Name" in b:
        return [h.vm_object(v) for v in h.find("Get-VM", b["Name"])]
    return [h.vm_object(v) for v in h.vms]


@cmdlet(
    "New-VM",
    params=["Name", "MemoryStartupBytes", "Generation", "Path", "SwitchName", "VHDPath", "BootDevice"],
    switches=["NoVHD"],
    positional=["Name"],
)
def new_vm(ip, b, inp):
    h = ip.host
    name = str(b.get("Name", "New Virtual Machine"))
    if len(name) > 100:
        raise PsError(
            "The virtual machine name is too long: names can be at most 100 characters.",
            "InvalidParameter," + hv_command_id("New-VM"),
            "InvalidArgument",
            name,
            "VirtualizationException",
            "New-VM",
        )
    gen = int(b.get("Generation", 1))
    if gen not in (1, 2):
        raise PsError(
            "Cannot validate argument on parameter 'Generation'. The argument \"%s\" does not belong to "
            'the set "1,2".' % gen,
            "ParameterArgumentValidationError," + hv_command_id("New-VM"),
            "InvalidData",
            "",
            "ParameterBindingValidationException",
            "New-VM",
        )
    vm = VM(
        name=name, generation=gen, memory=int(b.get("MemoryStartupBytes", 512 << 20)), path=str(b.get("Path", h.vm_dir))
    )
    if b.get("VHDPath"):
        check_disk_file(h, "New-VM", str(b["VHDPath"]))
        vm.disks.append(Disk(str(b["VHDPath"]), "IDE" if gen == 1 else "SCSI", 0, 0))
    vm.nics.append(Nic(switch=b.get("SwitchName")))
    h.vms.append(vm)
    return [h.vm_object(vm)]


@cmdlet(
    "Set-VM",
    params=[
        "Name",
        "VM",
        "ProcessorCount",
        "MemoryStartupBytes",
        "Notes",
        "AutomaticStopAction",
        "AutomaticStartAction",
        "CheckpointType",
    ],
    switches=["StaticMemory", "DynamicMemory", "Passthru"],
    positional=["Name"],
    pipeline="VM",
)
def set_vm(ip, b, inp):
    out = []
    for vm in vms_from(ip, "Set-VM", b, inp):
        if ("ProcessorCount" in b or "MemoryStartupBytes" in b) and vm.state != OFF:
            raise invalid_state("Set-VM", vm, "modify device configuration")
        if "ProcessorCount" in b:
            n = int(b["ProcessorCount"])
            if not 1 <= n <= ip.host.cpus:
                raise PsError(
                    "'%s' failed to modify device 'Processor'. The virtual machine cannot have more "
                    "processors than the host has (%d)." % (vm.name, ip.host.cpus),
                    "InvalidParameter," + hv_command_id("Set-VM"),
                    "InvalidArgument",
                    vm.name,
                    "VirtualizationException",
                    "Set-VM",
                )
            vm.cpus = n
        if "MemoryStartupBytes" in b:
            vm.memory = int(b["MemoryStartupBytes"])
        if "Notes" in b:
            vm.notes = str(b["Notes"])
        if b.get("Passthru"):
            out.append(ip.host.vm_object(vm))
    return out


def _start(ip, vm, cmdlet):
    h = ip.host
    if vm.state == RUNNING:
        ip.warn("The virtual machine '%s' is already in the specified state." % vm.name)
        return
    if vm.state not in (OFF, SAVED):
        raise invalid_state(cmdlet, vm)
    free = h.memory - h.used_memory()
    if vm.memory > free:
        raise PsError(
            "'%s' could not initialize. Not enough memory in the system to start the virtual machine "
            "%s." % (vm.name, vm.name),
            "OperationFailed," + hv_command_id(cmdlet),
            "NotSpecified",
            vm.name,
            "VirtualizationException",
            cmdlet,
        )
    for d in vm.disks:
        check_disk_file(h, cmdlet, d.path)
    resumed = vm.state == SAVED
    vm.state = RUNNING
    vm.started = time.time()
    vm.console.append("[sim] %s %s on %s" % (vm.name, "restored" if resumed else "started", h.name))
    if not resumed:
        vm.console.append("BOOTED")


@cmdlet("Start-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def start_vm(ip, b, inp):
    out = []
    for vm in vms_from(ip, "Start-VM", b, inp):
        _start(ip, vm, "Start-VM")
        if b.get("Passthru"):
            out.append(ip.host.vm_object(vm))
    return out


@cmdlet(
    "Stop-VM",
    params=["Name", "VM"],
    switches=["Force", "TurnOff", "Save", "Passthru"],
    positional=["Name"],
    pipeline="VM",
)
def stop_vm(ip, b, inp):
    out = []
    for vm in vms_from(ip, "Stop-VM", b, inp):
        if vm.state == OFF:
            ip.warn("The virtual machine '%s' is already in the specified state." % vm.name)
            continue
        if b.get("Save"):
            _save(ip, vm, "Stop-VM")
            continue
        if b.get("TurnOff") or vm.state in (SAVED, PAUSED):
            if vm.state in (SAVED, PAUSED) and not (b.get("TurnOff") or b.get("Force")):
                raise invalid_state("Stop-VM", vm)
        elif not vm.integration_shutdown:
            if not b.get("Force"):
                raise PsError(
                    "The virtual machine '%s' could not be shut down because the shutdown integration "
                    "service is unavailable." % vm.name,
                    "Unavailable," + hv_command_id("Stop-VM"),
                    "ResourceUnavailable",
                    vm.name,
                    "VirtualizationException",
                    "Stop-VM",
                )
        vm.state = OFF
        vm.started = 0.0
        vm.console.append("[sim] %s powered off" % vm.name)
        if b.get("Passthru"):
            out.append(ip.host.vm_object(vm))
    return out


@cmdlet("Restart-VM", params=["Name", "VM", "Type"], switches=["Force", "Passthru"], positional=["Name"], pipeline="VM")
def restart_vm(ip, b, inp):
    for vm in vms_from(ip, "Restart-VM", b, inp):
        if vm.state != RUNNING:
            raise invalid_state("Restart-VM", vm)
        if str(b.get("Type", "Reset")).lower() == "reboot" and not vm.integration_shutdown:
            raise PsError(
                "The virtual machine '%s' could not be restarted because the shutdown integration "
                "service is unavailable." % vm.name,
                "Unavailable," + hv_command_id("Restart-VM"),
                "ResourceUnavailable",
                vm.name,
                "VirtualizationException",
                "Restart-VM",
            )
        vm.started = time.time()
        vm.console.append("[sim] %s restarted" % vm.name)
        vm.console.append("BOOTED")
    return []


def _save(ip, vm, cmdlet):
    if vm.state not in (RUNNING, PAUSED):
        raise invalid_state(cmdlet, vm, "save")
    vm.state = SAVED
    vm.console.append("[sim] %s saved" % vm.name)


@cmdlet("Save-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def save_vm(ip, b, inp):
    for vm in vms_from(ip, "Save-VM", b, inp):
        _save(ip, vm, "Save-VM")
    return []


@cmdlet("Suspend-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def suspend_vm(ip, b, inp):
    for vm in vms_from(ip, "Suspend-VM", b, inp):
        if vm.state != RUNNING:
            raise invalid_state("Suspend-VM", vm, "pause")
        vm.state = PAUSED
    return []


@cmdlet("Resume-VM", params=["Name", "VM"], switches=["Passthru"], positional=["Name"], pipeline="VM")
def resume_vm(ip, b, inp):
    for vm in vms_from(ip, "Resume-VM", b, inp):
        if vm.state != PAUSED:
            raise invalid_state("Resume-VM", vm, "resume")
        vm.state = RUNNING
    return []


@cmdlet("Remove-VM", params=["Name", "VM"], switches=["Force", "Passthru"], positional=["Name"], pipeline="VM")
def remove_vm(ip, b, inp):
    for vm in vms_from(ip, "Remove-VM", b, inp):
        if vm.state not in (OFF, SAVED):
            raise invalid_state("Remove-VM", vm, "delete")
        ip.host.vms.remove(vm)  # like Hyper-V: the VHD files stay on disk
    return []


@cmdlet(
    "Checkpoint-VM", params=["Name", "VM", "SnapshotName"], switches=["Passthru"], positional=["Name"], pipeline="VM"
)
def checkpoint_vm(ip, b, inp):
    h, out = ip.host, []
    for vm in vms_from(ip, "Checkpoint-VM", b, inp):
        if vm.state not in (RUNNING, OFF, SAVED, PAUSED):
            raise invalid_state("Checkpoint-VM", vm, "create checkpoint")
        cp = Checkpoint(
            str(b.get("SnapshotName") or "%s - (%s)" % (vm.name, time.strftime("%m/%d/%Y - %H:%M:%S"))),
            str(uuidlib.uuid4()),
            time.time(),
            [d.path for d in vm.disks],
        )
        for d in vm.disks:  # the VM now writes to a differencing disk; the parent is frozen
            base, _ = os.path.splitext(d.path)
            child = "%s_%s.avhdx" % (base, cp.id.upper())
            shutil.copyfile(h.local(d.path), h.local(child))
            d.path = child
        vm.checkpoints.append(cp)
        if b.get("Passthru"):
            out.append(_cp_object(h, vm, cp))
    return out


def _cp_object(h, vm, cp):
    return PsObject(
        "Microsoft.HyperV.PowerShell.VMSnapshot",
        {
            "Name": cp.name,
            "Id": cp.id,
            "VMName": vm.name,
            "VMId": vm.id,
            "CreationTime": ps_date(cp.created),
            "SnapshotType": 5,
            "ComputerName": h.name,
            "HardDrives": [PsObject("Microsoft.HyperV.PowerShell.HardDiskDrive", {"Path": p}) for p in cp.drives],
        },
    )


@cmdlet("Get-VMSnapshot", params=["VMName", "Name", "VM"], positional=["VMName"], pipeline="VM")
def get_vmsnapshot(ip, b, inp):
    out = []
    for vm in vms_from(ip, "Get-VMSnapshot", b, inp, "VMName"):
        for cp in vm.checkpoints:
            if "Name" not in b or wildcard_match(str(b["Name"]), cp.name):
                out.append(_cp_object(ip.host, vm, cp))
    if "Name" in b and not out and not has_wildcards(str(b["Name"])):
        raise PsError(
            'Hyper-V was unable to find a checkpoint with name "%s".' % b["Name"],
            "InvalidParameter," + hv_command_id("Get-VMSnapshot"),
            "InvalidArgument",
            str(b["Name"]),
            "VirtualizationException",
            "Get-VMSnapshot",
        )
    return out


@cmdlet(
    "Remove-VMSnapshot",
    params=["VMName", "Name", "VMSnapshot"],
    switches=["IncludeAllChildSnapshots"],
    positional=["VMName"],
    pipeline="VMSnapshot",
)
def remove_vmsnapshot(ip, b, inp):
    h = ip.host
    targets = []
    if inp or "VMSnapshot" in b:
        for o in inp or [b["VMSnapshot"]]:
            vm = h.find("Remove-VMSnapshot", vm_id=o["VMId"])[0]
            targets += [(vm, cp) for cp in vm.checkpoints if cp.id == o["Id"]]
    else:
        for vm in vms_from(ip, "Remove-VMSnapshot", b, [], "VMName"):
            targets += [(vm, cp) for cp in vm.checkpoints if wildcard_match(str(b.get("Name", "*")), cp.name)]
    for vm, cp in targets:
        # merge: the newest checkpoint's differencing disks fold back into their parents
        if cp is vm.checkpoints[-1]:
            for d, parent in zip(vm.disks, cp.drives):
                if d.path != parent:
                    os.replace(h.local(d.path), h.local(parent))
                    d.path = parent
        vm.checkpoints.remove(cp)
    return []
