"""Per-project quotas for volumes, gigabytes and snapshots, enforced atomically in SQL.

Usage rows change only through ``UPDATE ... SET in_use = in_use + :d WHERE in_use + :d <=
:limit``, inside the caller's transaction: two concurrent creates cannot both squeeze under
the limit, and a failure later in the same transaction rolls the reservation back.
"""

from __future__ import annotations

from typing import Any, cast

from collections.abc import Mapping

from sqlalchemy import CursorResult, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.db.models.volume import VolumeQuota, VolumeQuotaClass, VolumeQuotaUsage
from overcast.errors import OverQuota

RESOURCES = ("volumes", "gigabytes", "snapshots", "backups", "backup_gigabytes", "groups")
#: limits that are not counted: the largest volume a project may create, in GiB.
LIMITS_ONLY = ("per_volume_gigabytes",)
#: Cinder's defaults for what ``[volume]`` does not configure.
CINDER_DEFAULTS = {"groups": 10, "per_volume_gigabytes": -1}


class VolumeOverQuota(OverQuota):
    """Cinder answers quota errors with 413 ``overLimit``."""

    status = 413
    title = "Request Entity Too Large"


_MESSAGES = {
    "volumes": "VolumeLimitExceeded: Maximum number of volumes allowed ({limit}) exceeded for quota 'volumes'.",
    "snapshots": "SnapshotLimitExceeded: Maximum number of snapshots allowed ({limit}) exceeded for quota 'snapshots'.",
    "gigabytes": (
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. "
        "Requested {requested}G, quota is {limit}G and {in_use}G has been consumed."
    ),
    "groups": "GroupLimitExceeded: Maximum number of groups allowed ({limit}) exceeded for quota 'groups'.",
    "backups": "BackupLimitExceeded: Maximum number of backups allowed ({limit}) exceeded",
    "backup_gigabytes": (
        "VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed Backup gigabytes quota. "
        "Requested {requested}G, quota is {limit}G and {in_use}G has been consumed."
    ),
}


class Quotas:
    def __init__(self, defaults: Mapping[str, int]) -> None:
        self.defaults = {**CINDER_DEFAULTS, **defaults}

    def class_limits(self, session: Session, class_name: str = "default") -> dict[str, int]:
        """A quota class's limits; class ``default`` (os-quota-class-sets) overrides the
        configured defaults for every project without limits of its own."""
        out = dict(self.defaults) if class_name == "default" else self.class_limits(session)
        rows = session.execute(select(VolumeQuotaClass).where(VolumeQuotaClass.class_name == class_name)).scalars()
        out.update({r.resource: r.hard_limit for r in rows})
        return out

    def set_class_limits(self, session: Session, class_name: str, limits: Mapping[str, int]) -> None:
        for resource, value in limits.items():
            row = session.execute(
                select(VolumeQuotaClass).where(
                    VolumeQuotaClass.class_name == class_name, VolumeQuotaClass.resource == resource
                )
            ).scalar_one_or_none()
            if row is None:
                session.add(VolumeQuotaClass(class_name=class_name, resource=resource, hard_limit=value))
            else:
                row.hard_limit = value
        session.flush()

    def check_per_volume(self, session: Session, project_id: str, size: int) -> None:
        """``per_volume_gigabytes``: 413 for a volume larger than the project may make."""
        limit = self.limits(session, project_id).get("per_volume_gigabytes", -1)
        if 0 <= limit < size:
            raise VolumeOverQuota(
                f"VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum allowed limit {limit}G."
            )

    def limits(self, session: Session, project_id: str) -> dict[str, int]:
        out = self.class_limits(session)
        rows = session.execute(select(VolumeQuota).where(VolumeQuota.project_id == project_id)).scalars()
        out.update({r.resource: r.hard_limit for r in rows})
        return out

    def usage(self, session: Session, project_id: str) -> dict[str, int]:
        out = {r: 0 for r in RESOURCES}
        rows = session.execute(select(VolumeQuotaUsage).where(VolumeQuotaUsage.project_id == project_id)).scalars()
        out.update({r.resource: r.in_use for r in rows})
        return out

    def set_limits(self, session: Session, project_id: str, limits: Mapping[str, int]) -> None:
        for resource, value in limits.items():
            row = session.execute(
                select(VolumeQuota).where(VolumeQuota.project_id == project_id, VolumeQuota.resource == resource)
            ).scalar_one_or_none()
            if row is None:
                session.add(VolumeQuota(project_id=project_id, resource=resource, hard_limit=value))
            else:
                row.hard_limit = value
        session.flush()

    def _ensure_row(self, session: Session, project_id: str, resource: str) -> None:
        exists = session.execute(
            select(VolumeQuotaUsage.id).where(
                VolumeQuotaUsage.project_id == project_id, VolumeQuotaUsage.resource == resource
            )
        ).first()
        if exists:
            return
        try:
            with session.begin_nested():
                session.add(VolumeQuotaUsage(project_id=project_id, resource=resource, in_use=0))
        except IntegrityError:
            pass  # another request created it first

    def consume(self, session: Session, project_id: str, deltas: Mapping[str, int]) -> None:
        """Add positive ``deltas`` to the project's usage, or raise ``VolumeOverQuota``."""
        limits = self.limits(session, project_id)
        for resource, delta in deltas.items():
            if delta <= 0:
                continue
            self._ensure_row(session, project_id, resource)
            limit = limits.get(resource, -1)
            stmt = update(VolumeQuotaUsage).where(
                VolumeQuotaUsage.project_id == project_id, VolumeQuotaUsage.resource == resource
            )
            if limit >= 0:
                stmt = stmt.where(VolumeQuotaUsage.in_use + delta <= limit)
            if (
                cast("CursorResult[Any]", session.execute(stmt.values(in_use=VolumeQuotaUsage.in_use + delta))).rowcount
                != 1
            ):
                in_use = self.usage(session, project_id)[resource]
                raise VolumeOverQuota(_MESSAGES[resource].format(limit=limit, requested=delta, in_use=in_use))

    def release(self, session: Session, project_id: str, deltas: Mapping[str, int]) -> None:
        """Give back usage (never below zero)."""
        for resource, delta in deltas.items():
            if delta <= 0:
                continue
            new = VolumeQuotaUsage.in_use - delta
            session.execute(
                update(VolumeQuotaUsage)
                .where(VolumeQuotaUsage.project_id == project_id, VolumeQuotaUsage.resource == resource)
                .values(in_use=case((new < 0, 0), else_=new))
            )
