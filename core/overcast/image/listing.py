"""Image lists: Glance's filters, sort keys and marker paging, done in SQL.

Paging is keyset-based: the page after ``marker`` is everything that sorts after the marker
image under the same sort keys (with ``id`` as the final tie-breaker), so it is stable while
images are added or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.image import Image, ImageProperty, ImageTag
from overcast.errors import BadRequest
from overcast.image import constants as c
from overcast.image.access import listed_clause, visible_clause

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000

#: sort key -> (column expression with NULLs replaced, so keyset comparisons work)
SORT_KEYS: dict[str, Any] = {
    "name": func.coalesce(Image.name, ""),
    "status": Image.status,
    "container_format": func.coalesce(Image.container_format, ""),
    "disk_format": func.coalesce(Image.disk_format, ""),
    "size": func.coalesce(Image.size, -1),
    "virtual_size": func.coalesce(Image.virtual_size, -1),
    "id": Image.id,
    "created_at": Image.created_at,
    "updated_at": Image.updated_at,
    "visibility": Image.visibility,
    "owner": func.coalesce(Image.owner, ""),
    "min_disk": Image.min_disk,
    "min_ram": Image.min_ram,
}
_EQUALITY = {
    "status": Image.status,
    "container_format": Image.container_format,
    "disk_format": Image.disk_format,
    "owner": Image.owner,
    "id": Image.id,
    "checksum": Image.checksum,
    "os_hash_value": Image.os_hash_value,
}
# core integer attributes a list may be filtered on by exact value (Glance filters any column so)
_INT_EQUALITY = {
    "size": Image.size,
    "virtual_size": Image.virtual_size,
    "min_ram": Image.min_ram,
    "min_disk": Image.min_disk,
}
_NON_PROPERTY = (
    {
        "limit",
        "marker",
        "sort",
        "sort_key",
        "sort_dir",
        "visibility",
        "member_status",
        "tag",
        "name",
        "size_min",
        "size_max",
        "protected",
        "os_hidden",
    }
    | set(_EQUALITY)
    | set(_INT_EQUALITY)
)


@dataclass
class ListQuery:
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    visibility: str | None = None
    member_status: str = "accepted"
    filters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)


def _int_param(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid {name} value: {value!r} is not an integer.") from None
    if number < 0:
        raise BadRequest(f"Invalid {name} value: must be non-negative.")
    return number


def _bool_param(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise BadRequest(f"Invalid {name} value: {value!r} is not a boolean.")
    return lowered == "true"


def _parse_sort(params: Mapping[str, str], multi: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if "sort" in params:
        for part in params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key, direction or "desc"))
    else:
        keys = list(multi.get("sort_key", ())) or ["created_at"]
        dirs = list(multi.get("sort_dir", ()))
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("The number of sort_dir values must match the number of sort_key values.")
        for i, key in enumerate(keys):
            pairs.append((key, dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc")))
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. Valid keys are: {', '.join(sorted(SORT_KEYS))}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}.")
    return pairs


def parse_query(params: Mapping[str, str], multi: Mapping[str, Sequence[str]]) -> ListQuery:
    """Build a query from request parameters (``multi`` has every value of repeated ones)."""
    q = ListQuery(sort=_parse_sort(params, multi))
    if "limit" in params:
        q.limit = min(_int_param("limit", params["limit"]), MAX_LIMIT)
    q.marker = params.get("marker") or None
    if "visibility" in params:
        if params["visibility"] not in (*c.VISIBILITIES, "all"):
            raise BadRequest(f"Invalid visibility value: {params['visibility']}")
        q.visibility = params["visibility"]
    if "member_status" in params:
        if params["member_status"] not in (*c.MEMBER_STATUSES, "all"):
            raise BadRequest(f"Invalid member_status value: {params['member_status']}")
        q.member_status = params["member_status"]
    for key in ("size_min", "size_max", *_INT_EQUALITY):
        if key in params:
            q.filters[key] = _int_param(key, params[key])
    for key in ("protected", "os_hidden"):
        if key in params:
            q.filters[key] = _bool_param(key, params[key])
    for key in ("name", *_EQUALITY):
        if key in params:
            q.filters[key] = params[key]
    q.tags = list(multi.get("tag", ()))
    q.properties = {k: v for k, v in params.items() if k not in _NON_PROPERTY}
    return q


def _match(column: Any, value: str) -> Any:
    """``x`` or Glance's ``in:a,b`` operator."""
    if value.startswith("in:"):
        return column.in_([v.strip().strip('"') for v in value[3:].split(",")])
    return column == value


def _where(ctx: RequestContext, q: ListQuery) -> list[Any]:
    conds = [Image.status != c.DELETED, listed_clause(ctx, q.visibility, q.member_status)]
    f = q.filters
    if "name" in f:
        conds.append(_match(Image.name, f["name"]))
    for key, column in _EQUALITY.items():
        if key in f:
            conds.append(_match(column, f[key]))
    for key, int_column in _INT_EQUALITY.items():
        if key in f:
            conds.append(int_column == f[key])
    if "size_min" in f:
        conds.append(Image.size >= f["size_min"])
    if "size_max" in f:
        conds.append(Image.size <= f["size_max"])
    if "protected" in f:
        conds.append(Image.protected == f["protected"])
    conds.append(Image.os_hidden == f.get("os_hidden", False))
    for tag in q.tags:
        conds.append(exists(select(ImageTag.id).where(ImageTag.image_id == Image.id, ImageTag.value == tag)))
    for name, value in q.properties.items():
        conds.append(
            exists(
                select(ImageProperty.id).where(
                    ImageProperty.image_id == Image.id, ImageProperty.name == name, ImageProperty.value == value
                )
            )
        )
    return conds


def _after_marker(session: Session, ctx: RequestContext, keys: list[tuple[str, str]], marker_id: str) -> Any:
    columns = [SORT_KEYS[k] for k, _ in keys]
    row = session.execute(
        select(*columns).where(Image.id == marker_id, Image.status != c.DELETED, visible_clause(ctx))
    ).first()
    if row is None:
        raise BadRequest(f"Invalid marker: image {marker_id} could not be found.")
    ors = []
    for i, (column, (_, direction)) in enumerate(zip(columns, keys, strict=True)):
        equal_before = [columns[j] == row[j] for j in range(i)]
        beyond = column > row[i] if direction == "asc" else column < row[i]
        ors.append(and_(*equal_before, beyond))
    return or_(*ors) if ors else false()


def run(session: Session, ctx: RequestContext, q: ListQuery) -> tuple[list[Image], bool]:
    """One page of images and whether another page may follow."""
    keys = list(q.sort)
    if not any(k == "id" for k, _ in keys):
        keys.append(("id", keys[-1][1]))
    stmt = select(Image).where(*_where(ctx, q))
    if q.marker:
        stmt = stmt.where(_after_marker(session, ctx, keys, q.marker))
    order = [SORT_KEYS[k].asc() if d == "asc" else SORT_KEYS[k].desc() for k, d in keys]
    images = list(session.scalars(stmt.order_by(*order).limit(q.limit + 1)))
    more = len(images) > q.limit
    return images[: q.limit], more
