"""The whole contract between Overcast's core and its plugins.

Two sorts of hook live here:

* **Registration hooks** (``overcast_*``) are broadcast to every plugin: a plugin adds
  drivers, config options, CLI commands, scheduler filters and weighers, and listens to
  events.
* **Operation hooks** (``hv_*``, ``vol_*``, ``net_*``, ``img_*``, ``obj_*``) are
  ``firstresult``: the core *routes* each call to the one driver a host or backend names
  (``overcast.plugins.PluginManager.driver``), so only that driver's implementation answers,
  while hook wrappers from other plugins (audit, metrics) still run.

Rules every operation hook follows:

* Arguments are keyword-only and typed with :mod:`overcast.types`; the first is always the
  target (``host: Host`` or ``backend: Backend``), because one driver serves many targets.
* Every operation returns a value. Hooks with nothing to report return ``True``. ``None``
  means "this driver did not handle it" and the core raises
  :class:`~overcast.errors.NoDriverAnswered`.
* A driver implements only what it can do. The set of hooks it implements *is* its operation
  capability: the core refuses a missing one with
  :class:`~overcast.errors.UnsupportedOperation` before calling anything.
* Failures raise :mod:`overcast.errors` types (``DriverError`` and subclasses,
  ``NotFound``, ``Conflict``, ``BackendUnavailable``) with a message a user can act on.
  Never let a client library's exception escape.
* "Blocks" says whether the hook may do slow I/O. Every operation hook may block: the core
  calls them from worker threads or host agents, never from the event loop.

A driver is an object (a module or an instance) whose methods carry ``@hookimpl``; a plugin
package adds it with ``registry.add(kind, name, driver)`` in ``overcast_register_drivers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from overcast.types import (
    Backend,
    BackendStats,
    BlockDevice,
    ByteRange,
    ConfigOption,
    ConnectionInfo,
    Connector,
    Flavor,
    Host,
    HostResources,
    HostState,
    HvCapabilities,
    ImageFile,
    Instance,
    InstanceInfo,
    MigrationData,
    Network,
    ObjectInfo,
    ObjectSubdir,
    Port,
    Router,
    ScheduleRequest,
    SnapshotRef,
    SnapshotResult,
    StoredImage,
    VifDetails,
    VolumeLocation,
    VolumeRef,
)

if TYPE_CHECKING:
    import click

    from overcast.plugins import DriverRegistry

PROJECT_NAME = "overcast"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ======================================================================================
# Registration hooks (broadcast)
# ======================================================================================


@hookspec
def overcast_register_drivers(registry: DriverRegistry) -> None:
    """Add this plugin's drivers: ``registry.add(DriverKind.HYPERVISOR, "kvm", driver)``.

    Called once when the plugin manager loads. One package may add several drivers of
    several kinds. Must not do I/O or connect anywhere: connections happen in ``*_init``
    hooks or on first use. Raising here marks the plugin as failed.
    """


@hookspec
def overcast_add_config_options() -> Sequence[ConfigOption]:
    """Declare the options this plugin's drivers accept in the config tables that name them.

    Returns the options of all the plugin's drivers. The core validates each host and
    backend table against them: unknown keys, missing required keys, wrong types and values
    outside ``choices`` are errors that name the file, table and key.
    """


@hookspec
def overcast_register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``overcast`` CLI (``cli.add_command(...)``)."""


@hookspec
def overcast_filter_hosts(
    request: ScheduleRequest, hosts: Sequence[HostState]
) -> Sequence[HostState] | None:
    """A scheduler filter: return the hosts that may take ``request``, or ``None`` to abstain.

    Called after the core's own filters with the hosts that passed them. The core keeps a
    host only if every implementation keeps it. Must be fast (no I/O): it runs on every
    placement, over every host.
    """


@hookspec
def overcast_weigh_hosts(
    request: ScheduleRequest, hosts: Sequence[HostState]
) -> Mapping[str, float] | None:
    """A scheduler weigher: return a weight per host name (higher wins), or ``None``.

    Weights from all implementations are normalised to 0..1 and added to the core's own.
    Must be fast (no I/O).
    """


