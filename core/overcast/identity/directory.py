"""Domains, projects, users, groups and roles: their storage and the rules on changing them.

Every change that can affect tokens bumps the generation or records a revocation event in
the same transaction (disabling or deleting a user or project, changing a password).
Lookups by id match ids only: a name in the id slot is simply not found (clients look up
by id first and then by name).
"""

from __future__ import annotations

import builtins

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.db.models.base import utcnow
from overcast.db.models.identity import (
    DEFAULT_DOMAIN_ID,
    GLOBAL_ROLE_DOMAIN,
    ApplicationCredential,
    Credential,
    Domain,
    DomainRoleAssignment,
    Group,
    GroupMember,
    ImpliedRole,
    Project,
    Role,
    RoleAssignment,
    SystemRoleAssignment,
    User,
)
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound
from overcast.identity.passwords import Passwords
from overcast.identity.revocation import add_revocation, bump_generation

M = TypeVar("M")

_KINDS: dict[type[Any], str] = {Domain: "domain", Project: "project", User: "user", Group: "group", Role: "role"}


def not_found(kind: str, ident: str) -> NotFound:
    return NotFound(f"Could not find {kind}: {ident}.", code=f"{kind.capitalize()}NotFound")


def duplicate(kind: str, name: str, domain_id: str | None = None) -> Conflict:
    where = f" at domain ID {domain_id}" if domain_id else ""
    return Conflict(f"Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}{where}.")


#: Keystone's limit on a project's (and a domain's) name; other names may have 255 characters.
MAX_PROJECT_NAME = 64


def check_name(name: Any, field: str = "name", max_len: int = 255) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"Invalid input for field '{field}': a non-empty string is required.")
    if len(name) > max_len:
        raise BadRequest(f"Invalid input for field '{field}': longer than {max_len} characters.")
    return name


