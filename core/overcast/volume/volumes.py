"""Volumes: create (blank, from a snapshot, another volume or an image), list, show, update,
extend, delete, and upload to an image. Slow driver work runs as a background task; the
volume's status says where it is."""

from __future__ import annotations

import builtins

import logging
import shutil
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, or_, select

from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeAttachment, VolumeSnapshot
from overcast.volume.listing import order_by, page
from overcast.errors import BadRequest, NotFound, NoValidHost, OvercastError
from overcast.volume.groups import check_group_takes
from overcast.volume.migration import AVAILABLE_MIGRATION_STATUS, VolumeMigration, is_migrating, refuse_if_migrating
from overcast.volume.parts import (
    Parts,
    apply_descriptive_changes,
    check_metadata,
    check_ref,
    check_size,
    check_text,
    drop_metadata_key,
    find_snapshot,
    find_volume,
    merge_metadata,
    snapshot_ref,
    volume_ref,
)
from overcast.volume.state import require_transition, transition
from overcast.volume.scheduler import capabilities, unmet
from overcast.volume.volume_types import is_multiattach

log = logging.getLogger(__name__)

DELETABLE = ("available", "error", "error_extending", "error_deleting", "error_restoring")
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, OvercastError) else f"{type(exc).__name__}: {exc}"


