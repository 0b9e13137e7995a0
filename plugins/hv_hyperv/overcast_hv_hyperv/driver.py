"""The ``hyperv`` hypervisor driver: Windows Hyper-V hosts driven by generated PowerShell over
WinRM (pywinrm; NTLM with message encryption by default, as a stock listener requires).

One Overcast host is one Hyper-V host (its own WinRM endpoint). Guests are Hyper-V VMs named
``Instance.name`` (``oc-<uuid>``); the user's display name only travels as data (``-Notes``).
Images and snapshot exports move through an SMB share both sides see: ``share_path`` is the
share as Overcast sees it (a local mount), ``share_unc`` the same share as Windows names it.
Every value in every script is a quoted literal (:mod:`overcast_hv_hyperv.powershell`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from overcast.hookspecs import hookimpl
from overcast.types import Host, HostResources, HvCapabilities, Instance, InstanceInfo
from overcast_hv_hyperv.base import GiB, HyperVBase, NAME, OPTIONS, VIF_TYPE, option, translate
from overcast_hv_hyperv.devices import DevicesMixin
from overcast_hv_hyperv.lifecycle import LifecycleMixin
from overcast_hv_hyperv.migration import MigrationMixin
from overcast_hv_hyperv.powershell import Script


class HyperVDriver(LifecycleMixin, MigrationMixin, DevicesMixin, HyperVBase):
    """The ``hyperv`` hypervisor driver (host operations here; the rest in its mixins)."""

    # ---- host ----------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_init_host(self, host: Host) -> bool:
        self.host_info(host, refresh=True)
        if option(host, "share_path"):
            for sub in ("images", "exports"):
                os.makedirs(os.path.join(str(option(host, "share_path")), sub), exist_ok=True)
        return True

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        return HvCapabilities(
            hypervisor_type="hyperv",
            image_types=frozenset({"vhdx", "vhd"}),
            volume_connection_types=frozenset({"smbfs"}),
            vif_types=frozenset({VIF_TYPE}),
            live_migration=True,
            shared_storage=False,
        )

    @hookimpl
    @translate
    def hv_get_available_resource(self, host: Host) -> HostResources:
        info = self.host_info(host)
        c = self.client(host)
        s = Script()
        s.json(
            "Get-CimInstance",
            select=["TotalVisibleMemorySize", "FreePhysicalMemory"],
            ClassName="Win32_OperatingSystem",
        )
        [os_info] = c.json(s.text())
        drive = self._disk_dir(host)[:2].upper()
        disks = (
            c.json(
                Script()
                .json(
                    "Get-CimInstance",
                    select=["Size", "FreeSpace"],
                    ClassName="Win32_LogicalDisk",
                    Filter="DeviceID='%s'" % drive,
                )
                .text()
            )
            if drive[1:] == ":"
            else []
        )
        disk = disks[0] if disks else {"Size": 0, "FreeSpace": 0}  # a UNC instances_path: no local disk
        vms = c.json(Script().json("Get-VM", select=["Name", "State", "ProcessorCount"]).text())
        running = [v for v in vms if int(v["State"]) in (2, 9)]
        total_kb, free_kb = int(os_info["TotalVisibleMemorySize"]), int(os_info["FreePhysicalMemory"])
        return HostResources(
            vcpus=int(info["LogicalProcessorCount"]),
            memory_mb=total_kb // 1024,
            local_gb=int(disk["Size"]) // GiB,
            vcpus_used=sum(int(v["ProcessorCount"]) for v in running),
            memory_mb_used=(total_kb - free_kb) // 1024,
            local_gb_used=-(-(int(disk["Size"]) - int(disk["FreeSpace"])) // GiB),
            running_vms=len(running),
            hypervisor_type="hyperv",
            hypervisor_version=10000,
            hypervisor_hostname=str(info["ComputerName"]),
        )

    @hookimpl
    @translate
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        vms = self.client(host).json(Script().json("Get-VM", select=["Name"]).text())
        return sorted(v["Name"] for v in vms if str(v["Name"]).startswith("oc-"))

    @hookimpl
    @translate
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        return self._info(self._vm(host, instance))


__all__ = ["HyperVDriver", "OPTIONS", "NAME", "VIF_TYPE"]
