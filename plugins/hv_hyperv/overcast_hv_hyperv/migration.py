"""The ``hyperv`` driver's migrations: ``Move-VM`` between hosts, live or cold (with confirm /
revert)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

from overcast.errors import Conflict, DriverError
from overcast.hookspecs import hookimpl
from overcast.remote import RevertByPowerOn, refuse_resize
from overcast.types import BlockDevice, Flavor, Host, ImageFile, Instance, InstanceInfo, MigrationData, VifDetails
from overcast_hv_hyperv.base import MiB, option, translate
from overcast_hv_hyperv.powershell import Pattern, Script


class MigrationMixin(RevertByPowerOn):
    """Migration operations of :class:`~overcast_hv_hyperv.driver.HyperVDriver`."""

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
        [os_info] = self.client(host).json(
            Script().json("Get-CimInstance", select=["FreePhysicalMemory"], ClassName="Win32_OperatingSystem").text()
        )
        if int(os_info["FreePhysicalMemory"]) * 1024 < int(vm.get("MemoryStartup") or 0):
            raise Conflict(
                "hyperv host '%s' has %d MiB free; instance %s needs %d MiB"
                % (
                    host.name,
                    int(os_info["FreePhysicalMemory"]) // 1024,
                    instance.name,
                    int(vm["MemoryStartup"]) // MiB,
                )
            )
        return MigrationData(source_host=source.name, dest_host=host.name, data=target)

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

    def _move(self, host: Host, instance: Instance, data: dict) -> None:
        self._run(
            host,
            Script().cmd(
                "Move-VM",
                Name=Pattern(instance.name),
                DestinationHost=data["computer_name"],
                IncludeStorage=True,
                DestinationStoragePath=data["storage_path"],
            ),
        )

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
    def hv_migrate_disk_and_power_off(
        self, host: Host, instance: Instance, dest: Host, flavor: Flavor
    ) -> MigrationData:
        """Stop the guest and copy its root disk to the share for the destination. The source VM
        stays (stopped) until ``confirm_migration``; a revert simply powers it on again."""
        refuse_resize("hyperv", host, instance, flavor)
        local, unc = self._share(host, "cold-migrate")
        if (
            str(option(host, "share_unc")).rstrip("\\").lower()
            != str(option(dest, "share_unc") or "").rstrip("\\").lower()
        ):
            raise Conflict(
                "hyperv hosts '%s' and '%s' do not share an SMB share; cold migration needs one"
                % (host.name, dest.name)
            )
        disks = self.client(host).json(
            Script().json("Get-VMHardDiskDrive", select=["Path"], VMName=Pattern(instance.name)).text()
        )
        own = "%s\\%s." % (self._disk_dir(host), instance.name)
        roots = [d["Path"] for d in disks if str(d["Path"]).lower().startswith(own.lower())]
        if not roots:
            raise DriverError("hyperv host '%s': instance %s has no root disk to migrate" % (host.name, instance.name))
        self.hv_power_off(host=host, instance=instance, timeout=60, retry_interval=1)
        transit = "%s.vhdx" % uuid.uuid4()
        os.makedirs(os.path.join(local, "migrations"), exist_ok=True)
        self._run(
            host,
            Script().cmd(
                "Convert-VHD", Path=roots[0], DestinationPath="%s\\migrations\\%s" % (unc, transit), VHDType="Dynamic"
            ),
        )
        return MigrationData(source_host=host.name, dest_host=dest.name, data={"transit": transit})

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
        local, unc = self._share(host, "receive a cold migration")
        transit = str(migration.data["transit"])
        if "\\" in transit or "/" in transit:
            raise DriverError("hyperv host '%s': bad migration data %r" % (host.name, dict(migration.data)))
        if self._exists(host, instance):
            raise Conflict("instance %s already exists on hyperv host '%s'" % (instance.name, host.name))
        disk = "%s\\%s.vhdx" % (self._disk_dir(host), instance.name)
        self._run(
            host,
            Script().cmd(
                "Convert-VHD", Path="%s\\migrations\\%s" % (unc, transit), DestinationPath=disk, VHDType="Dynamic"
            ),
        )
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
