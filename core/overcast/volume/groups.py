"""Generic volume groups (Cinder 3.11-3.20): group types with ``group_specs``, groups of
volumes whose types the group lists, and group snapshots (one snapshot of each member,
taken in one task). Groups live in the database only: no Overcast backend has consistency
groups, so a group snapshot is its members' snapshots, taken one after the other.

A group made from a source (a group snapshot or another group) is ``creating`` until each
of its new volumes has been built; reading it settles the status then.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.volume import (
    Volume,
    VolumeGroup,
    VolumeGroupSnapshot,
    VolumeGroupType,
    VolumeSnapshot,
)
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.volume.parts import Parts, check_text, find_volume

log = logging.getLogger(__name__)

GROUP_STATUSES = ("creating", "available", "updating", "deleting", "error", "error_deleting", "in-use")
GROUP_SNAPSHOT_STATUSES = ("creating", "available", "deleting", "error", "error_deleting")
#: member volume statuses a group delete takes (the volume service's deletable ones, or already deleting)
DELETABLE_MEMBER = ("available", "error", "error_extending", "error_deleting", "error_restoring", "deleting")
SORT_KEYS = {"name", "id", "created_at", "updated_at", "description", "is_public"}


def _specs(values: Mapping[str, object]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise BadRequest(f"Invalid input received: invalid group spec key {key!r}.")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > 255:
            raise BadRequest(f"Invalid input received: the value of group spec {key} must be a string.")
        out[key] = str(value)
    return out


def find_group(session: Session, ctx: RequestContext, group_id: str) -> VolumeGroup:
    row = session.get(VolumeGroup, group_id) if isinstance(group_id, str) and len(group_id) <= 36 else None
    if row is None or not ctx.can_see(row.project_id):
        raise NotFound(f"Group {group_id} could not be found.", code="GroupNotFound")
    return row


def find_group_snapshot(session: Session, ctx: RequestContext, snapshot_id: str) -> VolumeGroupSnapshot:
    row = (
        session.get(VolumeGroupSnapshot, snapshot_id)
        if isinstance(snapshot_id, str) and len(snapshot_id) <= 36
        else None
    )
    if row is None or not ctx.can_see(row.project_id):
        raise NotFound(f"GroupSnapshot {snapshot_id} could not be found.", code="GroupSnapshotNotFound")
    return row


def check_group_takes(session: Session, ctx: RequestContext, group_id: str, type_id: str) -> VolumeGroup:
    """The group a new volume of ``type_id`` may join (400 unless it is available and lists the type)."""
    group = find_group(session, ctx, group_id)
    if group.status != "available":
        raise BadRequest(f"Invalid group: Group {group_id} status must be available, but is {group.status}.")
    if type_id not in (group.volume_type_ids or []):
        raise BadRequest(f"Invalid input received: Invalid volume_type provided: {type_id} is not in group {group_id}.")
    return group


class GroupTypes:
    def get(self, session: Session, ctx: RequestContext, type_id: str) -> VolumeGroupType:
        row = session.get(VolumeGroupType, type_id) if isinstance(type_id, str) and len(type_id) <= 36 else None
        if row is None:
            row = session.execute(select(VolumeGroupType).where(VolumeGroupType.name == type_id)).scalar_one_or_none()
        if row is None or (not row.is_public and not ctx.is_admin):
            raise NotFound(f"Group type {type_id} could not be found.", code="GroupTypeNotFound")
        return row

    def all(
        self, session: Session, ctx: RequestContext, is_public: bool | None, sort: Sequence[tuple[str, str]]
    ) -> Any:
        stmt = select(VolumeGroupType)
        if not ctx.is_admin:
            stmt = stmt.where(VolumeGroupType.is_public.is_(True))
        elif is_public is not None:
            stmt = stmt.where(VolumeGroupType.is_public.is_(is_public))
        order = []
        for key, direction in sort or [("created_at", "desc")]:
            if key not in SORT_KEYS or direction not in ("asc", "desc"):
                raise BadRequest(f"Invalid input received: Invalid sort key {key} or direction {direction}.")
            column = getattr(VolumeGroupType, key)
            order.append(column.desc() if direction == "desc" else column.asc())
        return list(session.execute(stmt.order_by(*order, VolumeGroupType.id)).scalars())

    def create(self, session: Session, body: Mapping[str, Any]) -> VolumeGroupType:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input received: group type name must be a non-empty string.")
        if session.execute(select(VolumeGroupType.id).where(VolumeGroupType.name == name)).first():
            raise Conflict(f"Group Type {name} already exists.", code="GroupTypeExists")
        specs = body.get("group_specs") or {}
        if not isinstance(specs, dict):
            raise BadRequest("Invalid input received: group_specs must be an object.")
        is_public = body.get("is_public", True)
        if not isinstance(is_public, bool):
            raise BadRequest(f"Invalid input received: is_public must be a boolean, got {is_public!r}.")
        row = VolumeGroupType(
            name=name,
            description=check_text(body.get("description"), "description"),
            is_public=is_public,
            group_specs=_specs(specs),
        )
        session.add(row)
        session.flush()
        return row

    def update(self, session: Session, ctx: RequestContext, type_id: str, body: Mapping[str, Any]) -> VolumeGroupType:
        row = self.get(session, ctx, type_id)
        if not any(k in body for k in ("name", "description", "is_public")):
            raise BadRequest("Specify group type name, description or a combination thereof.")
        name = body.get("name")
        if name is not None:
            if not isinstance(name, str) or not name.strip() or len(name) > 255:
                raise BadRequest("Invalid input received: group type name must be a non-empty string.")
            if (
                name != row.name
                and session.execute(select(VolumeGroupType.id).where(VolumeGroupType.name == name)).first()
            ):
                raise Conflict(f"Group Type {name} already exists.", code="GroupTypeExists")
            row.name = name
        if "description" in body:
            row.description = check_text(body.get("description"), "description")
        if "is_public" in body:
            if not isinstance(body["is_public"], bool):
                raise BadRequest(f"Invalid input received: is_public must be a boolean, got {body['is_public']!r}.")
            row.is_public = body["is_public"]
        session.flush()
        return row

    def delete(self, session: Session, ctx: RequestContext, type_id: str) -> None:
        row = self.get(session, ctx, type_id)
        used = session.execute(
            select(func.count()).select_from(VolumeGroup).where(VolumeGroup.group_type_id == row.id)
        ).scalar_one()
        if used:
            raise BadRequest(f"Group Type {row.id} deletion is not allowed with groups present with the type.")
        session.delete(row)

    def set_specs(
        self, session: Session, ctx: RequestContext, type_id: str, specs: Mapping[str, object]
    ) -> dict[str, str]:
        row = self.get(session, ctx, type_id)
        changes = _specs(specs)
        row.group_specs = {**(row.group_specs or {}), **changes}
        session.flush()
        return changes

    def unset_spec(self, session: Session, ctx: RequestContext, type_id: str, key: str) -> None:
        row = self.get(session, ctx, type_id)
        specs = dict(row.group_specs or {})
        if key not in specs:
            raise NotFound(f"Group Type {type_id} has no specs with key {key}.", code="GroupTypeSpecsNotFound")
        del specs[key]
        row.group_specs = specs
        session.flush()


class Groups:
    """Groups and group snapshots; volumes and snapshots are made by the volume service's own
    paths (``volumes`` and ``snapshots``), so quotas, backends and tasks stay in one place."""

    def __init__(self, parts: Parts, group_types: GroupTypes, volumes: Any, snapshots: Any) -> None:
        self.p = parts
        self.types = group_types
        self.volumes = volumes
        self.snapshots = snapshots

    # --- groups -------------------------------------------------------------------------------

    def get(self, ctx: RequestContext, group_id: str) -> VolumeGroup:
        self._settle(group_id)
        with self.p.db.session() as s:
            return find_group(s, ctx, group_id)

    def all(self, ctx: RequestContext, all_projects: bool = False) -> list[VolumeGroup]:
        with self.p.db.session() as s:
            stmt = ctx.filter(select(VolumeGroup.id), VolumeGroup.project_id, all_projects=all_projects)
            ids = list(s.execute(stmt).scalars())
        for gid in ids:
            self._settle(gid)
        with self.p.db.session() as s:
            stmt = ctx.filter(select(VolumeGroup), VolumeGroup.project_id, all_projects=all_projects)
            return list(s.execute(stmt.order_by(VolumeGroup.created_at.desc(), VolumeGroup.id)).scalars())

    def volume_ids(self, group_id: str) -> list[str]:
        with self.p.db.session() as s:
            return list(s.execute(select(Volume.id).where(Volume.group_id == group_id).order_by(Volume.id)).scalars())

    def _check_volume_types(self, session: Session, ctx: RequestContext, volume_types: object) -> list[str]:
        if isinstance(volume_types, str):
            volume_types = [v for v in volume_types.split(",") if v]
        if not isinstance(volume_types, list) or not volume_types:
            raise BadRequest("Invalid input received: volume_types must be provided to create group.")
        ids = []
        for ref in volume_types:
            if not isinstance(ref, str):
                raise BadRequest(f"Invalid input received: invalid volume type {ref!r}.")
            ids.append(self.p.types.find(session, ref, ctx).id)
        return ids

    def create(self, ctx: RequestContext, body: Mapping[str, Any]) -> VolumeGroup:
        name, description = check_text(body.get("name"), "name"), check_text(body.get("description"), "description")
        if not body.get("group_type"):
            raise BadRequest("Invalid input received: group_type must be provided to create group.")
        zone = body.get("availability_zone")
        if zone not in (None, "", "nova"):
            raise BadRequest(f"Invalid input received: Availability zone '{zone}' is invalid.")
        with self.p.db.session() as s:
            gtype = self.types.get(s, ctx, str(body["group_type"]))
            type_ids = self._check_volume_types(s, ctx, body.get("volume_types"))
            self.p.quotas.consume(s, ctx.project_id or "", {"groups": 1})
            row = VolumeGroup(
                id=str(uuid.uuid4()),
                project_id=ctx.project_id or "",
                user_id=ctx.user_id,
                name=name,
                description=description,
                status="available",  # nothing to make on a backend: the group is a record
                availability_zone="nova",
                group_type_id=gtype.id,
                volume_type_ids=type_ids,
            )
            s.add(row)
            s.flush()
            return row

    def create_from_source(self, ctx: RequestContext, body: Mapping[str, Any]) -> VolumeGroup:
        """A group whose volumes are made from a group snapshot's snapshots or another
        group's volumes (3.14)."""
        snap_id, source_id = body.get("group_snapshot_id"), body.get("source_group_id")
        if bool(snap_id) == bool(source_id):
            raise BadRequest(
                "Invalid input received: Either 'group_snapshot_id' or 'source_group_id' must be provided "
                "to create group, but not both."
            )
        name, description = check_text(body.get("name"), "name"), check_text(body.get("description"), "description")
        with self.p.db.session() as s:
            if snap_id:
                gsnap = find_group_snapshot(s, ctx, str(snap_id))
                if gsnap.status != "available":
                    raise BadRequest(f"Invalid GroupSnapshot: group snapshot {gsnap.id} status must be available.")
                origin = s.get(VolumeGroup, gsnap.group_id)
                members = list(
                    s.execute(select(VolumeSnapshot).where(VolumeSnapshot.group_snapshot_id == gsnap.id)).scalars()
                )
                sources = [("snapshot_id", m.id, s.get(Volume, m.volume_id)) for m in members]
            else:
                origin = find_group(s, ctx, str(source_id))
                if origin.status != "available":
                    raise BadRequest(f"Invalid group: Source group {origin.id} status must be available.")
                vols = list(s.execute(select(Volume).where(Volume.group_id == origin.id)).scalars())
                sources = [("source_volid", v.id, v) for v in vols]
            if origin is None:
                raise BadRequest("Invalid input received: the source group no longer exists.")
            self.p.quotas.consume(s, ctx.project_id or "", {"groups": 1})
            row = VolumeGroup(
                id=str(uuid.uuid4()),
                project_id=ctx.project_id or "",
                user_id=ctx.user_id,
                name=name,
                description=description,
                status="creating",
                availability_zone=origin.availability_zone,
                group_type_id=origin.group_type_id,
                volume_type_ids=list(origin.volume_type_ids or []),
                group_snapshot_id=str(snap_id) if snap_id else None,
                source_group_id=str(source_id) if source_id else None,
            )
            s.add(row)
            plan = [(key, ref, vol.volume_type_id, vol.size) for key, ref, vol in sources]
        made = 0
        try:
            for key, ref, type_id, size in plan:
                vol = self.volumes.create(ctx, size=size, volume_type=type_id, **{key: ref})
                with self.p.db.session() as s:
                    s.get(Volume, vol.id).group_id = row.id
                made += 1
        except Exception:
            with self.p.db.session() as s:
                s.get(VolumeGroup, row.id).status = "error"
            raise
        if not plan:
            with self.p.db.session() as s:
                s.get(VolumeGroup, row.id).status = "available"
        return row

    def _settle(self, group_id: str) -> None:
        """A group made from a source becomes available once its volumes are built (error if one failed)."""
        with self.p.db.session() as s:
            row = s.get(VolumeGroup, group_id)
            if row is None or row.status != "creating" or not (row.group_snapshot_id or row.source_group_id):
                return
            statuses = list(s.execute(select(Volume.status).where(Volume.group_id == group_id)).scalars())
            if any(st == "creating" for st in statuses):
                return
            row.status = "error" if any(st.startswith("error") for st in statuses) else "available"

    def update(self, ctx: RequestContext, group_id: str, body: Mapping[str, Any]) -> None:
        keys = ("name", "description", "add_volumes", "remove_volumes")
        if not any(body.get(k) is not None for k in keys):
            raise BadRequest(
                "Name, description, add_volumes, and remove_volumes can not be all empty in the request body."
            )
        with self.p.db.session() as s:
            group = find_group(s, ctx, group_id)
            if group.status != "available":
                raise BadRequest(f"Invalid group: Group {group_id} status must be available, but is {group.status}.")
            if body.get("name") is not None:
                group.name = check_text(body["name"], "name")
            if body.get("description") is not None:
                group.description = check_text(body["description"], "description")
            for vid in _ids(body.get("remove_volumes")):
                vol = find_volume(s, ctx, vid)
                if vol.group_id != group.id:
                    raise BadRequest(f"Invalid volume: Volume {vid} is not in group {group.id}.")
                vol.group_id = None
            for vid in _ids(body.get("add_volumes")):
                vol = find_volume(s, ctx, vid)
                if vol.group_id == group.id:
                    continue
                if vol.group_id:
                    raise BadRequest(f"Invalid volume: Volume {vid} is already in group {vol.group_id}.")
                if vol.status not in ("available", "in-use"):
                    raise BadRequest(f"Invalid volume: Volume {vid} status must be available or in-use.")
                if vol.volume_type_id not in (group.volume_type_ids or []):
                    raise BadRequest(
                        f"Invalid volume: Volume {vid} has a volume type the group {group.id} does not support."
                    )
                vol.group_id = group.id

    def delete(self, ctx: RequestContext, group_id: str, delete_volumes: bool) -> None:
        with self.p.db.session() as s:
            group = find_group(s, ctx, group_id)
            if group.status not in ("available", "error", "error_deleting", "creating") or (
                group.status == "creating" and not (group.group_snapshot_id or group.source_group_id)
            ):
                raise BadRequest(f"Invalid group: Group status must be available or error, but is {group.status}.")
            vols = list(s.execute(select(Volume).where(Volume.group_id == group.id)).scalars())
            if vols and not delete_volumes:
                raise BadRequest("Invalid group: Group has existing volumes; delete them first or use delete-volumes.")
            snaps = s.execute(select(VolumeGroupSnapshot.id).where(VolumeGroupSnapshot.group_id == group.id)).first()
            if snaps:
                raise BadRequest("Invalid group: Group has existing snapshots.")
            for vol in vols:
                if vol.status not in DELETABLE_MEMBER:
                    raise BadRequest(
                        f"Invalid volume: Volume {vol.id} in group {group.id} cannot be deleted while {vol.status}."
                    )
            group.status = "deleting"
            ids, project = [v.id for v in vols], group.project_id
        for vid in ids:
            if self.volumes.get(ctx, vid).status != "deleting":
                self.volumes.delete(ctx, vid, from_group=True)
        with self.p.db.session() as s:
            row = s.get(VolumeGroup, group_id)
            if row is not None:
                s.delete(row)
            self.p.quotas.release(s, project, {"groups": 1})

    def reset_status(self, ctx: RequestContext, group_id: str, status: object) -> None:
        if status not in GROUP_STATUSES:
            raise BadRequest(f"Invalid input received: Group status {status} is not valid.")
        with self.p.db.session() as s:
            find_group(s, ctx, group_id).status = str(status)

    # --- group snapshots ------------------------------------------------------------------------

    def get_snapshot(self, ctx: RequestContext, snapshot_id: str) -> VolumeGroupSnapshot:
        with self.p.db.session() as s:
            return find_group_snapshot(s, ctx, snapshot_id)

    def list_snapshots(self, ctx: RequestContext, all_projects: bool = False) -> list[VolumeGroupSnapshot]:
        with self.p.db.session() as s:
            stmt = ctx.filter(select(VolumeGroupSnapshot), VolumeGroupSnapshot.project_id, all_projects=all_projects)
            stmt = stmt.order_by(VolumeGroupSnapshot.created_at.desc(), VolumeGroupSnapshot.id)
            return list(s.execute(stmt).scalars())

    def create_snapshot(self, ctx: RequestContext, body: Mapping[str, Any]) -> VolumeGroupSnapshot:
        name, description = check_text(body.get("name"), "name"), check_text(body.get("description"), "description")
        if not body.get("group_id"):
            raise BadRequest("Invalid input received: group_id must be provided to create group snapshot.")
        with self.p.db.session() as s:
            group = find_group(s, ctx, str(body["group_id"]))
            if group.status != "available":
                raise BadRequest(f"Invalid group: Group {group.id} status must be available, but is {group.status}.")
            vols = list(s.execute(select(Volume).where(Volume.group_id == group.id)).scalars())
            if not vols:
                raise BadRequest(f"Invalid group: Group {group.id} contains no volumes.")
            for vol in vols:
                if vol.status not in ("available", "in-use"):
                    raise BadRequest(f"Invalid volume: Volume {vol.id} status must be available or in-use.")
            row = VolumeGroupSnapshot(
                id=str(uuid.uuid4()),
                project_id=group.project_id,
                user_id=ctx.user_id,
                group_id=group.id,
                group_type_id=group.group_type_id,
                name=name,
                description=description,
                status="creating",
            )
            s.add(row)
            self.p.quotas.consume(s, group.project_id, {"snapshots": len(vols), "gigabytes": sum(v.size for v in vols)})
            members = []
            for vol in vols:
                snap = VolumeSnapshot(
                    id=str(uuid.uuid4()),
                    project_id=vol.project_id,
                    user_id=ctx.user_id,
                    volume_id=vol.id,
                    name=f"snapshot-{row.id}" if name is None else name,
                    description=description,
                    size=vol.size,
                    status="creating",
                    metadata_={},
                    group_snapshot_id=row.id,
                )
                s.add(snap)
                members.append(snap.id)
        self.p.tasks.submit(f"create group snapshot {row.id}", self._build_snapshot, row.id, members)
        return row

    def _build_snapshot(self, group_snapshot_id: str, members: list[str]) -> None:
        for snap_id in members:
            self.snapshots._build(snap_id)
        with self.p.db.session() as s:
            statuses = list(s.execute(select(VolumeSnapshot.status).where(VolumeSnapshot.id.in_(members))).scalars())
            row = s.get(VolumeGroupSnapshot, group_snapshot_id)
            if row is not None and row.status == "creating":
                row.status = "available" if all(st == "available" for st in statuses) else "error"

    def delete_snapshot(self, ctx: RequestContext, snapshot_id: str) -> None:
        with self.p.db.session() as s:
            row = find_group_snapshot(s, ctx, snapshot_id)
            if row.status not in ("available", "error", "error_deleting"):
                raise BadRequest(
                    f"Invalid GroupSnapshot: Group snapshot status must be available or error, but is {row.status}."
                )
            used = s.execute(select(VolumeGroup.id).where(VolumeGroup.group_snapshot_id == row.id)).first()
            if used:
                raise BadRequest(f"Invalid GroupSnapshot: Group snapshot {row.id} is the source of group {used[0]}.")
            row.status = "deleting"
            members = list(
                s.execute(select(VolumeSnapshot.id).where(VolumeSnapshot.group_snapshot_id == row.id)).scalars()
            )
            for snap in s.execute(select(VolumeSnapshot).where(VolumeSnapshot.id.in_(members))).scalars():
                snap.status = "deleting"
        self.p.tasks.submit(f"delete group snapshot {snapshot_id}", self._delete_snapshot, snapshot_id, members)

    def _delete_snapshot(self, group_snapshot_id: str, members: list[str]) -> None:
        for snap_id in members:
            self.snapshots._delete(snap_id)
        with self.p.db.session() as s:
            left = s.execute(select(func.count()).select_from(VolumeSnapshot).where(VolumeSnapshot.id.in_(members)))
            row = s.get(VolumeGroupSnapshot, group_snapshot_id)
            if row is None:
                return
            if left.scalar_one():
                row.status = "error_deleting"
            else:
                s.delete(row)

    def reset_snapshot_status(self, ctx: RequestContext, snapshot_id: str, status: object) -> None:
        if status not in GROUP_SNAPSHOT_STATUSES:
            raise BadRequest(f"Invalid input received: Group snapshot status {status} is not valid.")
        with self.p.db.session() as s:
            find_group_snapshot(s, ctx, snapshot_id).status = str(status)


def _ids(value: object) -> list[str]:
    """``add_volumes`` / ``remove_volumes``: a comma-separated string of volume ids."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input received: expected a comma-separated list of volume ids, got {value!r}.")
    return [v.strip() for v in value.split(",") if v.strip()]
