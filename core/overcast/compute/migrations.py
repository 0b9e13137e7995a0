"""Cold and live migration and resize tasks, and confirm / revert of a cold migration or resize.

They schedule a destination among hosts of the *same driver* and claim it atomically (never
the current host, except for a resize when ``allow_resize_to_same_host``); the source keeps
its claim until the move is final. Cold migration and resize pass through the ``resize_*``
task states and end in ``VERIFY_RESIZE`` (vm_state ``resized``, the new flavor shown) until
the user confirms (source cleaned, source claim released) or reverts (guest back on the
source with the old flavor, destination claim and the resize's quota released). Live
migration moves a running guest and ends ``ACTIVE`` on the destination.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.agent.hypervisor import image_to_fetch
from overcast.compute import states as st
from overcast.compute.action_events import API_HOST, compute_event
from overcast.compute.claims import Usage
from overcast.compute.migration_records import UNFINISHED, add_migration, set_status_if
from overcast.compute.moved_volumes import MovedVolumes, VolumeMove
from overcast.compute.outcomes import Outcome
from overcast.compute.peers import rebind_ports
from overcast.compute.records import flavor_from, flavor_snapshot, instance_of
from overcast.compute.tasks import LONG_RPC, ServerTasks
from overcast.compute.transitions import fault_record
from overcast.db.models.compute import InstanceRecord, MigrationRecord
from overcast.db.values import load, store
from overcast.types import Flavor, Instance, MigrationData

log = logging.getLogger(__name__)


#: the actions a cold migration or resize task belongs to
MOVES = ("migrate", "resize")


class _Superseded(Exception):
    """The server left the move's task states (it is being deleted)."""


def resize_deltas(old: Flavor, new: Flavor) -> dict[str, int]:
    """The quota change of resizing from ``old`` to ``new`` (negative when shrinking)."""
    return {"cores": new.vcpus - old.vcpus, "ram": new.memory_mb - old.memory_mb}


def _migration_data(mig: MigrationRecord) -> MigrationData:
    """What the drivers said about a move (as stored), or the bare hosts of a record without it."""
    return load(MigrationData, mig.data) if mig.data else MigrationData(mig.source_host, mig.dest_host)


