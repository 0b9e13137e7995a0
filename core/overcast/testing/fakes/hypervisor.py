"""An in-memory hypervisor with Nova's power-state rules."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from overcast.errors import Conflict, DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.types import (
    CpuDiagnostics,
    DiskDiagnostics,
    InstanceDiagnostics,
    NicDiagnostics,
    BlockDevice,
    ConnectionInfo,
    Connector,
    Flavor,
    Host,
    HostResources,
    HvCapabilities,
    ImageFile,
    Instance,
    InstanceInfo,
    MigrationData,
    PowerState,
    SnapshotResult,
    VifDetails,
)


class FakeHypervisor:
    """A hypervisor that keeps guests in memory, with Nova's power-state rules."""

    def __init__(self) -> None:
        self.guests: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # host -> name -> guest
        self.lock = threading.Lock()

    def _guest(self, host: Host, instance: Instance) -> dict[str, Any]:
        try:
            return self.guests[host.name][instance.name]
        except KeyError:
            raise NotFound(f"instance {instance.name} not found on host {host.name}") from None

    def _info(self, guest: dict[str, Any]) -> InstanceInfo:
        flavor = guest["instance"].flavor
        return InstanceInfo(
            state=guest["state"],
            max_mem_kb=flavor.memory_mb * 1024,
            mem_kb=flavor.memory_mb * 1024,
            num_cpu=flavor.vcpus,
            internal_id=guest["id"],
        )

    def _require(self, guest: dict[str, Any], *states: PowerState) -> None:
        if guest["state"] not in states:
            allowed = ", ".join(s.value for s in states)
            raise Conflict(f"guest is {guest['state'].value}; this needs it {allowed}")

    @hookimpl
    def hv_init_host(self, host: Host) -> bool:
        self.guests.setdefault(host.name, {})
        return True

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        return HvCapabilities(
            hypervisor_type=str(host.options.get("hypervisor_type") or "fake"),
            image_types=frozenset(host.options.get("image_types") or ("qcow2", "raw")),
            volume_connection_types=frozenset({"file", "fake"}),
            vif_types=frozenset({"bridge", "fake"}),
            live_migration=True,
            resize=True,
            shared_storage=bool(host.options.get("shared_storage", False)),
            boot_from_volume=bool(host.options.get("boot_from_volume", True)),
        )

    @hookimpl
    def hv_get_available_resource(self, host: Host) -> HostResources:
        guests = list(self.guests[host.name].values())
        running = [g for g in guests if g["state"] == PowerState.RUNNING]
        return HostResources(
            vcpus=int(host.options.get("vcpus") or 16),
            memory_mb=int(host.options.get("memory_mb") or 65536),
            local_gb=int(host.options.get("local_gb") or 1000),
            vcpus_used=sum(g["instance"].flavor.vcpus for g in guests),
            memory_mb_used=sum(g["instance"].flavor.memory_mb for g in guests),
            local_gb_used=sum(g["instance"].flavor.root_gb for g in guests),
            running_vms=len(running),
            hypervisor_type="fake",
            hypervisor_version=1,
            hypervisor_hostname=host.name,
        )

    @hookimpl
    def hv_list_instances(self, host: Host) -> Sequence[str]:
        return sorted(self.guests[host.name])

    @hookimpl
    def hv_get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        return self._info(self._guest(host, instance))

    @hookimpl
    def hv_get_diagnostics(self, host: Host, instance: Instance) -> InstanceDiagnostics:
        """The in-memory guest's sizes; it does no I/O, so its counters are zero."""
        with self.lock:
            guest = self._guest(host, instance)
            self._require(guest, PowerState.RUNNING)
            info = self._info(guest)
            vifs = list(guest["vifs"].values())
        return InstanceDiagnostics(
            state=info.state,
            driver="fake",
            hypervisor="fake",
            max_mem_kb=info.max_mem_kb,
            mem_kb=info.mem_kb,
            cpus=tuple(CpuDiagnostics(id=i, time_ns=0) for i in range(info.num_cpu)),
            disks=(DiskDiagnostics(device="vda", read_bytes=0, read_requests=0, write_bytes=0, write_requests=0),),
            nics=tuple(NicDiagnostics(device=f"tap{v.port_id[:11]}", mac_address=v.mac_address) for v in vifs),
        )

    @hookimpl
    def hv_spawn(
        self,
        host: Host,
        instance: Instance,
        image: ImageFile | None,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
    ) -> InstanceInfo:
        if image is not None:
            caps = self.hv_get_capabilities(host)
            if image.disk_format not in caps.image_types:
                raise DriverError(f"host {host.name} cannot boot {image.disk_format} images")
        with self.lock:
            if instance.name in self.guests[host.name]:
                raise Conflict(f"instance {instance.name} already exists on {host.name}")
            guest = {
                "id": instance.uuid,
                "instance": instance,
                "state": PowerState.RUNNING,
                "console": [f"FAKE-BOOTED {instance.name}", "TINYGUEST-READY fake"],
                "vifs": {v.port_id: v for v in network_info},
                "volumes": {b.mountpoint: b.connection_info for b in block_devices},
            }
            self.guests[host.name][instance.name] = guest
        return self._info(guest)

    @hookimpl
    def hv_destroy(self, host: Host, instance: Instance, destroy_disks: bool) -> bool:
        with self.lock:
            self.guests[host.name].pop(instance.name, None)
        return True

    @hookimpl
    def hv_reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        guest = self._guest(host, instance)
        if not hard:
            self._require(guest, PowerState.RUNNING)
        guest["state"] = PowerState.RUNNING
        guest["console"].append("FAKE-REBOOTED")
        return True

    @hookimpl
    def hv_power_on(self, host: Host, instance: Instance) -> bool:
        guest = self._guest(host, instance)
        self._require(guest, PowerState.SHUTDOWN, PowerState.CRASHED)
        guest["state"] = PowerState.RUNNING
        return True

    @hookimpl
    def hv_power_off(self, host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
        guest = self._guest(host, instance)
        guest["state"] = PowerState.SHUTDOWN
        return True

    @hookimpl
    def hv_pause(self, host: Host, instance: Instance) -> bool:
        guest = self._guest(host, instance)
        self._require(guest, PowerState.RUNNING)
        guest["state"] = PowerState.PAUSED
        return True

    @hookimpl
    def hv_unpause(self, host: Host, instance: Instance) -> bool:
        guest = self._guest(host, instance)
        self._require(guest, PowerState.PAUSED)
        guest["state"] = PowerState.RUNNING
        return True

    @hookimpl
    def hv_suspend(self, host: Host, instance: Instance) -> bool:
        guest = self._guest(host, instance)
        self._require(guest, PowerState.RUNNING, PowerState.PAUSED)
        guest["state"] = PowerState.SUSPENDED
        return True

    @hookimpl
    def hv_resume(self, host: Host, instance: Instance) -> bool:
        guest = self._guest(host, instance)
        self._require(guest, PowerState.SUSPENDED)
        guest["state"] = PowerState.RUNNING
        return True

    @hookimpl
    def hv_snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        import os
        import tempfile

        self._guest(host, instance)
        fd, path = tempfile.mkstemp(prefix="fake-snapshot-", suffix=".raw")
        with os.fdopen(fd, "wb") as f:
            f.write(f"snapshot of {instance.name} as {image_name}\n".encode())
        return SnapshotResult(path=path, disk_format="raw", size=os.path.getsize(path))

    @hookimpl
    def hv_rescue(self, host: Host, instance: Instance, image: ImageFile) -> InstanceInfo:
        if image.disk_format not in self.hv_get_capabilities(host).image_types:
            raise DriverError(f"host {host.name} cannot boot {image.disk_format} images")
        with self.lock:
            guest = self._guest(host, instance)
            if guest.get("rescue"):
                raise Conflict(f"instance {instance.name} is already rescued")
            guest["rescue"] = {"image": image.image.id, "state": guest["state"]}
            guest["state"] = PowerState.RUNNING
            guest["console"].append(f"FAKE-RESCUE {instance.name} image={image.image.id} vdb=root")
        return self._info(guest)

    @hookimpl
    def hv_unrescue(self, host: Host, instance: Instance) -> InstanceInfo:
        with self.lock:
            guest = self._guest(host, instance)
            if not guest.get("rescue"):
                raise Conflict(f"instance {instance.name} is not rescued")
            guest.pop("rescue")
            guest["state"] = PowerState.RUNNING
            guest["console"].append(f"FAKE-UNRESCUE {instance.name}")
        return self._info(guest)

    @hookimpl
    def hv_get_console_output(self, host: Host, instance: Instance, length: int | None) -> str:
        lines = self._guest(host, instance)["console"]
        return "\n".join(lines[-length:] if length else lines) + "\n"

    @hookimpl
    def hv_migrate_disk_and_power_off(
        self, host: Host, instance: Instance, dest: Host, flavor: Flavor
    ) -> MigrationData:
        """Stop the guest; the guest as it is now is kept for a revert (in memory)."""
        with self.lock:
            guest = self._guest(host, instance)
            guest["state"] = PowerState.SHUTDOWN
            guest["before_resize"] = dict(guest)
        return MigrationData(source_host=host.name, dest_host=dest.name, data={"flavor": flavor.id})

    @hookimpl
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
        with self.lock:
            source = self.guests[migration.source_host].get(instance.name)
            guest = (
                dict(source)
                if source
                else {"id": instance.uuid, "instance": instance, "console": [], "vifs": {}, "volumes": {}}
            )
            guest["instance"] = instance  # the new flavor of a resize
            guest["volumes"] = {b.mountpoint: b.connection_info for b in block_devices}
            guest["state"] = PowerState.RUNNING if power_on else PowerState.SHUTDOWN
            self.guests[host.name][instance.name] = guest
        return self._info(guest)

    @hookimpl
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        with self.lock:
            if migration.dest_host == host.name:  # resized in place: the guest stays
                self.guests[host.name].get(instance.name, {}).pop("before_resize", None)
            else:
                self.guests[host.name].pop(instance.name, None)
        return True

    @hookimpl
    def hv_finish_revert_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
        power_on: bool,
    ) -> InstanceInfo:
        with self.lock:
            guest = self._guest(host, instance)
            guest = dict(guest.pop("before_resize", None) or guest)
            guest["instance"] = instance  # the old flavor
            guest["state"] = PowerState.RUNNING if power_on else PowerState.SHUTDOWN
            self.guests[host.name][instance.name] = guest
        return self._info(guest)

    @hookimpl
    def hv_check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        if instance.name in self.guests[host.name]:
            raise Conflict(f"{instance.name} already exists on {host.name}")
        return MigrationData(source_host=source.name, dest_host=host.name)

    @hookimpl
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
    def hv_live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        with self.lock:
            guest = self.guests[host.name].pop(instance.name, None)
            if guest is None:
                raise NotFound(f"instance {instance.name} not found on host {host.name}")
            self.guests[dest.name][instance.name] = guest
        return True

    @hookimpl
    def hv_post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        return True

    @hookimpl
    def hv_get_volume_connector(self, host: Host) -> Connector:
        return Connector(host=host.name, connection_types=frozenset({"file", "fake"}), ip="127.0.0.1")

    @hookimpl
    def hv_attach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        guest = self._guest(host, instance)
        if mountpoint in guest["volumes"]:
            raise Conflict(f"{mountpoint} is already in use on {instance.name}")
        guest["volumes"][mountpoint] = connection_info
        guest["console"].append(f"TINYGUEST-DISK-ADDED {mountpoint}")
        return True

    @hookimpl
    def hv_detach_volume(
        self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
    ) -> bool:
        guest = self._guest(host, instance)
        if guest["volumes"].pop(mountpoint, None) is None:
            raise NotFound(f"nothing is attached at {mountpoint} on {instance.name}")
        guest["console"].append(f"TINYGUEST-DISK-REMOVED {mountpoint}")
        return True

    @hookimpl
    def hv_plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        guest = self._guest(host, instance)
        guest["vifs"].update({v.port_id: v for v in network_info})
        return True

    @hookimpl
    def hv_unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        guest = self._guest(host, instance)
        for vif in network_info:
            guest["vifs"].pop(vif.port_id, None)
        return True

    @hookimpl
    def hv_attach_interface(self, host: Host, instance: Instance, vif: VifDetails) -> bool:
        guest = self._guest(host, instance)
        if any(v.mac_address.lower() == vif.mac_address.lower() for v in guest["vifs"].values()):
            raise Conflict(f"{instance.name} already has a NIC with MAC {vif.mac_address}")
        guest["vifs"][vif.port_id] = vif
        if guest["state"] == PowerState.RUNNING:  # what the tiny guest's hot-plug watcher prints
            guest["console"].append(f"TINYGUEST-NIC-ADDED eth{len(guest['vifs']) - 1}")
        return True

    @hookimpl
    def hv_detach_interface(self, host: Host, instance: Instance, vif: VifDetails) -> bool:
        guest = self._guest(host, instance)
        for port_id, plugged in list(guest["vifs"].items()):
            if plugged.mac_address.lower() == vif.mac_address.lower():
                del guest["vifs"][port_id]
        return True
