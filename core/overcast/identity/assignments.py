"""Role assignments on projects and domains, for users and groups, and the roles they add up to.

* On a project: the role holds there; an ``inherited`` one (OS-INHERIT) holds on every
  project below it instead.
* On a domain: the role holds on the domain; an ``inherited`` one holds on every project
  of the domain instead.

Roles imply roles through the stored inference rules (:mod:`overcast.identity.implied`).
A token's roles are the effective set (direct, through groups, inherited, implied; never
a domain-specific role), so the token body lists them as Keystone does.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.models.identity import (
    Domain,
    DomainRoleAssignment,
    Group,
    GroupMember,
    Project,
    Role,
    RoleAssignment,
    SystemRoleAssignment,
    User,
)
from overcast.errors import NotFound
from overcast.identity.directory import not_found
from overcast.identity.implied import closure, domain_specific, rule_map
from overcast.identity.revocation import bump_generation


@dataclass(frozen=True)
class RoleRef:
    id: str
    name: str


@dataclass(frozen=True)
class Assignment:
    """One row of ``/v3/role_assignments``. Exactly one of ``project_id``/``domain_id``."""

    actor_type: str  # "user" | "group"
    actor_id: str
    role_id: str
    project_id: str | None = None
    domain_id: str | None = None
    inherited: bool = False  # listed as made: holds on the projects below its target
    # effective listings: where the row came from
    inherited_from_group: str | None = None
    prior_role_id: str | None = None
    source: tuple[str, str] | None = None  # ("project" | "domain", id) of an inherited grant


def _held_by(model: Any, user_id: str) -> Any:
    """The assignments (of ``model``) the user holds, directly or through a group."""
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    return ((model.actor_type == "user") & (model.actor_id == user_id)) | (
        (model.actor_type == "group") & model.actor_id.in_(groups)
    )


def effective_refs(s: Session, role_ids: set[str]) -> tuple[RoleRef, ...]:
    """``role_ids`` plus every role they imply, without domain-specific roles, by name."""
    if not role_ids:
        return ()
    reached = set(closure(role_ids, rule_map(s)))
    reached -= domain_specific(s, reached)
    if not reached:
        return ()
    rows = s.execute(select(Role.id, Role.name).where(Role.id.in_(reached)))
    return tuple(sorted((RoleRef(rid, name) for rid, name in rows), key=lambda r: r.name))


def ancestors(s: Session, project: Project) -> builtins.list[str]:
    """The ids of the projects above ``project``, nearest first."""
    out: builtins.list[str] = []
    parent = project.parent_id
    while parent and parent not in out:
        out.append(parent)
        row = s.get(Project, parent)
        parent = row.parent_id if row is not None else None
    return out


class Assignments:
    def __init__(self, session_factory: Callable[[], Any]) -> None:
        self.session = session_factory

    def _actor(self, s: Session, actor_type: str, actor_id: str) -> None:
        model = User if actor_type == "user" else Group
        if s.get(model, actor_id) is None:
            raise not_found(actor_type, actor_id)

    def _check(self, s: Session, actor_type: str, actor_id: str, target: str, target_id: str, role_id: str) -> None:
        if s.get(Role, role_id) is None:
            raise not_found("role", role_id)
        self._actor(s, actor_type, actor_id)
        if s.get(Project if target == "project" else Domain, target_id) is None:
            raise not_found(target, target_id)

    @staticmethod
    def _key(target: str, actor_type: str, actor_id: str, target_id: str, role_id: str, inherited: bool) -> Any:
        model = RoleAssignment if target == "project" else DomainRoleAssignment
        return model, (actor_type, actor_id, target_id, role_id, inherited)

    # --- grants, on a project (``target="project"``) or a domain -------------------------------

    def grant(
        self,
        actor_type: str,
        actor_id: str,
        project_id: str,
        role_id: str,
        inherited: bool = False,
        target: str = "project",
    ) -> None:
        with self.session() as s:
            self._check(s, actor_type, actor_id, target, project_id, role_id)
            model, key = self._key(target, actor_type, actor_id, project_id, role_id, inherited)
            if s.get(model, key) is None:
                column = "project_id" if target == "project" else "domain_id"
                s.add(
                    model(
                        actor_type=actor_type,
                        actor_id=actor_id,
                        role_id=role_id,
                        inherited=inherited,
                        **{column: project_id},
                    )
                )
                bump_generation(s)

    def revoke(
        self,
        actor_type: str,
        actor_id: str,
        project_id: str,
        role_id: str,
        inherited: bool = False,
        target: str = "project",
    ) -> None:
        """Remove one assignment. Tokens lose the role on their next validation (roles
        are not in the token), and a token left with no role on its project stops working."""
        with self.session() as s:
            self._check(s, actor_type, actor_id, target, project_id, role_id)
            model, key = self._key(target, actor_type, actor_id, project_id, role_id, inherited)
            row = s.get(model, key)
            if row is None:
                raise NotFound(
                    f"Could not find role assignment with role: {role_id}, {actor_type}: {actor_id}, "
                    f"{target}: {project_id}.",
                    code="RoleAssignmentNotFound",
                )
            s.delete(row)
            bump_generation(s)

    def exists(
        self,
        actor_type: str,
        actor_id: str,
        project_id: str,
        role_id: str,
        inherited: bool = False,
        target: str = "project",
    ) -> bool:
        with self.session() as s:
            self._check(s, actor_type, actor_id, target, project_id, role_id)
            model, key = self._key(target, actor_type, actor_id, project_id, role_id, inherited)
            return s.get(model, key) is not None

    def direct_roles(
        self, actor_type: str, actor_id: str, project_id: str, inherited: bool = False, target: str = "project"
    ) -> builtins.list[Role]:
        with self.session() as s:
            self._actor(s, actor_type, actor_id)
            if s.get(Project if target == "project" else Domain, project_id) is None:
                raise not_found(target, project_id)
            model: Any = RoleAssignment if target == "project" else DomainRoleAssignment
            column = model.project_id if target == "project" else model.domain_id
            stmt = (
                select(Role)
                .join(model, model.role_id == Role.id)
                .where(
                    model.actor_type == actor_type,
                    model.actor_id == actor_id,
                    column == project_id,
                    model.inherited == inherited,
                )
                .order_by(Role.name)
            )
            return list(s.scalars(stmt))

    # --- effective roles ----------------------------------------------------------------------

    def effective_roles(self, user_id: str, project_id: str) -> tuple[RoleRef, ...]:
        """Roles of a user on a project: direct, through groups, inherited from the
        project's parents and domain, plus implied ones."""
        with self.session() as s:
            project = s.get(Project, project_id)
            if project is None:
                return ()
            above = ancestors(s, project)
            on_project = ((RoleAssignment.project_id == project_id) & ~RoleAssignment.inherited) | (
                RoleAssignment.project_id.in_(above) & RoleAssignment.inherited
            )
            ids = set(s.scalars(select(RoleAssignment.role_id).where(on_project, _held_by(RoleAssignment, user_id))))
            ids.update(
                s.scalars(
                    select(DomainRoleAssignment.role_id).where(
                        DomainRoleAssignment.domain_id == project.domain_id,
                        DomainRoleAssignment.inherited,
                        _held_by(DomainRoleAssignment, user_id),
                    )
                )
            )
            return effective_refs(s, ids)

    def projects_of_user(self, user_id: str) -> builtins.list[Project]:
        """Projects the user has any effective role on."""
        ids = {a.project_id for a in self.list(user_id=user_id, effective=True) if a.project_id}
        with self.session() as s:
            return list(s.scalars(select(Project).where(Project.id.in_(ids)).order_by(Project.name)))

    def domains_of_user(self, user_id: str) -> builtins.list[Domain]:
        """Domains the user holds a role on (directly or through a group)."""
        with self.session() as s:
            ids = select(DomainRoleAssignment.domain_id).where(
                ~DomainRoleAssignment.inherited, _held_by(DomainRoleAssignment, user_id)
            )
            return list(s.scalars(select(Domain).where(Domain.id.in_(ids)).order_by(Domain.name)))

    # --- listing --------------------------------------------------------------------------------

    def list(
        self,
        user_id: str | None = None,
        group_id: str | None = None,
        project_id: str | None = None,
        role_id: str | None = None,
        effective: bool = False,
        domain_id: str | None = None,
        inherited: bool | None = None,
    ) -> builtins.list[Assignment]:
        """Assignments matching every given filter, as Keystone lists them. ``effective``
        expands group assignments into one per member, inherited ones onto the projects
        they hold on, and implied roles (and then lists no group, inherited or
        domain-specific rows)."""
        with self.session() as s:
            rows = [
                Assignment(r.actor_type, r.actor_id, r.role_id, project_id=r.project_id, inherited=r.inherited)
                for r in s.scalars(select(RoleAssignment))
            ] + [
                Assignment(r.actor_type, r.actor_id, r.role_id, domain_id=r.domain_id, inherited=r.inherited)
                for r in s.scalars(select(DomainRoleAssignment))
            ]
            if effective:
                rows = self._effective(s, rows)
        out = []
        for a in rows:
            if user_id and not (a.actor_type == "user" and a.actor_id == user_id):
                continue
            if group_id and not (a.actor_type == "group" and a.actor_id == group_id):
                continue
            if project_id and a.project_id != project_id:
                continue
            if domain_id and a.domain_id != domain_id:
                continue
            if role_id and a.role_id != role_id:
                continue
            if inherited is not None and a.inherited != inherited:
                continue
            out.append(a)
        return sorted(
            set(out),
            key=lambda a: (a.project_id or "", a.domain_id or "", a.actor_type, a.actor_id, a.role_id, a.inherited),
        )

    def _effective(self, s: Session, rows: builtins.list[Assignment]) -> builtins.list[Assignment]:
        projects = {p.id: p for p in s.scalars(select(Project))}
        children: dict[str, builtins.list[str]] = {}
        for p in projects.values():
            if p.parent_id:
                children.setdefault(p.parent_id, []).append(p.id)

        def subtree(pid: str) -> builtins.list[str]:
            out, todo = [], list(children.get(pid, []))
            while todo:
                nxt = todo.pop()
                if nxt not in out:
                    out.append(nxt)
                    todo.extend(children.get(nxt, []))
            return out

        placed: builtins.list[Assignment] = []
        for a in rows:
            if not a.inherited:
                placed.append(a)
                continue
            if a.project_id is not None:
                targets, source = subtree(a.project_id), ("project", a.project_id)
            else:
                targets = [p.id for p in projects.values() if p.domain_id == a.domain_id]
                source = ("domain", a.domain_id or "")
            placed.extend(Assignment(a.actor_type, a.actor_id, a.role_id, project_id=t, source=source) for t in targets)
        members: dict[str, builtins.list[str]] = {}
        for gid, uid in s.execute(select(GroupMember.group_id, GroupMember.user_id)):
            members.setdefault(gid, []).append(uid)
        users: builtins.list[Assignment] = []
        for a in placed:
            if a.actor_type != "group":
                users.append(a)
                continue
            for uid in members.get(a.actor_id, []):
                users.append(
                    Assignment(
                        "user",
                        uid,
                        a.role_id,
                        project_id=a.project_id,
                        domain_id=a.domain_id,
                        inherited_from_group=a.actor_id,
                        source=a.source,
                    )
                )
        rules = rule_map(s)
        expanded: builtins.list[Assignment] = []
        for a in users:
            for rid, prior in closure([a.role_id], rules).items():
                if prior is None:
                    expanded.append(a)
                else:
                    expanded.append(
                        Assignment(
                            a.actor_type,
                            a.actor_id,
                            rid,
                            project_id=a.project_id,
                            domain_id=a.domain_id,
                            inherited_from_group=a.inherited_from_group,
                            prior_role_id=a.role_id,
                            source=a.source,
                        )
                    )
        hidden = domain_specific(s, {a.role_id for a in expanded})
        return [a for a in expanded if a.role_id not in hidden]


