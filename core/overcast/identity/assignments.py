"""Role assignments on projects, for users and groups, and the roles they add up to.

Roles imply each other as in Keystone's default set: ``admin`` implies ``member``, which
implies ``reader``. A token's roles are the effective set (direct, through groups, and
implied), so the token body lists them as Keystone does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.models.identity import Group, GroupMember, Project, Role, RoleAssignment, SystemRoleAssignment, User
from overcast.errors import NotFound
from overcast.identity.directory import not_found
from overcast.identity.revocation import bump_generation
from overcast.policy import ROLE_ORDER


@dataclass(frozen=True)
class RoleRef:
    id: str
    name: str


@dataclass(frozen=True)
class Assignment:
    actor_type: str  # "user" | "group"
    actor_id: str
    project_id: str
    role_id: str
    inherited_from_group: str | None = None  # set in effective listings


def implied_names(names: set[str]) -> set[str]:
    """``names`` plus every role they imply (admin > member > reader)."""
    out = set(names)
    ranks = [ROLE_ORDER.index(n) for n in names if n in ROLE_ORDER]
    if ranks:
        out.update(ROLE_ORDER[: max(ranks) + 1])
    return out


def _held_by(model: Any, user_id: str) -> Any:
    """The assignments (of ``model``: on projects or on the system) the user holds, directly
    or through a group."""
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    return ((model.actor_type == "user") & (model.actor_id == user_id)) | (
        (model.actor_type == "group") & model.actor_id.in_(groups)
    )


def _with_implied(s: Session, stmt: Any) -> tuple[RoleRef, ...]:
    """The roles ``stmt`` selects (id, name), plus those they imply, sorted by name."""
    rows = {name: rid for rid, name in s.execute(stmt)}
    if not rows:
        return ()
    missing = implied_names(set(rows)) - set(rows)
    if missing:
        for rid, name in s.execute(select(Role.id, Role.name).where(Role.name.in_(missing))):
            rows[name] = rid
    return tuple(sorted((RoleRef(rid, name) for name, rid in rows.items()), key=lambda r: r.name))


class Assignments:
    def __init__(self, session_factory: Callable[[], Any]) -> None:
        self.session = session_factory

    def _actor(self, s: Session, actor_type: str, actor_id: str) -> None:
        model = User if actor_type == "user" else Group
        if s.get(model, actor_id) is None:
            raise not_found(actor_type, actor_id)

    def _check(self, s: Session, actor_type: str, actor_id: str, project_id: str, role_id: str) -> None:
        if s.get(Role, role_id) is None:
            raise not_found("role", role_id)
        self._actor(s, actor_type, actor_id)
        if s.get(Project, project_id) is None:
            raise not_found("project", project_id)

    def grant(self, actor_type: str, actor_id: str, project_id: str, role_id: str) -> None:
        with self.session() as s:
            self._check(s, actor_type, actor_id, project_id, role_id)
            key = (actor_type, actor_id, project_id, role_id)
            if s.get(RoleAssignment, key) is None:
                s.add(RoleAssignment(actor_type=actor_type, actor_id=actor_id, project_id=project_id, role_id=role_id))
                bump_generation(s)

    def revoke(self, actor_type: str, actor_id: str, project_id: str, role_id: str) -> None:
        """Remove one assignment. Tokens lose the role on their next validation (roles
        are not in the token), and a token left with no role on its project stops working."""
        with self.session() as s:
            self._check(s, actor_type, actor_id, project_id, role_id)
            row = s.get(RoleAssignment, (actor_type, actor_id, project_id, role_id))
            if row is None:
                raise NotFound(
                    f"Could not find role assignment with role: {role_id}, {actor_type}: {actor_id}, project: {project_id}."
                )
            s.delete(row)
            bump_generation(s)

    def exists(self, actor_type: str, actor_id: str, project_id: str, role_id: str) -> bool:
        with self.session() as s:
            self._check(s, actor_type, actor_id, project_id, role_id)
            return s.get(RoleAssignment, (actor_type, actor_id, project_id, role_id)) is not None

    def direct_roles(self, actor_type: str, actor_id: str, project_id: str) -> list[Role]:
        with self.session() as s:
            self._actor(s, actor_type, actor_id)
            if s.get(Project, project_id) is None:
                raise not_found("project", project_id)
            stmt = (
                select(Role)
                .join(RoleAssignment, RoleAssignment.role_id == Role.id)
                .where(
                    RoleAssignment.actor_type == actor_type,
                    RoleAssignment.actor_id == actor_id,
                    RoleAssignment.project_id == project_id,
                )
                .order_by(Role.name)
            )
            return list(s.scalars(stmt))

    def effective_roles(self, user_id: str, project_id: str) -> tuple[RoleRef, ...]:
        """Roles of a user on a project: direct, through groups, plus implied ones."""
        with self.session() as s:
            stmt = (
                select(Role.id, Role.name)
                .join(RoleAssignment, RoleAssignment.role_id == Role.id)
                .where(RoleAssignment.project_id == project_id, _held_by(RoleAssignment, user_id))
            )
            return _with_implied(s, stmt)

    def projects_of_user(self, user_id: str) -> list[Project]:
        """Projects the user has any role on (directly or through a group)."""
        with self.session() as s:
            groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
            ids = select(RoleAssignment.project_id).where(
                ((RoleAssignment.actor_type == "user") & (RoleAssignment.actor_id == user_id))
                | ((RoleAssignment.actor_type == "group") & RoleAssignment.actor_id.in_(groups))
            )
            return list(s.scalars(select(Project).where(Project.id.in_(ids)).order_by(Project.name)))

    def list(
        self,
        user_id: str | None = None,
        group_id: str | None = None,
        project_id: str | None = None,
        role_id: str | None = None,
        effective: bool = False,
    ) -> list[Assignment]:
        """Assignments matching every given filter. ``effective`` expands group assignments
        into one per member (and then lists no group rows), as Keystone's ``effective``."""
        with self.session() as s:
            stmt = select(RoleAssignment)
            if project_id:
                stmt = stmt.where(RoleAssignment.project_id == project_id)
            if role_id:
                stmt = stmt.where(RoleAssignment.role_id == role_id)
            rows = list(s.scalars(stmt))
            members: dict[str, list[str]] = {}
            if effective:
                for gid, uid in s.execute(select(GroupMember.group_id, GroupMember.user_id)):
                    members.setdefault(gid, []).append(uid)
        out: list[Assignment] = []
        for r in rows:
            if effective and r.actor_type == "group":
                for uid in members.get(r.actor_id, []):
                    out.append(Assignment("user", uid, r.project_id, r.role_id, inherited_from_group=r.actor_id))
                continue
            out.append(Assignment(r.actor_type, r.actor_id, r.project_id, r.role_id))
        if user_id:
            out = [a for a in out if a.actor_type == "user" and a.actor_id == user_id]
        if group_id:
            out = [a for a in out if a.actor_type == "group" and a.actor_id == group_id]
        return sorted(set(out), key=lambda a: (a.project_id, a.actor_type, a.actor_id, a.role_id))


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
            return _with_implied(s, stmt)

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
