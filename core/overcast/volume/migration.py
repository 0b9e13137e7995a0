"""Moving a volume's data to another backend (issue 18): Cinder's admin action
``os-migrate_volume``, ``os-retype`` with ``migration_policy: on-demand`` when the volume's
backend does not offer the new type, and ``os-migrate_volume_completion``.

As Cinder's generic (host-assisted) migration: a temporary volume is made on the destination
backend (``migration_status: target:<id>``, no quota, hidden from non-admins' lists), the data
is copied onto it and read back to check it (``VolumeAgent.copy_volume``: the backends'
``vol_open_local``/``vol_close_local``, the byte access backups use), then the volume takes
the target's storage (its id, name, metadata and quota stay; its host, and for a retype its
type, change), its old storage is deleted and the target's row goes. ``migration_status``
goes ``starting`` → ``migrating`` → ``completing`` → ``success``; a failure makes it ``error``
and leaves the volume on its old storage. Meanwhile a retyped volume is ``retyping``, and a
migrated one ``maintenance`` with ``lock_volume`` (else it keeps its status, and attaching,
snapshotting, extending or deleting it is refused while it moves).

Refused before anything changes, with Cinder's 400s: a volume not ``available``/``in-use``,
mid-migration, in a group, with snapshots, or already on the destination; a destination that
is unknown, down, disabled, out of room or without what the volume's type asks for (an LVM
backend this kernel cannot activate is down). Two refusals are this cloud's own:

* an **attached** volume: Cinder moves one by asking Nova to copy it under the running
  guest (``swap_volume``); no hypervisor driver here (kvm included) can re-point a running
  guest's disk at another volume, so an in-use volume is not moved;
* backends on **different hosts** (``[volume] backend_hosts``): the copy runs on the one
  host that reaches both backends' bytes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update

from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeAttachment, VolumeSnapshot
from overcast.errors import BadRequest, OvercastError
from overcast.volume.parts import Parts, find_volume, volume_ref
from overcast.volume.scheduler import capabilities, has_room, unmet
from overcast.volume.state import transition

log = logging.getLogger(__name__)

#: Cinder's ``AVAILABLE_MIGRATION_STATUS``: a volume may start moving from these
AVAILABLE_MIGRATION_STATUS = (None, "deleting", "error", "success")
RUNNING = ("starting", "migrating", "completing")
LONG_RPC = 24 * 3600.0  # copying a big volume on a remote agent may take hours
SERVICE_HOST = "overcast"  # os-services' and os-vol-host-attr's host: ``overcast@<backend>#<pool>``


def is_migrating(row: Volume) -> bool:
    """Whether ``row`` is moving, or is the temporary target of a move."""
    status = row.migration_status or ""
    return status in RUNNING or status.startswith("target:")


def refuse_if_migrating(row: Volume, what: str) -> None:
    """Cinder's 400 for an operation on a volume that is moving."""
    if is_migrating(row):
        raise BadRequest(
            f"Invalid volume: Volume {row.id} is migrating (migration_status {row.migration_status}): "
            f"it cannot be {what} now."
        )


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, OvercastError) else f"{type(exc).__name__}: {exc}"