@hookspec
def overcast_instance_state_changed(
    instance_uuid: str, project_id: str, old_status: str, new_status: str
) -> None:
    """Event: a server's status changed (BUILD -> ACTIVE, ...). Must not block or raise."""


# ======================================================================================
# Hypervisor drivers (hv_*): one driver serves many hosts; every hook gets ``host``
# ======================================================================================


@hookspec(firstresult=True)
def hv_init_host(host: Host) -> bool:
    """Connect to ``host``'s hypervisor and prepare it (directories, sanity checks).

    Called when the host's agent starts, before any other hook for that host. Idempotent.
    Raises ``BackendUnavailable`` when the endpoint cannot be reached or refuses the
    credentials. Blocks.
    """


@hookspec(firstresult=True)
def hv_get_capabilities(host: Host) -> HvCapabilities:
    """What ``host`` can take: image formats, volume connection types, vif types, live
    migration. Must be cheap after ``hv_init_host`` (cache it). Blocks at most briefly."""


@hookspec(firstresult=True)
def hv_get_available_resource(host: Host) -> HostResources:
    """``host``'s total and used vCPUs, RAM and disk as the hypervisor sees them. Blocks."""


@hookspec(firstresult=True)
def hv_list_instances(host: Host) -> Sequence[str]:
    """Hypervisor-side names (``Instance.name``) of every guest Overcast made on ``host``,
    running or not. Used to reconcile after a restart. Blocks."""


@hookspec(firstresult=True)
def hv_get_info(host: Host, instance: Instance) -> InstanceInfo:
    """The guest's power state and usage. Raises ``NotFound`` if it does not exist."""


@hookspec(firstresult=True)
def hv_spawn(
    host: Host,
    instance: Instance,
    image: ImageFile | None,
    network_info: Sequence[VifDetails],
    block_devices: Sequence[BlockDevice],
) -> InstanceInfo:
    """Create and boot the guest: root disk from ``image`` (a verified local file in a format
    from this host's ``image_types``) sized to ``instance.flavor.root_gb``, one NIC per vif,
    the given volumes attached, console output captured for ``hv_get_console_output``.

    Returns once the hypervisor reports the guest running (not once the OS is up). On
    failure it cleans up what it made and raises ``DriverError``. Blocks.
    """


@hookspec(firstresult=True)
def hv_destroy(host: Host, instance: Instance, destroy_disks: bool) -> bool:
    """Power off hard and remove the guest and (if ``destroy_disks``) its local disks.
    A guest that is already gone is success. Blocks."""


@hookspec(firstresult=True)
def hv_reboot(host: Host, instance: Instance, hard: bool) -> bool:
    """Soft reboot asks the guest OS (ACPI) and falls back to hard after a timeout;
    hard resets. Raises ``Conflict`` if the guest is not running. Blocks."""


@hookspec(firstresult=True)
def hv_power_on(host: Host, instance: Instance) -> bool:
    """Start a stopped guest. Blocks."""


