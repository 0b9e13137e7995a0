"""The ``xen`` driver's migrations: ``VM.pool_migrate`` between hosts of one pool, live or
cold (with confirm / revert)."""

from __future__ import annotations

from collections.abc import Sequence

from overcast.errors import Conflict
from overcast.hookspecs import hookimpl
from overcast.remote import RevertByPowerOn, refuse_resize
from overcast.types import BlockDevice, Flavor, Host, ImageFile, Instance, InstanceInfo, MigrationData, VifDetails
from overcast_hv_xen.base import option, translate
from overcast_hv_xen.session import NULL_REF, XenError, XenSession


class MigrationMixin(RevertByPowerOn):
    """Migration operations of :class:`~overcast_hv_xen.driver.XenDriver`."""

    # ---- migration (within one pool) -------------------------------------------------------
    def _same_pool(self, a: Host, b: Host) -> None:
        if option(a, "url") != option(b, "url"):
            raise Conflict(
                "xen hosts '%s' and '%s' are in different pools; XAPI migrates only within a pool" % (a.name, b.name)
            )

    @hookimpl
    @translate
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        self._same_pool(host, source)
        x = self.session(host)
        vm = self._find_vm(host, instance)
        dest = self._xen_host(host)
        if x.call("VM.get_resident_on", vm) == dest:
            raise Conflict("instance %s already runs on xen host '%s'" % (instance.name, host.name))
        x.call("VM.assert_can_boot_here", vm, dest)
        return MigrationData(source_host=source.name, dest_host=host.name, data={"xen_host": dest})

    @hookimpl
    @translate
    def hv_pre_live_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
    ) -> MigrationData:
        return migration

    @hookimpl
    @translate
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        self._same_pool(host, dest)
        x = self.session(host)
        vm = self._find_vm(host, instance)
        target = self._xen_host(dest)
        x.async_call("VM.pool_migrate", vm, target, {"live": "true"}, timeout=self._wait(host))
        x.call("VM.set_affinity", vm, target)
        return True

    @hookimpl
    @translate
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return True

    @hookimpl
    @translate
    def hv_migrate_disk_and_power_off(
        self, host: Host, instance: Instance, dest: Host, flavor: Flavor
    ) -> MigrationData:
        """Stop the guest and copy it (``VM.copy``: disks included) for the destination host.
        The source VM stays, halted, until ``confirm_migration`` (or a revert powers it on)."""
        refuse_resize("xen", host, instance, flavor)
        self._same_pool(host, dest)
        x = self.session(host)
        vm = self._find_vm(host, instance)
        target = self._xen_host(dest)
        if any(x.call("VBD.get_other_config", b).get("overcast_volume") for b in x.call("VM.get_VBDs", vm)):
            raise Conflict(
                "xen host '%s': detach the volumes of %s before a cold migration (live migration "
                "keeps them)" % (host.name, instance.name)
            )
        self.hv_power_off(host=host, instance=instance, timeout=60, retry_interval=1)
        copy = x.async_call("VM.copy", vm, instance.name, NULL_REF, timeout=self._wait(host))
        try:
            x.call("VM.set_affinity", copy, target)
            x.call("VM.remove_from_other_config", copy, "overcast_migration")
            x.call("VM.remove_from_other_config", vm, "overcast_migration")
            x.call("VM.add_to_other_config", vm, "overcast_migration", "source")
        except BaseException:
            self._destroy_vm_and_disks(x, copy)
            raise
        return MigrationData(
            source_host=host.name,
            dest_host=dest.name,
            data={"copy": x.call("VM.get_uuid", copy), "source": x.call("VM.get_uuid", vm)},
        )

    @hookimpl
    @translate
    def hv_finish_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        image: ImageFile | None,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
        power_on: bool,
    ) -> InstanceInfo:
        x = self.session(host)
        vm = self._find_vm(host, instance)
        if power_on and x.call("VM.get_power_state", vm) == "Halted":
            x.async_call("VM.start_on", vm, self._xen_host(host), False, False, timeout=self._wait(host))
        return self._info(x.call("VM.get_record", vm))

    @hookimpl
    @translate
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        """Source side: the copy now serves the instance; delete the halted original."""
        x = self.session(host)
        source = migration.data.get("source")
        try:
            vm = x.call("VM.get_by_uuid", source) if source else self._find_vm(host, instance, required=False)
        except XenError as e:
            if e.code != "UUID_INVALID":
                raise
            vm = None
        if vm is not None:
            if x.call("VM.get_power_state", vm) != "Halted":
                raise Conflict(
                    "xen host '%s': the migration source of %s is running again; not deleting it"
                    % (host.name, instance.name)
                )
            self._destroy_vm_and_disks(x, vm)
        return True

    def _destroy_vm_and_disks(self, x: XenSession, vm: str) -> None:
        if x.call("VM.get_power_state", vm) != "Halted":
            x.call("VM.hard_shutdown", vm)
        vdis = []
        for vbd in x.call("VM.get_VBDs", vm):
            rec = x.call("VBD.get_record", vbd)
            if rec["other_config"].get("overcast_disk") and rec["VDI"] != NULL_REF:
                vdis.append(rec["VDI"])
        snapshots = x.call("VM.get_snapshots", vm)
        x.call("VM.destroy", vm)
        for snap in snapshots:
            self._destroy_snapshot(x, snap)
        for vdi in vdis:
            x.call("VDI.destroy", vdi)