class VolumeMigration:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    # --- checks -------------------------------------------------------------------------------

    def backend_of_host(self, host: Any) -> str:
        """The backend a Cinder host string names (``overcast@<backend>``, optionally with
        ``#<pool>``; each backend here is one pool of its own name); it must be up and enabled,
        else Cinder's ``InvalidHost``."""
        refused = BadRequest(f"Invalid host: No available service named '{host}'")
        if not isinstance(host, str) or not host:
            raise refused
        backend_part, _, pool = host.partition("#")
        service, _, name = backend_part.partition("@")
        if service != SERVICE_HOST or name not in self.p.backends.names() or (pool and pool != name):
            raise refused
        record = next((r for r in self.p.backends.records() if r.name == name), None)
        if record is None or record.disabled:
            raise refused
        return name

    def _check_destination(self, dest: str, size_gb: int, specs: dict[str, str]) -> None:
        """The scheduler's filters for one named backend (Cinder's ``host_passes_filters``)."""
        reason = None
        wanted = specs.get("volume_backend_name")
        if wanted and wanted != dest:
            reason = f"the volume's type asks for volume_backend_name={wanted}"
        else:
            stats = self.p.backends.refresh(dest)
            if stats is None:
                reason = "not reachable"
            elif not has_room(stats, size_gb):
                reason = f"no room for {size_gb} GiB ({stats.free_gb:g} GiB free)"
            else:
                missing = unmet(capabilities(dest, stats), specs)
                if missing:
                    reason = f"does not offer {', '.join(missing)}"
        if reason:
            raise BadRequest(f"No valid backend was found. {dest}: {reason}")

    def _check_same_host(self, source: str, dest: str) -> None:
        there, here = self.p.backends.host_of(source), self.p.backends.host_of(dest)
        if there != here:
            raise BadRequest(
                f"Invalid volume: backends {source} (on {there or 'the controller'}) and {dest} "
                f"(on {here or 'the controller'}) are not reached by one host; this cloud copies a "
                "volume's data only between backends one host drives."
            )

    @staticmethod
    def _refuse_attached(s: Any, row: Volume) -> None:
        attached = s.execute(select(func.count()).where(VolumeAttachment.volume_id == row.id)).scalar_one()
        if attached or row.status != "available":
            raise BadRequest(
                f"Invalid volume: Volume {row.id} is attached (status {row.status}): moving an attached volume "
                "needs the hypervisor to copy it under the running guest (Nova's swap volume), which no "
                "hypervisor driver here does. Detach it first."
            )

    @staticmethod
    def _has_snapshots(s: Any, volume_id: str) -> bool:
        return bool(s.execute(select(func.count()).where(VolumeSnapshot.volume_id == volume_id)).scalar_one())

    # --- os-migrate_volume ----------------------------------------------------------------------

    def migrate(
        self,
        ctx: RequestContext,
        volume_id: str,
        host: Any,
        force_host_copy: bool = False,
        lock_volume: bool = False,
        cluster: Any = None,
    ) -> None:
        """Move the volume to the backend ``host`` names. ``force_host_copy`` is honoured
        either way: no driver here moves data by itself, so every move is a host copy."""
        if host is not None and cluster is not None:
            raise BadRequest("Invalid input received: Only one of host or cluster may be set.")
        if host is None and cluster is None:
            raise BadRequest("Invalid input received: host or cluster is required.")
        if cluster is not None:  # no backend here is clustered
            raise BadRequest(f"Invalid host: No available service named '{cluster}'")
        dest = self.backend_of_host(host)
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id, for_update=True)
            if (
                row.status not in ("available", "in-use")
                or row.migration_status not in AVAILABLE_MIGRATION_STATUS
                or row.group_id
                or row.backend == dest
                or self._has_snapshots(s, row.id)
            ):
                raise BadRequest(
                    f"Invalid volume: Volume {row.id} status must be available or in-use, must not be migrating, "
                    "have snapshots, be replicated, be part of a group and destination host/cluster must be "
                    "different than the current one"
                )
            self._refuse_attached(s, row)
            self._check_same_host(str(row.backend), dest)
            vtype = self.p.types.find(s, row.volume_type_id, ctx)
            self._check_destination(dest, row.size, dict(vtype.extra_specs or {}))
            row.previous_status = row.status
            row.migration_status = "starting"
            if lock_volume:
                row.status = "maintenance"
        self.move(volume_id, dest, None)

    # --- os-retype with migration_policy on-demand -------------------------------------------------

    def start_retype(self, s: Any, row: Volume, specs: dict[str, str]) -> str:
        """Checks and state for a retype that moves ``row`` (locked in session ``s``) to a
        backend that offers ``specs``; that backend. The caller submits :meth:`move` once the
        session has committed."""
        if self._has_snapshots(s, row.id):
            raise BadRequest("Invalid volume: Volume must not have snapshots.")
        self._refuse_attached(s, row)
        try:
            dest = self.p.scheduler.place(row.size, specs, exclude=str(row.backend))
        except OvercastError as exc:
            raise BadRequest(f"Volume migration failed: {exc}") from None
        self._check_same_host(str(row.backend), dest)
        row.previous_status = row.status
        row.status = "retyping"
        row.migration_status = "starting"
        return dest

    def move(self, volume_id: str, dest: str, new_type_id: str | None) -> None:
        """Start the background move of a volume :meth:`start_retype` or :meth:`migrate` readied."""
        self.p.tasks.submit(f"migrate volume {volume_id} to {dest}", self._move, volume_id, dest, new_type_id)

    # --- the move ------------------------------------------------------------------------------

    def _move(self, volume_id: str, dest: str, new_type_id: str | None) -> None:
        """Make the target on ``dest``, copy and check the data, then complete (or fail)."""
        with self.p.db.session() as s:
            row = s.get(Volume, volume_id)
            row.migration_status = "migrating"
            target = Volume(
                id=str(uuid.uuid4()),
                project_id=row.project_id,
                user_id=row.user_id,
                name=row.name,
                description=row.description,
                size=row.size,
                status="creating",
                volume_type_id=new_type_id or row.volume_type_id,
                backend=dest,
                migration_status=f"target:{row.id}",
                image_metadata=dict(row.image_metadata or {}),
                multiattach=row.multiattach,
                bootable=row.bootable,
                metadata_=dict(row.metadata_ or {}),
                availability_zone=row.availability_zone,
            )
            s.add(target)  # as Cinder's temporary volume: no quota
            source, source_backend, target_id = volume_ref(row), str(row.backend), target.id
            target_ref = volume_ref(target)
        try:
            loc = self.p.backends.on(dest).create(dest, volume=target_ref)
            with self.p.db.session() as s:
                s.get(Volume, target_id).location = loc.location
            copied = self.p.backends.on(source_backend, timeout=LONG_RPC).copy_volume(
                source_backend, volume=source, dest_backend=dest, dest=replace(target_ref, location=loc.location)
            )
            with self.p.db.session() as s:
                transition(s, Volume, target_id, ["creating"], "available", copy_on_write=loc.copy_on_write)
        except Exception as exc:  # noqa: BLE001 - the volume stays where it was
            log.warning("migrating volume %s to %s failed: %s", volume_id, dest, exc)
            self._discard_target(target_id)
            self._fail(volume_id, _error_text(exc))
            return
        log.info("volume %s: %d bytes copied from %s to %s and checked", volume_id, copied, source_backend, dest)
        try:
            self.finish(volume_id, target_id, error=False)
        except BadRequest as exc:  # an admin's os-migrate_volume_completion got there first
            log.info("migration of volume %s was completed elsewhere: %s", volume_id, exc)

    def _fail(self, volume_id: str, why: str) -> None:
        with self.p.db.session() as s:
            row = s.get(Volume, volume_id)
            if row is None:
                return
            row.migration_status = "error"
            if row.status in ("retyping", "maintenance"):
                row.status = row.previous_status or "available"
            log.warning("volume %s: migration_status error: %s", volume_id, why)

    def _discard_target(self, target_id: str) -> None:
        """Delete a target's storage (best effort) and its row."""
        with self.p.db.session() as s:
            target = s.get(Volume, target_id)
            if target is None:
                return
            ref, backend = volume_ref(target), target.backend
        if backend and ref.location:
            try:
                self.p.backends.on(backend).delete(backend, volume=ref)
            except Exception as exc:  # noqa: BLE001 - logged; the row goes anyway
                log.warning("deleting migration target %s on %s failed: %s", target_id, backend, exc)
        with self.p.db.session() as s:
            s.execute(delete(Volume).where(Volume.id == target_id))

    # --- os-migrate_volume_completion, and the end of every move ---------------------------------------

    def complete(self, ctx: RequestContext, volume_id: str, new_volume: Any, error: bool) -> str:
        """Cinder's ``os-migrate_volume_completion``: checked as Cinder's API checks it, then
        done as its manager does; the id of the volume that keeps the data."""
        if not isinstance(new_volume, str) or not new_volume:
            raise BadRequest("Invalid input received: new_volume is required.")
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            new = find_volume(s, ctx, new_volume)
            if not (vol.migration_status or new.migration_status):
                # Cinder then moves the attachments from one to the other, for Nova's swap of a
                # guest's disk; no hypervisor here swaps one, so there is nothing to record
                attached = s.execute(select(func.count()).where(VolumeAttachment.volume_id == vol.id)).scalar_one()
                if attached and not error:
                    raise BadRequest(
                        f"Invalid volume: Volume {vol.id} is attached and not migrating; no hypervisor driver "
                        "here swaps a guest's disk to another volume."
                    )
                return new.id
        return self.finish(volume_id, new_volume, bool(error), ctx)

    def finish(self, volume_id: str, target_id: str, error: bool, ctx: RequestContext | None = None) -> str:
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id) if ctx else s.get(Volume, volume_id)
            new = find_volume(s, ctx, target_id) if ctx else s.get(Volume, target_id)
            if not vol.migration_status:
                raise BadRequest("Invalid volume: Source volume not mid-migration.")
            if not new.migration_status:
                raise BadRequest("Invalid volume: Destination volume not mid-migration.")
            expected = f"target:{vol.id}"
            if new.migration_status != expected:
                raise BadRequest(
                    f"Invalid volume: Destination has migration_status {new.migration_status}, expected {expected}."
                )
            if new.status != "available":  # Overcast's own copy is still writing it
                raise BadRequest(
                    f"Invalid volume: the data of volume {vol.id} is still being copied onto {new.id}; "
                    "the migration completes by itself."
                )
            claimed = s.execute(
                update(Volume)
                .where(Volume.id == vol.id, Volume.migration_status == "migrating")
                .values(migration_status="completing")
                .execution_options(synchronize_session=False)
            )
            if cast("CursorResult[Any]", claimed).rowcount != 1:
                raise BadRequest("Invalid volume: Source volume not mid-migration.")
        if error:
            self._discard_target(target_id)
            self._fail(volume_id, "os-migrate_volume_completion with error")
            return volume_id
        with self.p.db.session() as s:
            vol, new = s.get(Volume, volume_id), s.get(Volume, target_id)
            attached = s.execute(select(func.count()).where(VolumeAttachment.volume_id == vol.id)).scalar_one()
            if vol.status not in ("available", "retyping", "maintenance") or attached or self._has_snapshots(s, vol.id):
                changed = f"volume {vol.id} changed while it moved (status {vol.status}); its copy is discarded"
            else:
                changed = ""
                old, old_backend = volume_ref(vol), vol.backend
                vol.backend, vol.location, vol.copy_on_write = new.backend, new.location, new.copy_on_write
                if new.volume_type_id != vol.volume_type_id:
                    vol.volume_type_id, vol.multiattach = new.volume_type_id, new.multiattach
                before = vol.status
                if vol.status in ("retyping", "maintenance"):
                    vol.status = vol.previous_status or "available"
                vol.previous_status, vol.migration_status = before, "success"
                s.delete(new)
        if changed:
            self._discard_target(target_id)
            self._fail(volume_id, changed)
            return volume_id
        if old_backend and old.location:
            try:
                self.p.backends.on(old_backend).delete(old_backend, volume=old)
            except Exception as exc:  # noqa: BLE001 - as Cinder: the move stands, the leftover is logged
                log.warning(
                    "deleting the old storage of migrated volume %s on %s failed: %s", volume_id, old_backend, exc
                )
        return volume_id

    # --- after a restart ----------------------------------------------------------------------

    def reconcile(self) -> None:
        """A move a restart interrupted failed: its target goes, the volume stays where it was."""
        with self.p.db.session() as s:
            targets = list(s.scalars(select(Volume.id).where(Volume.migration_status.like("target:%"))))
            moving = list(s.scalars(select(Volume.id).where(Volume.migration_status.in_(list(RUNNING)))))
        for target_id in targets:
            self._discard_target(target_id)
        for volume_id in moving:
            self._fail(volume_id, "interrupted by a restart")
