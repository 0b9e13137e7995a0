"""Cinder's list order and paging, one way for volumes and snapshots: ``sort`` keys with
directions (newest first by default), then ``marker`` (the page starts after it), ``offset``
(rows skipped) and ``limit``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from overcast.errors import BadRequest, NotFound

Row = TypeVar("Row")

SORT_KEYS = {"created_at", "updated_at", "name", "size", "status", "id"}
#: the v1 names Cinder still sorts by
ALIASES = {"display_name": "name", "display_description": "description"}


def order_by(model: Any, sort: Sequence[tuple[str, str]] | None) -> list[Any]:
    """ORDER BY clauses for ``sort`` (400 for a key or direction Cinder does not sort by),
    with the id last so that equal keys keep one order."""
    clauses = []
    for key, direction in sort or [("created_at", "desc")]:
        key = ALIASES.get(key, key)
        if key not in SORT_KEYS or direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid input received: Invalid sort key {key} or direction {direction}.")
        column = getattr(model, key)
        clauses.append(column.desc() if direction == "desc" else column.asc())
    clauses.append(model.id.desc())
    return clauses


def page(rows: list[Row], marker: str | None, offset: int | None, limit: int | None) -> list[Row]:
    if marker is not None:
        ids = [getattr(r, "id") for r in rows]
        if marker not in ids:
            raise NotFound(f"Marker {marker} could not be found.")  # Cinder looks the marker row up
        rows = rows[ids.index(marker) + 1 :]
    if offset:
        rows = rows[offset:]
    return rows[:limit] if limit is not None else rows
