"""Volume backups (Cinder's ``/backups``): create (full or incremental, from an in-use
volume through a temporary snapshot, or from a snapshot), restore to a new or an existing
volume, delete, list, show, update, and export/import of the record.

The request checks and records the intent (statuses ``creating``/``restoring``/``deleting``
on the backup, ``backing-up``/``restoring-backup`` on the volume) and returns; a worker
runs the chunker where the volume's data is (``VolumeAgent.backup_volume`` /
``restore_volume``, see ``overcast.volume.backup_chunks``) against the ``[backup]`` target,
in the caller's project and with the caller's token, and records the outcome. A failure
lands in ``fail_reason`` (or the volume's ``error_restoring``), never in a lost exception.
"""

from __future__ import annotations

import base64
import builtins
import binascii
import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select

from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.db.models.volume import Volume, VolumeSnapshot
from overcast.db.models.volume_backups import BACKUP_STATUSES, VolumeBackup
from overcast.volume.listing import order_by, page
from overcast.errors import BadRequest, NotFound, OvercastError
from overcast.hookspecs import BackupHooks
from overcast.types import Backend, BackupJob, BackupTarget, SnapshotRef
from overcast.volume.parts import Parts, check_metadata, check_ref, check_text, find_snapshot, find_volume, volume_ref
from overcast.volume.state import transition

log = logging.getLogger(__name__)

IMPORT_VOLUME_ID = "0000-0000-0000-0000"  # Cinder's volume id of an imported backup
LONG_RPC = 24 * 3600.0  # a backup of a big volume on a remote agent may take hours
CREATE_WAIT = 600.0  # how long a restore waits for the new volume it asked for


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, OvercastError) else f"{type(exc).__name__}: {exc}"


def find_backup(session: Any, ctx: RequestContext, backup_id: str) -> VolumeBackup:
    row = session.get(VolumeBackup, backup_id) if isinstance(backup_id, str) and 0 < len(backup_id) <= 36 else None
    if row is None or not ctx.can_see(row.project_id):
        raise NotFound(f"Backup {backup_id} could not be found.", code="BackupNotFound")
    return row