class Volumes:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    # --- reading ----------------------------------------------------------------------------

    def get(self, ctx: RequestContext, volume_id: str) -> Volume:
        with self.p.db.session() as s:
            return find_volume(s, ctx, volume_id)

    def list(
        self,
        ctx: RequestContext,
        filters: Mapping[str, Any] | None = None,
        all_projects: bool = False,
        marker: str | None = None,
        limit: int | None = None,
        sort: list[tuple[str, str]] | None = None,
        offset: int | None = None,
    ) -> list[Volume]:
        filters = dict(filters or {})
        order = order_by(Volume, sort)
        with self.p.db.session() as s:
            stmt = ctx.filter(select(Volume), Volume.project_id, all_projects=all_projects)
            if ctx.is_admin and filters.get("project_id"):
                stmt = select(Volume).where(Volume.project_id == filters["project_id"])
            if not ctx.is_admin:  # as Cinder: a migration's temporary target is an admin's to see
                stmt = stmt.where(or_(Volume.migration_status.is_(None), ~Volume.migration_status.like("target:%")))
            for key in ("name", "status"):
                if filters.get(key) is not None:
                    stmt = stmt.where(getattr(Volume, key) == filters[key])
            if filters.get("bootable") is not None:
                stmt = stmt.where(Volume.bootable.is_(str(filters["bootable"]).lower() in ("true", "1", "yes")))
            rows = list(s.execute(stmt.order_by(*order)).scalars())
        wanted_meta = filters.get("metadata") or {}
        if wanted_meta:
            rows = [r for r in rows if all((r.metadata_ or {}).get(k) == v for k, v in wanted_meta.items())]
        return page(rows, marker, offset, limit)

    def attachments_of(self, volume_ids: builtins.list[str]) -> dict[str, builtins.list[VolumeAttachment]]:
        out: dict[str, builtins.list[VolumeAttachment]] = {vid: [] for vid in volume_ids}
        if not volume_ids:
            return out
        with self.p.db.session() as s:
            for row in s.execute(select(VolumeAttachment).where(VolumeAttachment.volume_id.in_(volume_ids))).scalars():
                out[row.volume_id].append(row)
        return out

    def type_names(self, type_ids: set[str]) -> dict[str, str]:
        from overcast.db.models.volume import VolumeType

        with self.p.db.session() as s:
            rows = s.execute(select(VolumeType.id, VolumeType.name).where(VolumeType.id.in_(list(type_ids))))
            return {tid: name for tid, name in rows}

    # --- create -----------------------------------------------------------------------------

    def create(
        self,
        ctx: RequestContext,
        *,
        size: Any = None,
        name: Any = None,
        description: Any = None,
        volume_type: str | None = None,
        snapshot_id: str | None = None,
        source_volid: str | None = None,
        image_id: str | None = None,
        metadata: Any = None,
        availability_zone: str | None = None,
        multiattach: bool = False,
        group_id: str | None = None,
    ) -> Volume:
        """A new volume (status ``creating``; a task builds it). ``group_id`` (3.13) puts it
        in a generic volume group of the caller's that takes its type."""
        name, description = check_text(name, "name"), check_text(description, "description")
        metadata = check_metadata(metadata)
        volume_type, snapshot_id, source_volid, image_id, availability_zone = (
            check_ref(value, what)
            for value, what in (
                (volume_type, "volume_type"),
                (snapshot_id, "snapshot_id"),
                (source_volid, "source_volid"),
                (image_id, "imageRef"),
                (availability_zone, "availability_zone"),
            )
        )
        sources = [x for x in (snapshot_id, source_volid, image_id) if x]
        if len(sources) > 1:
            raise BadRequest("Invalid input received: only one of snapshot_id, source_volid and imageRef may be given.")
        if availability_zone not in (None, "", "nova"):
            raise BadRequest(f"Invalid input received: Availability zone '{availability_zone}' is invalid.")
        image_meta: dict[str, str] = {}
        with self.p.db.session() as s:
            vtype = self.p.types.find(s, volume_type, ctx)
            backend: str | None = None
            source_size = 0
            source_bootable = False  # as Cinder: a copy of a bootable volume is bootable, with its image's metadata
            if snapshot_id:
                snap = find_snapshot(s, ctx, snapshot_id)
                if snap.status != "available":
                    raise BadRequest(
                        f"Invalid snapshot: Originating snapshot status must be one of 'available' values (is {snap.status})."
                    )
                parent = s.get(Volume, snap.volume_id)
                backend, source_size = parent.backend, snap.size
                source_bootable, image_meta = bool(parent.bootable), dict(parent.image_metadata or {})
                if volume_type is None:
                    vtype = s.get(type(vtype), parent.volume_type_id)
            elif source_volid:
                src = find_volume(s, ctx, source_volid)
                if src.status not in ("available", "in-use"):
                    raise BadRequest(
                        f"Invalid volume: Source volume status must be available or in-use (is {src.status})."
                    )
                backend, source_size = src.backend, src.size
                source_bootable, image_meta = bool(src.bootable), dict(src.image_metadata or {})
                if volume_type is None:
                    vtype = s.get(type(vtype), src.volume_type_id)
            specs = dict(vtype.extra_specs or {})
            type_id = vtype.id
            if group_id:
                check_group_takes(s, ctx, group_id, type_id)
        if size is None and source_size:
            size = source_size
        if size is None:
            raise BadRequest("Invalid input received: size is required for a blank volume or one from an image.")
        size = check_size(size)
        if size < source_size:
            raise BadRequest(
                f"Invalid input received: Volume size '{size}'GB cannot be smaller than the source size {source_size}GB."
            )
        if image_id:
            image = self.p.images.get(ctx, image_id)
            min_gb = max(image.min_disk, -(-image.size // 1024**3) if image.disk_format == "raw" else 0)
            if size < min_gb:
                raise BadRequest(f"Invalid input received: Image {image_id} needs a volume of at least {min_gb} GB.")
            image_meta = {  # as Cinder's volume_image_metadata: the image's own properties too
                **{str(k): str(v) for k, v in (image.properties or {}).items()},
                "image_id": image.id,
                "image_name": image.name,
                "disk_format": image.disk_format,
                "container_format": image.container_format,
                "checksum": image.checksum,
                "min_disk": str(image.min_disk),
                "min_ram": str(image.min_ram),
                "size": str(image.size),
            }
        wanted = specs.get("volume_backend_name")
        if backend is not None and wanted and wanted != backend:
            raise BadRequest(
                f"Invalid input received: volume type {vtype.name} is on backend {wanted}, but the source is on {backend}."
            )
        unplaced: str | None = None
        if backend is None:
            try:
                backend = self.p.scheduler.place(size, specs)
            except NoValidHost as exc:
                # as Cinder: the volume is accepted, goes to error, and a user message says why
                unplaced = str(exc)
        row = Volume(
            id=str(uuid.uuid4()),
            project_id=ctx.project_id or "",
            user_id=ctx.user_id,
            name=name,
            description=description,
            size=size,
            status="creating",
            volume_type_id=type_id,
            backend=backend,
            snapshot_id=snapshot_id or None,
            source_volid=source_volid or None,
            image_id=image_id or None,
            image_metadata=image_meta,
            multiattach=bool(multiattach) or is_multiattach(specs),
            bootable=bool(image_id) or source_bootable,
            metadata_=metadata,
            availability_zone="nova",
            group_id=group_id or None,
        )
        if unplaced is not None:
            row.status, row.error = "error", unplaced
        with self.p.db.session() as s:
            self.p.quotas.check_per_volume(s, row.project_id, size)
            self.p.quotas.consume(s, row.project_id, {"volumes": 1, "gigabytes": size})
            s.add(row)
            if unplaced is not None:
                self.p.messages.record(s, ctx, row.project_id, "VOLUME", row.id, "001", "003")
        if unplaced is None:
            self.p.tasks.submit(f"create volume {row.id}", self._build, ctx, row.id)
        return row

    def _build(self, ctx: RequestContext, volume_id: str) -> None:
        with self.p.db.session() as s:
            row = s.get(Volume, volume_id)
            ref = volume_ref(row)
            backend = row.backend
            snap = s.get(VolumeSnapshot, row.snapshot_id) if row.snapshot_id else None
            snap_ref = snapshot_ref(snap, s.get(Volume, snap.volume_id)) if snap else None
            src = s.get(Volume, row.source_volid) if row.source_volid else None
            src_ref = volume_ref(src) if src else None
            image_id = row.image_id
        try:
            driver = self.p.backends.on(backend)
            if snap_ref is not None:
                loc = driver.create_from_snapshot(backend, volume=ref, snapshot=snap_ref)
            elif src_ref is not None:
                loc = driver.clone(backend, volume=ref, source=src_ref)
            else:
                loc = driver.create(backend, volume=ref)
            if image_id:
                self._fill_from_image(ctx, backend, ref, loc.location, image_id)
        except Exception as exc:  # noqa: BLE001 - recorded on the volume
            log.warning("creating volume %s failed: %s", volume_id, exc)
            with self.p.db.session() as s:
                transition(s, Volume, volume_id, ["creating"], "error", error=_error_text(exc))
            return
        with self.p.db.session() as s:
            transition(
                s, Volume, volume_id, ["creating"], "available", location=loc.location, copy_on_write=loc.copy_on_write
            )

    def _fill_from_image(self, ctx: RequestContext, backend: str, ref: Any, location: str, image_id: str) -> None:
        from dataclasses import replace

        cache = self.p.work_dir / "image-cache"
        cache.mkdir(parents=True, exist_ok=True)
        image_file = self.p.images.fetch(ctx, image_id, cache)
        self.p.backends.on(backend).copy_image_to_volume(
            backend, volume=replace(ref, location=location), image=image_file
        )

    # --- change -----------------------------------------------------------------------------

    def update(self, ctx: RequestContext, volume_id: str, changes: Mapping[str, Any]) -> Volume:
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            apply_descriptive_changes(row, changes)
            return row

    def set_metadata(self, ctx: RequestContext, volume_id: str, metadata: Any, replace: bool) -> dict[str, str]:
        with self.p.db.session() as s:
            return merge_metadata(find_volume(s, ctx, volume_id), metadata, replace)

    def delete_metadata_key(self, ctx: RequestContext, volume_id: str, key: str) -> None:
        with self.p.db.session() as s:
            drop_metadata_key(find_volume(s, ctx, volume_id), key, "Volume")

    def set_flags(
        self, ctx: RequestContext, volume_id: str, bootable: bool | None = None, readonly: bool | None = None
    ) -> None:
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            if bootable is not None:
                row.bootable = bootable
            if readonly is not None:
                row.readonly = readonly

    def reset_status(self, ctx: RequestContext, volume_id: str, status: str) -> None:
        from overcast.db.models.volume import VOLUME_STATUSES

        if status not in VOLUME_STATUSES:
            raise BadRequest(f"Invalid input received: status must be one of {', '.join(VOLUME_STATUSES)}.")
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            row.status, row.error = status, None

    # --- image metadata (os-set_image_metadata, os-unset_image_metadata, os-show_image_metadata) ---

    def image_metadata(self, ctx: RequestContext, volume_id: str) -> dict[str, str]:
        with self.p.db.session() as s:
            return dict(find_volume(s, ctx, volume_id).image_metadata or {})

    def set_image_metadata(self, ctx: RequestContext, volume_id: str, metadata: Any) -> dict[str, str]:
        changes = check_metadata(metadata)
        if not changes:
            raise BadRequest("Malformed request body: metadata must be a non-empty object.")
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            row.image_metadata = {**(row.image_metadata or {}), **changes}
            return dict(row.image_metadata)

    def unset_image_metadata(self, ctx: RequestContext, volume_id: str, key: Any) -> None:
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            meta = dict(row.image_metadata or {})
            if not isinstance(key, str) or key not in meta:
                raise NotFound(f"Glance metadata for volume {volume_id} with key {key} not found.")
            del meta[key]
            row.image_metadata = meta

    def retype(self, ctx: RequestContext, volume_id: str, new_type: Any, migration_policy: Any = "never") -> None:
        """os-retype: give the volume another type. When its backend offers what the new type
        asks for (its ``volume_backend_name`` and capability specs) only the type changes;
        otherwise the volume must move to a backend that does, which ``migration_policy:
        on-demand`` allows (``overcast.volume.migration``) and ``never`` (the default) refuses."""
        if not isinstance(new_type, str) or not new_type:
            raise BadRequest("Invalid input received: new_type is required.")
        if migration_policy not in (None, "never", "on-demand"):
            raise BadRequest(f"Invalid input received: invalid migration_policy {migration_policy}.")
        dest: str | None = None
        migration = VolumeMigration(self.p)
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id, for_update=True)
            if row.status not in ("available", "in-use") or row.migration_status not in AVAILABLE_MIGRATION_STATUS:
                raise BadRequest(
                    "Invalid volume: Retype needs volume to be in available or in-use state, not be part of an "
                    "active migration or a consistency group, requested type has to be different that the one "
                    "from the volume, and for in-use volumes front-end qos specs cannot change."
                )
            vtype = self.p.types.find(s, new_type, ctx)
            if vtype.id == row.volume_type_id:
                raise BadRequest("Invalid input received: Retype cannot change the type to the same type.")
            if row.group_id:
                raise BadRequest(f"Invalid volume: Volume {row.id} is in group {row.group_id}; it cannot be retyped.")
            specs = dict(vtype.extra_specs or {})
            backend = row.backend
            stats = self.p.backends.refresh(backend) if backend else None
            missing = unmet(capabilities(backend, stats), specs) if backend and stats else ["a reachable backend"]
            wanted = specs.get("volume_backend_name")
            if wanted and wanted != backend:
                missing.append(f"volume_backend_name={wanted}")
            attached = s.execute(select(func.count()).where(VolumeAttachment.volume_id == row.id)).scalar_one()
            if is_multiattach(specs) != row.multiattach and attached:
                raise BadRequest("Invalid volume: the multiattach property of an attached volume cannot change.")
            if not missing:
                row.volume_type_id = vtype.id
                row.multiattach = is_multiattach(specs)
                return
            if migration_policy != "on-demand":
                raise BadRequest(
                    "Volume migration failed: Retype requires migration but is not allowed. "
                    f"(backend {backend} of volume {row.id} does not offer {', '.join(missing)})"
                )
            dest = migration.start_retype(s, row, specs)
        migration.move(volume_id, dest, vtype.id)

    def extend(self, ctx: RequestContext, volume_id: str, new_size: Any, online: bool = False) -> None:
        """Grow a volume. ``online`` (Cinder 3.42) also allows an in-use one, if every server
        it is attached to runs on a hypervisor driver with ``hv_extend_volume``."""
        new_size = check_size(new_size, "new_size")
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            if new_size <= row.size:
                raise BadRequest(
                    f"Invalid input received: New size for extend must be greater than current size. "
                    f"(current: {row.size}, extended: {new_size})."
                )
            refuse_if_migrating(row, "extended")
            allowed = ["available", "in-use"] if online else ["available"]
            if row.status not in allowed:
                raise BadRequest(
                    f"Invalid volume: Volume status must be {' or '.join(allowed)} to extend, "
                    f"but current status is: {row.status}."
                )
            servers = self._attached_servers(s, row.id) if row.status == "in-use" else []
            compute: Any = self.p.runtime.service("compute") if servers else None
            for server in servers:  # refuse before anything changes
                compute.check_volume_extend(server, row.id)
            self.p.quotas.check_per_volume(s, row.project_id, new_size)
            self.p.quotas.consume(s, row.project_id, {"gigabytes": new_size - row.size})
            require_transition(s, Volume, row.id, [row.status], "extending", "volume", previous_status=row.status)
        self.p.tasks.submit(f"extend volume {volume_id}", self._extend, volume_id, new_size, servers)

    @staticmethod
    def _attached_servers(s: Any, volume_id: str) -> builtins.list[str]:
        return list(
            s.scalars(
                select(VolumeAttachment.instance_uuid).where(
                    VolumeAttachment.volume_id == volume_id, VolumeAttachment.attach_status == "attached"
                )
            )
        )

    def _extend(self, volume_id: str, new_size: int, servers: builtins.list[str] | None = None) -> None:
        with self.p.db.session() as s:
            row = s.get(Volume, volume_id)
            ref, backend, old, back_to = volume_ref(row), row.backend, row.size, row.previous_status or "available"
        try:
            self.p.backends.on(backend).extend(backend, volume=ref, new_size_gb=new_size)
            for server in servers or []:
                self.p.runtime.service("compute").volume_extended(server, volume_id, new_size)
        except Exception as exc:  # noqa: BLE001
            with self.p.db.session() as s:
                transition(s, Volume, volume_id, ["extending"], "error_extending", error=_error_text(exc))
                self.p.quotas.release(s, row.project_id, {"gigabytes": new_size - old})
            return
        with self.p.db.session() as s:
            transition(s, Volume, volume_id, ["extending"], back_to, size=new_size)

    # --- delete -------------------------------------------------------------------------------

    def delete(self, ctx: RequestContext, volume_id: str, cascade: bool = False, from_group: bool = False) -> None:
        """Delete a volume; one in a group goes only with its group (``from_group``), as Cinder."""
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            attached = s.execute(select(func.count()).where(VolumeAttachment.volume_id == row.id)).scalar_one()
            if attached or row.status not in DELETABLE or (row.group_id and not from_group) or is_migrating(row):
                raise BadRequest(
                    "Invalid volume: Volume status must be available or error or error_restoring or error_extending "
                    "or error_managing and must not be migrating, attached, belong to a group, have snapshots, "
                    f"awaiting a transfer, or be disassociated from snapshots after volume transfer. (status: {row.status})"
                )
            snaps = list(s.execute(select(VolumeSnapshot).where(VolumeSnapshot.volume_id == row.id)).scalars())
            if snaps and not cascade:
                raise BadRequest(f"Invalid volume: Volume {row.id} still has {len(snaps)} dependent snapshots.")
            busy = [x.id for x in snaps if x.status not in ("available", "error", "error_deleting")]
            if busy:
                raise BadRequest(f"Invalid volume: snapshots {', '.join(busy)} are busy.")
            for snap in snaps:
                snap.status = "deleting"
            require_transition(s, Volume, row.id, DELETABLE, "deleting", "volume")
        self.p.tasks.submit(f"delete volume {volume_id}", self._delete, volume_id)

    def _delete(self, volume_id: str) -> None:
        with self.p.db.session() as s:
            row = s.get(Volume, volume_id)
            ref, backend, project, size = volume_ref(row), row.backend, row.project_id, row.size
            snaps = [
                (x.id, snapshot_ref(x, row), x.size)
                for x in s.execute(select(VolumeSnapshot).where(VolumeSnapshot.volume_id == volume_id)).scalars()
            ]
        try:
            for snap_id, snap_ref, snap_size in snaps:
                if backend and snap_ref.location:
                    self.p.backends.on(backend).delete_snapshot(backend, snapshot=snap_ref)
                with self.p.db.session() as s:
                    s.execute(delete(VolumeSnapshot).where(VolumeSnapshot.id == snap_id))
                    self.p.quotas.release(s, project, {"snapshots": 1, "gigabytes": snap_size})
            if backend and ref.location:
                self.p.backends.on(backend).delete(backend, volume=ref)
        except Exception as exc:  # noqa: BLE001
            with self.p.db.session() as s:
                transition(s, Volume, volume_id, ["deleting"], "error_deleting", error=_error_text(exc))
            return
        with self.p.db.session() as s:
            s.execute(delete(Volume).where(Volume.id == volume_id))
            self.p.quotas.release(s, project, {"volumes": 1, "gigabytes": size})

    # --- upload to an image ------------------------------------------------------------------------

    def upload_to_image(
        self,
        ctx: RequestContext,
        volume_id: str,
        image_name: Any,
        disk_format: str = "raw",
        container_format: str = "bare",
        force: bool = False,
    ) -> tuple[Volume, Any]:
        image_name = check_text(image_name, "image_name")
        if not image_name:
            raise BadRequest("Invalid input received: image_name is required.")
        if disk_format not in DISK_FORMATS:
            raise BadRequest(f"Invalid input received: disk_format must be one of {', '.join(DISK_FORMATS)}.")
        with self.p.db.session() as s:
            row = find_volume(s, ctx, volume_id)
            allowed = ["available", "in-use"] if force else ["available"]
            if row.status not in allowed:
                raise BadRequest(
                    f"Invalid volume: Volume status must be {' or '.join(allowed)} to upload (is {row.status})."
                )
            previous = row.status
        image = self.p.images.create(ctx, image_name, disk_format, container_format, {"volume_id": volume_id})
        with self.p.db.session() as s:
            require_transition(s, Volume, volume_id, [previous], "uploading", "volume", previous_status=previous)
            row = s.get(Volume, volume_id)
        self.p.tasks.submit(f"upload volume {volume_id}", self._upload, ctx, volume_id, image.id, disk_format, previous)
        return row, image

    def _upload(self, ctx: RequestContext, volume_id: str, image_id: str, disk_format: str, previous: str) -> None:
        with self.p.db.session() as s:
            row = s.get(Volume, volume_id)
            ref, backend = volume_ref(row), row.backend
        work = self.p.work_dir / f"upload-{uuid.uuid4().hex}"
        work.mkdir(parents=True)
        try:
            result = self.p.backends.on(backend).copy_volume_to_image(
                backend, volume=ref, disk_format=disk_format, dest_path=str(work / f"{image_id}.{disk_format}")
            )
            self.p.images.upload(ctx, image_id, result.path, result.disk_format)
        except Exception as exc:  # noqa: BLE001 - the image fails; the volume is untouched
            log.warning("uploading volume %s to image %s failed: %s", volume_id, image_id, exc)
            self.p.images.fail(ctx, image_id)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with self.p.db.session() as s:
                transition(s, Volume, volume_id, ["uploading"], previous)
