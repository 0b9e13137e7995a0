"""The hand-modelled Hyper-V fabric behind the fake PowerShell: hosts, VMs, disks, NICs and
checkpoints with the ``VMState`` integers, Windows paths mapped to local directories, the
objects ``Get-VM`` and friends return, and Hyper-V's error records."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field

from overcast_hv_hyperv_sim.ps_interpreter import Interpreter
from overcast_hv_hyperv_sim.ps_lang import (
    GiB,
    PsError,
    PsObject,
    hv_command_id,
    has_wildcards,
    not_found_vm,
    ps_date,
    wildcard_match,
)


RUNNING, OFF, STOPPING, SAVED, PAUSED = 2, 3, 4, 6, 9
STATE_NAMES = {RUNNING: "Running", OFF: "Off", STOPPING: "Stopping", SAVED: "Saved", PAUSED: "Paused"}
VHD_FORMAT = {"vpc": 2, "vhdx": 3}  # Microsoft.Vhd.PowerShell.VhdFormat: VHD=2, VHDX=3
VHD_TYPE = {"fixed": 2, "dynamic": 3, "differencing": 4}


# ---------------------------------------------------------------------------------------------
# the Hyper-V model
# ---------------------------------------------------------------------------------------------


@dataclass
class Disk:
    path: str
    controller_type: str = "SCSI"  # IDE | SCSI
    controller_number: int = 0
    controller_location: int = 0


@dataclass
class Nic:
    name: str = "Network Adapter"
    switch: str | None = None
    mac: str = field(default_factory=lambda: "00155D" + os.urandom(3).hex().upper())
    id: str = field(default_factory=lambda: str(uuidlib.uuid4()).upper())


@dataclass
class Checkpoint:
    name: str
    id: str
    created: float
    drives: list[str]


@dataclass
class VM:
    name: str
    generation: int = 2
    memory: int = 512 << 20
    cpus: int = 1
    state: int = OFF
    notes: str = ""
    path: str = ""
    id: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    started: float = 0.0
    integration_shutdown: bool = True
    console: list[str] = field(default_factory=list)


class Fabric:
    """Several simulated Hyper-V hosts that can live-migrate to each other, and the SMB
    shares they see. Windows paths map to local directories under ``root``."""

    def __init__(self, root: str, qemu_img: str | None = None):
        self.root = root
        self.hosts: dict[str, "Host"] = {}
        self.shares: dict[str, str] = {}  # \\server\share (lower) -> local dir
        self.lock = threading.RLock()
        self.qemu_img = qemu_img if qemu_img is not None else shutil.which("qemu-img")

    def add_host(self, name: str, memory: int = 32 * GiB, cpus: int = 8) -> "Host":
        h = Host(self, name, memory, cpus)
        self.hosts[name.lower()] = h
        return h

    def add_share(self, unc: str, local_dir: str):
        os.makedirs(local_dir, exist_ok=True)
        self.shares[unc.rstrip("\\").lower()] = local_dir


class Host:
    def __init__(self, fabric: Fabric, name: str, memory: int, cpus: int):
        self.fabric = fabric
        self.name = name
        self.memory = memory
        self.cpus = cpus
        self.vms: list[VM] = []
        self.switches = [{"Name": "External", "SwitchType": 2}, {"Name": "Internal", "SwitchType": 1}]
        self.vhd_dir = "C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks"
        self.vm_dir = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"
        self.transcript: list[tuple[str, dict]] = []
        self.disk_size = 500 * GiB
        os.makedirs(self.local("C:\\"), exist_ok=True)

    # ---- Windows paths ---------------------------------------------------------------------
    def local(self, winpath: str) -> str:
        p = str(winpath).replace("/", "\\")
        if p.startswith("\\\\"):
            low = p.lower()
            for unc, d in sorted(self.fabric.shares.items(), key=lambda kv: -len(kv[0])):
                if low == unc or low.startswith(unc + "\\"):
                    rest = p[len(unc) :].strip("\\")
                    return os.path.join(d, *[x for x in rest.split("\\") if x])
            raise PsError(
                "The network path was not found: '%s'." % winpath,
                "PathNotFound",
                "ObjectNotFound",
                winpath,
                "IOException",
            )
        m = re.fullmatch(r"([A-Za-z]):\\?(.*)", p)
        if not m:
            raise PsError(
                "Cannot find path '%s' because it does not exist." % winpath,
                "PathNotFound",
                "ObjectNotFound",
                winpath,
                "ItemNotFoundException",
            )
        parts = [x for x in m.group(2).split("\\") if x]
        if any(x == ".." for x in parts):
            raise PsError(
                "Access to the path '%s' is denied." % winpath,
                "UnauthorizedAccess",
                "PermissionDenied",
                winpath,
                "UnauthorizedAccessException",
            )
        return os.path.join(self.fabric.root, self.name.lower(), m.group(1).upper(), *parts)

    def used_memory(self):
        return sum(v.memory for v in self.vms if v.state in (RUNNING, PAUSED))

    def find(self, cmdlet, name=None, vm_id=None, required=True) -> list[VM]:
        if vm_id is not None:
            found = [v for v in self.vms if v.id.lower() == str(vm_id).lower()]
            if not found and required:
                raise PsError(
                    'Hyper-V was unable to find a virtual machine with id "%s".' % vm_id,
                    "InvalidParameter," + hv_command_id(cmdlet),
                    "InvalidArgument",
                    "%s:Guid" % vm_id,
                    "VirtualizationException",
                    cmdlet,
                )
            return found
        names = name if isinstance(name, list) else [name]
        out = []
        for nm in names:
            nm = str(nm)
            found = [v for v in self.vms if wildcard_match(nm, v.name)]
            if not found and required and not has_wildcards(nm):
                raise not_found_vm(cmdlet, nm.replace("`", ""))
            out += found
        return out

    def vm_object(self, vm: VM) -> PsObject:
        up = time.time() - vm.started if vm.state in (RUNNING, PAUSED) else 0.0
        return PsObject(
            "Microsoft.HyperV.PowerShell.VirtualMachine",
            {
                "Name": vm.name,
                "Id": vm.id,
                "VMId": vm.id,
                "State": vm.state,
                "Status": "Operating normally",
                "ProcessorCount": vm.cpus,
                "MemoryStartup": vm.memory,
                "MemoryAssigned": vm.memory if vm.state in (RUNNING, PAUSED) else 0,
                "DynamicMemoryEnabled": False,
                "Generation": vm.generation,
                "Notes": vm.notes,
                "ComputerName": self.name,
                "Path": vm.path,
                "IsClustered": False,
                "Uptime": {"Ticks": int(up * 1e7), "TotalSeconds": up},
                "CreationTime": ps_date(time.time()),
                "HardDrives": [self.disk_object(vm, d) for d in vm.disks],
                "NetworkAdapters": [self.nic_object(vm, n) for n in vm.nics],
            },
        )

    def disk_object(self, vm, d: Disk):
        return PsObject(
            "Microsoft.HyperV.PowerShell.HardDiskDrive",
            {
                "VMName": vm.name,
                "VMId": vm.id,
                "Path": d.path,
                "ControllerType": 0 if d.controller_type == "IDE" else 1,
                "ControllerNumber": d.controller_number,
                "ControllerLocation": d.controller_location,
                "ComputerName": self.name,
                "Name": "Hard Drive on %s controller number %d at location %d"
                % (d.controller_type, d.controller_number, d.controller_location),
            },
        )

    def nic_object(self, vm, n: Nic):
        return PsObject(
            "Microsoft.HyperV.PowerShell.VMNetworkAdapter",
            {
                "VMName": vm.name,
                "VMId": vm.id,
                "Name": n.name,
                "SwitchName": n.switch,
                "MacAddress": n.mac,
                "Connected": n.switch is not None,
                "Id": n.id,
                "IPAddresses": [],
            },
        )

    # ---- script execution -------------------------------------------------------------------
    def run(self, script: str) -> tuple[str, list, int]:
        """Run a script -> (stdout text, [error records and warnings], exit code)."""
        with self.fabric.lock:
            return Interpreter(self).run(script)


def vms_from(ip: Interpreter, cmdlet: str, b: dict, inp: list, name_key="Name") -> list[VM]:
    """VMs addressed by -Name / -VMName / -VM or pipeline input."""
    h = ip.host
    objs = b.get("VM")
    if objs is None and inp:
        objs = inp
    if objs is not None:
        out = []
        for o in objs if isinstance(objs, list) else [objs]:
            vid = o.get("VMId") if isinstance(o, dict) else None
            out += h.find(cmdlet, vm_id=vid)
        return out
    if b.get(name_key) is None:
        raise PsError(
            "Cannot process command because of one or more missing mandatory parameters: %s." % name_key,
            "MissingMandatoryParameter," + hv_command_id(cmdlet),
            "InvalidArgument",
            "",
            "ParameterBindingException",
            cmdlet,
        )
    return h.find(cmdlet, b[name_key])


def check_disk_file(h, cmdlet, path):
    if not os.path.isfile(h.local(path)):
        raise PsError(
            "Failed to add device 'Virtual Hard Disk'. The system cannot find the file specified. ('%s')" % path,
            "ObjectNotFound," + hv_command_id(cmdlet),
            "ObjectNotFound",
            path,
            "VirtualizationException",
            cmdlet,
        )