def check_container(value: Any, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > 255 or "/" in value:
        raise BadRequest("Invalid input received: container must be a name of 1-255 characters without '/'.")
    return value


class Backups:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    # --- the target ---------------------------------------------------------------------

    def _target_backend(self) -> Backend:
        backend: Backend | None = self.p.runtime.drivers.backup
        if backend is None:
            raise BadRequest("Service cinder-backup could not be found.")  # Cinder's ServiceNotFound text
        return backend

    def _driver(self) -> BackupHooks:
        return self.p.runtime.plugins.driver("backup", self._target_backend().driver)

    def _target(self, ctx: RequestContext, row: VolumeBackup) -> BackupTarget:
        return BackupTarget(
            project_id=row.project_id,
            container=row.container,
            endpoint=self._object_store_url(row.project_id),
            auth_token=ctx.auth_token,
        )

    def _object_store_url(self, project_id: str) -> str:
        for svc in self.p.runtime.identity.catalog(project_id):
            if svc.get("type") == "object-store":
                for ep in svc.get("endpoints", []):
                    if ep.get("interface") == "public":
                        return str(ep["url"])
        return ""

    def _job(self, ctx: RequestContext, row: VolumeBackup, parent_prefix: str = "") -> BackupJob:
        cfg = self.p.runtime.config.volume
        return BackupJob(
            backup_id=row.id,
            target=self._target(ctx, row),
            object_prefix=row.object_prefix,
            chunk_size=cfg.backup_chunk_mb * 1024 * 1024,
            compression=cfg.backup_compression,
            workers=cfg.backup_workers,
            parent_prefix=parent_prefix,
        )

    # --- reading ------------------------------------------------------------------------

    def get(self, ctx: RequestContext, backup_id: str) -> VolumeBackup:
        with self.p.db.session() as s:
            return find_backup(s, ctx, backup_id)

    def list(
        self,
        ctx: RequestContext,
        filters: Mapping[str, Any] | None = None,
        all_projects: bool = False,
        marker: str | None = None,
        limit: int | None = None,
        sort: builtins.list[tuple[str, str]] | None = None,
        offset: int | None = None,
    ) -> builtins.list[VolumeBackup]:
        filters = dict(filters or {})
        order = order_by(VolumeBackup, sort)
        with self.p.db.session() as s:
            stmt = ctx.filter(select(VolumeBackup), VolumeBackup.project_id, all_projects=all_projects)
            if ctx.is_admin and filters.get("project_id"):
                stmt = select(VolumeBackup).where(VolumeBackup.project_id == filters["project_id"])
            for key in ("name", "status", "volume_id"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(VolumeBackup, key) == filters[key])
            rows = builtins.list(s.execute(stmt.order_by(*order)).scalars())
        return page(rows, marker, offset, limit)

    def dependents(self, backup_ids: builtins.list[str]) -> set[str]:
        """Which of ``backup_ids`` have incremental backups on top of them."""
        if not backup_ids:
            return set()
        with self.p.db.session() as s:
            rows = s.execute(
                select(VolumeBackup.parent_id).where(VolumeBackup.parent_id.in_(backup_ids)).distinct()
            ).scalars()
            return {r for r in rows if r}

    # --- create -------------------------------------------------------------------------

    def create(
        self,
        ctx: RequestContext,
        volume_id: Any,
        *,
        container: Any = None,
        name: Any = None,
        description: Any = None,
        incremental: bool = False,
        force: bool = False,
        snapshot_id: Any = None,
        metadata: Any = None,
        availability_zone: Any = None,
    ) -> VolumeBackup:
        name, description = check_text(name, "name"), check_text(description, "description")
        metadata = check_metadata(metadata)
        volume_id = check_ref(volume_id, "volume_id") or ""
        snapshot_id = check_ref(snapshot_id, "snapshot_id")
        if check_ref(availability_zone, "availability_zone") not in (None, "", "nova"):
            raise BadRequest(f"Invalid input received: Availability zone '{availability_zone}' is invalid.")
        target = self._target_backend()
        container = check_container(container, self.p.runtime.config.volume.backup_container)
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            snap = None
            if snapshot_id:
                snap = find_snapshot(s, ctx, snapshot_id)
                if snap.volume_id != vol.id:
                    raise BadRequest(
                        f"Invalid volume: Volume {vol.id} does not match with snapshot.volume_id {snap.volume_id}."
                    )
                if snap.status != "available":
                    raise BadRequest(
                        f'Invalid snapshot: Snapshot to be backed up must be available, but the current status is "{snap.status}".'
                    )
            elif vol.status not in ("available", "in-use"):
                raise BadRequest(
                    f'Invalid volume: Volume to be backed up must be available or in-use, but the current status is "{vol.status}".'
                )
            elif vol.status == "in-use" and not force:
                raise BadRequest("Invalid volume: Backing up an in-use volume must use the force flag.")
            parent = None
            if incremental:
                candidates = builtins.list(
                    s.execute(
                        select(VolumeBackup).where(
                            VolumeBackup.volume_id == vol.id, VolumeBackup.project_id == ctx.project_id
                        )
                    ).scalars()
                )
                if snap is not None:
                    candidates = [b for b in candidates if (b.data_timestamp or b.created_at) < snap.created_at]
                if not candidates:
                    raise BadRequest("Invalid backup: No backups available to do an incremental backup.")
                parent = max(candidates, key=lambda b: (b.data_timestamp or b.created_at, b.created_at))
                if parent.status != "available":
                    raise BadRequest("Invalid backup: The parent backup must be available for incremental backup.")
            backup_id = str(uuid.uuid4())
            now = utcnow()
            row = VolumeBackup(
                id=backup_id,
                project_id=ctx.project_id or vol.project_id,
                user_id=ctx.user_id,
                volume_id=vol.id,
                snapshot_id=snap.id if snap else None,
                name=name,
                description=description,
                status="creating",
                availability_zone="nova",
                container=container,
                object_prefix=f"volume_{vol.id}/{now:%Y%m%d%H%M%S}/az_nova_backup_{backup_id}",
                driver=target.driver,
                size=vol.size,
                parent_id=parent.id if parent else None,
                is_incremental=parent is not None,
                data_timestamp=snap.created_at if snap else now,
                metadata_=metadata,
                volume_metadata=dict(vol.metadata_ or {}),
                created_at=now,
            )
            self.p.quotas.consume(s, row.project_id, {"backups": 1, "backup_gigabytes": vol.size})
            if snap is not None:
                if not transition(s, VolumeSnapshot, snap.id, ["available"], "backing-up"):
                    raise BadRequest("Invalid snapshot: Snapshot to be backed up must be available.")
            elif not transition(s, Volume, vol.id, [vol.status], "backing-up", previous_status=vol.status):
                raise BadRequest(f"Invalid volume: Volume {vol.id} changed status while the backup was requested.")
            s.add(row)
        self.p.tasks.submit(f"create backup {backup_id}", self._build, ctx, backup_id)
        return row

    def _build(self, ctx: RequestContext, backup_id: str) -> None:
        with self.p.db.session() as s:
            row = s.get(VolumeBackup, backup_id)
            vol = s.get(Volume, row.volume_id)
            parent = s.get(VolumeBackup, row.parent_id) if row.parent_id else None
            snap = s.get(VolumeSnapshot, row.snapshot_id) if row.snapshot_id else None
            ref, backend, previous = volume_ref(vol), vol.backend, vol.previous_status or "available"
            snapshot_id = row.snapshot_id
            job = self._job(ctx, row, parent.object_prefix if parent else "")
            snap_ref = (
                SnapshotRef(id=snap.id, volume=ref, name=snap.name or "", location=snap.location or "")
                if snap
                else None
            )
        agent = self.p.backends.on(backend, timeout=LONG_RPC)
        temp: SnapshotRef | None = None
        try:
            if snap_ref is None and previous == "in-use":  # Cinder's temporary snapshot of an in-use volume
                temp = SnapshotRef(id=str(uuid.uuid4()), volume=ref, name=f"backup-{backup_id}")
                loc = agent.create_snapshot(backend, snapshot=temp)
                temp = SnapshotRef(id=temp.id, volume=ref, name=temp.name, location=loc.location)
                snap_ref = temp
            result = agent.backup_volume(backend, volume=ref, snapshot=snap_ref, job=job)
        except Exception as exc:  # noqa: BLE001 - recorded on the backup
            log.warning("backup %s of volume %s failed: %s", backup_id, ref.id, exc)
            self._discard_objects(ctx, backup_id)
            with self.p.db.session() as s:
                transition(s, VolumeBackup, backup_id, ["creating"], "error", fail_reason=_error_text(exc))
                self._settle_source(s, snapshot_id, ref.id, previous)
            return
        finally:
            if temp is not None and temp.location:
                try:
                    agent.delete_snapshot(backend, snapshot=temp)
                except Exception as exc:  # noqa: BLE001 - the backup stands; the leftover is logged
                    log.warning("removing the temporary snapshot of backup %s failed: %s", backup_id, exc)
        log.info(
            "backup %s: %d chunks, %d objects, %d bytes stored, %d zero, %d reused",
            backup_id,
            result.chunks,
            result.objects,
            result.stored_bytes,
            result.zero_chunks,
            result.reused_chunks,
        )
        with self.p.db.session() as s:
            transition(
                s,
                VolumeBackup,
                backup_id,
                ["creating"],
                "available",
                object_count=result.objects,
                stored_bytes=result.stored_bytes,
            )
            self._settle_source(s, snapshot_id, ref.id, previous)

    @staticmethod
    def _settle_source(s: Any, snapshot_id: str | None, volume_id: str, previous: str) -> None:
        if snapshot_id:
            transition(s, VolumeSnapshot, snapshot_id, ["backing-up"], "available")
        else:
            transition(s, Volume, volume_id, ["backing-up"], previous)

    def _discard_objects(self, ctx: RequestContext, backup_id: str) -> None:
        """Best effort: remove what a failed backup wrote."""
        try:
            self._delete_objects(ctx, backup_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("cleaning up the objects of failed backup %s: %s", backup_id, exc)

    def _delete_objects(self, ctx: RequestContext, backup_id: str) -> None:
        with self.p.db.session() as s:
            row = s.get(VolumeBackup, backup_id)
            target, prefix = self._target(ctx, row), row.object_prefix
        driver, backend = self._driver(), self._target_backend()
        names = driver.list(backend=backend, target=target, prefix=prefix)
        for name in names:  # a backup's own chunks and its index; never a parent's objects
            if name.startswith(prefix + "-") or name == prefix + "_metadata":
                driver.delete(backend=backend, target=target, name=name)

    # --- restore ------------------------------------------------------------------------

    def restore(self, ctx: RequestContext, backup_id: str, volume_id: Any = None, name: Any = None) -> dict[str, str]:
        volume_id, name = check_ref(volume_id, "volume_id"), check_text(name, "name")
        with self.p.db.session() as s:
            row = find_backup(s, ctx, backup_id)
            if row.status != "available":
                raise BadRequest("Invalid backup: Backup status must be available")
            size = row.size
            source = s.get(Volume, row.volume_id)  # a new volume takes the backed-up one's type (and so backend)
            source_type = source.volume_type_id if source is not None else None
            if volume_id:
                vol = find_volume(s, ctx, volume_id)
                if vol.status != "available":
                    raise BadRequest("Invalid volume: Volume to be restored to must be available")
                if size > vol.size:
                    raise BadRequest(
                        f"Invalid volume: volume size {vol.size} is too small to restore backup of size {size}."
                    )
        self._target_backend()
        if not volume_id:  # as Cinder: make the volume and wait for it before answering
            vol = self.p.runtime.service("volume").volumes.create(
                ctx,
                size=size,
                name=name or f"restore_backup_{backup_id}",
                description="auto-created_from_restore_from_backup",
                volume_type=source_type,
            )
            volume_id = vol.id
            if self._wait_created(volume_id) != "available":
                raise BadRequest(
                    f"Invalid volume: Error while creating volume {volume_id} for restoring backup {backup_id}."
                )
        with self.p.db.session() as s:
            if not transition(s, VolumeBackup, backup_id, ["available"], "restoring", restore_volume_id=volume_id):
                raise BadRequest("Invalid backup: Backup status must be available")
            if not transition(s, Volume, volume_id, ["available"], "restoring-backup"):
                transition(s, VolumeBackup, backup_id, ["restoring"], "available")
                raise BadRequest("Invalid volume: Volume to be restored to must be available")
            vol_name = s.get(Volume, volume_id).name or ""
        self.p.tasks.submit(f"restore backup {backup_id}", self._restore, ctx, backup_id, volume_id)
        return {"backup_id": backup_id, "volume_id": volume_id, "volume_name": vol_name}

    def _wait_created(self, volume_id: str) -> str:
        deadline = time.monotonic() + CREATE_WAIT
        while True:
            with self.p.db.session() as s:
                status = s.get(Volume, volume_id).status
            if status != "creating" or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def _restore(self, ctx: RequestContext, backup_id: str, volume_id: str) -> None:
        try:
            with self.p.db.session() as s:
                row = s.get(VolumeBackup, backup_id)
                vol = s.get(Volume, volume_id)
                ref, backend, job = volume_ref(vol), vol.backend, self._job(ctx, row)
            result = self.p.backends.on(backend, timeout=LONG_RPC).restore_volume(backend, volume=ref, job=job)
        except Exception as exc:  # noqa: BLE001 - recorded on the volume (Cinder: error_restoring)
            log.warning("restoring backup %s onto volume %s failed: %s", backup_id, volume_id, exc)
            with self.p.db.session() as s:
                transition(s, Volume, volume_id, ["restoring-backup"], "error_restoring", error=_error_text(exc))
                transition(s, VolumeBackup, backup_id, ["restoring"], "available")
            return
        log.info("restored backup %s onto volume %s: %d chunks", backup_id, volume_id, result.chunks)
        with self.p.db.session() as s:
            backed_up = dict(s.get(VolumeBackup, backup_id).volume_metadata or {})
            if backed_up:  # as Cinder: the backed-up volume's metadata comes back with its data
                vol = s.get(Volume, volume_id)
                vol.metadata_ = {**(vol.metadata_ or {}), **backed_up}
            transition(s, Volume, volume_id, ["restoring-backup"], "available", error=None)
            transition(s, VolumeBackup, backup_id, ["restoring"], "available")

    # --- change and delete --------------------------------------------------------------

    def update(self, ctx: RequestContext, backup_id: str, changes: Mapping[str, Any]) -> VolumeBackup:
        with self.p.db.session() as s:
            row = find_backup(s, ctx, backup_id)
            if "name" in changes:
                row.name = check_text(changes["name"], "name")
            if "description" in changes:
                row.description = check_text(changes["description"], "description")
            if "metadata" in changes:
                row.metadata_ = check_metadata(changes["metadata"])
            return row

    def delete(self, ctx: RequestContext, backup_id: str, force: bool = False) -> None:
        with self.p.db.session() as s:
            row = find_backup(s, ctx, backup_id)
            allowed = list(BACKUP_STATUSES) if force else ["available", "error"]
            if row.status not in allowed:
                raise BadRequest("Invalid backup: Backup status must be available or error")
            children = s.execute(select(func.count()).where(VolumeBackup.parent_id == row.id)).scalar_one()
            if children:
                raise BadRequest("Invalid backup: Incremental backups exist for this backup.")
            if not transition(s, VolumeBackup, row.id, allowed, "deleting"):
                raise BadRequest("Invalid backup: Backup status must be available or error")
        self.p.tasks.submit(f"delete backup {backup_id}", self._delete, ctx, backup_id)

    def _delete(self, ctx: RequestContext, backup_id: str) -> None:
        try:
            self._delete_objects(ctx, backup_id)
        except Exception as exc:  # noqa: BLE001
            with self.p.db.session() as s:
                transition(s, VolumeBackup, backup_id, ["deleting"], "error_deleting", fail_reason=_error_text(exc))
            return
        with self.p.db.session() as s:
            row = s.get(VolumeBackup, backup_id)
            project, size = row.project_id, row.size
            s.execute(delete(VolumeBackup).where(VolumeBackup.id == backup_id))
            self.p.quotas.release(s, project, {"backups": 1, "backup_gigabytes": size})

    def reset_status(self, ctx: RequestContext, backup_id: str, status: Any) -> None:
        if status not in ("available", "error"):
            raise BadRequest(f"Invalid input received: Backup status {status!r} is not allowed (available or error).")
        with self.p.db.session() as s:
            find_backup(s, ctx, backup_id).status = status

    # --- export and import of the record ------------------------------------------------

    def backup_service(self) -> str:
        return f"overcast.backup.{self._target_backend().driver}"

    def export_record(self, ctx: RequestContext, backup_id: str) -> dict[str, str]:
        with self.p.db.session() as s:
            row = find_backup(s, ctx, backup_id)
            if row.status != "available":
                raise BadRequest(f"Invalid backup: Backup status must be available and not {row.status}.")
            record = {
                "id": row.id,
                "size": row.size,
                "container": row.container,
                "object_prefix": row.object_prefix,
                "name": row.name,
                "description": row.description,
                "volume_id": row.volume_id,
                "parent_id": row.parent_id,
                "object_count": row.object_count,
                "data_timestamp": row.data_timestamp.isoformat() if row.data_timestamp else None,
                "volume_metadata": dict(row.volume_metadata or {}),
            }
        url = base64.b64encode(json.dumps(record).encode()).decode()
        return {"backup_service": self.backup_service(), "backup_url": url}

    def import_record(self, ctx: RequestContext, backup_service: Any, backup_url: Any) -> VolumeBackup:
        if not isinstance(backup_service, str) or not isinstance(backup_url, str):
            raise BadRequest("Invalid input received: backup_service and backup_url must be strings.")
        if backup_service != self.backup_service():
            raise BadRequest("Service cinder-backup could not be found.")
        try:
            record = json.loads(base64.b64decode(backup_url, validate=True))
        except (ValueError, binascii.Error):
            raise BadRequest("Invalid input received: Can't parse backup record.") from None
        if not isinstance(record, dict) or "id" not in record:
            raise BadRequest("Invalid input received: Provided backup record is missing an id")
        if "size" not in record:
            raise BadRequest("Invalid input received: Provided backup record is missing size attribute")
        backup_id, size = record["id"], record["size"]
        prefix, container = record.get("object_prefix"), record.get("container")
        if not (isinstance(backup_id, str) and 0 < len(backup_id) <= 36 and isinstance(size, int) and size > 0):
            raise BadRequest("Invalid input received: Can't parse backup record.")
        if not (isinstance(prefix, str) and prefix and isinstance(container, str)):
            raise BadRequest("Invalid input received: Can't parse backup record.")
        container = check_container(container, self.p.runtime.config.volume.backup_container)
        with self.p.db.session() as s:
            if s.get(VolumeBackup, backup_id) is not None:
                raise BadRequest("Invalid backup: Backup already exists in database.")
            row = VolumeBackup(
                id=backup_id,
                project_id=ctx.project_id or "",
                user_id=ctx.user_id,
                volume_id=IMPORT_VOLUME_ID,
                name=check_text(record.get("name"), "name"),
                description=check_text(record.get("description"), "description"),
                status="creating",
                container=container,
                object_prefix=prefix,
                driver=self._target_backend().driver,
                size=size,
                metadata_={},
                volume_metadata=check_metadata(record.get("volume_metadata")),
            )
            self.p.quotas.consume(s, row.project_id, {"backups": 1, "backup_gigabytes": size})
            s.add(row)
        self.p.tasks.submit(f"import backup {backup_id}", self._verify_import, ctx, backup_id)
        return row

    def _verify_import(self, ctx: RequestContext, backup_id: str) -> None:
        """An imported record becomes available once its index is readable in the caller's
        object store and lists objects that exist."""
        from overcast.volume.backup_chunks import ChunkStore

        with self.p.db.session() as s:
            row = s.get(VolumeBackup, backup_id)
            job = self._job(ctx, row)
        try:
            store = ChunkStore(self._driver(), self._target_backend(), job)
            index = store.read_index(job.object_prefix)
            names = {str(c["object"]) for c in index["chunks"] if c.get("object")}
            present = set(self._driver().list(backend=store.backend, target=job.target, prefix=""))
            missing = sorted(names - present)
            if missing:
                raise NotFound(f"the backup's objects {', '.join(missing[:3])} are missing")
        except Exception as exc:  # noqa: BLE001
            with self.p.db.session() as s:
                transition(s, VolumeBackup, backup_id, ["creating"], "error", fail_reason=_error_text(exc))
            return
        with self.p.db.session() as s:
            transition(s, VolumeBackup, backup_id, ["creating"], "available", object_count=len(names) + 1)

    # --- restart ------------------------------------------------------------------------

    def reconcile(self) -> None:
        """After a restart nothing stays in flight: backups being made become errors, restores
        leave the backup available and the volume ``error_restoring``, deletes become
        ``error_deleting`` (they need the user's token: delete again), volumes that were
        being backed up go back to their previous status."""
        with self.p.db.session() as s:
            for row in s.execute(
                select(VolumeBackup).where(VolumeBackup.status.in_(["creating", "restoring", "deleting"]))
            ).scalars():
                if row.status == "creating":
                    transition(s, VolumeBackup, row.id, ["creating"], "error", fail_reason="interrupted by a restart")
                elif row.status == "restoring":
                    transition(s, VolumeBackup, row.id, ["restoring"], "available")
                else:
                    transition(
                        s,
                        VolumeBackup,
                        row.id,
                        ["deleting"],
                        "error_deleting",
                        fail_reason="interrupted by a restart; delete it again",
                    )
            for vol in s.execute(select(Volume).where(Volume.status.in_(["backing-up", "restoring-backup"]))).scalars():
                if vol.status == "backing-up":
                    transition(s, Volume, vol.id, ["backing-up"], vol.previous_status or "available")
                else:
                    transition(
                        s, Volume, vol.id, ["restoring-backup"], "error_restoring", error="interrupted by a restart"
                    )
            for snap in s.execute(select(VolumeSnapshot).where(VolumeSnapshot.status == "backing-up")).scalars():
                transition(s, VolumeSnapshot, snap.id, ["backing-up"], "available")
