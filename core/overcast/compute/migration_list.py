"""Listing migration records for ``GET /os-migrations`` (issue 18): every cold migration,
resize, live migration and evacuation the compute service recorded, newest first, with
Nova's filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select

from overcast.db.models.compute import MigrationRecord
from overcast.errors import BadRequest

#: Nova's migration_type values (2.23)
TYPES = ("migration", "resize", "live-migration", "evacuation")


def list_migrations(db: Any, filters: Mapping[str, str | None]) -> list[MigrationRecord]:
    """The records filtered by ``host`` (source or destination), ``source_compute``,
    ``status``, ``instance_uuid`` and ``migration_type``, newest first."""
    kind = filters.get("migration_type")
    if kind is not None and kind not in TYPES:
        raise BadRequest(f"Invalid input for query parameters migration_type. Value: {kind}.")
    stmt = select(MigrationRecord)
    if filters.get("host"):
        stmt = stmt.where(
            or_(MigrationRecord.source_host == filters["host"], MigrationRecord.dest_host == filters["host"])
        )
    if filters.get("source_compute"):
        stmt = stmt.where(MigrationRecord.source_host == filters["source_compute"])
    if filters.get("status"):
        stmt = stmt.where(MigrationRecord.status == filters["status"])
    if filters.get("instance_uuid"):
        stmt = stmt.where(MigrationRecord.instance_uuid == filters["instance_uuid"])
    if kind:
        stmt = stmt.where(MigrationRecord.migration_type == kind)
    with db.session() as s:
        return list(s.scalars(stmt.order_by(MigrationRecord.created_at.desc(), MigrationRecord.id.desc())))
