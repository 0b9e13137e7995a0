"""``GET /os-migrations`` (Nova, admin; issue 18): the migrations of every server, with
Nova's filters and fields (``migration_type`` and ``links`` from 2.23; ``uuid``, paging and
``changes-since`` from 2.59, when unknown query parameters are refused; ``changes-before``
from 2.66)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import base_url, changes_page, iso_micro, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.migration_list import list_migrations
from overcast.context import RequestContext
from overcast.db.models.compute import MigrationRecord

router = ResourceRouter(route_class=MicroversionRoute)

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
    return changes_page(
        request,
        rows,
        version,
        updated=lambda m: m.updated_at,
        key=lambda m: m.uuid,
        link_path="os-migrations",
        links_key="migrations_links",
        filters=frozenset(_FILTERS),
    )
