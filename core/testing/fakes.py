"""In-memory fake drivers of every kind, registered like real ones under the name ``fake``.

They keep real state and enforce the same rules a real backend would (a paused guest
cannot be paused again, a stream that raises stores nothing, an etag mismatch stores
nothing), so the core's tests and the contract suites exercise real behaviour without I/O.
State lives on the driver object, keyed by host or backend name.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from overcast.errors import BadRequest, Conflict, DriverError, NotFound, Unprocessable
from overcast.hookspecs import hookimpl
from overcast.types import (
    Backend,
    BackendStats,
    BlockDevice,
    ByteRange,
    ConfigOption,
    ConnectionInfo,
    Connector,
    DriverKind,
    Host,
    HostResources,
    HvCapabilities,
    ImageFile,
    Instance,
    InstanceInfo,
    MigrationData,
    Network,
    ObjectInfo,
    ObjectSubdir,
    Port,
    PowerState,
    Router,
    SnapshotRef,
    SnapshotResult,
    StoredImage,
    VifDetails,
    VolumeLocation,
    VolumeRef,
)

FAKE = "fake"


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
    def hv_get_console_output(self, host: Host, instance: Instance, length: int | None) -> str:
        lines = self._guest(host, instance)["console"]
        return "\n".join(lines[-length:] if length else lines) + "\n"

    @hookimpl
    def hv_migrate_disk_and_power_off(self, host: Host, instance: Instance, dest: Host) -> MigrationData:
        guest = self._guest(host, instance)
        guest["state"] = PowerState.SHUTDOWN
        return MigrationData(source_host=host.name, dest_host=dest.name)

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
            guest = dict(source) if source else {
                "id": instance.uuid, "instance": instance, "console": [], "vifs": {}, "volumes": {}
            }
            guest["state"] = PowerState.RUNNING if power_on else PowerState.SHUTDOWN
            self.guests[host.name][instance.name] = guest
        return self._info(guest)

    @hookimpl
    def hv_confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        with self.lock:
            self.guests[host.name].pop(instance.name, None)
        return True

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
    def hv_attach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        guest = self._guest(host, instance)
        if mountpoint in guest["volumes"]:
            raise Conflict(f"{mountpoint} is already in use on {instance.name}")
        guest["volumes"][mountpoint] = connection_info
        guest["console"].append(f"TINYGUEST-DISK-ADDED {mountpoint}")
        return True

    @hookimpl
    def hv_detach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
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


class FakeVolumeDriver:
    """Volumes as byte arrays in memory; snapshots and clones copy-on-write by reference."""

    def __init__(self) -> None:
        self.volumes: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # backend -> location -> vol
        self.snapshots: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.exports: dict[str, set[str]] = defaultdict(set)  # location -> hosts

    def _capacity(self, backend: Backend) -> int:
        return int(backend.options.get("capacity_gb") or 1000)

    def _vol(self, backend: Backend, volume: VolumeRef) -> dict[str, Any]:
        try:
            return self.volumes[backend.name][volume.location]
        except KeyError:
            raise NotFound(f"volume {volume.id} has no data on backend {backend.name}") from None

    def _used(self, backend: Backend) -> int:
        return sum(v["size_gb"] for v in self.volumes[backend.name].values())

    def _new(self, backend: Backend, volume: VolumeRef, content: dict[int, bytes]) -> VolumeLocation:
        if self._used(backend) + volume.size_gb > self._capacity(backend):
            raise DriverError(f"backend {backend.name} has no room for {volume.size_gb} GiB")
        location = f"fake://{backend.name}/volume-{volume.id}"
        self.volumes[backend.name][location] = {"size_gb": volume.size_gb, "blocks": dict(content)}
        return VolumeLocation(location=location, size_gb=volume.size_gb, copy_on_write=bool(content))

    @hookimpl
    def vol_init_backend(self, backend: Backend) -> bool:
        self.volumes.setdefault(backend.name, {})
        return True

    @hookimpl
    def vol_get_stats(self, backend: Backend) -> BackendStats:
        total = self._capacity(backend)
        return BackendStats(total_gb=total, free_gb=total - self._used(backend), connection_types=frozenset({"fake"}))

    @hookimpl
    def vol_create(self, backend: Backend, volume: VolumeRef) -> VolumeLocation:
        return self._new(backend, volume, {})

    @hookimpl
    def vol_delete(self, backend: Backend, volume: VolumeRef) -> bool:
        if self.exports.get(volume.location):
            raise Conflict(f"volume {volume.id} is still exported to {sorted(self.exports[volume.location])}")
        self.volumes[backend.name].pop(volume.location, None)
        return True

    @hookimpl
    def vol_extend(self, backend: Backend, volume: VolumeRef, new_size_gb: int) -> bool:
        vol = self._vol(backend, volume)
        if new_size_gb < vol["size_gb"]:
            raise DriverError(f"cannot shrink volume {volume.id} from {vol['size_gb']} to {new_size_gb} GiB")
        vol["size_gb"] = new_size_gb
        return True

    @hookimpl
    def vol_create_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> VolumeLocation:
        vol = self._vol(backend, snapshot.volume)
        location = f"fake://{backend.name}/snapshot-{snapshot.id}"
        self.snapshots[backend.name][location] = {"size_gb": vol["size_gb"], "blocks": dict(vol["blocks"])}
        return VolumeLocation(location=location, size_gb=vol["size_gb"], copy_on_write=True)

    @hookimpl
    def vol_delete_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> bool:
        self.snapshots[backend.name].pop(snapshot.location, None)
        return True

    @hookimpl
    def vol_create_from_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> VolumeLocation:
        try:
            snap = self.snapshots[backend.name][snapshot.location]
        except KeyError:
            raise NotFound(f"snapshot {snapshot.id} has no data on backend {backend.name}") from None
        return self._new(backend, volume, snap["blocks"] or {0: b""})

    @hookimpl
    def vol_clone(self, backend: Backend, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
        return self._new(backend, volume, self._vol(backend, source)["blocks"] or {0: b""})

    @hookimpl
    def vol_initialize_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> ConnectionInfo:
        self._vol(backend, volume)
        if "fake" not in connector.connection_types:
            from overcast.errors import UnsupportedOperation

            raise UnsupportedOperation(f"host {connector.host} cannot attach 'fake' volumes")
        self.exports[volume.location].add(connector.host)
        return ConnectionInfo(driver_volume_type="fake", data={"location": volume.location})

    @hookimpl
    def vol_terminate_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> bool:
        self.exports[volume.location].discard(connector.host)
        return True


class FakeNetworkDriver:
    """Records the plumbing it was asked for, so tests can check set-up and tear-down."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))

    @hookimpl
    def net_init_host(self, backend: Backend, host: str) -> bool:
        self.state[host]
        return True

    @hookimpl
    def net_bind_port(self, backend: Backend, host: str, port: Port) -> VifDetails | None:
        return VifDetails(
            vif_type="bridge",
            port_id=port.id,
            mac_address=port.mac_address,
            network_id=port.network_id,
            details={"bridge": f"ocbr-{port.network_id[:8]}", "devname": f"octap{port.id[:8]}"},
        )

    @hookimpl
    def net_setup_network(self, backend: Backend, host: str, network: Network) -> bool:
        self.state[host]["networks"][network.id] = network
        return True

    @hookimpl
    def net_teardown_network(self, backend: Backend, host: str, network: Network) -> bool:
        self.state[host]["networks"].pop(network.id, None)
        return True

    @hookimpl
    def net_setup_port(self, backend: Backend, host: str, network: Network, port: Port) -> bool:
        self.state[host]["ports"][port.id] = port
        return True

    @hookimpl
    def net_teardown_port(self, backend: Backend, host: str, port: Port) -> bool:
        self.state[host]["ports"].pop(port.id, None)
        return True

    @hookimpl
    def net_setup_dhcp(self, backend: Backend, host: str, network: Network, ports: Sequence[Port]) -> bool:
        self.state[host]["dhcp"][network.id] = tuple(ports)
        return True

    @hookimpl
    def net_teardown_dhcp(self, backend: Backend, host: str, network: Network) -> bool:
        self.state[host]["dhcp"].pop(network.id, None)
        return True

    @hookimpl
    def net_setup_router(self, backend: Backend, host: str, router: Router) -> bool:
        self.state[host]["routers"][router.id] = router
        return True

    @hookimpl
    def net_teardown_router(self, backend: Backend, host: str, router: Router) -> bool:
        self.state[host]["routers"].pop(router.id, None)
        return True

    @hookimpl
    def net_list_resources(self, backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
        return {kind: sorted(items) for kind, items in self.state[host].items() if items}


class FakeImageStore:
    """Images in memory, published only once the whole stream arrived."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    @hookimpl
    def img_add(self, backend: Backend, image_id: str, data: Iterable[bytes], size: int | None) -> StoredImage:
        content = b"".join(data)  # a raising stream leaves nothing behind
        location = f"fake://{backend.name}/{image_id}"
        self.blobs[location] = content
        return StoredImage(location=location, size=len(content))

    def _blob(self, location: str) -> bytes:
        try:
            return self.blobs[location]
        except KeyError:
            raise NotFound(f"no image data at {location}") from None

    @hookimpl
    def img_get(self, backend: Backend, location: str, offset: int, length: int | None) -> Iterator[bytes]:
        blob = self._blob(location)
        end = len(blob) if length is None else min(len(blob), offset + length)
        return iter([blob[offset:end]])

    @hookimpl
    def img_delete(self, backend: Backend, location: str) -> bool:
        self.blobs.pop(location, None)
        return True

    @hookimpl
    def img_get_size(self, backend: Backend, location: str) -> int:
        return len(self._blob(location))


class FakeObjectStore:
    """Objects in memory with Swift's listing semantics."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], tuple[ObjectInfo, bytes]] = {}
        self.lock = threading.Lock()

    def _get(self, account: str, container: str, name: str) -> tuple[ObjectInfo, bytes]:
        try:
            return self.objects[(account, container, name)]
        except KeyError:
            raise NotFound(f"object {container}/{name} not found") from None

    @hookimpl
    def obj_put(
        self,
        backend: Backend,
        account: str,
        container: str,
        name: str,
        data: Iterable[bytes],
        content_type: str,
        metadata: Mapping[str, str],
        expected_etag: str | None,
    ) -> ObjectInfo:
        if "\x00" in name or len(name.encode("utf-8")) > 1024 or not name:
            raise BadRequest("object names are 1 to 1024 bytes of UTF-8 without NUL")
        md5 = hashlib.md5()
        chunks = []
        for chunk in data:
            md5.update(chunk)
            chunks.append(chunk)
        etag = md5.hexdigest()
        if expected_etag and expected_etag.strip('"').lower() != etag:
            raise Unprocessable(f"ETag {expected_etag} does not match the content's MD5 {etag}")
        content = b"".join(chunks)
        info = ObjectInfo(name=name, size=len(content), etag=etag, content_type=content_type,
                          last_modified=time.time(), metadata=dict(metadata))
        with self.lock:
            self.objects[(account, container, name)] = (info, content)
        return info

    @hookimpl
    def obj_get(
        self, backend: Backend, account: str, container: str, name: str, byte_range: ByteRange | None
    ) -> tuple[ObjectInfo, Iterator[bytes]]:
        info, content = self._get(account, container, name)
        if byte_range is not None:
            content = content[byte_range.first : byte_range.last + 1]
        return info, iter([content])

    @hookimpl
    def obj_head(self, backend: Backend, account: str, container: str, name: str) -> ObjectInfo:
        return self._get(account, container, name)[0]

    @hookimpl
    def obj_post(self, backend: Backend, account: str, container: str, name: str, metadata: Mapping[str, str]) -> ObjectInfo:
        with self.lock:
            info, content = self._get(account, container, name)
            import dataclasses

            info = dataclasses.replace(info, metadata=dict(metadata))
            self.objects[(account, container, name)] = (info, content)
        return info

    @hookimpl
    def obj_delete(self, backend: Backend, account: str, container: str, name: str) -> bool:
        with self.lock:
            if self.objects.pop((account, container, name), None) is None:
                raise NotFound(f"object {container}/{name} not found")
        return True

    @hookimpl
    def obj_list(
        self,
        backend: Backend,
        account: str,
        container: str,
        prefix: str | None,
        delimiter: str | None,
        marker: str | None,
        end_marker: str | None,
        limit: int,
        reverse: bool,
    ) -> Sequence[ObjectInfo | ObjectSubdir]:
        names = sorted(n for (a, c, n) in self.objects if a == account and c == container)
        return swift_listing(
            names, lambda n: self.objects[(account, container, n)][0], prefix, delimiter, marker, end_marker, limit, reverse
        )

    @hookimpl
    def obj_stats(self, backend: Backend, account: str, container: str) -> Mapping[str, int]:
        with self.lock:
            sizes = [i.size for (a, c, _n), (i, _d) in self.objects.items() if a == account and c == container]
        return {"objects": len(sizes), "bytes": sum(sizes)}

    @hookimpl
    def obj_drop_container(self, backend: Backend, account: str, container: str) -> bool:
        with self.lock:
            if any(a == account and c == container for (a, c, _n) in self.objects):
                raise Conflict(f"container {container} is not empty")
        return True


def swift_listing(
    names: Sequence[str],
    info_of: Any,
    prefix: str | None,
    delimiter: str | None,
    marker: str | None,
    end_marker: str | None,
    limit: int,
    reverse: bool,
) -> list[ObjectInfo | ObjectSubdir]:
    """Swift's listing rules over sorted ``names``: prefix, delimiter roll-up into
    pseudo-folders, marker/end_marker (exclusive, in listing order), limit, reverse."""
    ordered = list(reversed(names)) if reverse else list(names)
    out: list[ObjectInfo | ObjectSubdir] = []
    seen_dirs: set[str] = set()
    for name in ordered:
        if prefix and not name.startswith(prefix):
            continue
        if marker and (name >= marker if reverse else name <= marker):
            continue
        if end_marker and (name <= end_marker if reverse else name >= end_marker):
            continue
        if delimiter:
            rest = name[len(prefix or ""):]
            cut = rest.find(delimiter)
            if cut >= 0:
                subdir = (prefix or "") + rest[: cut + len(delimiter)]
                if subdir not in seen_dirs and not (marker and not reverse and subdir <= marker):
                    seen_dirs.add(subdir)
                    out.append(ObjectSubdir(subdir=subdir))
                if len(out) >= limit:
                    break
                continue
        out.append(info_of(name))
        if len(out) >= limit:
            break
    return out


class FakeDriversPlugin:
    """Registers one fake driver of every kind under the name ``fake``."""

    def __init__(self) -> None:
        self.hypervisor = FakeHypervisor()
        self.volume = FakeVolumeDriver()
        self.network = FakeNetworkDriver()
        self.image_store = FakeImageStore()
        self.object_store = FakeObjectStore()

    @hookimpl
    def overcast_register_drivers(self, registry: Any) -> None:
        registry.add(DriverKind.HYPERVISOR, FAKE, self.hypervisor, "in-memory fake hypervisor")
        registry.add(DriverKind.VOLUME, FAKE, self.volume, "in-memory fake volumes")
        registry.add(DriverKind.NETWORK, FAKE, self.network, "records network plumbing")
        registry.add(DriverKind.IMAGE_STORE, FAKE, self.image_store, "in-memory images")
        registry.add(DriverKind.OBJECT_STORE, FAKE, self.object_store, "in-memory objects")

    @hookimpl
    def overcast_add_config_options(self) -> Sequence[ConfigOption]:
        hv = DriverKind.HYPERVISOR
        return [
            ConfigOption(hv, FAKE, "vcpus", int, 16, help="vCPUs the fake host reports"),
            ConfigOption(hv, FAKE, "memory_mb", int, 65536, help="RAM the fake host reports"),
            ConfigOption(hv, FAKE, "local_gb", int, 1000, help="disk the fake host reports"),
            ConfigOption(hv, FAKE, "hypervisor_type", str, "fake", help="hypervisor_type it matches"),
            ConfigOption(hv, FAKE, "image_types", list, ["qcow2", "raw"], help="disk formats it boots"),
            ConfigOption(DriverKind.VOLUME, FAKE, "capacity_gb", int, 1000, help="capacity it reports"),
        ]