class MigrationTasks:
    def __init__(self, tasks: ServerTasks) -> None:
        self.tasks = tasks
        self.svc = tasks.svc
        self.db = tasks.db
        self.t = tasks.t
        self.volumes = MovedVolumes(tasks.svc.runtime)
        self.events = tasks.svc.events

    def _claim_destination(
        self, rec, target: str | None, kind: str, old: Flavor | None = None, new: Flavor | None = None
    ) -> tuple[str, int]:
        """Schedule and claim a host of the source's driver for ``new`` (the server's own flavor
        by default), with the move's migration row (of type ``kind``) in the claim's
        transaction: a usage recount (:meth:`HostRegistry.recompute_usage`) never sees the
        claim without the row that holds it. The current host is a candidate only for a
        resize with ``allow_resize_to_same_host``. The host and the row's id."""
        hosts = self.svc.runtime.drivers.hosts
        same_host = kind == "resize" and self.svc.runtime.config.compute.allow_resize_to_same_host
        request = self.tasks.schedule_request(
            rec,
            ignore_hosts=() if same_host else (rec.host,),
            force_hosts=(target,) if target else (),
            same_driver_as=hosts[rec.host].driver if rec.host in hosts else None,
        )
        if new is not None:
            request = dataclasses.replace(request, flavor=new)

        def add(s: Session, dest: str) -> int:
            return add_migration(s, rec.uuid, kind, rec.host, dest, "migrating", old, new)

        dest, mig_id = self.svc.scheduler.claim_and(request, add)
        assert mig_id is not None  # ``add`` always answers
        return dest, mig_id

    def vifs_on(self, uuid: str, host: str) -> list:
        """The server's ports bound on ``host`` (the stored vifs if there is no network service)."""
        vifs = rebind_ports(self.svc.runtime, uuid, self.tasks.port_ids(uuid), host)
        if vifs:
            self.tasks.set_vifs(uuid, vifs)
            return vifs
        return self.tasks.vifs_of(uuid)

    def _set_migration(self, mig_id: int, status: str, data: MigrationData | None = None) -> None:
        """Record a step of an unfinished move (never one that ended meanwhile)."""
        with self.db.session() as s:
            set_status_if(s, mig_id, UNFINISHED, status, data)

    def end_move_in(self, s: Session, out: Outcome, uuid: str, status: str = "error") -> bool:
        """In ``out``'s transaction: end server ``uuid``'s unfinished move (its migration row
        to ``status``), giving back its destination's claim and, for a resize, the quota its
        request claimed; whether there was one. Only a row still unfinished is ended: whoever
        ends it gives its claim back once."""
        rows = list(
            s.scalars(
                select(MigrationRecord).where(
                    MigrationRecord.instance_uuid == uuid, MigrationRecord.status.in_(UNFINISHED)
                )
            )
        )
        server = s.get(InstanceRecord, uuid)
        ended = False
        for m in rows:
            if server is None or not set_status_if(s, m.id, UNFINISHED, status):
                continue
            ended = True
            new = flavor_from(m.new_flavor) if m.new_flavor else flavor_snapshot(server)
            out.give_back(s, m.dest_host, Usage.of(new))
            if m.old_flavor and m.new_flavor:
                deltas = resize_deltas(flavor_from(m.old_flavor), new)
                if any(deltas.values()):
                    self.svc.quotas.release(s, server.project_id, deltas)
        return ended

    def abandon(
        self, uuid: str, exc: BaseException | None, task: str | None = None, quota: dict[str, int] | None = None
    ) -> Outcome | None:
        """One outcome transaction: server ``uuid``'s unfinished move ended in error
        (:meth:`end_move_in`; one whose claim committed with its answer lost included), its
        task ``task`` cleared if the server is still in it, and the fault of ``exc`` if either
        was written. ``quota``: what a resize request claimed, given back with the task's end
        when no move row carried it (its claim failed)."""

        def job(s: Session, out: Outcome) -> None:
            ended = self.end_move_in(s, out, uuid)
            if task is not None:
                out.moved = self.t.advance_in(s, uuid, task, {"deleted": False}, None, {"task_state": None})
                if out.moved is not None and not ended and quota:
                    self.svc.quotas.release(s, out.moved[0].project_id, quota)
            if exc is not None and out:
                s.add(fault_record(uuid, exc))

        if exc is not None:
            log.warning("server %s: %s", uuid, str(exc) or type(exc).__name__)
        return self.svc.outcomes.write(job, f"the end of the move of server {uuid}")

    # --- cold migration and resize ---------------------------------------------------------------

    def cold(self, uuid: str, target: str | None) -> None:
        """Cold migration: the same flavor on another host of the same driver."""
        self._move(uuid, target, None)

    def resize(self, uuid: str, flavor: dict[str, Any]) -> None:
        """Resize to ``flavor`` (``store(Flavor)``); the quota was claimed with the request."""
        self._move(uuid, None, flavor_from(flavor))

    def _move(self, uuid: str, target: str | None, new_flavor: Flavor | None) -> None:
        """Both end in ``VERIFY_RESIZE`` on the destination, the source claim kept until
        confirm or revert. A resize claims the new flavor on the destination, which may be
        the current host if ``allow_resize_to_same_host``."""
        rec = self.tasks._load(uuid)
        if rec is None or not rec.host:
            return
        source = rec.host
        old = flavor_snapshot(rec)
        new = new_flavor or old
        resize = new_flavor is not None
        was_running = rec.vm_state == st.ACTIVE
        kind = "resize" if resize else "migration"
        try:
            with self.events.event(uuid, "conductor_migrate_server", API_HOST, actions=MOVES):
                dest, mig_id = self._claim_destination(rec, target, kind, old, new)
        except Exception as exc:  # noqa: BLE001 - no destination: nothing changed
            if self.abandon(uuid, exc, st.RESIZE_PREP, resize_deltas(old, new)) is None:  # deleted meanwhile
                self._undo_quota(rec, old, new)
            return
        instance = instance_of(rec)
        moved = dataclasses.replace(instance, flavor=new, host=dest)
        data = None
        move: VolumeMove | None = None
        try:
            with self.events.event(uuid, compute_event("resize_instance"), source, actions=MOVES):
                self._step(uuid, st.RESIZE_PREP, st.RESIZE_MIGRATING)
                hv, on_source, on_dest = self.tasks.hv(LONG_RPC), self.tasks.host(source), self.tasks.host(dest)
                data = hv.migrate_disk_and_power_off(host=on_source, instance=instance, dest=on_dest, flavor=new)
                self._set_migration(mig_id, "migrating", data)
                self._step(uuid, st.RESIZE_MIGRATING, st.RESIZE_MIGRATED)
            with self.events.event(uuid, compute_event("finish_resize"), dest, actions=MOVES):
                self._step(uuid, st.RESIZE_MIGRATED, st.RESIZE_FINISH)
                move = self.volumes.to(uuid, dest)
                info = hv.finish_migration(
                    host=on_dest,
                    instance=moved,
                    image=image_to_fetch(moved.image),
                    migration=data,
                    network_info=self.vifs_on(uuid, dest),
                    block_devices=move.devices,
                    power_on=was_running,
                )
        except _Superseded:  # deleted meanwhile: the delete task owns the server now
            if move is not None:
                self.volumes.back(uuid, move)
            self.abandon(uuid, None)
            return
        except Exception as exc:  # noqa: BLE001 - roll back to the source
            if move is not None:
                self.volumes.back(uuid, move)
            self.abandon(uuid, exc)
            self.tasks.sync_power_state(uuid)
            return
        self.volumes.finish(uuid, move, end_source=False)  # the source keeps its exports until confirm
        values = {
            "host": dest,
            "vm_state": st.RESIZED,
            "task_state": None,
            "power_state": info.state.value,
            "availability_zone": self.zone_of(dest),
            "flavor": store(new),
            "flavor_id": new.id,
        }

        def finished(s: Session, out: Outcome) -> None:
            """The server on the destination with the new flavor (the destination's claim now
            the row's, the source's the finished migration's); if it was deleted meanwhile
            (the delete gave the source's claim back), the destination's claim back."""
            out.moved = self.t.advance_in(s, uuid, st.RESIZE_FINISH, {"host": source, "deleted": False}, rec, values)
            if out.moved is not None:
                out.wrote = set_status_if(s, mig_id, UNFINISHED, "finished", data)
            else:
                self.end_move_in(s, out, uuid)

        done = self.svc.outcomes.write(finished, f"the move of server {uuid}")
        if done is not None and done.moved is None and dest != source:  # deleted while finishing
            self.destroy_left(dest, moved)

    def _step(self, uuid: str, current: str, nxt: str) -> None:
        """Move the task state on, unless something else (a delete) took the server over."""
        if self.t.advance(uuid, current, task_state=nxt) is None:
            raise _Superseded(uuid)

    def _undo_quota(self, rec, old: Flavor, new: Flavor) -> None:
        """Give back what a resize request claimed (nothing for a migration)."""
        deltas = resize_deltas(old, new)
        if any(deltas.values()):
            with self.db.session() as s:
                self.svc.quotas.release(s, rec.project_id, deltas)

    def zone_of(self, host: str) -> str | None:
        h = self.svc.runtime.drivers.hosts.get(host)
        return h.availability_zone if h else None

    def pending(self, uuid: str) -> MigrationRecord | None:
        with self.db.session() as s:
            return s.scalars(
                select(MigrationRecord)
                .where(MigrationRecord.instance_uuid == uuid, MigrationRecord.status == "finished")
                .order_by(MigrationRecord.id.desc())
            ).first()

    @staticmethod
    def _flavors(rec, mig: MigrationRecord) -> tuple[Flavor, Flavor]:
        """(old, new) flavors of a finished move (a record from before resize: the server's)."""
        current = flavor_snapshot(rec)
        old = flavor_from(mig.old_flavor) if mig.old_flavor else current
        new = flavor_from(mig.new_flavor) if mig.new_flavor else current
        return old, new

    def confirm(self, uuid: str) -> None:
        rec = self.tasks._load(uuid)
        mig = self.pending(uuid)
        if rec is None or mig is None:
            self.t.finish(uuid, task_state=None)
            return
        event = compute_event("confirm_resize")
        with self.events.event(uuid, event, mig.source_host, actions=("confirmResize",)) as step:
            try:
                self._drop_source(rec, mig)
            except Exception as exc:  # noqa: BLE001 - still resized; the user may retry
                step.failed(exc)
                self.t.fault(uuid, exc, task_state=None)
                return
        old, _new = self._flavors(rec, mig)
        values = {"vm_state": st.ACTIVE if rec.power_state == "running" else st.STOPPED, "task_state": None}

        def confirmed(s: Session, out: Outcome) -> None:
            out.moved = self.t.advance_in(s, uuid, st.RESIZE_CONFIRMING, {"deleted": False}, rec, values)
            if out.moved is not None:
                self._source_dropped_in(s, out, mig, old)

        self.svc.outcomes.write(confirmed, f"the confirm of server {uuid}")

    def _drop_source(self, rec, mig: MigrationRecord) -> None:
        """Have the source remove what it kept for a revert (its claim is given back with the
        migration's end: :meth:`_source_dropped_in`)."""
        data = _migration_data(mig)
        self.tasks.hv(LONG_RPC).confirm_migration(
            host=self.tasks.host(mig.source_host), instance=instance_of(rec), migration=data
        )
        self.volumes.confirm(rec.uuid, mig.source_host, mig.dest_host)

    @staticmethod
    def _source_dropped_in(s: Session, out: Outcome, mig: MigrationRecord, old: Flavor) -> None:
        """The finished move confirmed and its source's claim (for the ``old`` flavor) given
        back, in ``out``'s transaction, if it is still finished."""
        if set_status_if(s, mig.id, ("finished",), "confirmed"):
            out.give_back(s, mig.source_host, Usage.of(old))

    def confirm_before_delete(self, rec) -> None:
        """A server deleted in ``VERIFY_RESIZE`` is confirmed first (as in Nova), so the
        source's leftovers and claim go with it; a source that cannot be reached is logged."""
        mig = self.pending(rec.uuid)
        if mig is None:
            return
        try:
            self._drop_source(rec, mig)
        except Exception as exc:  # noqa: BLE001 - the delete goes on
            log.warning(
                "server %s: deleting without cleaning the migration source %s: %s", rec.uuid, mig.source_host, exc
            )
        old, _new = self._flavors(rec, mig)
        self.svc.outcomes.write(
            lambda s, out: self._source_dropped_in(s, out, mig, old), f"the confirm of server {rec.uuid}"
        )

    def revert(self, uuid: str) -> None:
        """Destroy the guest on a distinct destination, then have the source restore it with
        the old flavor; the destination claim and a resize's quota are given back."""
        rec = self.tasks._load(uuid)
        mig = self.pending(uuid)
        if rec is None or mig is None:
            self.t.finish(uuid, task_state=None)
            return
        data = _migration_data(mig)
        old, new = self._flavors(rec, mig)
        instance = instance_of(rec)
        was_running = rec.power_state == "running"
        reverts = ("revertResize",)
        try:
            with self.events.event(uuid, compute_event("revert_resize"), mig.dest_host, actions=reverts):
                if mig.dest_host != mig.source_host:
                    self.tasks.hv(LONG_RPC).destroy(
                        host=self.tasks.host(mig.dest_host), instance=instance, destroy_disks=True
                    )
            with self.events.event(uuid, compute_event("finish_revert_resize"), mig.source_host, actions=reverts):
                vifs = self.vifs_on(uuid, mig.source_host)
                devices = self.volumes.revert(uuid, mig.source_host, mig.dest_host)
                reverted = dataclasses.replace(instance, flavor=old, host=mig.source_host)
                self.tasks.hv(LONG_RPC).finish_revert_migration(
                    host=self.tasks.host(mig.source_host),
                    instance=reverted,
                    migration=data,
                    network_info=vifs,
                    block_devices=devices,
                    power_on=was_running,
                )
        except Exception as exc:  # noqa: BLE001
            self.t.fault(uuid, exc, task_state=None)
            return
        values = {
            "host": mig.source_host,
            "availability_zone": self.zone_of(mig.source_host),
            "task_state": None,
            "flavor": store(old),
            "flavor_id": old.id,
        }

        def back_on_source(s: Session, out: Outcome) -> None:
            """Back on the source with the old flavor (the source's claim the row's again), the
            destination's claim and a resize's quota given back, if still reverting."""
            expect = {"host": mig.dest_host, "deleted": False}
            out.moved = self.t.advance_in(s, uuid, st.RESIZE_REVERTING, expect, rec, values)
            if out.moved is None or not set_status_if(s, mig.id, ("finished",), "reverted"):
                return
            out.give_back(s, mig.dest_host, Usage.of(new))
            deltas = resize_deltas(old, new)
            if any(deltas.values()):
                self.svc.quotas.release(s, rec.project_id, deltas)

        self.svc.outcomes.write(back_on_source, f"the revert of server {uuid}")
        self.tasks.sync_power_state(uuid)

    # --- live -----------------------------------------------------------------------------------

    def live(self, uuid: str, target: str | None) -> None:
        rec = self.tasks._load(uuid)
        if rec is None or not rec.host:
            return
        source = rec.host
        lives = ("live-migration",)
        try:
            with self.events.event(uuid, "conductor_live_migrate_instance", API_HOST, actions=lives):
                dest, mig_id = self._claim_destination(rec, target, "live-migration")
        except Exception as exc:  # noqa: BLE001 - no destination: nothing changed
            self.abandon(uuid, exc, st.MIGRATING)
            return
        instance = instance_of(rec)
        moved = False
        move: VolumeMove | None = None
        event = self.events.event
        try:
            on_source, on_dest = self.tasks.host(source), self.tasks.host(dest)
            with event(uuid, compute_event("check_can_live_migrate_destination"), dest, actions=lives):
                data = self.tasks.hv().check_can_live_migrate_destination(
                    host=on_dest, instance=instance, source=on_source
                )
            hv = self.tasks.hv(LONG_RPC)
            with event(uuid, compute_event("pre_live_migration"), dest, actions=lives):
                vifs = self.vifs_on(uuid, dest)
                move = self.volumes.to(uuid, dest)
                data = hv.pre_live_migration(
                    host=on_dest, instance=instance, migration=data, network_info=vifs, block_devices=move.devices
                )
            self._set_migration(mig_id, "running", data)
            with event(uuid, compute_event("live_migration"), source, actions=lives):
                hv.live_migration(host=on_source, instance=instance, dest=on_dest, migration=data)
                moved = True
                self.volumes.finish(uuid, move)
                self._live_moved(rec, mig_id, dest, instance)
                hv.post_live_migration(host=on_source, instance=instance, migration=data)
        except Exception as exc:  # noqa: BLE001
            if not moved:
                if move is not None:
                    self.volumes.back(uuid, move)
                self.abandon(uuid, exc)
                self.tasks.sync_power_state(uuid)
                return
            log.warning("server %s moved to %s but source clean-up failed: %s", uuid, dest, exc)
        self.tasks.sync_power_state(uuid)

    def _live_moved(self, rec, mig_id: int, dest: str, instance: Instance) -> None:
        """The guest runs on ``dest`` now: the server's row moves there (the destination's
        claim becomes the row's), the source's claim is given back and the migration
        completed, in one transaction, if the row still names the source. If it was deleted
        meanwhile (the delete gave the source's claim back): the destination's claim back
        too, and the guest destroyed there."""
        uuid, source = rec.uuid, rec.host
        values = {"host": dest, "availability_zone": self.zone_of(dest)}

        def arrived(s: Session, out: Outcome) -> None:
            out.moved = self.t.set_in(s, rec, values, {"host": source, "deleted": False})
            if out.moved is None:
                self.end_move_in(s, out, uuid)
                return
            out.give_back(s, source, Usage.of(flavor_snapshot(rec)))
            set_status_if(s, mig_id, UNFINISHED, "completed")

        done = self.svc.outcomes.write(arrived, f"the live migration of server {uuid}")
        if done is not None and done.moved is None:
            self.destroy_left(dest, instance)

    def destroy_left(self, host: str, instance: Instance) -> None:
        """Destroy the guest a move left on ``host`` for a server deleted meanwhile (the
        delete only knew the host its row named)."""
        try:
            self.tasks.hv(LONG_RPC).destroy(host=self.tasks.host(host), instance=instance, destroy_disks=True)
        except Exception:  # noqa: BLE001 - best effort, as the delete's own
            log.warning("could not destroy the guest of deleted server %s on %s", instance.uuid, host, exc_info=True)
