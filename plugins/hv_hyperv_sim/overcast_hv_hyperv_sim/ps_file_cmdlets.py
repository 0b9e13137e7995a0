"""The fake PowerShell's file and utility cmdlets: VHD/VHDX files (qemu-img does the format
work), items and paths, host information, and the output cmdlets (Select-Object,
ConvertTo-Json, Out-Null, Write-Output)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

from overcast_hv_hyperv_sim.hyperv_model import OFF, VHD_FORMAT, VHD_TYPE
from overcast_hv_hyperv_sim.ps_interpreter import cmdlet
from overcast_hv_hyperv_sim.ps_lang import PsError, PsObject, to_json, wildcard_match


# ---- VHD files (qemu-img does the real format work) -------------------------------------------


def _qemu(h, cmdlet, *args):
    if not h.fabric.qemu_img:
        raise PsError(
            "The Hyper-V simulator needs qemu-img for virtual disk files.",
            "NotInstalled",
            "NotInstalled",
            "",
            "VirtualizationException",
            cmdlet,
        )
    p = subprocess.run([h.fabric.qemu_img, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise PsError(
            "Failed to process the virtual disk: %s" % p.stderr.strip().splitlines()[-1:],
            "InvalidParameter," + "Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet.replace("-", ""),
            "InvalidArgument",
            "",
            "VirtualizationException",
            cmdlet,
        )
    return p.stdout


def _vhd_fmt(cmdlet, path):
    ext = os.path.splitext(str(path))[1].lower()
    if ext in (".vhdx", ".avhdx"):
        return "vhdx"
    if ext in (".vhd", ".avhd"):
        return "vpc"
    raise PsError(
        "The file '%s' is not a virtual hard disk file: use the .vhd or .vhdx extension." % path,
        "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets." + cmdlet.replace("-", ""),
        "InvalidArgument",
        str(path),
        "VirtualizationException",
        cmdlet,
    )


def _vhd_object(h, path):
    info = json.loads(_qemu(h, "Get-VHD", "info", "--output=json", h.local(path)))
    fmt = info.get("format")
    sub = "dynamic"
    return PsObject(
        "Microsoft.Vhd.PowerShell.VirtualHardDisk",
        {
            "Path": str(path),
            "VhdFormat": VHD_FORMAT.get(fmt, 0),
            "VhdType": VHD_TYPE[sub],
            "FileSize": os.path.getsize(h.local(path)),
            "Size": info["virtual-size"],
            "ComputerName": h.name,
            "Attached": any(h.local(d.path) == h.local(path) for v in h.vms for d in v.disks),
        },
    )


def _busy(h, path):
    return any(h.local(d.path) == h.local(path) and v.state != OFF for v in h.vms for d in v.disks)


@cmdlet(
    "New-VHD",
    params=["Path", "SizeBytes", "ParentPath"],
    switches=["Dynamic", "Fixed", "Differencing"],
    positional=["Path", "SizeBytes"],
)
def new_vhd(ip, b, inp):
    h = ip.host
    path = str(b["Path"])
    fmt = _vhd_fmt("New-VHD", path)
    if os.path.exists(h.local(path)):
        raise PsError(
            "Failed to create the virtual hard disk. The file exists. ('%s')" % path,
            "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.NewVhd",
            "InvalidArgument",
            path,
            "VirtualizationException",
        )
    os.makedirs(os.path.dirname(h.local(path)), exist_ok=True)
    _qemu(h, "New-VHD", "create", "-q", "-f", fmt, h.local(path), str(int(b["SizeBytes"])))
    return [_vhd_object(h, path)]


@cmdlet("Get-VHD", params=["Path"], positional=["Path"])
def get_vhd(ip, b, inp):
    h = ip.host
    path = str(b["Path"])
    if not os.path.isfile(h.local(path)):
        raise PsError(
            "Getting the mounted storage instance for the path '%s' failed. The system cannot find the "
            "file specified." % path,
            "ObjectNotFound,Microsoft.Vhd.PowerShell.Cmdlets.GetVHD",
            "ObjectNotFound",
            path,
            "VirtualizationException",
        )
    return [_vhd_object(h, path)]


@cmdlet(
    "Convert-VHD",
    params=["Path", "DestinationPath", "VHDType"],
    switches=["DeleteSource", "Passthru"],
    positional=["Path", "DestinationPath"],
)
def convert_vhd(ip, b, inp):
    h = ip.host
    src, dst = str(b["Path"]), str(b["DestinationPath"])
    if not os.path.isfile(h.local(src)):
        raise PsError(
            "Failed to convert the virtual disk. The system cannot find the file specified. ('%s')" % src,
            "ObjectNotFound,Microsoft.Vhd.PowerShell.Cmdlets.ConvertVhd",
            "ObjectNotFound",
            src,
            "VirtualizationException",
            "Convert-VHD",
        )
    if _busy(h, src):
        raise PsError(
            "The process cannot access the file '%s' because it is being used by another process." % src,
            "InvalidOperation,Microsoft.Vhd.PowerShell.Cmdlets.ConvertVhd",
            "ResourceBusy",
            src,
            "VirtualizationException",
            "Convert-VHD",
        )
    if os.path.exists(h.local(dst)):
        raise PsError(
            "Failed to convert the virtual disk. The file exists. ('%s')" % dst,
            "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.ConvertVhd",
            "InvalidArgument",
            dst,
            "VirtualizationException",
            "Convert-VHD",
        )
    fmt = _vhd_fmt("Convert-VHD", dst)
    os.makedirs(os.path.dirname(h.local(dst)), exist_ok=True)
    opts = ["-o", "subformat=fixed"] if str(b.get("VHDType", "")).lower() == "fixed" and fmt == "vpc" else []
    _qemu(h, "Convert-VHD", "convert", "-O", fmt, *opts, h.local(src), h.local(dst))
    if b.get("DeleteSource"):
        os.unlink(h.local(src))
    return [_vhd_object(h, dst)] if b.get("Passthru") else []


@cmdlet("Resize-VHD", params=["Path", "SizeBytes"], switches=["Passthru"], positional=["Path", "SizeBytes"])
def resize_vhd(ip, b, inp):
    h = ip.host
    path = str(b["Path"])
    info = _vhd_object(h, path)
    if int(b["SizeBytes"]) < info["Size"]:
        raise PsError(
            "Failed to resize the virtual disk: shrinking is not supported for this disk.",
            "InvalidParameter,Microsoft.Vhd.PowerShell.Cmdlets.ResizeVhd",
            "InvalidArgument",
            path,
            "VirtualizationException",
        )
    # qemu-img cannot resize vhdx/vpc in place: go through raw, as the disk's data is what counts
    lp = h.local(path)
    raw = lp + ".resize.raw"
    try:
        _qemu(h, "Resize-VHD", "convert", "-q", "-O", "raw", lp, raw)
        with open(raw, "r+b") as f:
            f.truncate(int(b["SizeBytes"]))
        _qemu(h, "Resize-VHD", "convert", "-q", "-f", "raw", "-O", _vhd_fmt("Resize-VHD", path), raw, lp + ".new")
        os.replace(lp + ".new", lp)
    finally:
        if os.path.exists(raw):
            os.unlink(raw)
    return []


@cmdlet("Remove-Item", params=["Path", "LiteralPath"], switches=["Force", "Recurse"], positional=["Path"])
def remove_item(ip, b, inp):
    h = ip.host
    path = str(b.get("LiteralPath", b.get("Path")))
    lp = h.local(path)
    if not os.path.exists(lp):
        raise PsError(
            "Cannot find path '%s' because it does not exist." % path,
            "PathNotFound,Microsoft.PowerShell.Commands.RemoveItemCommand",
            "ObjectNotFound",
            path,
            "ItemNotFoundException",
            "Remove-Item",
        )
    if any(h.local(d.path) == lp for v in h.vms for d in v.disks):
        raise PsError(
            "Cannot remove item %s: The process cannot access the file because it is being used by "
            "another process." % path,
            "RemoveFileSystemItemIOError,Microsoft.PowerShell.Commands.RemoveItemCommand",
            "WriteError",
            path,
            "IOException",
            "Remove-Item",
        )
    if os.path.isdir(lp):
        shutil.rmtree(lp)
    else:
        os.unlink(lp)
    return []


@cmdlet("Test-Path", params=["Path", "LiteralPath"], positional=["Path"])
def test_path(ip, b, inp):
    try:
        return [os.path.exists(ip.host.local(str(b.get("LiteralPath", b.get("Path")))))]
    except PsError:
        return [False]


@cmdlet("New-Item", params=["Path", "ItemType"], switches=["Force"], positional=["Path"])
def new_item(ip, b, inp):
    lp = ip.host.local(str(b["Path"]))
    if str(b.get("ItemType", "File")).lower() == "directory":
        os.makedirs(lp, exist_ok=bool(b.get("Force")))
    else:
        open(lp, "a").close()
    return []


@cmdlet("Get-VMHost", params=["ComputerName"])
def get_vmhost(ip, b, inp):
    h = ip.host
    return [
        PsObject(
            "Microsoft.HyperV.PowerShell.VMHost",
            {
                "ComputerName": h.name,
                "Name": h.name,
                "LogicalProcessorCount": h.cpus,
                "MemoryCapacity": h.memory,
                "VirtualHardDiskPath": h.vhd_dir,
                "VirtualMachinePath": h.vm_dir,
                "VirtualMachineMigrationEnabled": True,
                "MaximumVirtualMachineMigrations": 2,
            },
        )
    ]


@cmdlet("Get-CimInstance", params=["ClassName", "Namespace", "Filter"], positional=["ClassName"])
def get_ciminstance(ip, b, inp):
    h = ip.host
    cls = str(b.get("ClassName", "")).lower()
    if cls == "win32_operatingsystem":
        return [
            PsObject(
                "Microsoft.Management.Infrastructure.CimInstance",
                {
                    "Caption": "Microsoft Windows Server 2019 Datacenter",
                    "Version": "10.0.17763",
                    "TotalVisibleMemorySize": h.memory // 1024,
                    "FreePhysicalMemory": (h.memory - h.used_memory()) // 1024,
                    "CSName": h.name,
                },
            )
        ]
    if cls == "win32_logicaldisk":
        flt = str(b.get("Filter", ""))
        m = re.fullmatch(r"\s*DeviceID\s*=\s*'([A-Za-z]:)'\s*", flt) if flt else None
        if flt and not m:
            raise PsError(
                "Invalid query",
                "HRESULT 0x80041017,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
                "InvalidArgument",
                flt,
                "CimException",
                "Get-CimInstance",
            )
        if m and m.group(1).upper() != "C:":
            return []
        used = 0
        base = h.local("C:\\")
        for dirpath, _d, files in os.walk(base):
            for f in files:
                used += os.stat(os.path.join(dirpath, f)).st_blocks * 512
        return [
            PsObject(
                "Microsoft.Management.Infrastructure.CimInstance",
                {"DeviceID": "C:", "Size": h.disk_size, "FreeSpace": h.disk_size - used},
            )
        ]
    raise PsError(
        "Invalid class",
        "HRESULT 0x80041010,Microsoft.Management.Infrastructure.CimCmdlets.GetCimInstanceCommand",
        "ObjectNotFound",
        str(b.get("ClassName")),
        "CimException",
        "Get-CimInstance",
    )


@cmdlet("Select-Object", params=["Property", "First", "ExpandProperty"], positional=["Property"])
def select_object(ip, b, inp):
    out = []
    if "ExpandProperty" in b:
        key = str(b["ExpandProperty"])
        for o in inp:
            v = o.get(key) if isinstance(o, dict) else None
            out += v if isinstance(v, list) else [v]
        return out
    props = b.get("Property", ["*"])
    props = props if isinstance(props, list) else [props]
    for o in inp:
        if not isinstance(o, dict):
            out.append(o)
            continue
        sel = {}
        for p in props:
            for k, v in o.items():
                if wildcard_match(str(p), k):
                    sel[k] = v
            if not any(wildcard_match(str(p), k) for k in o):
                sel[str(p)] = None
        out.append(PsObject("Selected." + getattr(o, "type_name", "System.Object"), sel))
    if "First" in b:
        out = out[: int(b["First"])]
    return out


@cmdlet("ConvertTo-Json", params=["Depth", "InputObject"], switches=["Compress"], positional=["InputObject"])
def convertto_json(ip, b, inp):
    items = inp if inp else ([b["InputObject"]] if "InputObject" in b else [])
    if not items:
        return []
    value = items[0] if len(items) == 1 else items
    return [to_json(value, int(b.get("Depth", 2)), bool(b.get("Compress")))]


@cmdlet("Out-Null", params=["InputObject"])
def out_null(ip, b, inp):
    return []


@cmdlet("Write-Output", params=["InputObject"], positional=["InputObject"])
def write_output(ip, b, inp):
    v = b.get("InputObject")
    return v if isinstance(v, list) else [v]
