"""Flavors, their extra specs and access lists for private flavors."""

from __future__ import annotations

from typing import Any

import builtins
import functools

import re

from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.exc import IntegrityError

from overcast.context import RequestContext
from overcast.db.models.compute import FlavorAccess, FlavorExtraSpec, FlavorRecord
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.types import Flavor

_SPEC_KEY = re.compile(r"^[\w.:\- ]{1,255}$")
_FLAVOR_ID = re.compile(r"^[\w.\- ]{1,255}$")


def refuse_local_extra_disks(flavor: Flavor) -> None:
    """No hypervisor driver here makes a flavor's ephemeral or swap disk: a server with such a
    flavor is refused (400) rather than booted without the disk it asks for."""
    if flavor.ephemeral_gb or flavor.swap_mb:
        raise BadRequest(
            f"Flavor {flavor.id} asks for a {flavor.ephemeral_gb} GB ephemeral disk and {flavor.swap_mb} MB of swap: "
            "ephemeral and swap disks are not supported by this cloud; use a flavor without them."
        )


def _int(value, name: str, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise BadRequest(
            f"Invalid input for field/attribute {name}. Value: {value}. must be an integer from {minimum} to {maximum}"
        )
    return value


#: Nova's ``parameter_types.boolean``: a JSON boolean or one of these strings
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}


def nova_boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if (
        isinstance(value, str)
        and value.lower() in _TRUE | _FALSE
        and value in (value.lower(), value.upper(), value.capitalize())
    ):
        return value.lower() in _TRUE
    raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. {value!r} is not a valid boolean")


def _visible_to(is_admin: bool, project_id: Any) -> Select[Any]:
    """Flavors an admin, or else ``project_id`` (a value or a ``bindparam``), may see."""
    stmt = select(FlavorRecord)
    if not is_admin:
        access = exists().where(FlavorAccess.flavor_id == FlavorRecord.id, FlavorAccess.project_id == project_id)
        stmt = stmt.where(or_(FlavorRecord.is_public.is_(True), access))
    return stmt


@functools.cache
def _with_specs_query(is_admin: bool) -> Select[Any]:
    """:meth:`FlavorManager.get_with_specs`'s query, built once (building it cost about as
    much as running it): the flavor by ``flavor_id`` with its extra specs joined."""
    spec = FlavorExtraSpec
    return (
        _visible_to(is_admin, bindparam("project_id"))
        .where(FlavorRecord.id == bindparam("flavor_id"))
        .outerjoin(spec, spec.flavor_id == FlavorRecord.id)
        .add_columns(spec.key, spec.value)
    )


