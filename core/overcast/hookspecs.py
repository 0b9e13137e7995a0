"""The whole contract between Overcast's core and its plugins.

Two sorts of hook live here:

* **Registration hooks** (``overcast_*``) are broadcast to every plugin: a plugin adds
  drivers, config options, CLI commands, scheduler filters and weighers, and listens to
  events.
* **Operation hooks** (``hv_*``, ``vol_*``, ``net_*``, ``img_*``, ``obj_*``, ``lb_*``) are
  ``firstresult``: the core *routes* each call to the one driver a host or backend names
  (``overcast.plugins.PluginManager.driver``), so only that driver's implementation answers,
  while hook wrappers from other plugins (audit, metrics) still run. They are declared once,
  as the methods of one class per kind (:class:`HypervisorHooks`, :class:`VolumeHooks`,
  :class:`NetworkHooks`, :class:`ImageStoreHooks`, :class:`ObjectStoreHooks`): method
  ``spawn`` of ``HypervisorHooks`` is hook ``hv_spawn``. The same class is the static type
  of the routed caller, so ``pm.driver("hypervisor", name).spawn(host=..., ...)`` is checked.

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

# A hook specification's body is its docstring: pluggy never runs it (mypy: empty-body, pyproject.toml)
# pyright: reportReturnType=false

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

from overcast.types import (
    Backend,
    DriverKind,
    BackendStats,
    BlockDevice,
    ByteRange,
    ConfigOption,
    ConnectionInfo,
    Connector,
    ConsoleEndpoint,
    Flavor,
    Host,
    HostResources,
    HostState,
    HvCapabilities,
    BackupTarget,
    ImageFile,
    Instance,
    LocalDevice,
    InstanceDiagnostics,
    InstanceInfo,
    MetadataProxy,
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
from overcast.types import LbHealth, LoadBalancer  # the lb_* family

if TYPE_CHECKING:
    import click

    from overcast.orchestration.resource import ResourceType
    from overcast.plugins import DriverInfo, DriverRegistry

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
def overcast_filter_hosts(request: ScheduleRequest, hosts: Sequence[HostState]) -> Sequence[HostState] | None:
    """A scheduler filter: return the hosts that may take ``request``, or ``None`` to abstain.

    Called after the core's own filters with the hosts that passed them. The core keeps a
    host only if every implementation keeps it. Must be fast (no I/O): it runs on every
    placement, over every host.
    """


@hookspec
def overcast_weigh_hosts(request: ScheduleRequest, hosts: Sequence[HostState]) -> Mapping[str, float] | None:
    """A scheduler weigher: return a weight per host name (higher wins), or ``None``.

    Weights from all implementations are normalised to 0..1 and added to the core's own.
    Must be fast (no I/O).
    """


@hookspec
def overcast_instance_state_changed(instance_uuid: str, project_id: str, old_status: str, new_status: str) -> None:
    """Event: a server's status changed (BUILD -> ACTIVE, ...). Must not block or raise."""


# --- orchestration ---


@hookspec
def overcast_register_resource_types() -> Sequence[type[ResourceType]]:
    """Add orchestration resource types: return subclasses of
    :class:`overcast.orchestration.resource.ResourceType` (``OS::Acme::Widget``...).

    Each declares ``type_name``, ``properties_schema`` (:class:`~overcast.orchestration.resource.Prop`,
    with ``update_allowed`` per property: a change to any other property replaces the
    resource) and ``attributes_schema``, and implements ``handle_create`` /
    ``check_create_complete``, ``handle_update``, ``handle_delete`` / ``check_delete_complete``
    and ``get_attribute``. Handlers reach the cloud only through ``rc.api`` (the services' REST
    APIs as the stack owner), so policy applies as to any client. Called once when the
    orchestration service starts; a name the core already has is replaced. Must not do I/O.
    """


# ======================================================================================
# Operation hooks: one class per driver kind. Each class is both the hook specification
# (registered with pluggy under the family's prefix) and the static type of the routed
# caller ``PluginManager.driver(kind, name)`` returns.
# ======================================================================================


class RoutedDriver(Protocol):
    """What a routed caller offers besides its family's operations (``overcast.plugins``)."""

    @property
    def info(self) -> DriverInfo:
        """The driver's kind, name and package."""

    def supports(self, operation: str) -> bool:
        """Whether the driver implements ``operation`` (a method name of its family)."""

    def require(self, operation: str) -> None:
        """Raise ``UnsupportedOperation`` naming the operation and the driver if it lacks it."""


