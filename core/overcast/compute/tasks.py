"""Background work on servers: build, delete, power actions and snapshots.

Each API call that changes a server records the new ``task_state`` synchronously (see
:mod:`overcast.compute.transitions`) and hands the slow part to :class:`TaskRunner`, whose
threads outlive the request. Each task ends by clearing ``task_state`` and setting the
vm_state the hypervisor confirms, or by recording a fault. A task interrupted by a restart
is finished by :mod:`overcast.compute.reconcile`.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import nullcontext
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Sequence
from typing import Any, Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError

from overcast.agent.hypervisor import image_to_fetch
from overcast.compute import states as st
from overcast.compute.action_events import Step, compute_event
from overcast.compute.build_failure import record_build_failure
from overcast.compute.claims import Usage
from overcast.compute.metadata import drive as config_drive
from overcast.compute.moved_volumes import MovedVolumes
from overcast.compute.outcomes import Outcome
from overcast.compute.peers import allocate_network, deallocate_network, discard_image
from overcast.compute.records import configured_host, flavor_snapshot, image_snapshot, instance_of
from overcast.context import RequestContext, system_context
from overcast.db import retry_while_lost
from overcast.db.models.base import utcnow
from overcast.db.models.compute import BlockDeviceMapping, InstancePort, InstanceRecord, ServerGroupMember
from overcast.errors import Conflict, NotFound, ServiceUnavailable
from overcast.foreground import PATIENCE, Foreground
from overcast.hookspecs import HypervisorHooks
from overcast.db.values import load, store
from overcast.types import BlockDevice, Host, Instance, InstanceInfo, ScheduleRequest, VifDetails
from overcast import metrics

log = logging.getLogger(__name__)

LONG_RPC = 900.0  # spawn, snapshot and migrations may copy whole disks
SHUTDOWN_RETRY_INTERVAL = 5  # seconds between a stop's clean-shutdown requests


class TaskRunner:
    """A thread pool for server tasks; ``wait_idle`` lets tests and shutdown drain it. A task
    starts when the process serves no request, or :data:`~overcast.foreground.PATIENCE`
    seconds after it was submitted (:mod:`overcast.foreground`)."""

    def __init__(self, workers: int, foreground: Foreground | None = None, patience: float = PATIENCE) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compute-task")
        self._foreground = foreground
        self._patience = patience
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def submit(self, name: str, fn: Callable[..., Any], *args: Any) -> Future:
        start_by = time.monotonic() + self._patience

        def run() -> None:
            if self._foreground is not None:
                self._foreground.wait_quiet(start_by)
            try:
                # the kind of task ("build", "delete"...), not its subject: labels stay bounded
                with metrics.timed_task("compute", name.split(" ", 1)[0]):
                    fn(*args)
            except Exception:  # noqa: BLE001 - a task must never die silently
                log.exception("compute task %s failed", name)

        future = self._pool.submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future) -> None:
        with self._idle:
            self._pending.discard(future)
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ServerTasks:
    """The task bodies. ``svc`` is the :class:`~overcast.compute.service.ComputeService`."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime
        self.db = svc.runtime.db
        self.t = svc.transitions

    def hv(self, timeout: float | None = None) -> HypervisorHooks:
        """The hosts' hypervisor operations, each run by the agent of its ``host`` argument
        (waiting ``timeout`` seconds, default ``[bus] rpc_timeout``)."""
        return self.runtime.agents.hypervisor(timeout)

    def spawn(
        self, host: Host, instance: Instance, vifs: Sequence[VifDetails], devices: Sequence[BlockDevice]
    ) -> InstanceInfo:
        """Boot ``instance`` on ``host`` from its image (fetched there), with ``vifs`` and the
        volumes ``devices``: the build's, the rebuild's, the unshelve's and the evacuation's."""
        return self.hv(LONG_RPC).spawn(
            host=host,
            instance=instance,
            image=image_to_fetch(instance.image),
            network_info=vifs,
            block_devices=devices,
        )

    def host(self, name: str) -> Host:
        """The record of host ``name``, for the ``host`` argument of :meth:`hv`'s operations."""
        return configured_host(self.runtime, name)

    def power_off(self, host: Host, instance: Instance) -> bool:
        """Stop ``instance`` cleanly within ``[compute] shutdown_timeout``, then hard."""
        return self.hv(LONG_RPC).power_off(
            host=host,
            instance=instance,
            timeout=self.runtime.config.compute.shutdown_timeout,
            retry_interval=SHUTDOWN_RETRY_INTERVAL,
        )

    def _load(self, uuid: str) -> InstanceRecord | None:
        return self.db.read(lambda s: s.get(InstanceRecord, uuid))

    # --- build ---------------------------------------------------------------------------------

    def _hosts_of_servers(self, project_id: str, ids: list[str]) -> list[str]:
        """The hosts the project's live servers ``ids`` run on (another project's are not
        looked at: a hint never reveals where someone else's server is)."""
        with self.db.session() as s:
            stmt = select(InstanceRecord.host).where(
                InstanceRecord.uuid.in_(ids),
                InstanceRecord.project_id == project_id,
                InstanceRecord.deleted.is_(False),
                InstanceRecord.host.is_not(None),
            )
            return sorted({h for h in s.scalars(stmt) if h})

    def schedule_request(self, rec: InstanceRecord, **extra: Any) -> ScheduleRequest:
        hints: dict[str, Any] = {}
        if rec.server_group_id:
            group = self.svc.server_groups
            with self.db.session() as s:
                from overcast.db.models.compute import ServerGroupRecord

                g = s.get(ServerGroupRecord, rec.server_group_id)
                if g is not None:
                    hints = {"group_policy": g.policy, "group_hosts": group.hosts_of(s, g.id, exclude_uuid=rec.uuid)}
        for key, ids in (rec.scheduler_hints or {}).items():  # same_host / different_host (issue 16)
            hints[f"{key}_hosts"] = self._hosts_of_servers(rec.project_id, ids)
        if any(m.get("boot_index") == 0 for m in rec.block_device_requests or ()):  # issue 18
            hints["boot_from_volume"] = True
        allowed = self.svc.aggregates.hosts_matching(flavor_snapshot(rec).extra_specs)  # issue 18
        if allowed is not None:
            hints["aggregate_hosts"] = sorted(allowed)
        return ScheduleRequest(
            instance_uuid=rec.uuid,
            project_id=rec.project_id,
            flavor=flavor_snapshot(rec),
            image=image_snapshot(rec) or self.svc.boot_volumes.schedule_image(rec),  # issue 18
            availability_zone=rec.requested_zone,
            hints=hints,
            **extra,
        )

    def build(self, uuid: str, ctx: RequestContext, written: InstanceRecord | None = None) -> None:
        """Schedule, claim and spawn the server. ``written``: the row as the create wrote it,
        not read again (a delete since then is found by the claim's conditional UPDATE, which
        then gives the host back in its own transaction, and the delete runs here)."""
        rec = written if written is not None else self._load(uuid)
        if rec is not None and rec.task_state == st.DELETING:
            self.delete(uuid)  # deleted before the build started
            return
        if rec is None or rec.task_state != st.SCHEDULING:
            return
        host = None
        event_id: int | None = None
        build_event = compute_event("_do_build_and_run_instance")
        try:
            seen = rec

            def place(s: Any, chosen: str) -> tuple[tuple[InstanceRecord, str, dict[str, Any]], int | None] | None:
                hosts = self.runtime.drivers.hosts
                zone = hosts[chosen].availability_zone if chosen in hosts else None
                values = {"host": chosen, "availability_zone": zone, "task_state": st.SPAWNING}
                moved = self.t.advance_in(s, uuid, st.SCHEDULING, None, seen, values)
                if moved is None:
                    return None
                started = self.svc.events.start_in(
                    s, uuid, build_event, chosen, request_id=ctx.request_id, actions=("create",)
                )
                return moved, started

            # the host's claim, the server's move to spawning and its build event's start in one transaction
            chosen, placed = self.svc.scheduler.claim_and(self.schedule_request(rec), place)
            if placed is None:  # deleted while scheduling: the claim was given back with it
                self.delete(uuid)
                return
            host = chosen
            spawning, event_id = placed
            rec = self.t.advanced(*spawning)
            vifs = self._allocate_network(ctx, rec, host)
            rec = config_drive.freeze(self.runtime, rec)  # issue 17: its content, once the ports exist
            devices = self.svc.boot_volumes.prepare(ctx, rec, host)  # issue 18: made, reserved, exported
            instance = instance_of(rec)
            info = self.spawn(self.host(host), instance, vifs, devices)
            self.svc.boot_volumes.complete(ctx, rec, host)
        except Exception as exc:  # noqa: BLE001 - becomes the server's fault
            # the database may have gone away too: the fault and the claim are written once it is back
            try:
                self.svc.events.finish(event_id, exc)
            except OperationalError as lost:
                log.warning("build of %s failed (%s) and so did the end of its event: %s", uuid, exc, lost)
            try:
                self._clean_up_failed_build(uuid, host, ctx)
            except OperationalError as lost:  # its ports or volumes may stay allocated
                log.warning("build of %s failed (%s) and so did its clean-up: %s", uuid, exc, lost)
            record_build_failure(self.svc.outcomes, uuid, exc, self.delete)
            return
        values = {
            "vm_state": st.ACTIVE,
            "task_state": None,
            "power_state": info.state.value,
            "launched_at": utcnow(),
            "progress": 100,
        }

        def activate(s: Any) -> tuple[InstanceRecord, str, dict[str, Any]] | None:
            self.svc.events.finish_in(s, event_id)  # the event's end and ACTIVE in one transaction
            return self.t.advance_in(s, uuid, st.SPAWNING, None, rec, values)

        moved = retry_while_lost(lambda: self.svc.writes.run(activate), f"server {uuid} ACTIVE")
        if moved is not None:
            self.t.advanced(*moved)
            return
        now = self._load(uuid)
        # deleted while spawning (a retried write also finds nothing to move when its first
        # commit went through but its answer was lost: the server is ACTIVE then)
        if now is not None and now.vm_state == st.BUILDING and now.task_state == st.DELETING:
            self.delete(uuid)

    def _allocate_network(self, ctx: RequestContext, rec: InstanceRecord, host: str) -> list[VifDetails]:
        vifs, addresses = allocate_network(self.runtime, ctx, rec.uuid, host, rec.requested_networks or [])
        if not vifs:
            return []
        with self.db.session() as s:
            for vif in vifs:
                s.merge(
                    InstancePort(instance_uuid=rec.uuid, port_id=vif.port_id, network_id=vif.network_id, vif=store(vif))
                )
            row = s.get(InstanceRecord, rec.uuid)
            row.addresses = dict(addresses or {})
        return vifs

    def _clean_up_failed_build(self, uuid: str, host: str | None, ctx: RequestContext | None = None) -> None:
        """Destroy what a failed build made on ``host`` and give back its volumes and ports
        (its claim goes with its fault: :func:`~overcast.compute.build_failure.record_build_failure`)."""
        rec = self._load(uuid)
        if rec is None:
            return
        if host:
            try:
                self.hv().destroy(host=self.host(host), instance=instance_of(rec), destroy_disks=True)
            except Exception:  # noqa: BLE001 - best effort: the guest may never have existed
                log.debug("cleanup after failed build of %s", uuid, exc_info=True)
        self.svc.boot_volumes.release(ctx or system_context(), rec, host)
        self._deallocate_network(uuid)

    def vifs_of(self, uuid: str) -> list[VifDetails]:
        with self.db.session() as s:
            return [
                load(VifDetails, p.vif)
                for p in s.scalars(select(InstancePort).where(InstancePort.instance_uuid == uuid))
            ]

    def port_ids(self, uuid: str) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(InstancePort.port_id).where(InstancePort.instance_uuid == uuid)))

    def set_vifs(self, uuid: str, vifs: list[VifDetails]) -> None:
        """Remember how the ports are plugged now (after a rebind on another host)."""
        with self.db.session() as s:
            for vif in vifs:
                s.merge(
                    InstancePort(instance_uuid=uuid, port_id=vif.port_id, network_id=vif.network_id, vif=store(vif))
                )

    def _deallocate_network(self, uuid: str) -> None:
        stmt = select(InstancePort.port_id).where(InstancePort.instance_uuid == uuid)
        if not self.db.read(lambda s: s.execute(stmt).first()):  # most servers of a delete burst have none
            return
        with self.db.session() as s:
            for p in s.scalars(select(InstancePort).where(InstancePort.instance_uuid == uuid)):
                s.delete(p)
        deallocate_network(self.runtime, uuid)

    # --- delete --------------------------------------------------------------------------------

    def delete(self, uuid: str) -> None:
        rec = self._load(uuid)
        if rec is None or rec.deleted:
            return
        # Nova deletes a server that never had a host in its API, with no event
        reporter = (
            self.svc.events.event(uuid, compute_event("terminate_instance"), rec.host, actions=("delete",))
            if rec.host
            else nullcontext(Step())
        )
        with reporter as step:
            if not self._terminate(rec, step):
                return
        now = utcnow()
        values = dict(
            vm_state=st.DELETED,
            task_state=None,
            power_state="nostate",
            deleted=True,
            deleted_at=now,
            terminated_at=now,
        )
        usage = Usage.of(flavor_snapshot(rec))

        def gone(s: Any, out: Outcome) -> None:
            """The row deleted, its group membership, host claim and quota given back: one
            transaction, written only if the row is not deleted yet (a write run again after a
            commit whose answer was lost gives nothing back twice), the claim of the host the
            row names when it is deleted (the quota last: the project's usage rows are locked
            until the commit). Nothing if deleted already."""
            host = rec.host
            for _ in range(3):  # a second read only where the first did not lock the row (SQLite)
                out.moved = self.t.set_in(s, rec, values, {"deleted": False, "host": host})
                if out.moved is not None:
                    break
                row = s.get(InstanceRecord, uuid, with_for_update=True, populate_existing=True)
                if row is None or row.deleted:
                    return
                host = row.host  # a failed build gave its claim back since ``rec`` was read
            else:
                raise Conflict(f"Server {uuid} is changing state too fast to delete.")
            s.execute(delete(ServerGroupMember).where(ServerGroupMember.instance_uuid == uuid))
            if host:
                out.give_back(s, host, usage)
            self.svc.quotas.release(s, rec.project_id, self.svc.quota_deltas(flavor_snapshot(rec)))

        self.svc.outcomes.write(gone, f"the delete of server {uuid}")

    def _terminate(self, rec: InstanceRecord, step: Step) -> bool:
        """Destroy the guest and give back its volumes, image and ports; whether it is gone
        (else the fault is recorded and the server stays, in ERROR)."""
        uuid = rec.uuid
        if rec.vm_state == st.RESIZED:
            self.svc.migrations.confirm_before_delete(rec)
        if rec.host:
            try:
                self.hv(LONG_RPC).destroy(host=self.host(rec.host), instance=instance_of(rec), destroy_disks=True)
            except (NotFound, ServiceUnavailable) as exc:
                log.warning("server %s: deleting locally, host %s: %s", uuid, rec.host, exc)
            except Exception as exc:  # noqa: BLE001 - recorded; the user may retry the delete
                step.failed(exc)
                self.t.fault(uuid, exc, vm_state=st.ERROR, task_state=None)
                return False
        doomed = self.svc.volumes.detach_all(rec)
        self.svc.boot_volumes.delete_volumes(doomed)  # issue 18: delete_on_termination
        if rec.shelved_image_id:  # issue 18: the image it was shelved into goes with it
            discard_image(self.runtime, rec.shelved_image_id)
        self._deallocate_network(uuid)
        return True  # the group membership, host claim and quota go with the row (delete)

    # --- power actions and snapshots -------------------------------------------------------------

    def power(
        self,
        uuid: str,
        call: Callable[[ServerTasks, Host, Instance], bool],
        done_vm_state: str,
        action: str,
        function: str,
    ) -> None:
        """Run the power ``action`` (recorded as the event of Nova's manager ``function``)."""
        rec = self._load(uuid)
        if rec is None or not rec.host:
            return
        instance = instance_of(rec)
        with self.svc.events.event(uuid, compute_event(function), rec.host, actions=(action,)) as step:
            try:
                host = self.host(rec.host)
                call(self, host, instance)
                info = self.hv().get_info(host=host, instance=instance)
            except Exception as exc:  # noqa: BLE001 - recorded; state re-read from the hypervisor
                step.failed(exc)
                self.t.fault(uuid, exc)
                self.sync_power_state(uuid)
                return
            self.t.finish(uuid, vm_state=done_vm_state, task_state=None, power_state=info.state.value)

    def sync_power_state(self, uuid: str) -> None:
        """Clear the task and set the vm_state to what the hypervisor reports now."""
        rec = self._load(uuid)
        if rec is None or not rec.host:
            return
        try:
            info = self.hv().get_info(host=self.host(rec.host), instance=instance_of(rec))
        except NotFound:
            self.t.fault(
                uuid,
                NotFound(f"the guest of server {uuid} is gone from host {rec.host}"),
                vm_state=st.ERROR,
                task_state=None,
                power_state="nostate",
            )
            return
        except Exception:  # noqa: BLE001 - host unreachable: keep vm_state, drop the task
            self.t.finish(uuid, task_state=None)
            return
        self.t.finish(uuid, vm_state=st.vm_state_for_power(info.state), task_state=None, power_state=info.state.value)

    def snapshot(self, uuid: str, image_id: str, image_name: str, backup: bool = False) -> bool:
        """Snapshot the root disk into the queued image ``image_id``; whether it was uploaded
        (the event of Nova's ``snapshot_instance``, or ``backup_instance`` for a ``backup``)."""
        rec = self._load(uuid)
        if rec is None or not rec.host:
            return False
        action, function = ("createBackup", "backup_instance") if backup else ("createImage", "snapshot_instance")
        with self.svc.events.event(uuid, compute_event(function), rec.host, actions=(action,)) as step:
            try:
                self.runtime.agents.compute(rec.host, LONG_RPC).snapshot(
                    instance=instance_of(rec), image_id=image_id, image_name=image_name
                )
            except Exception as exc:  # noqa: BLE001 - the image is discarded and the fault recorded
                step.failed(exc)
                try:
                    discard_image(self.runtime, image_id)
                except Exception:  # noqa: BLE001
                    log.exception("could not discard failed snapshot image %s", image_id)
                self.t.fault(uuid, exc, task_state=None)
                return False
        self.t.finish(uuid, task_state=None)
        return True

    def rebuild(self, uuid: str) -> None:
        """Destroy the guest and its disks, spawn it again from the (new) image with the same
        ports and the volumes attached as they were (their exports to this host stay); a server
        that was stopped is stopped again, as Nova does."""
        rec = self._load(uuid)
        if rec is None or not rec.host or rec.task_state != st.REBUILDING:
            return
        instance = instance_of(rec)
        with self.svc.events.event(uuid, compute_event("rebuild_instance"), rec.host, actions=("rebuild",)) as step:
            try:
                host = self.host(rec.host)
                hv = self.hv(LONG_RPC)
                hv.destroy(host=host, instance=instance, destroy_disks=True)
                info = self.spawn(host, instance, self.vifs_of(uuid), MovedVolumes(self.runtime).devices(uuid))
                if rec.vm_state == st.STOPPED:
                    self.power_off(host, instance)
                    info = hv.get_info(host=host, instance=instance)
            except Exception as exc:  # noqa: BLE001 - becomes the server's fault
                step.failed(exc)
                self.t.fault(uuid, exc, vm_state=st.ERROR, task_state=None)
                return
        done = self.t.advance(
            uuid,
            st.REBUILDING,
            vm_state=st.vm_state_for_power(info.state),
            task_state=None,
            power_state=info.state.value,
            launched_at=utcnow(),
        )
        if done is None:  # deleted meanwhile
            self.delete(uuid)

    def bdms_of(self, uuid: str) -> list[BlockDeviceMapping]:
        with self.db.session() as s:
            return list(s.scalars(select(BlockDeviceMapping).where(BlockDeviceMapping.instance_uuid == uuid)))
