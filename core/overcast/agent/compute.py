"""The host side of the compute service: every ``hv_*`` call for one host goes through here.

Built by :class:`overcast.agent.HostAgent` with ``(runtime, host_name)`` and reached over the
bus on ``agent.<host>``. It runs the host's hypervisor driver, fetches images into the host's
cache through the image service's helper, and uploads snapshots; it never touches the
database (the controller owns state).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from overcast.bus.rpc import rpc
from overcast.compute.peers import optional_service
from overcast.datadir import private_dir, qemu_group
from overcast.errors import DriverError
from overcast.types import (
    BlockDevice,
    ConnectionInfo,
    Connector,
    ConsoleEndpoint,
    Flavor,
    Host,
    HostResources,
    HvCapabilities,
    ImageFile,
    ImageRef,
    Instance,
    InstanceInfo,
    MigrationData,
    VifDetails,
)

if TYPE_CHECKING:
    from overcast.hookspecs import HypervisorHooks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentIdentity:
    """Which agent process answered (a new ``id`` means it restarted) and its RPC version."""

    id: str
    version: str


@dataclass(frozen=True)
class HostReport:
    """The heartbeat's answer: the hypervisor's capabilities and resources, or why not.

    Agents before RPC 1.1 send no ``agent``; the fields are optional so their reports read."""

    capabilities: HvCapabilities | None = None
    resources: HostResources | None = None
    error: str | None = None
    agent: AgentIdentity | None = None


class ComputeAgent:
    """The compute RPC interface of one host (``compute_<method>`` on ``agent.<host>``)."""

    RPC_PREFIX = "compute_"

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.runtime = runtime
        self.host: Host = runtime.drivers.hosts[host_name]
        self.driver: HypervisorHooks = runtime.plugins.driver("hypervisor", self.host.driver)
        self.init_error: str | None = None
        self.agent_id = uuid.uuid4().hex  # a new agent process (restart) reconciles the host

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the hypervisor. A failure is remembered and reported, not raised, so
        the host shows up as being in error instead of the whole process failing."""
        try:
            self.driver.init_host(host=self.host)
            self.init_error = None
        except Exception as exc:  # noqa: BLE001 - reported through compute_report
            self.init_error = f"{type(exc).__name__}: {exc}"
            log.error("host %s: cannot initialise hypervisor: %s", self.host.name, self.init_error)

    def _other(self, name: str) -> Host:
        try:
            hosts: dict[str, Host] = self.runtime.drivers.hosts
            return hosts[name]
        except KeyError:
            raise DriverError(f"host {name} is not configured on {self.host.name}'s agent") from None

    # --- reporting ----------------------------------------------------------------------------

    @rpc
    def report(self) -> HostReport:
        """Capabilities and resources for the controller's ``hosts`` row (the heartbeat)."""
        if self.init_error is not None:
            self.start()
        from overcast.agent import AGENT_RPC_VERSION

        agent = AgentIdentity(self.agent_id, AGENT_RPC_VERSION)
        if self.init_error is not None:
            return HostReport(error=self.init_error, agent=agent)
        return HostReport(
            capabilities=self.driver.get_capabilities(host=self.host),
            resources=self.driver.get_available_resource(host=self.host),
            agent=agent,
        )

    @rpc
    def list_instances(self) -> list[str]:
        return list(self.driver.list_instances(host=self.host))

    @rpc
    def get_info(self, instance: Instance) -> InstanceInfo:
        return self.driver.get_info(host=self.host, instance=instance)

    # --- images -------------------------------------------------------------------------------

    def _cache_dir(self) -> str:
        config = self.runtime.config
        base = config.resolve_path(config.compute.image_cache_dir, "image-cache")
        path = os.path.join(str(base), self.host.name)
        # QEMU opens cached images as backing files: its group passes through, no one else
        private_dir(base, qemu_group())
        private_dir(path, qemu_group())
        return path

    def _fetch(self, image: ImageRef | None) -> ImageFile | None:
        if image is None:
            return None
        svc = optional_service(self.runtime, "image")
        if svc is None:
            raise DriverError(f"cannot fetch image {image.id} to {self.host.name}: no image service is available")
        caps = self.driver.get_capabilities(host=self.host)
        return cast("ImageFile | None", svc.fetch_to_cache(image, self._cache_dir(), sorted(caps.image_types)))

    # --- lifecycle of guests ----------------------------------------------------------------------

    @rpc
    def spawn(
        self, instance: Instance, network_info: Sequence[VifDetails] = (), block_devices: Sequence[BlockDevice] = ()
    ) -> InstanceInfo:
        image = self._fetch(instance.image)
        return self.driver.spawn(
            host=self.host,
            instance=instance,
            image=image,
            network_info=list(network_info),
            block_devices=list(block_devices),
        )

    @rpc
    def destroy(self, instance: Instance, destroy_disks: bool = True) -> bool:
        return self.driver.destroy(host=self.host, instance=instance, destroy_disks=destroy_disks)

    @rpc
    def reboot(self, instance: Instance, hard: bool) -> bool:
        return self.driver.reboot(host=self.host, instance=instance, hard=hard)

    @rpc
    def power_on(self, instance: Instance) -> bool:
        return self.driver.power_on(host=self.host, instance=instance)

    @rpc
    def power_off(self, instance: Instance, shutdown_timeout: int, retry_interval: int = 5) -> bool:
        return self.driver.power_off(
            host=self.host, instance=instance, timeout=shutdown_timeout, retry_interval=retry_interval
        )

    @rpc
    def pause(self, instance: Instance) -> bool:
        return self.driver.pause(host=self.host, instance=instance)

    @rpc
    def unpause(self, instance: Instance) -> bool:
        return self.driver.unpause(host=self.host, instance=instance)

    @rpc
    def suspend(self, instance: Instance) -> bool:
        return self.driver.suspend(host=self.host, instance=instance)

    @rpc
    def resume(self, instance: Instance) -> bool:
        return self.driver.resume(host=self.host, instance=instance)

    @rpc
    def console_output(self, instance: Instance, length: int | None = None) -> str:
        return self.driver.get_console_output(host=self.host, instance=instance, length=length)

    @rpc
    def get_console(self, instance: Instance, console_type: str) -> ConsoleEndpoint:
        """Issue 17: where the guest's interactive console listens."""
        return self.driver.get_console(host=self.host, instance=instance, console_type=console_type)

    @rpc
    def supports_consoles(self) -> bool:
        """Whether this host's driver has interactive consoles at all."""
        return self.driver.supports("get_console")

    @rpc
    def snapshot(self, instance: Instance, image_id: str, image_name: str) -> bool:
        """Copy the root disk with the driver and upload it into the queued image ``image_id``."""
        svc = optional_service(self.runtime, "image")
        if svc is None:
            raise DriverError("cannot upload a snapshot: no image service is available")
        result = self.driver.snapshot(host=self.host, instance=instance, image_name=image_name)
        try:
            svc.upload_file(image_id, result.path, result.disk_format)
        finally:
            if result.cleanup:
                try:
                    os.unlink(result.path)
                except FileNotFoundError:
                    pass
        return True

    @rpc
    def rescue(self, instance: Instance, rescue_image: ImageRef) -> InstanceInfo:
        """Issue 18: boot the guest from ``rescue_image`` (fetched to the host's cache), its own disk second."""
        image = self._fetch(rescue_image)
        if image is None:
            raise DriverError(f"cannot fetch rescue image {rescue_image.id} to {self.host.name}")
        return self.driver.rescue(host=self.host, instance=instance, image=image)

    @rpc
    def unrescue(self, instance: Instance) -> InstanceInfo:
        return self.driver.unrescue(host=self.host, instance=instance)

    # --- migration ---------------------------------------------------------------------------

    @rpc
    def migrate_disk_and_power_off(self, instance: Instance, dest: str, flavor: Flavor | None = None) -> MigrationData:
        return self.driver.migrate_disk_and_power_off(
            host=self.host, instance=instance, dest=self._other(dest), flavor=flavor or instance.flavor
        )

    @rpc
    def finish_migration(
        self,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails] = (),
        block_devices: Sequence[BlockDevice] = (),
        power_on: bool = True,
    ) -> InstanceInfo:
        image = self._fetch(instance.image) if instance.image is not None else None
        return self.driver.finish_migration(
            host=self.host,
            instance=instance,
            migration=migration,
            image=image,
            network_info=list(network_info),
            block_devices=list(block_devices),
            power_on=power_on,
        )

    @rpc
    def confirm_migration(self, instance: Instance, migration: MigrationData) -> bool:
        return self.driver.confirm_migration(host=self.host, instance=instance, migration=migration)

    @rpc
    def finish_revert_migration(
        self,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails] = (),
        block_devices: Sequence[BlockDevice] = (),
        power_on: bool = True,
    ) -> InstanceInfo:
        return self.driver.finish_revert_migration(
            host=self.host,
            instance=instance,
            migration=migration,
            network_info=list(network_info),
            block_devices=list(block_devices),
            power_on=power_on,
        )

    @rpc
    def check_can_live_migrate_destination(self, instance: Instance, source: str) -> MigrationData:
        return self.driver.check_can_live_migrate_destination(
            host=self.host, instance=instance, source=self._other(source)
        )

    @rpc
    def pre_live_migration(
        self,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails] = (),
        block_devices: Sequence[BlockDevice] = (),
    ) -> MigrationData:
        return self.driver.pre_live_migration(
            host=self.host,
            instance=instance,
            migration=migration,
            network_info=list(network_info),
            block_devices=list(block_devices),
        )

    @rpc
    def live_migration(self, instance: Instance, dest: str, migration: MigrationData) -> bool:
        return self.driver.live_migration(
            host=self.host, instance=instance, dest=self._other(dest), migration=migration
        )

    @rpc
    def post_live_migration(self, instance: Instance, migration: MigrationData) -> bool:
        return self.driver.post_live_migration(host=self.host, instance=instance, migration=migration)

    # --- volumes and vifs -----------------------------------------------------------------------

    @rpc
    def get_volume_connector(self) -> Connector:
        return self.driver.get_volume_connector(host=self.host)

    @rpc
    def attach_volume(self, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        return self.driver.attach_volume(
            host=self.host, instance=instance, connection_info=connection_info, mountpoint=mountpoint
        )

    @rpc
    def detach_volume(self, instance: Instance, connection_info: ConnectionInfo, mountpoint: str) -> bool:
        return self.driver.detach_volume(
            host=self.host, instance=instance, connection_info=connection_info, mountpoint=mountpoint
        )

    @rpc
    def extend_volume(self, instance: Instance, connection_info: ConnectionInfo, new_size_gb: int) -> bool:
        return self.driver.extend_volume(
            host=self.host, instance=instance, connection_info=connection_info, new_size_gb=new_size_gb
        )

    @rpc
    def plug_vifs(self, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        return self.driver.plug_vifs(host=self.host, instance=instance, network_info=list(network_info))

    @rpc
    def unplug_vifs(self, instance: Instance, network_info: Sequence[VifDetails]) -> bool:
        return self.driver.unplug_vifs(host=self.host, instance=instance, network_info=list(network_info))
