"""The ``esx`` driver's migrations: ``RelocateVM`` between hosts of one vCenter, live or cold
(with confirm / revert)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Sequence

from overcast.errors import Conflict
from overcast.hookspecs import hookimpl
from overcast.remote import RevertByPowerOn, refuse_resize
from overcast.types import BlockDevice, Flavor, Host, ImageFile, Instance, InstanceInfo, MigrationData, VifDetails
from overcast_hv_esx.base import MiB, option, translate

if TYPE_CHECKING:
    from pyVmomi import vim


class MigrationMixin(RevertByPowerOn):
    """Migration operations of :class:`~overcast_hv_esx.driver.EsxDriver`."""

    # ---- migration (RelocateVM within one vCenter) --------------------------------------------
    def _same_endpoint(self, a: Host, b: Host) -> None:
        if option(a, "url") != option(b, "url"):
            raise Conflict(
                "esx hosts '%s' and '%s' are managed by different endpoints; vMotion needs one vCenter"
                % (a.name, b.name)
            )

    @hookimpl
    @translate
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        self._same_endpoint(host, source)
        vm = self._vm(source, instance)
        dest = self._host(host)
        if vm.runtime.host == dest:
            raise Conflict("instance %s already runs on esx host '%s'" % (instance.name, host.name))
        free_mb = int(dest.summary.hardware.memorySize) // MiB - int(dest.summary.quickStats.overallMemoryUsage or 0)
        if free_mb < int(vm.summary.config.memorySizeMB or 0):
            raise Conflict(
                "esx host '%s' has %d MiB free; instance %s needs %d MiB"
                % (host.name, free_mb, instance.name, vm.summary.config.memorySizeMB)
            )
        return MigrationData(source_host=source.name, dest_host=host.name, data={"esx_host": dest.name})

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

    def _relocate(self, host: Host, instance: Instance, dest: Host) -> None:
        from pyVmomi import vim

        self._same_endpoint(host, dest)
        vm = self._vm(host, instance)
        target = self._host(dest)
        spec = vim.vm.RelocateSpec(host=target, pool=target.parent.resourcePool)
        self._wait(host, vm.RelocateVM_Task(spec=spec), "RelocateVM_Task")

    @hookimpl
    @translate
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        self._relocate(host, instance, dest)
        return True

    @hookimpl
    @translate
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return True

    def _migration_folder(self, host: Host, dc) -> vim.Folder:
        from pyVmomi import vim

        for child in dc.vmFolder.childEntity:
            if isinstance(child, vim.Folder) and child.name == "overcast-migrations":
                return child
        try:
            return dc.vmFolder.CreateFolder("overcast-migrations")
        except vim.fault.DuplicateName:
            return next(
                c for c in dc.vmFolder.childEntity if isinstance(c, vim.Folder) and c.name == "overcast-migrations"
            )

    @hookimpl
    @translate
    def hv_migrate_disk_and_power_off(
        self, host: Host, instance: Instance, dest: Host, flavor: Flavor
    ) -> MigrationData:
        """Stop the guest and clone it (disks included) onto the destination host. The source VM
        stays, powered off, until ``confirm_migration``; a revert simply powers it on again."""
        from pyVmomi import vim

        refuse_resize("esx", host, instance, flavor)
        self._same_endpoint(host, dest)
        vm = self._vm(host, instance)
        target = self._host(dest)
        self.hv_power_off(host=host, instance=instance, timeout=60, retry_interval=1)
        dc = self._datacenter(vm)
        spec = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(host=target, pool=target.parent.resourcePool), powerOn=False, template=False
        )
        clone = self._wait(
            host,
            vm.CloneVM_Task(folder=self._migration_folder(host, dc), name=instance.name, spec=spec),
            "CloneVM_Task",
        )
        if clone.runtime.host != target:
            # placement may override the requested host (DRS; vcsim 0.24.2 ignores it): insist
            self._wait(
                host,
                clone.RelocateVM_Task(spec=vim.vm.RelocateSpec(host=target, pool=target.parent.resourcePool)),
                "RelocateVM_Task",
            )
        self._set_mark(host, vm, "source")
        return MigrationData(
            source_host=host.name,
            dest_host=dest.name,
            data={"source": str(vm.config.instanceUuid), "clone": str(clone.config.instanceUuid)},
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
        vm = self._vm(host, instance)
        if power_on and vm.runtime.powerState != "poweredOn":
            self._wait(host, vm.PowerOnVM_Task(), "PowerOnVM_Task")
        return self._info(vm)

    @hookimpl
    @translate
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        """Source side: the clone now serves the instance; delete the powered-off original."""
        s = self.session(host)
        source = migration.data.get("source")
        vm = s.run(lambda: s.content.searchIndex.FindByUuid(None, source, True, True), "FindByUuid") if source else None
        if vm is None:
            return True
        if vm.runtime.powerState != "poweredOff":
            raise Conflict(
                "esx host '%s': the migration source of %s is running again; not deleting it"
                % (host.name, instance.name)
            )
        self._wait(host, vm.Destroy_Task(), "Destroy_Task")
        return True
