"""``ComputeService``: the compute service's interface, used by its API and by peers.

It composes the managers (flavors, servers, key pairs, server groups, quotas, volume
attachments), the scheduler, the background task runner and host registry, and implements
server actions as: an atomic state gate (409 if the server is in the wrong state), then a
background task that does the work on the host's agent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from overcast.agent import agent_topic
from overcast.compute import states as st
from overcast.compute.action_events import API_HOST, ActionEvents
from overcast.compute.boot_volumes import BootVolumes
from overcast.compute.claims import Ratios
from overcast.compute.consoles import tail_log
from overcast.compute.evacuate import Evacuations
from overcast.compute.flavors import FlavorManager, refuse_local_extra_disks
from overcast.compute.hosts import HostRegistry
from overcast.compute.hoststate import reported_capabilities
from overcast.compute.keypairs import KeyPairManager
from overcast.compute.migrations import MigrationTasks, resize_deltas
from overcast.compute.outcomes import Outcomes
from overcast.compute.owners import TaskOwners
from overcast.compute.peers import create_snapshot_image, require
from overcast.compute.quotas import QuotaManager
from overcast.compute.reconcile import Reconciler
from overcast.compute.records import configured_host, flavor_from, flavor_of, get_instance, instance_of
from overcast.compute.scheduler import Scheduler
from overcast.compute.server_groups import ServerGroupManager
from overcast.compute.tags import TagManager
from overcast.compute.servers import ServerManager
from overcast.compute.tasks import LONG_RPC, ServerTasks, TaskRunner
from overcast.compute.transitions import Transitions
from overcast.compute.volumes import VolumeAttachments
from overcast.context import RequestContext
from overcast.db.group import GroupCommit
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.db.values import store
from overcast.types import Flavor, Host, Instance

log = logging.getLogger(__name__)

#: the hypervisor call of a power action: (tasks, host, instance) -> done
PowerCall = Callable[[ServerTasks, Host, Instance], bool]

#: action -> (allowed vm_states, task_state while running, hypervisor call, vm_state when done)
POWER_ACTIONS: dict[str, tuple[tuple[str, ...], str, PowerCall, str]] = {
    "start": (
        (st.STOPPED,),
        st.POWERING_ON,
        lambda t, host, inst: t.hv(LONG_RPC).power_on(host=host, instance=inst),
        st.ACTIVE,
    ),
    "stop": ((st.ACTIVE,), st.POWERING_OFF, lambda t, host, inst: t.power_off(host, inst), st.STOPPED),
    "pause": (
        (st.ACTIVE,),
        st.PAUSING,
        lambda t, host, inst: t.hv(LONG_RPC).pause(host=host, instance=inst),
        st.PAUSED,
    ),
    "unpause": (
        (st.PAUSED,),
        st.UNPAUSING,
        lambda t, host, inst: t.hv(LONG_RPC).unpause(host=host, instance=inst),
        st.ACTIVE,
    ),
    "suspend": (
        (st.ACTIVE,),
        st.SUSPENDING,
        lambda t, host, inst: t.hv(LONG_RPC).suspend(host=host, instance=inst),
        st.SUSPENDED,
    ),
    "resume": (
        (st.SUSPENDED,),
        st.RESUMING,
        lambda t, host, inst: t.hv(LONG_RPC).resume(host=host, instance=inst),
        st.ACTIVE,
    ),
}
SNAPSHOT_STATES = (st.ACTIVE, st.STOPPED, st.PAUSED, st.SUSPENDED)


class ComputeService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        section = runtime.config.compute
        self.ratios = Ratios(section.cpu_allocation_ratio, section.ram_allocation_ratio, section.disk_allocation_ratio)
        self.quotas = QuotaManager(runtime.db, section)
        self.flavors = FlavorManager(runtime.db)
        self.keypairs = KeyPairManager(runtime.db, self.quotas)
        self.server_groups = ServerGroupManager(runtime.db, self.quotas)
        from overcast.compute.aggregates import Aggregates  # issue 18

        self.aggregates = Aggregates(runtime)
        #: small write transactions of concurrent requests and tasks, committed together
        self.writes = GroupCommit(runtime.db)
        self.scheduler = Scheduler(
            runtime.db,
            runtime.plugins,
            self.ratios,
            section.weigher,
            runtime.config.bus.host_down_after,
            section.scheduler_cache_seconds,
            self.writes,
        )
        bus = runtime.config.bus
        #: this process as the owner of the tasks it runs; alive for others while it beats
        self.owners = TaskOwners(
            runtime.db, bus.heartbeat_interval, max(3 * bus.heartbeat_interval, bus.host_down_after)
        )
        self.transitions = Transitions(runtime, self.writes, self.owners)
        self.outcomes = Outcomes(self.writes, self.scheduler, self.transitions)
        self.events = ActionEvents(runtime.db, self.writes)
        self.runner = TaskRunner(section.task_workers, runtime.foreground)
        self.tasks = ServerTasks(self)
        self.migrations = MigrationTasks(self.tasks)
        self.volumes = VolumeAttachments(runtime)
        self.boot_volumes = BootVolumes(runtime)  # issue 18
        from overcast.compute.rescue import Rescues  # issue 18

        self.rescues = Rescues(self)
        from overcast.compute.shelve import Shelving  # issue 18

        self.shelving = Shelving(self)
        from overcast.compute.backup import Backups  # issue 18

        self.backups = Backups(self)
        self.servers = ServerManager(self)
        self.hosts = HostRegistry(runtime)
        self.tags = TagManager(runtime.db)
        self.reconciler = Reconciler(self)
        self.evacuations = Evacuations(self)
        self.hosts.on_return = self._host_returned
        self.hosts.after_round = self._take_over
        self._started = False

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Register hosts, take a first heartbeat, reconcile what a previous run left
        half-done, then keep heartbeats going in the background."""
        if self._started:
            return
        self._started = True
        self._serve_local_agents()
        self.hosts.register_configured()
        self.hosts.refresh_all()
        self.reconciler.run()
        self.hosts.start(self.runtime.config.bus.heartbeat_interval)

    def _serve_local_agents(self) -> None:
        """With the in-process bus, agents of configured hosts must live in this process."""
        served = getattr(self.runtime.bus, "_handlers", None)
        if getattr(self.runtime, "role", "all") != "all":
            return  # a controller has no local hosts: agents are separate processes
        if served is None or not self.runtime.config.bus.url.startswith("memory://"):
            return
        missing = [h for h in self.runtime.drivers.hosts if agent_topic(h) not in served]
        if missing:
            from overcast.agent import start_local_agents

            start_local_agents(self.runtime, missing)

    def _host_returned(self, host: str) -> None:
        """A host's agent answers again after being down: reconcile its servers (in the background)."""
        self.runner.submit(f"reconcile host {host}", self.reconciler.reconcile_host, host)

    def _take_over(self) -> None:
        """After each heartbeat round: reconcile the servers of task runners gone since."""
        self.reconciler.take_over()

    def close(self) -> None:
        self.hosts.stop()
        self.runner.close()
        self.owners.close()

    # --- helpers ------------------------------------------------------------------------------------

    @staticmethod
    def quota_deltas(flavor: Flavor) -> dict[str, int]:
        return {"instances": 1, "cores": flavor.vcpus, "ram": flavor.memory_mb}

    def _submit(self, name: str, fn, *args) -> None:
        self.runner.submit(name, fn, *args)

    # --- servers ------------------------------------------------------------------------------------

    def create_server(self, ctx: RequestContext, body: dict):
        return self.servers.create(ctx, body)

    def list_servers(self, ctx: RequestContext, params: dict[str, str]):
        return self.servers.list(ctx, params)

    def get_server(self, ctx: RequestContext, uuid: str):
        return self.servers.get(ctx, uuid)

    def update_server(self, ctx: RequestContext, uuid: str, body: dict):
        return self.servers.update(ctx, uuid, body)

    def delete_server(self, ctx: RequestContext, uuid: str) -> None:
        self.servers.delete(ctx, uuid)

    def faults(self, uuids: list[str]) -> dict[str, Any]:
        """The latest fault of each server, for views of servers in ERROR."""
        from overcast.db.models.compute import InstanceFault

        out: dict[str, Any] = {}
        if not uuids:
            return out
        with self.runtime.db.session() as s:
            stmt = select(InstanceFault).where(InstanceFault.instance_uuid.in_(uuids)).order_by(InstanceFault.id)
            for fault in s.scalars(stmt):
                out[fault.instance_uuid] = fault
        return out

    # --- actions ------------------------------------------------------------------------------------

    def power_action(self, ctx: RequestContext, uuid: str, action: str) -> None:
        vm_states, task_state, call, done = POWER_ACTIONS[action]
        self.transitions.begin(ctx, uuid, action, vm_states, task_state)
        self._submit(f"{action} {uuid}", self.tasks.power, uuid, call, done, action, f"{action}_instance")

    def reboot(self, ctx: RequestContext, uuid: str, reboot_type: str) -> None:
        kind = str(reboot_type).upper()
        if kind not in ("SOFT", "HARD"):
            raise BadRequest(
                f"Argument 'type' for reboot must be a string with value 'SOFT' or 'HARD', got {reboot_type!r}"
            )
        hard = kind == "HARD"
        states = (st.ACTIVE, st.STOPPED, st.PAUSED, st.SUSPENDED) if hard else (st.ACTIVE,)
        self.transitions.begin(ctx, uuid, "reboot", states, st.REBOOTING_HARD if hard else st.REBOOTING)
        self._submit(
            f"reboot {uuid}",
            self.tasks.power,
            uuid,
            lambda t, host, inst: t.hv(LONG_RPC).reboot(host=host, instance=inst, hard=hard),
            st.ACTIVE,
            "reboot",
            "reboot_instance",
        )

    def create_image(self, ctx: RequestContext, uuid: str, name: str, metadata: dict | None = None) -> str:
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input for field/attribute name.")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest("Invalid input for field/attribute metadata.")
        require(self.runtime, "image", "create_snapshot_record", "Creating a server image")
        rec = self.transitions.begin(ctx, uuid, "createImage", SNAPSHOT_STATES, st.IMAGE_SNAPSHOT)
        try:
            base = dict((rec.image or {}).get("properties") or {})
            # as Nova: the caller's metadata last, so it may set image_type too
            properties = {
                **base,
                "instance_uuid": uuid,
                "image_type": "snapshot",
                "base_image_ref": rec.image_ref,
                **{str(k): str(v) for k, v in (metadata or {}).items()},
            }
            image_id = create_snapshot_image(self.runtime, ctx, name, properties)
        except Exception:
            self.transitions.finish(uuid, task_state=None)
            raise
        self._submit(f"snapshot {uuid}", self.tasks.snapshot, uuid, image_id, name)
        return image_id

    def console_output(self, ctx: RequestContext, uuid: str, length: int | None) -> str:
        with self.runtime.db.session() as s:
            rec = get_instance(s, ctx, uuid)
        if not rec.host or rec.vm_state in (st.BUILDING, st.ERROR):
            raise Conflict(f"Cannot 'get_console_output' instance {uuid} while it is in vm_state {rec.vm_state}")
        output = self.runtime.agents.hypervisor().get_console_output(
            host=configured_host(self.runtime, rec.host), instance=instance_of(rec), length=length
        )
        return output if length is None else tail_log(output, length)

    def migrate(self, ctx: RequestContext, uuid: str, host: str | None = None) -> None:
        self._check_target(ctx, uuid, host)
        self.transitions.begin(ctx, uuid, "migrate", (st.ACTIVE, st.STOPPED), st.RESIZE_PREP)
        self._submit(f"migrate {uuid}", self.migrations.cold, uuid, host)

    def resize(self, ctx: RequestContext, uuid: str, flavor_ref: Any) -> None:
        """Nova's resize: checked now (flavor, disk, state, quota on the difference, 400 /
        409 / 403 with nothing changed), moved in the background to ``VERIFY_RESIZE``."""
        new = self._resize_flavor(ctx, uuid, flavor_ref)

        def claim_quota(session, rec) -> None:
            self.quotas.claim(session, rec.project_id, resize_deltas(flavor_from(rec.flavor), new))

        self.transitions.begin(ctx, uuid, "resize", (st.ACTIVE, st.STOPPED), st.RESIZE_PREP, within=claim_quota)
        self._submit(f"resize {uuid}", self.migrations.resize, uuid, store(new))

    def _resize_flavor(self, ctx: RequestContext, uuid: str, flavor_ref: Any) -> Flavor:
        """The flavor to resize ``uuid`` to, or Nova's 400 (404 for another project's server)."""
        if not isinstance(flavor_ref, (str, int)) or isinstance(flavor_ref, bool) or str(flavor_ref) == "":
            raise BadRequest("Invalid input for field/attribute flavorRef.")
        flavor_id = str(flavor_ref).rstrip("/").rsplit("/", 1)[-1]
        with self.runtime.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            current = flavor_from(rec.flavor)
            caps = reported_capabilities(s, rec.host)
            try:
                frec, specs = self.flavors.get_with_specs(s, ctx, flavor_id)
            except NotFound:
                raise BadRequest("Unable to locate requested flavor.") from None
            if frec.disabled:
                raise BadRequest("Unable to locate requested flavor.")
            new = flavor_of(frec, specs)
        if new.id == current.id:
            raise BadRequest("When resizing, instances must change flavor!")
        if caps is not None and not caps.resize:
            raise BadRequest(
                f"Server {uuid} cannot be resized: the driver of its host {rec.host} does not change a "
                "server's flavor (it only migrates servers with the flavor they have)."
            )
        if not new.root_gb and current.root_gb:
            raise BadRequest("Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.")
        if new.root_gb < current.root_gb or new.ephemeral_gb < current.ephemeral_gb:
            raise BadRequest("Server disk was unable to be resized because: Unable to resize disk down.")
        refuse_local_extra_disks(new)
        return new

    def live_migrate(self, ctx: RequestContext, uuid: str, host: str | None = None) -> None:
        self._check_target(ctx, uuid, host)
        self.transitions.begin(ctx, uuid, "live-migration", (st.ACTIVE, st.PAUSED), st.MIGRATING)
        self._submit(f"live-migrate {uuid}", self.migrations.live, uuid, host)

    def _check_target(self, ctx: RequestContext, uuid: str, host: str | None) -> None:
        """A named destination must exist and use the server's current driver: migration
        only moves between hosts of the same driver, so anything else is refused now."""
        if host is None:
            return
        hosts = self.runtime.drivers.hosts
        if not isinstance(host, str) or host not in hosts:
            raise BadRequest(f"Compute host {host} could not be found.")
        with self.runtime.db.session() as s:
            source = get_instance(s, ctx, uuid).host
        if source in hosts and hosts[source].driver != hosts[host].driver:
            raise BadRequest(
                f"Cannot migrate server {uuid} from host {source} (driver '{hosts[source].driver}') to host {host} "
                f"(driver '{hosts[host].driver}'): migration only moves between hosts of the same driver."
            )

    def evacuate(self, ctx: RequestContext, uuid: str, host: str | None = None, force: bool = False) -> None:
        """Rebuild the server of a host that is down on another host (admin; see :mod:`overcast.compute.evacuate`).
        ``force`` with a ``host``: the host is taken if it has room, past the placement filters."""
        self.get_server(ctx, uuid)  # 404 first
        self.evacuations.request(ctx, uuid, host, force)

    def reset_state(self, ctx: RequestContext, uuid: str, state: str) -> None:
        """Nova's os-resetState (admin): the server's vm_state becomes ``state`` (active or
        error) and any task is cleared, whatever the guest does; for an operator to recover a
        server whose task will not finish."""
        with self.runtime.db.session() as s:
            get_instance(s, ctx, uuid)  # 404 for a server the caller cannot see
        self.transitions.finish(uuid, vm_state=st.ACTIVE if state == "active" else st.ERROR, task_state=None)

    def inject_network_info(self, ctx: RequestContext, uuid: str) -> None:
        """Nova's injectNetworkInfo (admin): the guest takes its addresses from DHCP here, so
        what is refreshed is the server's view of them, re-read from the network service."""
        from overcast.compute.external_events import refresh_addresses

        with self.runtime.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            if not rec.host:
                raise Conflict(f"Instance {uuid} is not ready")
        self._submit(f"inject network info {uuid}", refresh_addresses, self.runtime, uuid)

    def set_locked(self, ctx: RequestContext, uuid: str, locked: bool, reason: str | None = None) -> None:
        """lock (with an optional ``reason``, 2.73) / unlock: a locked server refuses actions
        from non-admins (409)."""
        with self.runtime.db.session() as s:
            project_id = get_instance(s, ctx, uuid).project_id
        # recorded like any other action (issue 18), with the event of Nova's API (since Queens)
        action = "lock" if locked else "unlock"
        request_id = self.events.record_action(uuid, action, ctx, project_id)
        with self.events.event(uuid, f"api_{action}", API_HOST, request_id=request_id):
            with self.runtime.db.session() as s:
                rec = get_instance(s, ctx, uuid)
                rec.locked = locked
                rec.locked_reason = reason if locked else None

    def rebuild(self, ctx: RequestContext, uuid: str, body: Any, version: tuple[int, int]) -> Any:
        """Nova's rebuild: the guest and its root disk are made anew from ``imageRef`` on the
        same host, keeping the server's id, flavor, ports and addresses, its attached volumes
        (given to the new guest as they were) and its power state. A volume-backed server may
        only be rebuilt with the image its root volume holds (Nova before 2.93): the guest is
        made anew on the same root volume."""
        changes = self.servers.rebuild_changes(ctx, body, version)
        image = changes.pop("_image")
        server = self.servers.get(ctx, uuid)  # 404 before anything else
        if "metadata_" in changes:
            from overcast.compute.quotas import check_metadata_items

            with self.runtime.db.session() as s:
                check_metadata_items(self.quotas.limits(s, server.project_id), len(changes["metadata_"]))
        volume_backed, root_image = self.boot_volumes.root_image(uuid)
        if volume_backed and root_image != image.id:  # as Nova (before 2.93's reimage_boot_volume)
            raise BadRequest(
                f"Image {image.id} is unacceptable: Unable to rebuild with a different image for a volume-backed server."
            )

        if volume_backed:  # the root stays the volume: no image disk is made for it
            changes.pop("image_ref", None)
            changes.pop("image", None)

        def within(s: Any, rec: Any) -> None:
            from overcast.compute.records import flavor_snapshot
            from overcast.db.models.compute import BlockDeviceMapping

            if not rec.host:
                raise Conflict(f"Cannot 'rebuild' instance {uuid}: it has no host (it never started).")
            busy = s.scalar(
                select(BlockDeviceMapping.volume_id)
                .where(BlockDeviceMapping.instance_uuid == uuid, BlockDeviceMapping.status != "attached")
                .limit(1)
            )
            if busy:  # an attach or detach under way: Nova's task_state would refuse it too
                raise Conflict(f"Cannot 'rebuild' instance {uuid} while volume {busy} is being attached or detached.")
            flavor = flavor_snapshot(rec)
            if image.min_ram and flavor.memory_mb < image.min_ram:
                raise BadRequest("Flavor's memory is too small for requested image.")
            if image.min_disk and flavor.root_gb and flavor.root_gb < image.min_disk:
                raise BadRequest("Flavor's disk is too small for requested image.")
            for key, value in changes.items():
                setattr(rec, key, value)

        rec = self.transitions.begin(ctx, uuid, "rebuild", (st.ACTIVE, st.STOPPED, st.ERROR), st.REBUILDING, within)
        self._submit(f"rebuild {uuid}", self.tasks.rebuild, uuid)
        return rec

    def instance_actions(self, ctx: RequestContext, uuid: str) -> list:
        from overcast.db.models.compute import InstanceAction

        with self.runtime.db.session() as s:
            get_instance(s, ctx, uuid, include_deleted=True)
            stmt = select(InstanceAction).where(InstanceAction.instance_uuid == uuid).order_by(InstanceAction.id.desc())
            return list(s.scalars(stmt))

    def instance_action(self, ctx: RequestContext, uuid: str, request_id: str) -> tuple[Any, list, str] | None:
        """The action of request ``request_id`` on ``uuid``, its events (newest first) and the
        server's project; ``None`` if there is no such action."""
        from overcast.db.models.compute import InstanceAction

        with self.runtime.db.session() as s:
            rec = get_instance(s, ctx, uuid, include_deleted=True)
            action = s.scalars(
                select(InstanceAction)
                .where(InstanceAction.instance_uuid == uuid, InstanceAction.request_id == request_id)
                .order_by(InstanceAction.id.desc())
                .limit(1)
            ).first()
            if action is None:
                return None
            return action, self.events.for_actions(s, [action.id])[action.id], rec.project_id

    def confirm_resize(self, ctx: RequestContext, uuid: str) -> None:
        self.transitions.begin(ctx, uuid, "confirmResize", (st.RESIZED,), st.RESIZE_CONFIRMING)
        self._submit(f"confirm {uuid}", self.migrations.confirm, uuid)

    # --- for the volume service: online extend of an attached volume -----------------------------

    def check_volume_extend(self, instance_uuid: str, volume_id: str) -> None:
        self.volumes.check_volume_extend(instance_uuid, volume_id)

    def volume_extended(self, instance_uuid: str, volume_id: str, new_size_gb: int) -> None:
        self.volumes.volume_extended(instance_uuid, volume_id, new_size_gb)

    def revert_resize(self, ctx: RequestContext, uuid: str) -> None:
        self.transitions.begin(ctx, uuid, "revertResize", (st.RESIZED,), st.RESIZE_REVERTING)
        self._submit(f"revert {uuid}", self.migrations.revert, uuid)