class FlavorManager:
    def __init__(self, db) -> None:
        self.db = db

    # --- lookups ----------------------------------------------------------------------------

    def _visible(self, ctx: RequestContext):
        return _visible_to(ctx.is_admin, ctx.project_id)

    def get_record(self, session, ctx: RequestContext, flavor_id: str) -> FlavorRecord:
        rec = session.scalars(self._visible(ctx).where(FlavorRecord.id == str(flavor_id))).first()
        if rec is None:
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        return rec

    def extra_specs(self, session, flavor_id: str) -> dict[str, str]:
        rows = session.scalars(select(FlavorExtraSpec).where(FlavorExtraSpec.flavor_id == flavor_id))
        return {r.key: r.value for r in rows}

    def get_with_specs(self, session, ctx: RequestContext, flavor_id: str) -> tuple[FlavorRecord, dict[str, str]]:
        """The flavor (as :meth:`get_record`) and its extra specs, in one query (every server
        create reads both)."""
        params = (
            {"flavor_id": str(flavor_id)}
            if ctx.is_admin
            else {"flavor_id": str(flavor_id), "project_id": ctx.project_id}
        )
        rows = session.execute(_with_specs_query(ctx.is_admin), params).all()
        if not rows:
            raise NotFound(f"Flavor {flavor_id} could not be found.")
        return rows[0][0], {key: value for _, key, value in rows if key is not None}

    def get(self, ctx: RequestContext, flavor_id: str) -> tuple[FlavorRecord, dict[str, str]]:
        with self.db.session() as s:
            return self.get_with_specs(s, ctx, flavor_id)

    def contract(self, ctx: RequestContext, flavor_id: str) -> Flavor:
        from overcast.compute.records import flavor_of

        rec, specs = self.get(ctx, flavor_id)
        return flavor_of(rec, specs)

    def list(
        self,
        ctx: RequestContext,
        is_public: str | None = None,
        min_ram: int | None = None,
        min_disk: int | None = None,
        marker: str | None = None,
        limit: int | None = None,
        sort_key: str = "id",
        sort_dir: str = "asc",
    ) -> list[tuple[FlavorRecord, dict[str, str]]]:
        stmt = self._visible(ctx)
        flag = (is_public or "").lower()
        if flag in ("false", "0", "f", "no"):
            stmt = stmt.where(FlavorRecord.is_public.is_(False))
        elif flag in ("true", "1", "t", "yes") and ctx.is_admin:
            stmt = stmt.where(FlavorRecord.is_public.is_(True))
        # "None" or absent: everything the caller may see (public + accessible private)
        if min_ram is not None:
            stmt = stmt.where(FlavorRecord.memory_mb >= min_ram)
        if min_disk is not None:
            stmt = stmt.where(FlavorRecord.root_gb >= min_disk)
        columns = {
            "id": FlavorRecord.id,
            "name": FlavorRecord.name,
            "memory_mb": FlavorRecord.memory_mb,
            "vcpus": FlavorRecord.vcpus,
            "root_gb": FlavorRecord.root_gb,
            "flavorid": FlavorRecord.id,
        }
        if sort_key not in columns or sort_dir not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_key {sort_key} or sort_dir {sort_dir}")
        col = columns[sort_key]
        stmt = stmt.order_by(col.asc() if sort_dir == "asc" else col.desc(), FlavorRecord.id)
        with self.db.session() as s:
            rows = list(s.scalars(stmt))
            if marker is not None:
                ids = [r.id for r in rows]
                if marker not in ids:
                    raise BadRequest(f"marker [{marker}] not found")
                rows = rows[ids.index(marker) + 1 :]
            if limit is not None:
                rows = rows[:limit]
            return [(r, self.extra_specs(s, r.id)) for r in rows]

    # --- changes ----------------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: dict) -> FlavorRecord:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Invalid input for field/attribute name. Flavor names must be 1-255 characters.")
        flavor_id = body.get("id")
        if flavor_id is not None:
            flavor_id = str(flavor_id)
            if not _FLAVOR_ID.match(flavor_id):
                raise BadRequest(f"Invalid input for field/attribute id. Value: {flavor_id}.")
        is_public = nova_boolean(body.get("os-flavor-access:is_public", True), "os-flavor-access:is_public")
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 65535):
            raise BadRequest("Invalid input for field/attribute description.")
        swap = body.get("swap", 0)
        rec = FlavorRecord(
            name=name.strip(),
            vcpus=_int(body.get("vcpus"), "vcpus", 1),
            memory_mb=_int(body.get("ram"), "ram", 1),
            root_gb=_int(body.get("disk"), "disk", 0),
            ephemeral_gb=_int(body.get("OS-FLV-EXT-DATA:ephemeral", 0), "OS-FLV-EXT-DATA:ephemeral", 0),
            swap_mb=_int(0 if swap == "" else swap, "swap", 0),
            rxtx_factor=float(body.get("rxtx_factor", 1.0) or 1.0),
            is_public=is_public,
            description=description,
        )
        if flavor_id is not None:
            rec.id = flavor_id
        try:
            with self.db.session() as s:
                if s.scalars(select(FlavorRecord).where(FlavorRecord.name == rec.name)).first() is not None:
                    raise Conflict(f"Flavor with name {rec.name} already exists.")
                if flavor_id is not None and s.get(FlavorRecord, flavor_id) is not None:
                    raise Conflict(f"Flavor with ID {flavor_id} already exists.")
                s.add(rec)
        except IntegrityError:
            raise Conflict(f"Flavor with name {rec.name} already exists.") from None
        return rec

    def set_description(self, ctx: RequestContext, flavor_id: str, description: Any) -> FlavorRecord:
        """``PUT /flavors/{id}`` (2.55): a flavor's description is the one thing that changes."""
        if description is not None and (not isinstance(description, str) or len(description) > 65535):
            raise BadRequest("Invalid input for field/attribute description.")
        with self.db.session() as s:
            rec = s.get(FlavorRecord, str(flavor_id))
            if rec is None:
                raise NotFound(f"Flavor {flavor_id} could not be found.")
            rec.description = description
            s.flush()
            return rec

    def delete(self, ctx: RequestContext, flavor_id: str) -> None:
        with self.db.session() as s:
            rec = s.get(FlavorRecord, str(flavor_id))
            if rec is None:
                raise NotFound(f"Flavor {flavor_id} could not be found.")
            for model in (FlavorExtraSpec, FlavorAccess):
                for row in s.scalars(select(model).where(model.flavor_id == rec.id)):
                    s.delete(row)
            s.delete(rec)

    def set_extra_specs(self, ctx: RequestContext, flavor_id: str, specs: dict) -> dict[str, str]:
        if not isinstance(specs, dict) or not specs:
            raise BadRequest("extra_specs must be a non-empty object")
        for key, value in specs.items():
            if not _SPEC_KEY.match(str(key)):
                raise BadRequest(f"Invalid extra spec key {key!r}")
            if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > 255:
                raise BadRequest(f"Invalid extra spec value for {key!r}")
        with self.db.session() as s:
            rec = self.get_record(s, ctx, flavor_id)
            for key, value in specs.items():
                row = s.get(FlavorExtraSpec, (rec.id, key))
                if row is None:
                    s.add(FlavorExtraSpec(flavor_id=rec.id, key=key, value=str(value)))
                else:
                    row.value = str(value)
            s.flush()
            return self.extra_specs(s, rec.id)

    def delete_extra_spec(self, ctx: RequestContext, flavor_id: str, key: str) -> None:
        with self.db.session() as s:
            rec = self.get_record(s, ctx, flavor_id)
            row = s.get(FlavorExtraSpec, (rec.id, key))
            if row is None:
                raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
            s.delete(row)

    def access_list(self, ctx: RequestContext, flavor_id: str) -> builtins.list[str]:
        with self.db.session() as s:
            rec = self.get_record(s, ctx, flavor_id)
            if rec.is_public:
                raise NotFound("Access list not available for public flavors.")
            return [r.project_id for r in s.scalars(select(FlavorAccess).where(FlavorAccess.flavor_id == rec.id))]

    def add_access(self, ctx: RequestContext, flavor_id: str, project_id: str) -> builtins.list[str]:
        if not isinstance(project_id, str) or not project_id:
            raise BadRequest("addTenantAccess needs a tenant")
        with self.db.session() as s:
            rec = self.get_record(s, ctx, flavor_id)
            if rec.is_public:
                raise Conflict("Can not add access to a public flavor.")
            if s.get(FlavorAccess, (rec.id, project_id)) is not None:
                raise Conflict(
                    f"Flavor access already exists for flavor {flavor_id} and project {project_id} combination."
                )
            s.add(FlavorAccess(flavor_id=rec.id, project_id=project_id))
        return self.access_list(ctx, flavor_id)

    def remove_access(self, ctx: RequestContext, flavor_id: str, project_id: str) -> builtins.list[str]:
        with self.db.session() as s:
            rec = self.get_record(s, ctx, flavor_id)
            row = s.get(FlavorAccess, (rec.id, project_id))
            if row is None:
                raise NotFound(f"Flavor access not found for {flavor_id} / {project_id} combination.")
            s.delete(row)
        return self.access_list(ctx, flavor_id)