@hookspec(firstresult=True)
def hv_power_off(host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
    """Stop the guest: ask for a clean shutdown (ACPI / guest tools) and wait up to
    ``timeout`` seconds, then stop it hard. ``timeout=0`` stops it hard at once. Blocks."""


@hookspec(firstresult=True)
def hv_pause(host: Host, instance: Instance) -> bool:
    """Freeze the guest's vCPUs in memory. Blocks briefly."""


@hookspec(firstresult=True)
def hv_unpause(host: Host, instance: Instance) -> bool:
    """Undo ``hv_pause``. Blocks briefly."""


@hookspec(firstresult=True)
def hv_suspend(host: Host, instance: Instance) -> bool:
    """Save the guest's memory to disk and stop it (managed save / suspend). Blocks."""


@hookspec(firstresult=True)
def hv_resume(host: Host, instance: Instance) -> bool:
    """Restore a suspended guest. Blocks."""


@hookspec(firstresult=True)
def hv_snapshot(host: Host, instance: Instance, image_name: str) -> SnapshotResult:
    """Copy the guest's root disk to a standalone image file (no backing file), with the
    guest quiesced or paused while copying and resumed after. Returns the file for the core
    to upload to the image service. Blocks."""


@hookspec(firstresult=True)
def hv_get_console_output(host: Host, instance: Instance, length: int | None) -> str:
    """The guest's serial console log (the last ``length`` lines if given). Blocks briefly."""


@hookspec(firstresult=True)
def hv_migrate_disk_and_power_off(
    host: Host, instance: Instance, dest: Host, flavor: Flavor
) -> MigrationData:
    """Cold migration or resize, source side: stop the guest and make its disks available
    to ``dest`` (copy them, or note that storage is shared). ``dest`` uses the same driver
    and may be ``host`` itself (a resize to the same host: keep what a revert needs to
    restore the guest as it is now). ``flavor`` is the flavor the guest will have on
    ``dest``: ``instance.flavor`` for a migration, the new one for a resize. A driver that
    cannot apply a different flavor, or cannot shrink a disk, raises ``Conflict`` here,
    before stopping anything. Blocks."""


@hookspec(firstresult=True)
def hv_finish_migration(
    host: Host,
    instance: Instance,
    migration: MigrationData,
    image: ImageFile | None,
    network_info: Sequence[VifDetails],
    block_devices: Sequence[BlockDevice],
    power_on: bool,
) -> InstanceInfo:
    """Cold migration or resize, destination side (``host`` is the destination): define the
    guest from the migrated disks with ``instance.flavor`` (the new flavor of a resize:
    vCPUs, memory, and the root disk grown to ``root_gb`` if larger) and start it if
    ``power_on``. Blocks."""


@hookspec(firstresult=True)
def hv_confirm_migration(host: Host, instance: Instance, migration: MigrationData) -> bool:
    """Cold migration or resize confirmed, source side (``host`` is the source): remove what
    was left behind for a revert. When source and destination are the same host, the
    resized guest stays. Blocks."""


@hookspec(firstresult=True)
def hv_finish_revert_migration(
    host: Host,
    instance: Instance,
    migration: MigrationData,
    network_info: Sequence[VifDetails],
    block_devices: Sequence[BlockDevice],
    power_on: bool,
) -> InstanceInfo:
    """Cold migration or resize reverted, source side (``host`` is the source): bring the
    guest back as it was before ``hv_migrate_disk_and_power_off`` -- ``instance.flavor`` is
    the old flavor, the disks are the ones kept then -- and start it if ``power_on``. On
    another destination host the core has already destroyed the guest there; on the same
    host this replaces the resized guest. Blocks."""


@hookspec(firstresult=True)
def hv_check_can_live_migrate_destination(
    host: Host, instance: Instance, source: Host
) -> MigrationData:
    """Live migration, destination side: check this host can take the guest (CPU, disk
    room, connectivity). Raises ``Conflict`` with the reason if not. Blocks briefly."""


@hookspec(firstresult=True)
def hv_pre_live_migration(
    host: Host,
    instance: Instance,
    migration: MigrationData,
    network_info: Sequence[VifDetails],
    block_devices: Sequence[BlockDevice],
) -> MigrationData:
    """Live migration, destination side: prepare disks, vifs and volumes. Blocks."""


@hookspec(firstresult=True)
def hv_live_migration(
    host: Host, instance: Instance, dest: Host, migration: MigrationData
) -> bool:
    """Live migration, source side: move the running guest to ``dest`` (same driver),
    copying local storage if it is not shared. The guest keeps running. Blocks until done."""


@hookspec(firstresult=True)
def hv_post_live_migration(host: Host, instance: Instance, migration: MigrationData) -> bool:
    """Live migration, source side, after success: clean up local leftovers. Blocks."""


@hookspec(firstresult=True)
def hv_get_volume_connector(host: Host) -> Connector:
    """Step 1 of the attach handshake: describe this host to a volume backend."""


@hookspec(firstresult=True)
def hv_attach_volume(
    host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
) -> bool:
    """Step 3 of the attach handshake: attach the exported volume to the guest (hot-plug if
    it runs). Raises ``UnsupportedOperation`` for a ``driver_volume_type`` it cannot take."""


@hookspec(firstresult=True)
def hv_detach_volume(
    host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str
) -> bool:
    """Detach the volume from the guest (hot-unplug if it runs). Blocks."""


@hookspec(firstresult=True)
def hv_extend_volume(
    host: Host, instance: Instance, connection_info: ConnectionInfo, new_size_gb: int
) -> bool:
    """Online extend, step 2: make the guest's disk ``new_size_gb`` GiB (Cinder 3.42
    "extend an in-use volume"; Nova's ``volume-extended`` event).

    The core calls it once per server the volume is attached to, right after the backend's
    ``vol_extend`` returned, and only for a driver that implements it: without this hook
    the API refuses an in-use extend up front (400 naming the driver), before the backend
    is touched. Contract:

    * ``connection_info`` is the one ``hv_attach_volume`` got; find the disk by it.
    * A running guest must see the new size when this returns (KVM: libvirt
      ``blockResize``, which also grows an image whose size lives inside the file, e.g. a
      qcow2 the running QEMU holds open and the backend therefore could not resize).
      A guest that is not running needs nothing: it reads the size at its next start.
    * Never shrink. Raise ``NotFound`` if the volume is not attached to ``instance``,
      ``DriverError`` if the hypervisor refuses; the volume then goes to ``error_extending``.
    Blocks briefly."""


@hookspec(firstresult=True)
def hv_plug_vifs(host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
    """Connect the guest's NICs as the bound ports say (hot-plug if it runs). Blocks."""


@hookspec(firstresult=True)
def hv_unplug_vifs(host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
    """Disconnect the guest's NICs. Blocks."""


# ======================================================================================
# Volume drivers (vol_*): every hook gets the named ``backend``
# ======================================================================================


@hookspec(firstresult=True)
def vol_init_backend(backend: Backend) -> bool:
    """Check the backend's storage exists and is usable (directory, volume group).
    Raises ``BackendUnavailable`` with the reason. Idempotent. Blocks."""


@hookspec(firstresult=True)
def vol_get_stats(backend: Backend) -> BackendStats:
    """Capacity and connection types, for placing volumes. Blocks briefly."""


@hookspec(firstresult=True)
def vol_create(backend: Backend, volume: VolumeRef) -> VolumeLocation:
    """Create a blank volume of ``volume.size_gb``. Raises ``OverQuota``-like
    ``DriverError`` when the backend is out of room. Blocks."""


@hookspec(firstresult=True)
def vol_delete(backend: Backend, volume: VolumeRef) -> bool:
    """Delete the volume's data. Already gone is success. Raises ``Conflict`` if snapshots
    depend on it and the backend cannot delete it then. Blocks."""


@hookspec(firstresult=True)
def vol_extend(backend: Backend, volume: VolumeRef, new_size_gb: int) -> bool:
    """Grow the volume to ``new_size_gb`` (never shrink). Blocks.

    For an in-use volume (online extend) the core calls ``hv_extend_volume`` on every
    attached server right after this. A file whose format keeps its size inside it (qcow2)
    and that a running hypervisor holds locked cannot be resized from outside: the backend
    may then leave the growth to ``hv_extend_volume`` (see its contract) and return True."""


@hookspec(firstresult=True)
def vol_create_snapshot(backend: Backend, snapshot: SnapshotRef) -> VolumeLocation:
    """Snapshot ``snapshot.volume``; copy-on-write where the storage allows (say so in
    the result). Blocks."""


@hookspec(firstresult=True)
def vol_delete_snapshot(backend: Backend, snapshot: SnapshotRef) -> bool:
    """Delete a snapshot. Already gone is success. Blocks."""


@hookspec(firstresult=True)
def vol_create_from_snapshot(
    backend: Backend, volume: VolumeRef, snapshot: SnapshotRef
) -> VolumeLocation:
    """Create ``volume`` with ``snapshot``'s content (copy-on-write where possible). Blocks."""


@hookspec(firstresult=True)
def vol_clone(backend: Backend, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
    """Create ``volume`` as a copy of ``source``: copy-on-write where the storage can
    (reflink, backing chain, LVM snapshot), never a silent full copy (report it). Blocks."""


@hookspec(firstresult=True)
def vol_initialize_connection(
    backend: Backend, volume: VolumeRef, connector: Connector
) -> ConnectionInfo:
    """Step 2 of the attach handshake: export the volume to the host ``connector`` describes,
    in one of ``connector.connection_types``; raise ``UnsupportedOperation`` if none fits."""


@hookspec(firstresult=True)
def vol_terminate_connection(
    backend: Backend, volume: VolumeRef, connector: Connector
) -> bool:
    """Undo ``vol_initialize_connection`` for that host. Blocks."""


@hookspec(firstresult=True)
def vol_copy_image_to_volume(backend: Backend, volume: VolumeRef, image: ImageFile) -> bool:
    """Write the (verified, local) image's content into the volume, converting the format.
    Blocks."""


@hookspec(firstresult=True)
def vol_copy_volume_to_image(
    backend: Backend, volume: VolumeRef, disk_format: str, dest_path: str
) -> SnapshotResult:
    """Write the volume's content to ``dest_path`` as ``disk_format``, for upload to the
    image service. Blocks."""


# ======================================================================================
# Network drivers (net_*): ``backend`` is the ``[network]`` table
# ======================================================================================


@hookspec(firstresult=True)
def net_init_host(backend: Backend, host: str) -> bool:
    """Prepare this host's plumbing (re-create everything idempotently after a restart is
    the core's job through the other hooks). Blocks."""


@hookspec(firstresult=True)
def net_bind_port(backend: Backend, host: str, port: Port) -> VifDetails | None:
    """Decide how ``port`` is plugged on ``host``. The first driver that can bind wins;
    ``None`` means "not me" here (the only hook where ``None`` is an answer)."""


@hookspec(firstresult=True)
def net_setup_network(backend: Backend, host: str, network: Network) -> bool:
    """Create the network's plumbing on ``host`` (bridge, VXLAN, ...). Idempotent. Blocks."""


@hookspec(firstresult=True)
def net_teardown_network(backend: Backend, host: str, network: Network) -> bool:
    """Remove the network's plumbing from ``host``, leaving nothing behind. Blocks."""


@hookspec(firstresult=True)
def net_setup_port(backend: Backend, host: str, network: Network, port: Port) -> bool:
    """Apply the port's security groups, anti-spoofing and allowed address pairs on
    ``host`` (after the hypervisor plugged it). Idempotent. Blocks."""


@hookspec(firstresult=True)
def net_teardown_port(backend: Backend, host: str, port: Port) -> bool:
    """Remove everything ``net_setup_port`` made. Blocks."""


@hookspec(firstresult=True)
def net_setup_dhcp(backend: Backend, host: str, network: Network, ports: Sequence[Port]) -> bool:
    """Serve DHCP on the network with a static lease per port (from IPAM). Idempotent;
    called again whenever the ports change. Blocks."""


@hookspec(firstresult=True)
def net_teardown_dhcp(backend: Backend, host: str, network: Network) -> bool:
    """Stop serving DHCP on the network and remove its state. Blocks."""


@hookspec(firstresult=True)
def net_setup_router(backend: Backend, host: str, router: Router) -> bool:
    """Create or update the router: interfaces, external gateway with SNAT, and DNAT/SNAT
    for its floating IPs. Idempotent: the result matches ``router`` exactly. Blocks."""


@hookspec(firstresult=True)
def net_teardown_router(backend: Backend, host: str, router: Router) -> bool:
    """Remove the router's plumbing from ``host``. Blocks."""


@hookspec(firstresult=True)
def net_list_resources(backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
    """What plumbing of ours exists on ``host`` (bridges, namespaces, processes, chains),
    by kind; for reconciliation and leak checks."""


# ======================================================================================
# Image stores (img_*): ``backend`` is the ``[image_store]`` table
# ======================================================================================


@hookspec(firstresult=True)
def img_init_store(backend: Backend) -> bool:
    """Optional. At controller start: check the store is usable (``DriverError`` with the
    reason if not) and remove what uploads of a process that died left behind (temporary
    data), so nothing of them survives a restart. Must not touch the data of uploads still
    running in another process. Idempotent. Blocks."""


@hookspec(firstresult=True)
def img_add(
    backend: Backend, image_id: str, data: Iterable[bytes], size: int | None
) -> StoredImage:
    """Store the image data, streamed: never hold it whole in memory. Write to a temporary
    name, fsync, then publish, so a crash never leaves a torn image under the final name.
    If the stream raises, remove what was written and re-raise. ``size`` is a hint.
    Chunks are bytes-like (``bytes`` or pooled buffers, which the caller fills again only
    once the store no longer refers to them). Returns the location URI (its scheme names
    the store, e.g. ``file://``). Blocks."""


@hookspec(firstresult=True)
def img_get(
    backend: Backend, location: str, offset: int, length: int | None
) -> Iterator[bytes]:
    """Stream the stored bytes from ``offset`` (``length`` bytes, or to the end) as
    bytes-like chunks (``bytes`` or read-only ``memoryview``s of buffers the store reuses
    only once nothing refers to them). Raises ``NotFound`` if the location does not exist.
    Blocks while iterating."""


@hookspec(firstresult=True)
def img_delete(backend: Backend, location: str) -> bool:
    """Delete the stored image. Already gone is success. Blocks."""


@hookspec(firstresult=True)
def img_get_size(backend: Backend, location: str) -> int:
    """Size in bytes of the stored image. Raises ``NotFound``. Blocks briefly."""


# ======================================================================================
# Object stores (obj_*): ``backend`` is the ``[object_store]`` table (or a storage policy)
# ======================================================================================


@hookspec(firstresult=True)
def obj_put(
    backend: Backend,
    account: str,
    container: str,
    name: str,
    data: Iterable[bytes],
    content_type: str,
    metadata: Mapping[str, str],
    expected_etag: str | None,
) -> ObjectInfo:
    """Store an object, streamed: temp file, fsync, rename, so readers see the old or the
    new version, never a torn one; the last write wins. The etag (md5) is computed while
    streaming; if ``expected_etag`` is given and differs, store nothing and raise
    ``Unprocessable``. Names are UTF-8, may contain ``/`` and must never escape the store.
    Blocks."""


@hookspec(firstresult=True)
def obj_get(
    backend: Backend,
    account: str,
    container: str,
    name: str,
    byte_range: ByteRange | None,
) -> tuple[ObjectInfo, Iterator[bytes]]:
    """Read an object (or one resolved byte range of it). The content is verified against
    its etag as it is read; a corrupt object is quarantined and reported (``DriverError``),
    never served. Raises ``NotFound``. Blocks while iterating."""


@hookspec(firstresult=True)
def obj_head(backend: Backend, account: str, container: str, name: str) -> ObjectInfo:
    """An object's metadata. Raises ``NotFound``. Blocks briefly."""


@hookspec(firstresult=True)
def obj_post(
    backend: Backend, account: str, container: str, name: str, metadata: Mapping[str, str]
) -> ObjectInfo:
    """Replace an object's user metadata (Swift POST semantics). Raises ``NotFound``."""


@hookspec(firstresult=True)
def obj_delete(backend: Backend, account: str, container: str, name: str) -> bool:
    """Delete an object. Raises ``NotFound`` if it does not exist. Blocks."""


@hookspec(firstresult=True)
def obj_list(
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
    """A container listing in name order (reversed if asked), consistent with what
    ``obj_get`` returns, with Swift's ``prefix``/``delimiter``/``marker`` semantics. Blocks."""


@hookspec(firstresult=True)
def obj_stats(backend: Backend, account: str, container: str) -> Mapping[str, int]:
    """A container's usage: ``{"objects": count, "bytes": total size}``, consistent with
    ``obj_list``. A container never written to has zeros. Blocks briefly."""


@hookspec(firstresult=True)
def obj_drop_container(backend: Backend, account: str, container: str) -> bool:
    """Release what the store keeps for an empty container (its listing index). Raises
    ``Conflict`` if it still holds objects. Never stored is success. Blocks."""


@hookspec(firstresult=True)
def obj_audit(backend: Backend) -> Mapping[str, Any]:
    """Re-check every object's checksum and the listings' agreement with the data;
    quarantine what is corrupt. Returns counts by outcome. Blocks for long."""


def hook_names(prefix: str) -> list[str]:
    """Names of the operation hooks of one family, e.g. ``hook_names("hv_")``."""
    return sorted(
        name
        for name, obj in globals().items()
        if name.startswith(prefix) and callable(obj) and hasattr(obj, "overcast_spec")
    )

