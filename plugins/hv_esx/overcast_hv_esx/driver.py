"""The ``esx`` hypervisor driver: VMware vCenter or ESXi through the vSphere API (pyvmomi).

One Overcast host is one ESXi ``HostSystem`` (``esx_host``; default: the first host the
endpoint lists). Guests are VMs named ``Instance.name`` (``oc-<uuid>``); the user's display name
only travels as data (the VM's annotation). Images are VMDKs: the driver rewrites each with
``qemu-img`` into ESX's native descriptor + ``-flat`` layout, uploads both to the datastore over
``/folder``, and builds the VM around that disk. Snapshots copy the frozen base disk with
``CopyVirtualDisk``, download it and hand back a standalone streamOptimized VMDK.
"""

from __future__ import annotations

from collections.abc import Sequence

from overcast.hookspecs import hookimpl
from overcast.types import Host, HostResources, HvCapabilities, Instance, InstanceInfo
from overcast_hv_esx.base import EsxBase, GiB, MiB, NAME, OPTIONS, VIF_TYPE, translate
from overcast_hv_esx.devices import DevicesMixin
from overcast_hv_esx.lifecycle import LifecycleMixin
from overcast_hv_esx.migration import MigrationMixin


class EsxDriver(LifecycleMixin, MigrationMixin, DevicesMixin, EsxBase):
    """The ``esx`` hypervisor driver (host operations here; the rest in its mixins)."""

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
        return HvCapabilities(
            hypervisor_type="vmware",
            image_types=frozenset({"vmdk"}),
            volume_connection_types=frozenset({"vmdk"}),
            vif_types=frozenset({VIF_TYPE}),
            live_migration=True,
            shared_storage=True,
        )

    @hookimpl
    @translate
    def hv_get_available_resource(self, host: Host) -> HostResources:
        from pyVmomi import vim, vmodl

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
                vcpus=int(hw.numCpuThreads or hw.numCpuCores),
                memory_mb=int(hw.memorySize) // MiB,
                local_gb=int(ds.capacity) // GiB,
                vcpus_used=vcpus_used,
                memory_mb_used=int(stats.overallMemoryUsage or 0),
                local_gb_used=-(-(int(ds.capacity) - int(ds.freeSpace)) // GiB),
                running_vms=running,
                hypervisor_type="vmware",
                hypervisor_version=ver[0] * 1000000 + ver[1] * 1000 + ver[2],
                hypervisor_hostname=h.name,
                cpu_info={"model": str(hw.cpuModel), "vendor": str(hw.vendor), "cores": int(hw.numCpuCores)},
            )

        return s.run(read, "read resources")

    @hookimpl
    @translate
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        from pyVmomi import vim, vmodl

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


__all__ = ["EsxDriver", "OPTIONS", "NAME", "VIF_TYPE"]
