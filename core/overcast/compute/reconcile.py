"""After a restart: finish what a process that is gone left in a transitional state, using
what each host's hypervisor reports (``hv_list_instances`` / ``hv_get_info``).

Only servers whose task's runner is gone are touched (:mod:`overcast.compute.owners`): at
start-up, those whose ``task_owner`` has no live row (or none at all: rows written before
owners were recorded); then, every heartbeat round, those of an owner whose row expires
while this controller runs. Another live controller's builds and tasks go on undisturbed.

* BUILD (scheduling/spawning): a guest that exists and runs becomes ACTIVE; otherwise the
  server goes to ERROR with a fault saying the build was interrupted, and its claim is freed.
* deleting: the delete is run again (it is idempotent).
* any other task (powering-off, rebooting, migrating...): the task is cleared and the
  vm_state set from the guest's power state.
* Host usage is rebuilt from the instances table, healing claims lost in the crash (in one
  transaction that holds the hosts' rows first, so a claim another controller commits
  meanwhile is counted, not overwritten: :meth:`HostRegistry.recompute_usage`).

:meth:`Reconciler.reconcile_host` does the same for one host whose agent answers again
after being down (see :class:`overcast.compute.hosts.HostRegistry`): its servers without a
task take the power state the hypervisor reports (or ERROR if their guest is gone), and the
guests it still runs for servers that were deleted or evacuated while it was down are
destroyed there (an evacuated guest keeps its disks: they are on shared storage, in use by
the server's new host).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, exists, or_, select

from overcast.compute import states as st
from overcast.compute.migration_records import UNFINISHED
from overcast.compute.records import configured_host, instance_of
from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceRecord, MigrationRecord
from overcast.db.models.hosts import TaskRunnerRecord
from overcast.errors import Conflict, NotFound, OvercastError
from overcast.types import PowerState

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime
        self.db = svc.runtime.db
        self.t = svc.transitions
        self.tasks = svc.tasks

    def _guests(self, host: str) -> set[str] | None:
        try:
            return set(
                self.runtime.agents.hypervisor(timeout=30).list_instances(host=configured_host(self.runtime, host))
            )
        except OvercastError as exc:
            log.warning("reconcile: host %s did not answer: %s", host, exc)
            return None

    def run(self) -> dict[str, int]:
        """At start-up: reconcile every server in a transitional state whose task's runner is
        gone (its owner has no row once the gone ones are taken over, or it has no owner);
        returns counts per outcome."""
        self.svc.owners.take_over()
        runner = select(TaskRunnerRecord.id).where(TaskRunnerRecord.id == InstanceRecord.task_owner)
        return self._reconcile(or_(InstanceRecord.task_owner.is_(None), ~exists(runner)))

    def take_over(self) -> dict[str, int]:
        """Every heartbeat round: reconcile the servers of the owners gone since (each owner's
        by the one controller whose delete of its row went through)."""
        taken = self.svc.owners.take_over()
        if not taken:
            return {}
        log.info("task runners %s are gone; taking over their servers", ", ".join(taken))
        return self._reconcile(InstanceRecord.task_owner.in_(taken))

    def _reconcile(self, orphaned: ColumnElement[bool]) -> dict[str, int]:
        counts = {"active": 0, "error": 0, "deleted": 0, "synced": 0}
        with self.db.session() as s:
            stuck = list(
                s.scalars(
                    select(InstanceRecord).where(
                        InstanceRecord.deleted.is_(False),
                        or_(InstanceRecord.task_state.is_not(None), InstanceRecord.vm_state == st.BUILDING),
                        orphaned,
                    )
                )
            )
            if stuck:  # their migrations stopped with them (another controller's go on)
                s.execute(
                    cast(Table, MigrationRecord.__table__)
                    .update()
                    .where(
                        MigrationRecord.status.in_(UNFINISHED),
                        MigrationRecord.instance_uuid.in_([rec.uuid for rec in stuck]),
                    )
                    .values(status="error", updated_at=utcnow())
                )
        guests_by_host: dict[str, set[str] | None] = {}
        for rec in stuck:
            if rec.host and rec.host not in guests_by_host:
                guests_by_host[rec.host] = self._guests(rec.host)
            guests = guests_by_host.get(rec.host) if rec.host else set()
            outcome = self._one(rec, guests)
            counts[outcome] = counts.get(outcome, 0) + 1
        self.svc.hosts.recompute_usage()
        self.svc.scheduler.cache.invalidate(full=True)
        if stuck:
            log.info("reconciled %d servers: %s", len(stuck), counts)
        return counts

    def _one(self, rec: InstanceRecord, guests: set[str] | None) -> str:
        if rec.task_state == st.DELETING:
            self.tasks.delete(rec.uuid)
            return "deleted"
        if rec.vm_state == st.BUILDING:
            if guests is not None and rec.hv_name in guests and self._running(rec):
                self.t.finish(
                    rec.uuid,
                    vm_state=st.ACTIVE,
                    task_state=None,
                    power_state="running",
                    launched_at=rec.launched_at or utcnow(),
                )
                return "active"
            reason = Conflict(f"Build of server {rec.uuid} was interrupted by a restart of the compute service.")
            self.t.fault(rec.uuid, reason, vm_state=st.ERROR, task_state=None, host=None, power_state="nostate")
            return "error"
        if guests is None:
            self.t.finish(rec.uuid, task_state=None)  # host unreachable: keep the last known vm_state
            return "synced"
        if rec.hv_name not in guests:
            self.t.fault(
                rec.uuid,
                NotFound(f"the guest of server {rec.uuid} is gone from host {rec.host}"),
                vm_state=st.ERROR,
                task_state=None,
                power_state="nostate",
            )
            return "error"
        self.tasks.sync_power_state(rec.uuid)
        return "synced"

    def _running(self, rec: InstanceRecord) -> bool:
        if not rec.host:
            return False
        try:
            info = self.runtime.agents.hypervisor(timeout=30).get_info(
                host=configured_host(self.runtime, rec.host), instance=instance_of(rec)
            )
        except OvercastError:
            return False
        return info.state.value == "running"

    # --- one host back from the dead -------------------------------------------------------

    def reconcile_host(self, host: str) -> dict[str, int]:
        """Bring the database in line with what ``host``'s hypervisor runs now."""
        counts = {"synced": 0, "error": 0, "reaped": 0}
        # the servers first, then the guests: a server that becomes ACTIVE after this read is
        # not judged by a guest list taken before its spawn
        with self.db.session() as s:
            mine = list(
                s.scalars(
                    select(InstanceRecord).where(
                        InstanceRecord.host == host,
                        InstanceRecord.deleted.is_(False),
                        InstanceRecord.task_state.is_(None),
                        InstanceRecord.vm_state != st.BUILDING,
                    )
                )
            )
        guests = self._guests(host)
        if guests is None:
            return counts
        with self.db.session() as s:
            gone_away = list(
                s.scalars(
                    select(InstanceRecord).where(
                        InstanceRecord.hv_name.in_(sorted(guests)),
                        or_(InstanceRecord.deleted.is_(True), InstanceRecord.host != host),
                    )
                )
            )
            evacuated = set(
                s.scalars(
                    select(MigrationRecord.instance_uuid).where(
                        MigrationRecord.source_host == host,
                        MigrationRecord.migration_type == "evacuation",
                        MigrationRecord.status == "done",
                    )
                )
            )
        for rec in mine:
            if rec.hv_name not in guests:
                if rec.vm_state == st.ERROR:
                    continue
                if self.t.advance(rec.uuid, None, expect=unchanged(rec), vm_state=st.ERROR, power_state="nostate"):
                    self.t.fault(rec.uuid, NotFound(f"the guest of server {rec.uuid} is gone from host {host}"))
                    counts["error"] += 1
                continue
            try:
                info = self.runtime.agents.hypervisor(timeout=self.runtime.config.bus.probe_timeout).get_info(
                    host=configured_host(self.runtime, host), instance=instance_of(rec)
                )
            except OvercastError as exc:
                log.warning("reconcile host %s: server %s: %s", host, rec.uuid, exc)
                continue
            power = info.state.value if isinstance(info.state, PowerState) else str(info.state)
            vm_state = st.vm_state_for_power(power)
            if (rec.vm_state, vm_state) in ((st.RESCUED, st.ACTIVE), (st.SHELVED, st.STOPPED)):
                vm_state = rec.vm_state  # a running rescue guest, a shelved one not offloaded (issue 18)
            if vm_state != rec.vm_state or power != rec.power_state:
                self.t.advance(rec.uuid, None, expect=unchanged(rec), vm_state=vm_state, power_state=power)
            counts["synced"] += 1
        for rec in gone_away:
            if not rec.deleted and rec.uuid not in evacuated:
                continue  # moved away by a migration: its own task cleans the source
            keep_disks = rec.uuid in evacuated and not rec.deleted
            instance = dataclasses.replace(instance_of(rec), host=host)
            try:
                self.runtime.agents.hypervisor(timeout=self.runtime.config.bus.rpc_timeout).destroy(
                    host=configured_host(self.runtime, host), instance=instance, destroy_disks=not keep_disks
                )
            except OvercastError as exc:
                log.warning("reconcile host %s: could not destroy the stale guest of %s: %s", host, rec.uuid, exc)
                continue
            counts["reaped"] += 1
        if any(counts.values()):
            log.info("reconciled host %s: %s", host, counts)
        return counts


def unchanged(rec: InstanceRecord) -> dict:
    """Conditions that hold while nobody touched the server since ``rec`` was read."""
    return {"deleted": False, "host": rec.host, "vm_state": rec.vm_state}