class HypervisorHooks(Protocol):
    """Hypervisor drivers (``hv_*``): one driver serves many hosts; every hook gets ``host``.

    Each method is the hook ``hv_<method>`` (the family's prefix, ``DriverKind.hook_prefix``,
    and the method's name): drivers implement ``hv_…`` with ``@hookimpl``, and
    ``PluginManager.driver`` returns a :class:`HypervisorDriver` whose methods call the one
    driver named (``pm.driver("...", name).<method>(...)``).

    This class is also the controller's interface to the host agents: the agent serves every
    operation declared here on the bus, and ``runtime.agents.hypervisor()`` is a client built
    from these declarations and typed as this class (:mod:`overcast.agent.hypervisor`), so a
    new operation needs no agent code. Over the bus, ``host`` chooses the agent and is not
    sent (the agent acts on its own record: credentials stay on the host), other ``Host``
    arguments travel as their names, an ``ImageFile`` travels as its ``ImageRef`` (the agent
    fetches it into its host's cache), and an operation whose result is a file on the host
    (``snapshot``) is only run by the agent's own upload (``ComputeAgent.snapshot``)."""

    @hookspec(firstresult=True)
    def init_host(self, host: Host) -> bool:
        """Connect to ``host``'s hypervisor and prepare it (directories, sanity checks).

        Called when the host's agent starts, before any other hook for that host. Idempotent.
        Raises ``BackendUnavailable`` when the endpoint cannot be reached or refuses the
        credentials. Blocks.
        """

    @hookspec(firstresult=True)
    def get_capabilities(self, host: Host) -> HvCapabilities:
        """What ``host`` can take: image formats, volume connection types, vif types, live
        migration. Must be cheap after ``hv_init_host`` (cache it). Blocks at most briefly."""

    @hookspec(firstresult=True)
    def get_available_resource(self, host: Host) -> HostResources:
        """``host``'s total and used vCPUs, RAM and disk as the hypervisor sees them. Blocks."""

    @hookspec(firstresult=True)
    def list_instances(self, host: Host) -> Sequence[str]:
        """Hypervisor-side names (``Instance.name``) of every guest Overcast made on ``host``,
        running or not. Used to reconcile after a restart. Blocks."""

    @hookspec(firstresult=True)
    def get_info(self, host: Host, instance: Instance) -> InstanceInfo:
        """The guest's power state and usage. Raises ``NotFound`` if it does not exist."""

    @hookspec(firstresult=True)
    def get_console(self, host: Host, instance: Instance, console_type: str) -> ConsoleEndpoint:
        """Optional (issue 17). Where the running guest's ``console_type`` console (``serial``
        or ``vnc``) listens, for the controller's websocket proxy. A type this driver or guest
        does not offer raises ``BadRequest("Unavailable console type <type>.")``; a guest
        that is not running raises ``Conflict``. A driver without consoles leaves it out (the
        API then answers Nova's 501). Blocks briefly."""

    @hookspec(firstresult=True)
    def get_host_uptime(self, host: Host) -> str:
        """Optional (issue 16). ``host``'s uptime as the ``uptime`` command prints it
        (`` 08:32:11 up 93 days, 18:25,  1 user,  load average: 0.20, 0.12, 0.14``), for Nova's
        ``os-hypervisors/{id}/uptime``. A driver that cannot read it leaves it out, or raises
        ``UnsupportedOperation`` for a host it cannot reach that way (the API answers Nova's
        501 either way). Blocks briefly."""

    @hookspec(firstresult=True)
    def get_diagnostics(self, host: Host, instance: Instance) -> InstanceDiagnostics:
        """Optional (issue 16). What the hypervisor measures of the running guest, for Nova's
        server diagnostics: its vCPUs' time, memory, and each disk's and NIC's counters since
        it started, as the hypervisor reports them (``None`` where it does not). A guest that
        is not running raises ``Conflict``; a missing one ``NotFound``. A driver that cannot
        read these leaves it out (the API then answers Nova's 501). Blocks briefly."""

    @hookspec(firstresult=True)
    def spawn(
        self,
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
    def destroy(self, host: Host, instance: Instance, destroy_disks: bool) -> bool:
        """Power off hard and remove the guest and (if ``destroy_disks``) its local disks.
        A guest that is already gone is success. Blocks."""

    @hookspec(firstresult=True)
    def reboot(self, host: Host, instance: Instance, hard: bool) -> bool:
        """Soft reboot asks the guest OS (ACPI) and falls back to hard after a timeout;
        hard resets. Raises ``Conflict`` if the guest is not running. Blocks."""

    @hookspec(firstresult=True)
    def power_on(self, host: Host, instance: Instance) -> bool:
        """Start a stopped guest. Blocks."""

    @hookspec(firstresult=True)
    def power_off(self, host: Host, instance: Instance, timeout: int, retry_interval: int) -> bool:
        """Stop the guest: ask for a clean shutdown (ACPI / guest tools) and wait up to
        ``timeout`` seconds, then stop it hard. ``timeout=0`` stops it hard at once. Blocks."""

    @hookspec(firstresult=True)
    def pause(self, host: Host, instance: Instance) -> bool:
        """Freeze the guest's vCPUs in memory. Blocks briefly."""

    @hookspec(firstresult=True)
    def unpause(self, host: Host, instance: Instance) -> bool:
        """Undo ``hv_pause``. Blocks briefly."""

    @hookspec(firstresult=True)
    def suspend(self, host: Host, instance: Instance) -> bool:
        """Save the guest's memory to disk and stop it (managed save / suspend). Blocks."""

    @hookspec(firstresult=True)
    def resume(self, host: Host, instance: Instance) -> bool:
        """Restore a suspended guest. Blocks."""

    @hookspec(firstresult=True)
    def snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        """Copy the guest's root disk to a standalone image file (no backing file), with the
        guest quiesced or paused while copying and resumed after. Returns the file for the core
        to upload to the image service. Blocks."""

    @hookspec(firstresult=True)
    def rescue(self, host: Host, instance: Instance, image: ImageFile) -> InstanceInfo:
        """Nova's rescue: stop the guest and boot it again from a fresh root disk made from
        ``image`` (a verified local file in one of this host's ``image_types``), with the
        guest's own root disk attached second (``vdb`` on virtio) and its NICs as they were;
        what ``hv_unrescue`` needs to restore the guest is kept on the host. Returns once
        the rescue guest runs. Raises ``Conflict`` if the guest is already rescued. Blocks."""

    @hookspec(firstresult=True)
    def unrescue(self, host: Host, instance: Instance) -> InstanceInfo:
        """Undo ``hv_rescue``: stop the rescue guest, drop its rescue disk, and boot the guest
        as it was defined before (its own root disk first again). Raises ``Conflict`` if the
        guest is not rescued. Blocks."""

    @hookspec(firstresult=True)
    def get_console_output(self, host: Host, instance: Instance, length: int | None) -> str:
        """The guest's serial console log (at least its last ``length`` lines if given: the
        core cuts the text to Nova's ``length`` itself). Blocks briefly."""

    @hookspec(firstresult=True)
    def migrate_disk_and_power_off(self, host: Host, instance: Instance, dest: Host, flavor: Flavor) -> MigrationData:
        """Cold migration or resize, source side: stop the guest and make its disks available
        to ``dest`` (copy them, or note that storage is shared). ``dest`` uses the same driver
        and may be ``host`` itself (a resize to the same host: keep what a revert needs to
        restore the guest as it is now). ``flavor`` is the flavor the guest will have on
        ``dest``: ``instance.flavor`` for a migration, the new one for a resize. A driver that
        cannot apply a different flavor, or cannot shrink a disk, raises ``Conflict`` here,
        before stopping anything. Blocks."""

    @hookspec(firstresult=True)
    def finish_migration(
        self,
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
    def confirm_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        """Cold migration or resize confirmed, source side (``host`` is the source): remove what
        was left behind for a revert. When source and destination are the same host, the
        resized guest stays. Blocks."""

    @hookspec(firstresult=True)
    def finish_revert_migration(
        self,
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
    def check_can_live_migrate_destination(self, host: Host, instance: Instance, source: Host) -> MigrationData:
        """Live migration, destination side: check this host can take the guest (CPU, disk
        room, connectivity). Raises ``Conflict`` with the reason if not. Blocks briefly."""

    @hookspec(firstresult=True)
    def pre_live_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
    ) -> MigrationData:
        """Live migration, destination side: prepare disks, vifs and volumes. Blocks."""

    @hookspec(firstresult=True)
    def live_migration(self, host: Host, instance: Instance, dest: Host, migration: MigrationData) -> bool:
        """Live migration, source side: move the running guest to ``dest`` (same driver),
        copying local storage if it is not shared. The guest keeps running. Blocks until done."""

    @hookspec(firstresult=True)
    def post_live_migration(self, host: Host, instance: Instance, migration: MigrationData) -> bool:
        """Live migration, source side, after success: clean up local leftovers. Blocks."""

    @hookspec(firstresult=True)
    def get_volume_connector(self, host: Host) -> Connector:
        """Step 1 of the attach handshake: describe this host to a volume backend."""

    @hookspec(firstresult=True)
    def attach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        """Step 3 of the attach handshake: attach the exported volume to the guest (hot-plug if
        it runs). Raises ``UnsupportedOperation`` for a ``driver_volume_type`` it cannot take."""

    @hookspec(firstresult=True)
    def detach_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        """Detach the volume from the guest (hot-unplug if it runs). Blocks."""

    @hookspec(firstresult=True)
    def extend_volume(self, host: Host, instance: Instance, connection_info: ConnectionInfo, new_size_gb: int) -> bool:
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
    def plug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        """Connect the guest's NICs as the bound ports say (hot-plug if it runs). Blocks."""

    @hookspec(firstresult=True)
    def unplug_vifs(self, host: Host, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        """Disconnect the guest's NICs. Blocks."""

    @hookspec(firstresult=True)
    def attach_interface(self, host: Host, instance: Instance, vif: VifDetails) -> bool:
        """Optional (issue 18, Nova's ``os-interface`` attach). Add one NIC for the bound port
        ``vif`` to the guest: hot-plugged into the running guest and kept in its persistent
        definition (KVM: ``attachDeviceFlags`` with ``AFFECT_LIVE | AFFECT_CONFIG``; only the
        definition when it is stopped). The core has already bound the port on ``host``
        (``net_bind_port``: the tap's bridge exists), exactly as before ``hv_spawn``.

        Raises ``Conflict`` if the guest already has a NIC with ``vif.mac_address``,
        ``BadRequest`` for a ``vif_type`` the driver cannot plug, ``DriverError`` if the
        hypervisor refuses (the core then releases the port). A driver that cannot hot-plug
        leaves this hook out: the API then refuses with Nova's 400 ("Attaching interfaces is
        not supported for instance ...") before any port is made. Blocks briefly."""

    @hookspec(firstresult=True)
    def detach_interface(self, host: Host, instance: Instance, vif: VifDetails) -> bool:
        """Optional (issue 18, Nova's ``os-interface`` detach). Remove the guest's NIC whose MAC
        is ``vif.mac_address`` from the running guest (hot-unplug; return once the guest has
        released it) and from its persistent definition. A NIC that is already gone is
        success. Raises ``DriverError`` if the guest does not release it. Without this hook
        the API refuses the detach (Nova's 501 "The requested functionality is not
        supported.") and nothing changes. Blocks."""


class HypervisorDriver(HypervisorHooks, RoutedDriver, Protocol):
    """The routed caller of one hypervisor driver: :class:`HypervisorHooks`' operations plus
    :class:`RoutedDriver`'s ``info``/``supports``/``require`` (it declares nothing new)."""


class VolumeHooks(RoutedDriver, Protocol):
    """Volume drivers (``vol_*``): every hook gets the named ``backend``.

    Each method is the hook ``vol_<method>`` (the family's prefix, ``DriverKind.hook_prefix``,
    and the method's name): drivers implement ``vol_…`` with ``@hookimpl``, and
    ``PluginManager.driver`` returns an object of this type whose methods call the one
    driver named (``pm.driver("...", name).<method>(...)``)."""

    @hookspec(firstresult=True)
    def init_backend(self, backend: Backend) -> bool:
        """Check the backend's storage exists and is usable (directory, volume group).
        Raises ``BackendUnavailable`` with the reason. Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def get_stats(self, backend: Backend) -> BackendStats:
        """Capacity and connection types, for placing volumes. Blocks briefly."""

    @hookspec(firstresult=True)
    def create(self, backend: Backend, volume: VolumeRef) -> VolumeLocation:
        """Create a blank volume of ``volume.size_gb``. Raises ``OverQuota``-like
        ``DriverError`` when the backend is out of room. Blocks."""

    @hookspec(firstresult=True)
    def delete(self, backend: Backend, volume: VolumeRef) -> bool:
        """Delete the volume's data. Already gone is success. Raises ``Conflict`` if snapshots
        depend on it and the backend cannot delete it then. Blocks."""

    @hookspec(firstresult=True)
    def extend(self, backend: Backend, volume: VolumeRef, new_size_gb: int) -> bool:
        """Grow the volume to ``new_size_gb`` (never shrink). Blocks.

        For an in-use volume (online extend) the core calls ``hv_extend_volume`` on every
        attached server right after this. A file whose format keeps its size inside it (qcow2)
        and that a running hypervisor holds locked cannot be resized from outside: the backend
        may then leave the growth to ``hv_extend_volume`` (see its contract) and return True."""

    @hookspec(firstresult=True)
    def create_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> VolumeLocation:
        """Snapshot ``snapshot.volume``; copy-on-write where the storage allows (say so in
        the result). Blocks."""

    @hookspec(firstresult=True)
    def delete_snapshot(self, backend: Backend, snapshot: SnapshotRef) -> bool:
        """Delete a snapshot. Already gone is success. Blocks."""

    @hookspec(firstresult=True)
    def create_from_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> VolumeLocation:
        """Create ``volume`` with ``snapshot``'s content (copy-on-write where possible). Blocks."""

    @hookspec(firstresult=True)
    def clone(self, backend: Backend, volume: VolumeRef, source: VolumeRef) -> VolumeLocation:
        """Create ``volume`` as a copy of ``source``: copy-on-write where the storage can
        (reflink, backing chain, LVM snapshot), never a silent full copy (report it). Blocks."""

    @hookspec(firstresult=True)
    def initialize_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> ConnectionInfo:
        """Step 2 of the attach handshake: export the volume to the host ``connector`` describes,
        in one of ``connector.connection_types``; raise ``UnsupportedOperation`` if none fits."""

    @hookspec(firstresult=True)
    def terminate_connection(self, backend: Backend, volume: VolumeRef, connector: Connector) -> bool:
        """Undo ``vol_initialize_connection`` for that host. Blocks."""

    @hookspec(firstresult=True)
    def copy_image_to_volume(self, backend: Backend, volume: VolumeRef, image: ImageFile) -> bool:
        """Write the (verified, local) image's content into the volume, converting the format.
        Blocks."""

    @hookspec(firstresult=True)
    def copy_volume_to_image(
        self, backend: Backend, volume: VolumeRef, disk_format: str, dest_path: str
    ) -> SnapshotResult:
        """Write the volume's content to ``dest_path`` as ``disk_format``, for upload to the
        image service. Blocks."""

    @hookspec(firstresult=True)
    def revert_to_snapshot(self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef) -> bool:
        """Make the volume's content ``snapshot``'s again (Cinder's revert, issue 18); the core
        only asks for the volume's latest snapshot, of the same size, with the volume detached.
        Other snapshots stay valid. Raises ``Conflict`` if the volume is exported. Blocks."""

    # --- local byte access, for volume backups and migrations between backends (issue 18) ---

    @hookspec(firstresult=True)
    def open_local(
        self, backend: Backend, volume: VolumeRef, snapshot: SnapshotRef | None, writable: bool
    ) -> LocalDevice:
        """Make the volume's bytes (or, when ``snapshot`` is given, that snapshot's) readable
        on this host as a raw file or block device, for the core to read at byte offsets;
        with ``writable`` (never with a snapshot), a raw device whose content replaces the
        volume's when ``vol_close_local`` commits it (a backup's restore, or a migration's copy
        onto a new volume of this backend, opened while the source is open read-only on its
        own backend on the same host). A driver may hand out the volume's own
        file or device, or a scratch copy (say ``zeroed`` if it reads as zeros). Raises
        ``Conflict`` for a writable open of a volume that is exported to a host. Blocks."""

    @hookspec(firstresult=True)
    def close_local(self, backend: Backend, volume: VolumeRef, device: LocalDevice, commit: bool) -> bool:
        """Release what ``vol_open_local`` returned. For a writable device, ``commit`` makes
        what was written the volume's content (atomically where the storage allows);
        ``commit=False`` discards it and leaves the volume as it was. Blocks."""


class NetworkHooks(RoutedDriver, Protocol):
    """Network drivers (``net_*``): ``backend`` is the ``[network]`` table.

    Each method is the hook ``net_<method>`` (the family's prefix, ``DriverKind.hook_prefix``,
    and the method's name): drivers implement ``net_…`` with ``@hookimpl``, and
    ``PluginManager.driver`` returns an object of this type whose methods call the one
    driver named (``pm.driver("...", name).<method>(...)``)."""

    @hookspec(firstresult=True)
    def init_host(self, backend: Backend, host: str) -> bool:
        """Prepare this host's plumbing (re-create everything idempotently after a restart is
        the core's job through the other hooks). Blocks."""

    @hookspec(firstresult=True)
    def bind_port(self, backend: Backend, host: str, port: Port) -> VifDetails | None:
        """Decide how ``port`` is plugged on ``host``. The first driver that can bind wins;
        ``None`` means "not me" here (the only hook where ``None`` is an answer)."""

    @hookspec(firstresult=True)
    def setup_network(self, backend: Backend, host: str, network: Network) -> bool:
        """Create the network's plumbing on ``host`` (bridge, VXLAN, ...). Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def teardown_network(self, backend: Backend, host: str, network: Network) -> bool:
        """Remove the network's plumbing from ``host``, leaving nothing behind. Blocks."""

    @hookspec(firstresult=True)
    def setup_port(self, backend: Backend, host: str, network: Network, port: Port) -> bool:
        """Apply the port's security groups, anti-spoofing and allowed address pairs on
        ``host`` (after the hypervisor plugged it). Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def teardown_port(self, backend: Backend, host: str, port: Port) -> bool:
        """Remove everything ``net_setup_port`` made. Blocks."""

    @hookspec(firstresult=True)
    def setup_dhcp(self, backend: Backend, host: str, network: Network, ports: Sequence[Port]) -> bool:
        """Serve DHCP on the network with a static lease per port (from IPAM). Idempotent;
        called again whenever the ports change. Blocks."""

    @hookspec(firstresult=True)
    def teardown_dhcp(self, backend: Backend, host: str, network: Network) -> bool:
        """Stop serving DHCP on the network and remove its state. Blocks."""

    @hookspec(firstresult=True)
    def setup_router(self, backend: Backend, host: str, router: Router) -> bool:
        """Create or update the router: interfaces, external gateway with SNAT, and DNAT/SNAT
        for its floating IPs. Idempotent: the result matches ``router`` exactly. Blocks."""

    @hookspec(firstresult=True)
    def teardown_router(self, backend: Backend, host: str, router: Router) -> bool:
        """Remove the router's plumbing from ``host``. Blocks."""

    @hookspec(firstresult=True)
    def list_resources(self, backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
        """What plumbing of ours exists on ``host`` (bridges, namespaces, processes, chains),
        by kind; for reconciliation and leak checks."""

    # --- issue 17: the metadata service ------------------------------------------------

    @hookspec(firstresult=True)
    def setup_metadata_proxy(self, backend: Backend, host: str, proxy: MetadataProxy) -> bool:
        """Optional. Serve ``http://169.254.169.254/`` to the guests of ``proxy.network_id``
        (from its DHCP namespace, called after ``net_setup_dhcp``; the DHCP server then also
        hands out a host route to 169.254.169.254 via its own address on subnets no router
        serves, Neutron's isolated metadata) or behind ``proxy.router_id`` (from the router's
        namespace, after ``net_setup_router``), forwarding each request to ``proxy.upstream``
        with the signed headers :class:`~overcast.types.MetadataProxy` describes, and
        replacing any such headers the guest sent. Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def cleanup_host(self, backend: Backend, host: str) -> bool:
        """Optional. ``overcast cleanup``, after every network is torn down: remove what
        ``net_init_host`` made on ``host`` for the driver's own configuration (host bridges
        such as ``br-ex``). ``overcast down`` never calls it. Blocks."""

    @hookspec(firstresult=True)
    def teardown_metadata_proxy(self, backend: Backend, host: str, proxy: MetadataProxy) -> bool:
        """Stop the proxy ``net_setup_metadata_proxy`` started (and its route, redirect and
        address); nothing there is success. Blocks."""

    @hookspec(firstresult=True)
    def plug_namespace(self, backend: Backend, host: str, network: Network, port: Port, namespace: str) -> str:
        """Plug ``port`` into network namespace ``namespace`` on ``host`` for a service that
        runs there (a load balancer's VIP): make the network's plumbing and the namespace if
        missing, a device inside it with the port's MAC and fixed IPs (with their subnets'
        prefix lengths), and a default route through the first subnet's gateway. The host
        side is plugged like a bound guest port, so ``net_setup_port`` applies the port's
        security groups to it. Returns the device's name inside the namespace. Idempotent.
        Blocks."""

    @hookspec(firstresult=True)
    def unplug_namespace(self, backend: Backend, host: str, port: Port, namespace: str) -> bool:
        """Undo ``net_plug_namespace``: remove the device, the port's firewall and the
        namespace (whatever still runs in it must have been stopped). Already gone is
        success. Blocks."""


class ImageStoreHooks(RoutedDriver, Protocol):
    """Image stores (``img_*``): ``backend`` is the ``[image_store]`` table.

    Each method is the hook ``img_<method>`` (the family's prefix, ``DriverKind.hook_prefix``,
    and the method's name): drivers implement ``img_…`` with ``@hookimpl``, and
    ``PluginManager.driver`` returns an object of this type whose methods call the one
    driver named (``pm.driver("...", name).<method>(...)``)."""

    @hookspec(firstresult=True)
    def init_store(self, backend: Backend) -> bool:
        """Optional. At controller start: check the store is usable (``DriverError`` with the
        reason if not) and remove what uploads of a process that died left behind (temporary
        data), so nothing of them survives a restart. Must not touch the data of uploads still
        running in another process. Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def add(self, backend: Backend, image_id: str, data: Iterable[bytes], size: int | None) -> StoredImage:
        """Store the image data, streamed: never hold it whole in memory. Write to a temporary
        name, fsync, then publish, so a crash never leaves a torn image under the final name.
        If the stream raises, remove what was written and re-raise. ``size`` is a hint.
        Chunks are bytes-like (``bytes`` or pooled buffers, which the caller fills again only
        once the store no longer refers to them). Returns the location URI (its scheme names
        the store, e.g. ``file://``). Blocks."""

    @hookspec(firstresult=True)
    def get(self, backend: Backend, location: str, offset: int, length: int | None) -> Iterator[bytes]:
        """Stream the stored bytes from ``offset`` (``length`` bytes, or to the end) as
        bytes-like chunks (``bytes`` or read-only ``memoryview``s of buffers the store reuses
        only once nothing refers to them). Raises ``NotFound`` if the location does not exist.
        Blocks while iterating."""

    @hookspec(firstresult=True)
    def delete(self, backend: Backend, location: str) -> bool:
        """Delete the stored image. Already gone is success. Blocks."""

    @hookspec(firstresult=True)
    def get_size(self, backend: Backend, location: str) -> int:
        """Size in bytes of the stored image. Raises ``NotFound``. Blocks briefly."""


class ObjectStoreHooks(RoutedDriver, Protocol):
    """Object stores (``obj_*``): ``backend`` is the ``[object_store]`` table (or a storage policy).

    Each method is the hook ``obj_<method>`` (the family's prefix, ``DriverKind.hook_prefix``,
    and the method's name): drivers implement ``obj_…`` with ``@hookimpl``, and
    ``PluginManager.driver`` returns an object of this type whose methods call the one
    driver named (``pm.driver("...", name).<method>(...)``)."""

    @hookspec(firstresult=True)
    def put(
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
        """Store an object, streamed: temp file, fsync, rename, so readers see the old or the
        new version, never a torn one; the last write wins. The etag (md5) is computed while
        streaming; if ``expected_etag`` is given and differs, store nothing and raise
        ``Unprocessable``. Names are UTF-8, may contain ``/`` and must never escape the store.
        Chunks are bytes-like (``bytes``, or ``memoryview``s of the pooled page-aligned blocks a
        large upload is read into, which are filled again only once the store no longer refers
        to them). Blocks."""

    @hookspec(firstresult=True)
    def get(
        self,
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
    def head(self, backend: Backend, account: str, container: str, name: str) -> ObjectInfo:
        """An object's metadata. Raises ``NotFound``. Blocks briefly."""

    @hookspec(firstresult=True)
    def post(
        self, backend: Backend, account: str, container: str, name: str, metadata: Mapping[str, str]
    ) -> ObjectInfo:
        """Replace an object's user metadata (Swift POST semantics). Raises ``NotFound``."""

    @hookspec(firstresult=True)
    def delete(self, backend: Backend, account: str, container: str, name: str) -> bool:
        """Delete an object. Raises ``NotFound`` if it does not exist. Blocks."""

    @hookspec(firstresult=True)
    def list(
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
        """A container listing in name order (reversed if asked), consistent with what
        ``obj_get`` returns, with Swift's ``prefix``/``delimiter``/``marker`` semantics. Blocks."""

    @hookspec(firstresult=True)
    def stats(self, backend: Backend, account: str, container: str) -> Mapping[str, int]:
        """A container's usage: ``{"objects": count, "bytes": total size}``, consistent with
        ``obj_list``. A container never written to has zeros. Blocks briefly."""

    @hookspec(firstresult=True)
    def drop_container(self, backend: Backend, account: str, container: str) -> bool:
        """Release what the store keeps for an empty container (its listing index). Raises
        ``Conflict`` if it still holds objects. Never stored is success. Blocks."""

    @hookspec(firstresult=True)
    def audit(self, backend: Backend) -> Mapping[str, Any]:
        """Re-check every object's checksum and the listings' agreement with the data;
        quarantine what is corrupt. Returns counts by outcome. Blocks for long."""


class BackupHooks(RoutedDriver, Protocol):
    """Backup targets (``backup_*``): where volume backups' chunks and metadata objects are
    kept; ``backend`` is the ``[backup]`` table, ``target`` names the project's container
    and the credentials to reach it. The core cuts, compresses and checksums the chunks
    (``overcast.volume.backup_chunks``); a driver only stores named objects, so any object
    store can take backups (issue 18).

    Each method is the hook ``backup_<method>``."""

    @hookspec(firstresult=True)
    def prepare(self, backend: Backend, target: BackupTarget) -> bool:
        """Make sure ``target.container`` exists and can be written (create it if not).
        Raises ``BackendUnavailable`` or ``Forbidden``-like ``DriverError`` with the reason.
        Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def put(self, backend: Backend, target: BackupTarget, name: str, data: bytes | memoryview) -> bool:
        """Store ``data`` as object ``name`` in the container, durably, replacing any object of
        that name (readers see the old or the new content, never a torn one). ``data`` may be
        a ``memoryview`` of a buffer the core reuses once nothing refers to it (copy it with
        ``bytes(data)`` to keep it in memory). Blocks."""

    @hookspec(firstresult=True)
    def get(self, backend: Backend, target: BackupTarget, name: str) -> bytes:
        """The content of object ``name``. Raises ``NotFound`` if it does not exist. Blocks."""

    @hookspec(firstresult=True)
    def get_into(self, backend: Backend, target: BackupTarget, name: str, buffer: memoryview) -> int:
        """Read object ``name`` into the start of ``buffer`` and return its length, copying it
        as little as the driver can (a restore reads each chunk into the page-aligned buffer
        it then writes to the volume from). Optional: without it the core calls :meth:`get`
        and copies. Raises ``NotFound`` if it does not exist, ``DriverError`` if it is
        longer than ``buffer`` (nothing is written past ``buffer``). Blocks."""

    @hookspec(firstresult=True)
    def delete(self, backend: Backend, target: BackupTarget, name: str) -> bool:
        """Delete object ``name``; already gone is success. Blocks."""

    @hookspec(firstresult=True)
    def list(self, backend: Backend, target: BackupTarget, prefix: str) -> Sequence[str]:
        """Names of the objects in the container that start with ``prefix``, in name order.
        A container that does not exist has none. Blocks."""


class LoadBalancerHooks(RoutedDriver, Protocol):
    """Load-balancer data planes (``lb_*``): ``backend`` is the ``[loadbalancer]`` table,
    ``host`` the host that serves the VIP's network (the network host), where the core has
    already plugged the VIP port into ``loadbalancer.namespace`` (``net_plug_namespace``).

    Each method is the hook ``lb_<method>`` (the family's prefix, ``DriverKind.hook_prefix``,
    and the method's name): drivers implement ``lb_…`` with ``@hookimpl``, and
    ``PluginManager.driver`` returns an object of this type whose methods call the one
    driver named (``pm.driver("...", name).<method>(...)``)."""

    @hookspec(firstresult=True)
    def init_host(self, backend: Backend, host: str) -> bool:
        """Check the data plane's tools exist on ``host`` (``DriverError`` naming what is
        missing) and prepare its state directory. Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def deploy(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> bool:
        """Make the data plane serve ``loadbalancer`` exactly as given (listeners, pools,
        members, monitors, L7 policies; disabled objects are not served): start it, or
        reload it without dropping established connections. Raises ``DriverError`` (nothing
        changed) when the configuration is refused, ``UnsupportedOperation``-like
        ``DriverError`` for a feature the data plane lacks. Idempotent. Blocks."""

    @hookspec(firstresult=True)
    def undeploy(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> bool:
        """Stop serving ``loadbalancer`` and remove its state (processes, files); the core
        unplugs the namespace afterwards. Already gone is success. Blocks."""

    @hookspec(firstresult=True)
    def get_health(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> LbHealth:
        """Each member's ``operating_status`` as the health checks see it now, and each
        listener's counters. ``running=False`` (and no members) when the data plane is not
        running. Blocks briefly."""

    @hookspec(firstresult=True)
    def list_resources(self, backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
        """What of ours runs on ``host`` (processes, state directories), by kind; for
        reconciliation and leak checks."""


#: the operation hooks of each driver kind
DRIVER_HOOKS: Mapping[DriverKind, type] = {
    DriverKind.HYPERVISOR: HypervisorHooks,
    DriverKind.VOLUME: VolumeHooks,
    DriverKind.NETWORK: NetworkHooks,
    DriverKind.IMAGE_STORE: ImageStoreHooks,
    DriverKind.OBJECT_STORE: ObjectStoreHooks,
    DriverKind.BACKUP: BackupHooks,
    DriverKind.LOADBALANCER: LoadBalancerHooks,
}


def operations(spec: type) -> dict[str, Any]:
    """The operations one class above declares: method name -> its function."""
    return {name: obj for name, obj in vars(spec).items() if callable(obj) and hasattr(obj, f"{PROJECT_NAME}_spec")}


def hook_namespace(kind: DriverKind) -> type:
    """``DRIVER_HOOKS[kind]`` as pluggy reads specs: attributes named like the hooks
    (``hv_spawn``), for ``pluggy.PluginManager.add_hookspecs``."""
    spec = DRIVER_HOOKS[kind]
    return type(spec.__name__, (), {kind.hook_prefix + name: func for name, func in operations(spec).items()})


def hook_names(prefix: str) -> list[str]:
    """Names of the operation hooks of one family, e.g. ``hook_names("hv_")``."""
    return sorted(
        kind.hook_prefix + name
        for kind, spec in DRIVER_HOOKS.items()
        if kind.hook_prefix == prefix
        for name in operations(spec)
    )
