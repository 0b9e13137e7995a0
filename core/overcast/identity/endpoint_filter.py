"""OS-EP-FILTER: endpoint groups and the endpoints a project's catalog shows.

An endpoint group is a named filter on endpoints (``service_id``, ``region_id``,
``interface``, all optional). A project associated with endpoints, directly or through
endpoint groups, sees only those in its token catalog; a project without any association
sees the whole catalog (Keystone's ``return_all_endpoints_if_no_filter``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.db.models.identity import EndpointGroup, Project, ProjectEndpoint, ProjectEndpointGroup
from overcast.errors import BadRequest, NotFound
from overcast.identity.directory import not_found
from overcast.identity.revocation import bump_generation

FILTER_KEYS = ("service_id", "region_id", "interface")


def group_not_found(group_id: str) -> NotFound:
    return NotFound(f"Could not find endpoint group: {group_id}.", code="EndpointGroupNotFound")


def check_filters(filters: Any) -> dict[str, str]:
    if not isinstance(filters, Mapping) or not filters:
        raise BadRequest("Invalid input for field 'filters': a non-empty object is required.")
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise BadRequest(f"Invalid input for field 'filters': {key!r} is not one of {list(FILTER_KEYS)}.")
        if not isinstance(value, str):
            raise BadRequest(f"Invalid input for field 'filters/{key}': a string is required.")
    return dict(filters)


def matches(filters: Mapping[str, str], endpoint: Mapping[str, Any]) -> bool:
    return all(endpoint.get(key) == value for key, value in filters.items())


class EndpointFilter:
    def __init__(self, session_factory: Callable[[], Any]) -> None:
        self.session = session_factory
        self._allowed: dict[str, frozenset[str] | None] = {}

    def clear(self) -> None:
        self._allowed.clear()

    # --- endpoint groups --------------------------------------------------------------------

    def get(self, group_id: str, session: Session | None = None) -> EndpointGroup:
        if session is None:
            with self.session() as s:
                return self.get(group_id, s)
        found = session.get(EndpointGroup, group_id)
        if found is None:
            raise group_not_found(group_id)
        return found

    def list_groups(self, name: str | None = None) -> list[EndpointGroup]:
        stmt = select(EndpointGroup).order_by(EndpointGroup.name, EndpointGroup.id)
        if name is not None:
            stmt = stmt.where(EndpointGroup.name == name)
        with self.session() as s:
            return list(s.scalars(stmt))

    def create(self, name: str, description: str, filters: Any) -> EndpointGroup:
        group = EndpointGroup(name=name, description=description or "", filters=check_filters(filters))
        with self.session() as s:
            s.add(group)
            s.flush()
            bump_generation(s)
        return group

    def update(self, group_id: str, changes: Mapping[str, Any]) -> EndpointGroup:
        with self.session() as s:
            group = self.get(group_id, s)
            if "name" in changes:
                group.name = changes["name"]
            if "description" in changes:
                group.description = changes["description"] or ""
            if "filters" in changes:
                group.filters = check_filters(changes["filters"])
            s.flush()
            bump_generation(s)
            return group

    def delete(self, group_id: str) -> None:
        with self.session() as s:
            group = self.get(group_id, s)
            s.execute(delete(ProjectEndpointGroup).where(ProjectEndpointGroup.endpoint_group_id == group_id))
            s.delete(group)
            bump_generation(s)

    # --- associations -----------------------------------------------------------------------

    def _project(self, s: Session, project_id: str) -> Project:
        project = s.get(Project, project_id)
        if project is None:
            raise not_found("project", project_id)
        return project

    def add_group(self, group_id: str, project_id: str) -> None:
        with self.session() as s:
            self.get(group_id, s)
            self._project(s, project_id)
            if s.get(ProjectEndpointGroup, (project_id, group_id)) is None:
                s.add(ProjectEndpointGroup(project_id=project_id, endpoint_group_id=group_id))
                bump_generation(s)

    def has_group(self, group_id: str, project_id: str) -> Project:
        """The project, if the group is associated with it (404 otherwise)."""
        with self.session() as s:
            self.get(group_id, s)
            project = self._project(s, project_id)
            if s.get(ProjectEndpointGroup, (project_id, group_id)) is None:
                raise NotFound(
                    f"Endpoint group {group_id} is not associated with project {project_id}.",
                    code="EndpointGroupNotFound",
                )
            return project

    def remove_group(self, group_id: str, project_id: str) -> None:
        self.has_group(group_id, project_id)
        with self.session() as s:
            s.execute(
                delete(ProjectEndpointGroup).where(
                    ProjectEndpointGroup.project_id == project_id, ProjectEndpointGroup.endpoint_group_id == group_id
                )
            )
            bump_generation(s)

    def projects_of_group(self, group_id: str) -> list[Project]:
        with self.session() as s:
            self.get(group_id, s)
            ids = select(ProjectEndpointGroup.project_id).where(ProjectEndpointGroup.endpoint_group_id == group_id)
            return list(s.scalars(select(Project).where(Project.id.in_(ids)).order_by(Project.name)))

    def groups_of_project(self, project_id: str) -> list[EndpointGroup]:
        with self.session() as s:
            self._project(s, project_id)
            ids = select(ProjectEndpointGroup.endpoint_group_id).where(ProjectEndpointGroup.project_id == project_id)
            return list(s.scalars(select(EndpointGroup).where(EndpointGroup.id.in_(ids)).order_by(EndpointGroup.name)))

    def add_endpoint(self, project_id: str, endpoint_id: str) -> None:
        with self.session() as s:
            self._project(s, project_id)
            if s.get(ProjectEndpoint, (project_id, endpoint_id)) is None:
                s.add(ProjectEndpoint(project_id=project_id, endpoint_id=endpoint_id))
                bump_generation(s)

    def has_endpoint(self, project_id: str, endpoint_id: str) -> bool:
        with self.session() as s:
            self._project(s, project_id)
            return s.get(ProjectEndpoint, (project_id, endpoint_id)) is not None

    def remove_endpoint(self, project_id: str, endpoint_id: str) -> None:
        with self.session() as s:
            self._project(s, project_id)
            row = s.get(ProjectEndpoint, (project_id, endpoint_id))
            if row is None:
                raise NotFound(
                    f"Endpoint {endpoint_id} is not associated with project {project_id}.", code="EndpointNotFound"
                )
            s.delete(row)
            bump_generation(s)

    def forget_endpoint(self, endpoint_id: str) -> None:
        """Drop a deleted endpoint's associations."""
        with self.session() as s:
            s.execute(delete(ProjectEndpoint).where(ProjectEndpoint.endpoint_id == endpoint_id))

    def projects_of_endpoint(self, endpoint_id: str) -> list[Project]:
        with self.session() as s:
            ids = select(ProjectEndpoint.project_id).where(ProjectEndpoint.endpoint_id == endpoint_id)
            return list(s.scalars(select(Project).where(Project.id.in_(ids)).order_by(Project.name)))

    # --- what a project's catalog shows -----------------------------------------------------

    def allowed(self, project_id: str, endpoints: Callable[[], Iterable[Mapping[str, Any]]]) -> frozenset[str] | None:
        """The endpoint ids ``project_id``'s catalog shows, or ``None`` for all of them.
        ``endpoints()``: every endpoint (id, service_id, region_id, interface). Cached until
        the identity generation moves."""
        if project_id in self._allowed:
            return self._allowed[project_id]
        with self.session() as s:
            direct = set(s.scalars(select(ProjectEndpoint.endpoint_id).where(ProjectEndpoint.project_id == project_id)))
            groups = list(
                s.scalars(
                    select(EndpointGroup)
                    .join(ProjectEndpointGroup, ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id)
                    .where(ProjectEndpointGroup.project_id == project_id)
                )
            )
        result: frozenset[str] | None = None
        if direct or groups:
            ids = set(direct)
            for e in endpoints():
                if any(matches(g.filters or {}, e) for g in groups):
                    ids.add(e["id"])
            result = frozenset(ids)
        self._allowed[project_id] = result
        return result
