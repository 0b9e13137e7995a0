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

from overcast.agent.hypervisor import image_to_fetch
from overcast.compute import states as st
from overcast.compute.action_events import API_HOST, compute_event
from overcast.compute.moved_volumes import MovedVolumes, VolumeMove
from overcast.compute.peers import rebind_ports
from overcast.compute.records import flavor_from, flavor_snapshot, instance_of
from overcast.compute.tasks import LONG_RPC, ServerTasks
from overcast.db.models.compute import MigrationRecord
from overcast.db.values import load, store
from overcast.types import Flavor, MigrationData

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

    def _claim_destination(self, rec, target: str | None, flavor: Flavor | None = None, same_host: bool = False) -> str:
        """Schedule and claim a host of the source's driver for ``flavor`` (the server's own
        by default); the current host is a candidate only if ``same_host``."""
        source_driver = (
            self.svc.runtime.drivers.hosts[rec.host].driver if rec.host in self.svc.runtime.drivers.hosts else None
        )
        request = self.tasks.schedule_request(
            rec,
            ignore_hosts=() if same_host else (rec.host,),
            force_hosts=(target,) if target else (),
            same_driver_as=source_driver,
        )
        if flavor is not None:
            request = dataclasses.replace(request, flavor=flavor)
        return self.svc.scheduler.select_and_claim(request)

    def _migration(
        self, uuid: str, kind: str, source: str, dest: str, old: Flavor | None = None, new: Flavor | None = None
    ) -> int:
        with self.db.session() as s:
            m = MigrationRecord(
                instance_uuid=uuid,
                migration_type=kind,
                source_host=source,
                dest_host=dest,
                status="migrating",
                data={},
                old_flavor=store(old) if old else None,
                new_flavor=store(new) if new else None,
            )
            s.add(m)
            s.flush()
            return m.id

    def vifs_on(self, uuid: str, host: str) -> list:
        """The server's ports bound on ``host`` (the stored vifs if there is no network service)."""
        vifs = rebind_ports(self.svc.runtime, uuid, self.tasks.port_ids(uuid), host)
        if vifs:
            self.tasks.set_vifs(uuid, vifs)
            return vifs
        return self.tasks.vifs_of(uuid)

    def _set_migration(self, mig_id: int, status: str, data: MigrationData | None = None) -> None:
        with self.db.session() as s:
            m = s.get(MigrationRecord, mig_id)
            m.status = status
            if data is not None:
                m.data = store(data)

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
        same_host = resize and self.svc.runtime.config.compute.allow_resize_to_same_host
        try:
            with self.events.event(uuid, "conductor_migrate_server", API_HOST, actions=MOVES):
                dest = self._claim_destination(rec, target, new, same_host=same_host)
        except Exception as exc:  # noqa: BLE001 - no destination: nothing changed
            self._undo_quota(rec, old, new)
            self.t.fault(uuid, exc, task_state=None)
            return
        mig_id = self._migration(uuid, "resize" if resize else "migration", source, dest, old, new)
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
            self._set_migration(mig_id, "error")
            self.tasks.release_host(dest, rec, new)
            self._undo_quota(rec, old, new)
            return
        except Exception as exc:  # noqa: BLE001 - roll back to the source
            if move is not None:
                self.volumes.back(uuid, move)
            self._set_migration(mig_id, "error")
            self.tasks.release_host(dest, rec, new)
            self._undo_quota(rec, old, new)
            self.t.fault(uuid, exc)
            self.tasks.sync_power_state(uuid)
            return
        self._set_migration(mig_id, "finished", data)
        self.volumes.finish(uuid, move, end_source=False)  # the source keeps its exports until confirm
        done = self.t.advance(
            uuid,
            st.RESIZE_FINISH,
            host=dest,
            vm_state=st.RESIZED,
            task_state=None,
            power_state=info.state.value,
            availability_zone=self.zone_of(dest),
            flavor=store(new),
            flavor_id=new.id,
        )
        if done is None:  # deleted while finishing: the delete only knows the source and the old flavor
            try:
                if dest != source:
                    self.tasks.hv(LONG_RPC).destroy(host=self.tasks.host(dest), instance=moved, destroy_disks=True)
            finally:
                self.tasks.release_host(dest, rec, new)
                self._undo_quota(rec, old, new)

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
        vm_state = st.ACTIVE if rec.power_state == "running" else st.STOPPED
        self.t.finish(uuid, vm_state=vm_state, task_state=None)

    def _drop_source(self, rec, mig: MigrationRecord) -> None:
        """Have the source remove what it kept for a revert, and give back its claim."""
        data = _migration_data(mig)
        old, _new = self._flavors(rec, mig)
        self.tasks.hv(LONG_RPC).confirm_migration(
            host=self.tasks.host(mig.source_host), instance=instance_of(rec), migration=data
        )
        self.volumes.confirm(rec.uuid, mig.source_host, mig.dest_host)
        self.tasks.release_host(mig.source_host, rec, old)
        self._set_migration(mig.id, "confirmed")

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
        self.tasks.release_host(mig.dest_host, rec, new)
        self._undo_quota(rec, old, new)
        self._set_migration(mig.id, "reverted")
        self.t.finish(
            uuid,
            host=mig.source_host,
            availability_zone=self.zone_of(mig.source_host),
            task_state=None,
            flavor=store(old),
            flavor_id=old.id,
        )
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
                dest = self._claim_destination(rec, target)
        except Exception as exc:  # noqa: BLE001
            self.t.fault(uuid, exc, task_state=None)
            return
        mig_id = self._migration(uuid, "live-migration", source, dest)
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
                self.t.finish(uuid, host=dest, availability_zone=self.zone_of(dest))
                hv.post_live_migration(host=on_source, instance=instance, migration=data)
        except Exception as exc:  # noqa: BLE001
            if not moved:
                if move is not None:
                    self.volumes.back(uuid, move)
                self._set_migration(mig_id, "error")
                self.tasks.release_host(dest, rec)
                self.t.fault(uuid, exc)
                self.tasks.sync_power_state(uuid)
                return
            log.warning("server %s moved to %s but source clean-up failed: %s", uuid, dest, exc)
        self.tasks.release_host(source, rec)
        self._set_migration(mig_id, "completed")
        self.tasks.sync_power_state(uuid)