class SystemAssignments:
    """Roles on the system (Keystone's ``/v3/system/{users,groups}/{id}/roles``): what a
    system-scoped token carries. Same implied roles and group expansion as on projects."""

    def __init__(self, session_factory: Callable[[], Any]) -> None:
        self.session = session_factory

    def _check(self, s: Session, actor_type: str, actor_id: str, role_id: str | None) -> None:
        model = User if actor_type == "user" else Group
        if s.get(model, actor_id) is None:
            raise not_found(actor_type, actor_id)
        if role_id is not None and s.get(Role, role_id) is None:
            raise not_found("role", role_id)

    def grant(self, actor_type: str, actor_id: str, role_id: str) -> None:
        with self.session() as s:
            self._check(s, actor_type, actor_id, role_id)
            if s.get(SystemRoleAssignment, (actor_type, actor_id, role_id)) is None:
                s.add(SystemRoleAssignment(actor_type=actor_type, actor_id=actor_id, role_id=role_id))
                bump_generation(s)

    def revoke(self, actor_type: str, actor_id: str, role_id: str) -> None:
        with self.session() as s:
            self._check(s, actor_type, actor_id, role_id)
            row = s.get(SystemRoleAssignment, (actor_type, actor_id, role_id))
            if row is None:
                raise NotFound(
                    f"Could not find role assignment with role: {role_id}, {actor_type}: {actor_id}, system: all."
                )
            s.delete(row)
            bump_generation(s)

    def exists(self, actor_type: str, actor_id: str, role_id: str) -> bool:
        with self.session() as s:
            self._check(s, actor_type, actor_id, role_id)
            return s.get(SystemRoleAssignment, (actor_type, actor_id, role_id)) is not None

    def direct_roles(self, actor_type: str, actor_id: str) -> list[Role]:
        with self.session() as s:
            self._check(s, actor_type, actor_id, None)
            stmt = (
                select(Role)
                .join(SystemRoleAssignment, SystemRoleAssignment.role_id == Role.id)
                .where(SystemRoleAssignment.actor_type == actor_type, SystemRoleAssignment.actor_id == actor_id)
                .order_by(Role.name)
            )
            return list(s.scalars(stmt))

    def effective_roles(self, user_id: str) -> tuple[RoleRef, ...]:
        """A user's roles on the system: direct, through groups, plus implied ones."""
        with self.session() as s:
            stmt = (
                select(Role.id, Role.name)
                .join(SystemRoleAssignment, SystemRoleAssignment.role_id == Role.id)
                .where(_held_by(SystemRoleAssignment, user_id))
            )
            return effective_refs(s, {rid for rid, _ in s.execute(stmt)})

    def list(self, user_ids: list[str] | None = None, role_id: str | None = None) -> list[tuple[str, str, str]]:
        """(actor type, actor id, role id) of each system grant; ``user_ids`` narrows to those users'."""
        with self.session() as s:
            stmt = select(SystemRoleAssignment.actor_type, SystemRoleAssignment.actor_id, SystemRoleAssignment.role_id)
            if user_ids is not None:
                stmt = stmt.where(
                    SystemRoleAssignment.actor_type == "user", SystemRoleAssignment.actor_id.in_(user_ids)
                )
            if role_id is not None:
                stmt = stmt.where(SystemRoleAssignment.role_id == role_id)
            return [(a, b, c) for a, b, c in s.execute(stmt.order_by(SystemRoleAssignment.actor_id))]
