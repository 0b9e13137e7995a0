"""The ``xen`` hypervisor driver: XenServer / XCP-ng pools through XAPI.

One Overcast host is one XAPI host of a pool (``xen_host``, the pool master by default); all
hosts of one pool share one logged-in session. Guests are XAPI VMs named ``Instance.name``
(``oc-<uuid>``); the user's display name only travels as data (``name_description``).
Disks are VDIs on the pool's default SR (or ``sr``), images arrive as VHD or raw through
``/import_raw_vdi``, snapshots leave as VHD through ``/export_raw_vdi``.
"""

from __future__ import annotations

from collections.abc import Sequence

from overcast.hookspecs import hookimpl
from overcast.types import Host, HostResources, HvCapabilities, Instance, InstanceInfo
from overcast_hv_xen.base import GiB, MiB, NAME, OPTIONS, VIF_TYPE, XenBase, translate
from overcast_hv_xen.devices import DevicesMixin
from overcast_hv_xen.lifecycle import LifecycleMixin
from overcast_hv_xen.migration import MigrationMixin
from overcast_hv_xen.session import NULL_REF


class XenDriver(LifecycleMixin, MigrationMixin, DevicesMixin, XenBase):
    """The ``xen`` hypervisor driver (host operations here; the rest in its mixins)."""

    # ---- host ----------------------------------------------------------------------------
    @hookimpl
    @translate
    def hv_init_host(self, host: Host) -> bool:
        x = self.session(host)
        x.login()
        self._xen_host(host)
        self._sr(host)
        return True

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        return HvCapabilities(
            hypervisor_type="xen",
            image_types=frozenset({"vhd", "raw"}),
            volume_connection_types=frozenset({"iscsi"}),
            vif_types=frozenset({VIF_TYPE}),
            live_migration=True,
            shared_storage=True,
        )

    @hookimpl
    @translate
    def hv_get_available_resource(self, host: Host) -> HostResources:
        x = self.session(host)
        h = self._xen_host(host)
        rec = x.call("host.get_record", h)
        metrics = x.call("host_metrics.get_record", rec["metrics"])
        total, free = int(metrics["memory_total"]), int(metrics["memory_free"])
        vcpus_used, running = 0, 0
        for vm in rec["resident_VMs"]:
            vrec = x.call("VM.get_record", vm)
            if vrec["is_control_domain"]:
                continue
            vcpus_used += int(vrec["VCPUs_at_startup"])
            running += 1
        sr = x.call("SR.get_record", self._sr(host))
        version = rec["software_version"].get("product_version", "0")
        parts = [int(p) for p in version.split(".")[:3] if p.isdigit()] + [0, 0, 0]
        return HostResources(
            vcpus=int(rec["cpu_info"].get("cpu_count", "0")),
            memory_mb=total // MiB,
            local_gb=int(sr["physical_size"]) // GiB,
            vcpus_used=vcpus_used,
            memory_mb_used=(total - free) // MiB,
            local_gb_used=-(-int(sr["physical_utilisation"]) // GiB),
            running_vms=running,
            hypervisor_type="xen",
            hypervisor_version=parts[0] * 1000000 + parts[1] * 1000 + parts[2],
            hypervisor_hostname=rec["hostname"] or rec["name_label"],
            cpu_info={
                k: rec["cpu_info"][k] for k in ("vendor", "modelname", "speed", "socket_count") if k in rec["cpu_info"]
            },
        )

    @hookimpl
    @translate
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        x = self.session(host)
        h = self._xen_host(host)
        names = []
        for rec in x.call("VM.get_all_records").values():
            if rec["is_a_template"] or rec["is_control_domain"] or "overcast_instance" not in rec["other_config"]:
                continue
            if rec["resident_on"] == h or (rec["resident_on"] == NULL_REF and rec["affinity"] == h):
                names.append(rec["name_label"])
        return sorted(names)

    @hookimpl
    @translate
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        x = self.session(host)
        return self._info(x.call("VM.get_record", self._find_vm(host, instance)))


__all__ = ["XenDriver", "OPTIONS", "NAME", "VIF_TYPE"]
