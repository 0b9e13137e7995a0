"""Volume snapshots: create (copy-on-write where the backend can), list, show, update,
delete. A snapshot counts against the ``snapshots`` and ``gigabytes`` quotas."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select

from overcast.context import RequestContext
from overcast.db.models.volume import SNAPSHOT_STATUSES, Volume, VolumeSnapshot
from overcast.volume.listing import order_by, page
from overcast.volume.migration import is_migrating
from overcast.errors import BadRequest, OvercastError
from overcast.volume.parts import (
    Parts,
    apply_descriptive_changes,
    check_metadata,
    check_text,
    drop_metadata_key,
    find_snapshot,
    find_volume,
    merge_metadata,
    snapshot_ref,
)
from overcast.volume.state import require_transition, transition

log = logging.getLogger(__name__)


class Snapshots:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    def get(self, ctx: RequestContext, snapshot_id: str) -> VolumeSnapshot:
        with self.p.db.session() as s:
            return find_snapshot(s, ctx, snapshot_id)

    def list(
        self,
        ctx: RequestContext,
        filters: Mapping[str, Any] | None = None,
        all_projects: bool = False,
        marker: str | None = None,
        limit: int | None = None,
        sort: list[tuple[str, str]] | None = None,
        offset: int | None = None,
    ) -> list[VolumeSnapshot]:
        filters = dict(filters or {})
        order = order_by(VolumeSnapshot, sort)
        with self.p.db.session() as s:
            stmt = ctx.filter(select(VolumeSnapshot), VolumeSnapshot.project_id, all_projects=all_projects)
            for key in ("name", "status", "volume_id"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(VolumeSnapshot, key) == filters[key])
            rows = list(s.execute(stmt.order_by(*order)).scalars())
        return page(rows, marker, offset, limit)

    def create(
        self,
        ctx: RequestContext,
        volume_id: str,
        name: Any = None,
        description: Any = None,
        force: bool = False,
        metadata: Any = None,
    ) -> VolumeSnapshot:
        name, description = check_text(name, "name"), check_text(description, "description")
        metadata = check_metadata(metadata)
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            if is_migrating(vol):
                raise BadRequest("Invalid volume: Snapshot cannot be created while volume is migrating.")
            allowed = ("available", "in-use") if force else ("available",)
            if vol.status not in allowed:
                hint = "" if force else " (use force to snapshot an in-use volume)"
                raise BadRequest(
                    f"Invalid volume: Volume {vol.id} status must be available{hint}, but current status is: {vol.status}."
                )
            row = VolumeSnapshot(
                id=str(uuid.uuid4()),
                project_id=vol.project_id,
                user_id=ctx.user_id,
                volume_id=vol.id,
                name=name,
                description=description,
                size=vol.size,
                status="creating",
                metadata_=metadata,
            )
            self.p.quotas.consume(s, vol.project_id, {"snapshots": 1, "gigabytes": vol.size})
            s.add(row)
        self.p.tasks.submit(f"create snapshot {row.id}", self._build, row.id)
        return row

    def _build(self, snapshot_id: str) -> None:
        with self.p.db.session() as s:
            row = s.get(VolumeSnapshot, snapshot_id)
            vol = s.get(Volume, row.volume_id)
            ref, backend = snapshot_ref(row, vol), vol.backend
        try:
            loc = self.p.backends.on(backend).create_snapshot(backend, snapshot=ref)
        except Exception as exc:  # noqa: BLE001 - recorded on the snapshot
            log.warning("snapshot %s failed: %s", snapshot_id, exc)
            with self.p.db.session() as s:
                transition(
                    s,
                    VolumeSnapshot,
                    snapshot_id,
                    ["creating"],
                    "error",
                    error=str(exc) if isinstance(exc, OvercastError) else repr(exc),
                )
            return
        with self.p.db.session() as s:
            transition(s, VolumeSnapshot, snapshot_id, ["creating"], "available", location=loc.location)

    def update(self, ctx: RequestContext, snapshot_id: str, changes: Mapping[str, Any]) -> VolumeSnapshot:
        with self.p.db.session() as s:
            row = find_snapshot(s, ctx, snapshot_id)
            apply_descriptive_changes(row, changes)
            return row

    def set_metadata(self, ctx: RequestContext, snapshot_id: str, metadata: Any, replace: bool) -> dict[str, str]:
        with self.p.db.session() as s:
            return merge_metadata(find_snapshot(s, ctx, snapshot_id), metadata, replace)

    def delete_metadata_key(self, ctx: RequestContext, snapshot_id: str, key: str) -> None:
        with self.p.db.session() as s:
            drop_metadata_key(find_snapshot(s, ctx, snapshot_id), key, "Snapshot")

    def delete(self, ctx: RequestContext, snapshot_id: str) -> None:
        with self.p.db.session() as s:
            row = find_snapshot(s, ctx, snapshot_id)
            if row.group_snapshot_id:
                raise BadRequest(
                    f"Invalid snapshot: Snapshot {row.id} is part of group snapshot {row.group_snapshot_id}: "
                    "delete the group snapshot."
                )
            require_transition(
                s, VolumeSnapshot, row.id, ["available", "error", "error_deleting"], "deleting", "snapshot"
            )
        self.p.tasks.submit(f"delete snapshot {snapshot_id}", self._delete, snapshot_id)

    # --- admin and hypervisor actions ---------------------------------------------------------

    def reset_status(self, ctx: RequestContext, snapshot_id: str, status: object) -> None:
        """os-reset_status (admin): any of Cinder's snapshot statuses, no transition rules."""
        if status not in SNAPSHOT_STATUSES:
            raise BadRequest(f"Invalid input received: Invalid snapshot status {status}.")
        with self.p.db.session() as s:
            find_snapshot(s, ctx, snapshot_id).status = str(status)

    #: os-update_snapshot_status: the moves Cinder allows (a hypervisor reporting progress)
    UPDATES = {"creating": ("creating", "available", "error"), "deleting": ("deleting", "error_deleting")}

    def update_status(self, ctx: RequestContext, snapshot_id: str, status: object, progress: object) -> None:
        with self.p.db.session() as s:
            row = find_snapshot(s, ctx, snapshot_id)
            allowed = self.UPDATES.get(row.status, ())
            if status not in allowed:
                raise BadRequest(
                    f"Invalid input received: Provided snapshot status {status} not allowed for snapshot "
                    f"with status {row.status}."
                )
            if progress is not None and (not isinstance(progress, str) or len(progress) > 255):
                raise BadRequest("Invalid input received: progress must be a string.")
            row.status = str(status)
            if progress is not None:
                row.progress = progress

    def force_delete(self, ctx: RequestContext, snapshot_id: str) -> None:
        """os-force_delete (admin): delete whatever the status."""
        with self.p.db.session() as s:
            row = find_snapshot(s, ctx, snapshot_id)
            row.status = "deleting"
        self.p.tasks.submit(f"force-delete snapshot {snapshot_id}", self._delete, snapshot_id)

    def _delete(self, snapshot_id: str) -> None:
        with self.p.db.session() as s:
            row = s.get(VolumeSnapshot, snapshot_id)
            vol = s.get(Volume, row.volume_id)
            ref, backend, project, size = snapshot_ref(row, vol), vol.backend, row.project_id, row.size
        try:
            if backend and ref.location:
                self.p.backends.on(backend).delete_snapshot(backend, snapshot=ref)
        except Exception as exc:  # noqa: BLE001
            with self.p.db.session() as s:
                transition(s, VolumeSnapshot, snapshot_id, ["deleting"], "error_deleting", error=str(exc))
            return
        with self.p.db.session() as s:
            s.execute(delete(VolumeSnapshot).where(VolumeSnapshot.id == snapshot_id))
            self.p.quotas.release(s, project, {"snapshots": 1, "gigabytes": size})
