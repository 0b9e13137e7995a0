"""``GET /os-migrations`` (Nova, admin; issue 18): the migrations of every server, with
Nova's filters and fields (``migration_type`` and ``links`` from 2.23; ``uuid``, paging and
``changes-since`` from 2.59, when unknown query parameters are refused; ``changes-before``
from 2.66)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from overcast.api.compute.common import base_url, iso_micro, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.compute.migration_list import list_migrations
from overcast.context import RequestContext
from overcast.db.models.compute import MigrationRecord

router = APIRouter(route_class=MicroversionRoute)

IN_PROGRESS = ("queued", "preparing", "running", "migrating", "post-migrating", "accepted", "pre-migrating")


def _flavor_id(flavor: dict[str, Any] | None) -> int | None:
    """Nova shows the flavors' integer ids; a flavor whose id is not a number has none."""
    value = str((flavor or {}).get("id", ""))
    return int(value) if value.isdigit() else None


def _view(request: Request, m: MigrationRecord, version: tuple[int, int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id,
        "instance_uuid": m.instance_uuid,
        "source_compute": m.source_host,
        "source_node": m.source_host,
        "dest_compute": m.dest_host,
        "dest_node": m.dest_host,
        "dest_host": None,
        "status": m.status,
        "old_instance_type_id": _flavor_id(m.old_flavor),
        "new_instance_type_id": _flavor_id(m.new_flavor),
        "created_at": iso_micro(m.created_at),
        "updated_at": iso_micro(m.updated_at),
    }
    if version >= (2, 59):
        out["uuid"] = m.uuid
    if version >= (2, 23):
        out["migration_type"] = m.migration_type
        if m.migration_type == "live-migration" and m.status in IN_PROGRESS:
            href = f"{base_url(request)}/compute/v2.1/servers/{m.instance_uuid}/migrations/{m.id}"
            out["links"] = [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}]
    return out


@router.get("/v2.1/os-migrations")
def list_os_migrations(
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:migrations:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    q = request.query_params
    version = version_of(request)
    filters = {k: q.get(k) for k in ("host", "source_compute", "status", "instance_uuid")}
    if version >= (2, 23):
        filters["migration_type"] = q.get("migration_type")
    rows = list_migrations(runtime.db, filters)
    out: dict[str, Any] = {}
    if version >= (2, 59):
        rows, out = _page(request, rows, version)
    return reply({"migrations": [_view(request, m, version) for m in rows], **out})


_FILTERS = {"host", "source_compute", "status", "instance_uuid", "migration_type", "hidden"}


def _page(request: Request, rows: list[MigrationRecord], version: tuple[int, int]) -> tuple[list, dict]:
    """2.59: ``limit``/``marker`` (a migration uuid) paging with ``migrations_links``, and
    ``changes-since`` (``changes-before`` from 2.66) on ``updated_at``; other parameters
    are refused."""
    from overcast.compute.servers import parse_time
    from overcast.errors import BadRequest

    q = request.query_params
    allowed = _FILTERS | {"limit", "marker", "changes-since"} | ({"changes-before"} if version >= (2, 66) else set())
    extra = sorted(set(q) - allowed)
    if extra:
        raise BadRequest(
            f"Invalid input for query parameters {', '.join(extra)}. Additional properties are not allowed"
        )
    since = parse_time(q["changes-since"], "changes-since") if "changes-since" in q else None
    before = parse_time(q["changes-before"], "changes-before") if "changes-before" in q else None
    if since and before and since > before:
        raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    rows = [m for m in rows if (since is None or m.updated_at >= since) and (before is None or m.updated_at <= before)]
    if "marker" in q:
        ids = [m.uuid for m in rows]
        if q["marker"] not in ids:
            raise BadRequest(f"Marker {q['marker']} could not be found.")  # Nova: 400
        rows = rows[ids.index(q["marker"]) + 1 :]
    out: dict[str, Any] = {}
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise BadRequest(f"Invalid input for query parameters limit. Value: {q['limit']}.") from None
        if limit < 0:
            raise BadRequest(f"Invalid input for query parameters limit. Value: {q['limit']}.")
        if len(rows) > limit and limit:
            href = f"{base_url(request)}/compute/v2.1/os-migrations?limit={limit}&marker={rows[limit - 1].uuid}"
            out["migrations_links"] = [{"rel": "next", "href": href}]
        rows = rows[:limit]
    return rows, out