class Directory:
    """Storage of the identity resources. ``session_factory`` is ``db.session``."""

    def __init__(self, session_factory: Callable[[], Any], passwords: Passwords, token_ttl: int) -> None:
        self.session = session_factory
        self.passwords = passwords
        self.token_ttl = token_ttl

    # --- generic ------------------------------------------------------------------------

    def get(self, model: type[M], ident: str, session: Session | None = None) -> M:
        if session is not None:
            obj = session.get(model, ident)
        else:
            with self.session() as s:
                obj = s.get(model, ident)
        if obj is None:
            raise not_found(_KINDS[model], ident)
        return obj

    def list(self, model: type[M], filters: Mapping[str, Any] | None = None, ids: set[str] | None = None) -> list[M]:
        stmt = select(model).order_by(model.name)  # type: ignore[attr-defined]
        for key, value in (filters or {}).items():
            if value is not None:
                stmt = stmt.where(getattr(model, key) == value)
        if ids is not None:
            stmt = stmt.where(model.id.in_(ids))  # type: ignore[attr-defined]
        with self.session() as s:
            return list(s.scalars(stmt))

    def find_by_name(self, model: type[M], name: str, domain_id: str | None = DEFAULT_DOMAIN_ID) -> M:
        stmt = select(model).where(model.name == name)  # type: ignore[attr-defined]
        if domain_id is not None and hasattr(model, "domain_id"):
            stmt = stmt.where(model.domain_id == domain_id)  # type: ignore[attr-defined]
        with self.session() as s:
            obj = s.scalars(stmt).first()
        if obj is None:
            raise not_found(_KINDS[model], name)
        return obj

    def _insert(self, obj: Any, kind: str, name: str, domain_id: str | None = None) -> Any:
        try:
            with self.session() as s:
                s.add(obj)
                s.flush()
                bump_generation(s)
        except IntegrityError:
            raise duplicate(kind, name, domain_id) from None
        return obj

    def _check_domain(self, domain_id: str | None) -> str:
        domain_id = domain_id or DEFAULT_DOMAIN_ID
        with self.session() as s:
            if s.get(Domain, domain_id) is None:
                raise not_found("domain", domain_id)
        return domain_id

    # --- domains ------------------------------------------------------------------------

    def ensure_default_domain(self) -> Domain:
        with self.session() as s:
            domain = s.get(Domain, DEFAULT_DOMAIN_ID)
            if domain is None:
                domain = Domain(id=DEFAULT_DOMAIN_ID, name="Default", description="The default domain", enabled=True)
                s.add(domain)
                bump_generation(s)
        return domain

    # --- projects -----------------------------------------------------------------------

    def create_project(
        self,
        name: str,
        domain_id: str | None = None,
        description: str = "",
        enabled: bool = True,
        tags: builtins.list[str] | None = None,
        parent_id: str | None = None,
    ) -> Project:
        """A project in ``domain_id``, under ``parent_id`` (a project of the same domain, or
        the domain itself: a top-level project)."""
        check_name(name, max_len=MAX_PROJECT_NAME)
        parent_project = None
        if parent_id and parent_id != domain_id:
            with self.session() as s:
                parent_project = s.get(Project, parent_id)
                if parent_project is None and s.get(Domain, parent_id) is None:
                    raise not_found("project", parent_id)
            if parent_project is None:
                if domain_id:
                    raise BadRequest(
                        f"Cannot create project, the parent ({parent_id}) is a domain other than {domain_id}."
                    )
                domain_id = parent_id
            else:
                if domain_id and domain_id != parent_project.domain_id:
                    raise BadRequest(
                        f"Cannot create project, the parent ({parent_id}) is in a different domain "
                        f"({parent_project.domain_id})."
                    )
                domain_id = parent_project.domain_id
        domain_id = self._check_domain(domain_id)
        project = Project(
            name=name,
            domain_id=domain_id,
            parent_id=parent_project.id if parent_project is not None else None,
            description=description or "",
            enabled=enabled,
            tags=list(tags or []),
        )
        return self._insert(project, "project", name, domain_id)

    def update_project(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        try:
            with self.session() as s:
                project = self.get(Project, project_id, s)
                if "name" in changes:
                    project.name = check_name(changes["name"], max_len=MAX_PROJECT_NAME)
                if "description" in changes:
                    project.description = changes["description"] or ""
                if "tags" in changes:
                    project.tags = list(changes["tags"] or [])
                if "enabled" in changes and bool(changes["enabled"]) != project.enabled:
                    project.enabled = bool(changes["enabled"])
                    if not project.enabled:
                        add_revocation(s, self.token_ttl, project_id=project_id)
                s.flush()
                bump_generation(s)
        except IntegrityError:
            raise duplicate("project", str(changes.get("name")), self.get(Project, project_id).domain_id) from None
        return project

    def delete_project(self, project_id: str) -> None:
        with self.session() as s:
            project = self.get(Project, project_id, s)
            if s.scalars(select(Project.id).where(Project.parent_id == project_id)).first() is not None:
                raise Forbidden(
                    f"Cannot delete the project {project_id} since it is not a leaf in the hierarchy. "
                    "Use the cascade option if you want to delete a whole subtree."
                )
            s.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project_id))
            s.execute(delete(ApplicationCredential).where(ApplicationCredential.project_id == project_id))
            s.execute(delete(Credential).where(Credential.project_id == project_id))  # as Keystone
            s.delete(project)
            add_revocation(s, self.token_ttl, project_id=project_id)

    # --- users --------------------------------------------------------------------------

    def create_user(
        self,
        name: str,
        password: str | None = None,
        domain_id: str | None = None,
        enabled: bool = True,
        default_project_id: str | None = None,
        description: str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> User:
        check_name(name)
        if password is not None:
            self.passwords.check_rules(password)
        domain_id = self._check_domain(domain_id)
        if default_project_id:
            self.get(Project, default_project_id)
        user = User(
            name=name,
            domain_id=domain_id,
            enabled=enabled,
            password_hash=self.passwords.hash(password) if password is not None else None,
            password_changed_at=utcnow() if password is not None else None,
            default_project_id=default_project_id or None,
            description=description or "",
            extra=dict(extra or {}),
        )
        return self._insert(user, "user", name, domain_id)

    def update_user(self, user_id: str, changes: Mapping[str, Any]) -> User:
        revoke = False
        new_hash = None
        if changes.get("password") is not None:
            self.passwords.check_rules(changes["password"])
            new_hash = self.passwords.hash(changes["password"])  # outside the transaction: slow
        if changes.get("default_project_id"):
            self.get(Project, changes["default_project_id"])
        try:
            with self.session() as s:
                user = self.get(User, user_id, s)
                if "name" in changes:
                    user.name = check_name(changes["name"])
                if "description" in changes:
                    user.description = changes["description"] or ""
                if "default_project_id" in changes:
                    user.default_project_id = changes["default_project_id"] or None
                if "enabled" in changes and bool(changes["enabled"]) != user.enabled:
                    user.enabled = bool(changes["enabled"])
                    revoke = revoke or not user.enabled
                if "password" in changes:
                    user.password_hash = new_hash
                    user.password_changed_at = utcnow()
                    revoke = True
                extra = {k: v for k, v in changes.items() if k not in _USER_COLUMNS}
                if extra:
                    user.extra = {**(user.extra or {}), **extra}
                if revoke:
                    add_revocation(s, self.token_ttl, user_id=user_id)
                s.flush()
                bump_generation(s)
        except IntegrityError:
            raise duplicate("user", str(changes.get("name")), self.get(User, user_id).domain_id) from None
        return user

    def set_password_hash(self, user_id: str, new_hash: str) -> None:
        """Store a re-hash of the same password (cost changed); revokes nothing."""
        with self.session() as s:
            user = s.get(User, user_id)
            if user is not None:
                user.password_hash = new_hash

    def delete_user(self, user_id: str) -> None:
        with self.session() as s:
            user = self.get(User, user_id, s)
            for model in (RoleAssignment, DomainRoleAssignment, SystemRoleAssignment):
                s.execute(delete(model).where(model.actor_type == "user", model.actor_id == user_id))
            s.execute(delete(GroupMember).where(GroupMember.user_id == user_id))
            s.execute(delete(ApplicationCredential).where(ApplicationCredential.user_id == user_id))
            s.delete(user)
            add_revocation(s, self.token_ttl, user_id=user_id)

    # --- groups -------------------------------------------------------------------------

    def create_group(self, name: str, domain_id: str | None = None, description: str = "") -> Group:
        check_name(name)
        domain_id = self._check_domain(domain_id)
        return self._insert(
            Group(name=name, domain_id=domain_id, description=description or ""), "group", name, domain_id
        )

    def update_group(self, group_id: str, changes: Mapping[str, Any]) -> Group:
        try:
            with self.session() as s:
                group = self.get(Group, group_id, s)
                if "name" in changes:
                    group.name = check_name(changes["name"])
                if "description" in changes:
                    group.description = changes["description"] or ""
                s.flush()
        except IntegrityError:
            raise duplicate("group", str(changes.get("name")), self.get(Group, group_id).domain_id) from None
        return group

    def delete_group(self, group_id: str) -> None:
        with self.session() as s:
            group = self.get(Group, group_id, s)
            for model in (RoleAssignment, DomainRoleAssignment, SystemRoleAssignment):
                s.execute(delete(model).where(model.actor_type == "group", model.actor_id == group_id))
            s.execute(delete(GroupMember).where(GroupMember.group_id == group_id))
            s.delete(group)
            bump_generation(s)

    def add_group_member(self, group_id: str, user_id: str) -> None:
        with self.session() as s:
            self.get(Group, group_id, s)
            self.get(User, user_id, s)
            if s.get(GroupMember, (group_id, user_id)) is None:
                s.add(GroupMember(group_id=group_id, user_id=user_id))
                bump_generation(s)

    def remove_group_member(self, group_id: str, user_id: str) -> None:
        with self.session() as s:
            self.get(Group, group_id, s)
            self.get(User, user_id, s)
            member = s.get(GroupMember, (group_id, user_id))
            if member is None:
                raise NotFound(f"User '{user_id}' not found in group '{group_id}'.")
            s.delete(member)
            bump_generation(s)

    def is_group_member(self, group_id: str, user_id: str) -> bool:
        with self.session() as s:
            self.get(Group, group_id, s)
            self.get(User, user_id, s)
            return s.get(GroupMember, (group_id, user_id)) is not None

    def group_members(self, group_id: str) -> builtins.list[User]:
        with self.session() as s:
            self.get(Group, group_id, s)
            stmt = (
                select(User)
                .join(GroupMember, GroupMember.user_id == User.id)
                .where(GroupMember.group_id == group_id)
                .order_by(User.name)
            )
            return list(s.scalars(stmt))

    def user_groups(self, user_id: str) -> builtins.list[Group]:
        with self.session() as s:
            self.get(User, user_id, s)
            stmt = (
                select(Group)
                .join(GroupMember, GroupMember.group_id == Group.id)
                .where(GroupMember.user_id == user_id)
                .order_by(Group.name)
            )
            return list(s.scalars(stmt))

    # --- roles --------------------------------------------------------------------------

    def create_role(
        self, name: str, description: str = "", role_id: str | None = None, domain_id: str | None = None
    ) -> Role:
        """A global role, or one specific to ``domain_id``."""
        check_name(name)
        if domain_id:
            self._check_domain(domain_id)
        role = Role(name=name, description=description or "", domain_id=domain_id or GLOBAL_ROLE_DOMAIN)
        if role_id:
            role.id = role_id
        return self._insert(role, "role", name, domain_id)

    def update_role(self, role_id: str, changes: Mapping[str, Any]) -> Role:
        try:
            with self.session() as s:
                role = self.get(Role, role_id, s)
                if "name" in changes:
                    role.name = check_name(changes["name"])
                if "description" in changes:
                    role.description = changes["description"] or ""
                s.flush()
                bump_generation(s)
        except IntegrityError:
            raise duplicate("role", str(changes.get("name"))) from None
        return role

    def delete_role(self, role_id: str) -> None:
        with self.session() as s:
            role = self.get(Role, role_id, s)
            s.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role_id))
            s.execute(delete(DomainRoleAssignment).where(DomainRoleAssignment.role_id == role_id))
            s.execute(delete(SystemRoleAssignment).where(SystemRoleAssignment.role_id == role_id))
            s.execute(
                delete(ImpliedRole).where(
                    (ImpliedRole.prior_role_id == role_id) | (ImpliedRole.implied_role_id == role_id)
                )
            )
            s.delete(role)
            bump_generation(s)


_USER_COLUMNS = {
    "name",
    "description",
    "default_project_id",
    "enabled",
    "password",
    "domain_id",
    "id",
    "links",
    "options",
    "password_expires_at",
}
