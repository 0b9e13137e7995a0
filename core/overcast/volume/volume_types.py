"""Volume types: named sets of extra specs; ``volume_backend_name`` picks a backend and
``multiattach = "<is> True"`` makes the type's volumes attachable to several servers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.volume import DEFAULT_TYPE_ID, Volume, VolumeType, VolumeTypeProject
from overcast.errors import BadRequest, Conflict, NotFound

TRUE_SPECS = ("<is> true", "true", "1", "yes")


def is_multiattach(extra_specs: Mapping[str, str]) -> bool:
    return str(extra_specs.get("multiattach", "")).strip().lower() in TRUE_SPECS


def _check_specs(specs: Mapping[str, object]) -> dict[str, str]:
    out = {}
    for key, value in specs.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise BadRequest(f"Invalid extra spec key {key!r}.")
        if not isinstance(value, (str, int, float, bool)):
            raise BadRequest(f"Invalid extra spec value for {key}: must be a string.")
        out[key] = str(value)
    return out


class VolumeTypes:
    def find(self, session: Session, ref: str | None, ctx: RequestContext | None = None) -> VolumeType:
        """A type by id or name; ``None`` is the default type. 404 in Cinder's words, also for
        a private type ``ctx``'s project was not given access to."""
        if ref is None or ref == "":
            return cast(VolumeType, session.get(VolumeType, DEFAULT_TYPE_ID))  # created by the migrations
        row = (
            session.get(VolumeType, ref)
            or session.execute(select(VolumeType).where(VolumeType.name == ref)).scalar_one_or_none()
        )
        if row is None or (ctx is not None and not self.may_use(session, ctx, row)):
            raise NotFound(f"Volume type with name {ref} could not be found.", code="VolumeTypeNotFoundByName")
        return row

    # --- private types: the projects given access ------------------------------------------

    def may_use(self, session: Session, ctx: RequestContext, row: VolumeType) -> bool:
        if row.is_public or ctx.is_admin:
            return True
        return ctx.project_id in self.access(session, row.id)

    def access(self, session: Session, type_id: str) -> list[str]:
        stmt = select(VolumeTypeProject.project_id).where(VolumeTypeProject.volume_type_id == type_id)
        return sorted(session.execute(stmt.order_by(VolumeTypeProject.project_id)).scalars())

    def list_access(self, session: Session, type_id: str) -> list[str]:
        row = self.get(session, type_id)
        if row.is_public:
            raise NotFound(
                f"Volume type access not found for {type_id} : it is public.", code="VolumeTypeAccessNotFound"
            )
        return self.access(session, type_id)

    def add_access(self, session: Session, type_id: str, project_id: object) -> None:
        row = self.get(session, type_id)
        if not isinstance(project_id, str) or not project_id:
            raise BadRequest("Missing required element 'project' in request body.")
        if row.is_public:
            raise BadRequest("Invalid volume type: Type access modification is not applicable to public volume type.")
        if project_id in self.access(session, type_id):
            raise Conflict(
                f"Volume type access for {type_id} / {project_id} combination already exists.",
                code="VolumeTypeAccessExists",
            )
        session.add(VolumeTypeProject(volume_type_id=type_id, project_id=project_id))
        session.flush()

    def remove_access(self, session: Session, type_id: str, project_id: object) -> None:
        row = self.get(session, type_id)
        if not isinstance(project_id, str) or not project_id:
            raise BadRequest("Missing required element 'project' in request body.")
        if row.is_public:
            raise BadRequest("Invalid volume type: Type access modification is not applicable to public volume type.")
        found = session.execute(
            select(VolumeTypeProject).where(
                VolumeTypeProject.volume_type_id == type_id, VolumeTypeProject.project_id == project_id
            )
        ).scalar_one_or_none()
        if found is None:
            raise NotFound(
                f"Volume type access not found for {type_id} / {project_id} combination.",
                code="VolumeTypeAccessNotFound",
            )
        session.delete(found)
        session.flush()

    def get(self, session: Session, type_id: str) -> VolumeType:
        if type_id == "default":
            return cast(VolumeType, session.get(VolumeType, DEFAULT_TYPE_ID))  # created by the migrations
        row = session.get(VolumeType, type_id)
        if row is None:
            raise NotFound(f"Volume type {type_id} could not be found.", code="VolumeTypeNotFound")
        return row

    def list(self, session: Session, ctx: RequestContext, is_public: bool | None = None) -> list[VolumeType]:
        stmt = select(VolumeType).order_by(VolumeType.name)
        if not ctx.is_admin:
            granted = select(VolumeTypeProject.volume_type_id).where(VolumeTypeProject.project_id == ctx.project_id)
            stmt = stmt.where(VolumeType.is_public.is_(True) | VolumeType.id.in_(granted))
        elif is_public is not None:
            stmt = stmt.where(VolumeType.is_public.is_(is_public))
        return list(session.execute(stmt).scalars())

    def create(
        self, session: Session, name: str, description: str | None, is_public: bool, extra_specs: Mapping[str, object]
    ) -> VolumeType:
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BadRequest("Volume type name must be a non-empty string of at most 255 characters.")
        if session.execute(select(VolumeType.id).where(VolumeType.name == name)).first():
            raise Conflict(f"Volume Type {name} already exists.", code="VolumeTypeExists")
        row = VolumeType(name=name, description=description, is_public=is_public, extra_specs=_check_specs(extra_specs))
        session.add(row)
        session.flush()
        return row

    def update(
        self, session: Session, type_id: str, name: str | None, description: str | None, is_public: bool | None
    ) -> VolumeType:
        row = self.get(session, type_id)
        if name is not None and name != row.name:
            if row.id == DEFAULT_TYPE_ID:
                raise BadRequest("The default volume type cannot be renamed.")
            if session.execute(select(VolumeType.id).where(VolumeType.name == name)).first():
                raise Conflict(f"Volume Type {name} already exists.", code="VolumeTypeExists")
            row.name = name
        if description is not None:
            row.description = description
        if is_public is not None:
            row.is_public = is_public
        session.flush()
        return row

    def delete(self, session: Session, type_id: str) -> None:
        row = self.get(session, type_id)
        if row.id == DEFAULT_TYPE_ID:
            raise BadRequest("Default volume type can not be deleted.")
        in_use = session.execute(
            select(func.count()).select_from(Volume).where(Volume.volume_type_id == row.id)
        ).scalar_one()
        if in_use:
            raise BadRequest(f"Target volume type {row.id} is still in use.", code="VolumeTypeInUse")
        session.delete(row)

    def set_specs(self, session: Session, type_id: str, specs: Mapping[str, object]) -> dict[str, str]:
        row = self.get(session, type_id)
        merged = {**(row.extra_specs or {}), **_check_specs(specs)}
        row.extra_specs = merged
        session.flush()
        return merged

    def unset_spec(self, session: Session, type_id: str, key: str) -> None:
        row = self.get(session, type_id)
        specs = dict(row.extra_specs or {})
        if key not in specs:
            raise NotFound(
                f"Volume Type {type_id} has no extra specs with key {key}.", code="VolumeTypeExtraSpecsNotFound"
            )
        del specs[key]
        row.extra_specs = specs
