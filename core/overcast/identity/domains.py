"""Domains: create, update, disable and delete, as Keystone does them.

A domain holds projects, users, groups and domain-specific roles. Disabling a domain
makes every token of its users and projects invalid (the resolver checks the domain on
each validation; the generation bump drops the caches). A domain must be disabled
before it is deleted, and deleting it deletes what it holds. The ``default`` domain can
be neither disabled nor deleted: the bootstrap admin lives there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.db.models.identity import (
    DEFAULT_DOMAIN_ID,
    ApplicationCredential,
    Credential,
    Domain,
    DomainRoleAssignment,
    Group,
    GroupMember,
    Project,
    Role,
    RoleAssignment,
    User,
)
from overcast.errors import BadRequest, Forbidden
from overcast.identity.directory import duplicate, not_found
from overcast.identity.revocation import add_revocation, bump_generation

#: Keystone's limit on a domain's name.
MAX_DOMAIN_NAME = 64


def check_domain_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Invalid input for field 'name': a non-empty string is required.")
    if len(name) > MAX_DOMAIN_NAME:
        raise BadRequest(f"Invalid input for field 'name': '{name}' is too long (at most {MAX_DOMAIN_NAME}).")
    return name


class Domains:
    def __init__(self, session_factory: Callable[[], Any], token_ttl: int) -> None:
        self.session = session_factory
        self.token_ttl = token_ttl

    def get(self, domain_id: str, session: Session | None = None) -> Domain:
        if session is not None:
            found = session.get(Domain, domain_id)
        else:
            with self.session() as s:
                found = s.get(Domain, domain_id)
        if found is None:
            raise not_found("domain", domain_id)
        return found

    def create(self, name: str, description: str = "", enabled: bool = True, domain_id: str | None = None) -> Domain:
        check_domain_name(name)
        domain = Domain(name=name, description=description or "", enabled=enabled)
        if domain_id:
            domain.id = domain_id
        try:
            with self.session() as s:
                s.add(domain)
                s.flush()
                bump_generation(s)
        except IntegrityError:
            raise duplicate("domain", name) from None
        return domain

    def update(self, domain_id: str, changes: Mapping[str, Any]) -> Domain:
        try:
            with self.session() as s:
                domain = self.get(domain_id, s)
                if "name" in changes:
                    domain.name = check_domain_name(changes["name"])
                if "description" in changes:
                    domain.description = changes["description"] or ""
                if "enabled" in changes and changes["enabled"] is not None:
                    if not changes["enabled"] and domain_id == DEFAULT_DOMAIN_ID:
                        raise Forbidden("Cannot disable the default domain.")
                    domain.enabled = bool(changes["enabled"])
                s.flush()
                bump_generation(s)
        except IntegrityError:
            raise duplicate("domain", str(changes.get("name"))) from None
        return domain

    def delete(self, domain_id: str) -> None:
        """Delete a disabled domain and everything in it (403 while it is enabled)."""
        with self.session() as s:
            domain = self.get(domain_id, s)
            if domain_id == DEFAULT_DOMAIN_ID:
                raise Forbidden("Cannot delete the default domain.")
            if domain.enabled:
                raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
            projects = list(s.scalars(select(Project.id).where(Project.domain_id == domain_id)))
            users = list(s.scalars(select(User.id).where(User.domain_id == domain_id)))
            groups = list(s.scalars(select(Group.id).where(Group.domain_id == domain_id)))
            roles = list(s.scalars(select(Role.id).where(Role.domain_id == domain_id)))
            s.execute(delete(RoleAssignment).where(RoleAssignment.project_id.in_(projects)))
            for actor_type, ids in (("user", users), ("group", groups)):
                for model in (RoleAssignment, DomainRoleAssignment):
                    s.execute(delete(model).where(model.actor_type == actor_type, model.actor_id.in_(ids)))
            s.execute(delete(RoleAssignment).where(RoleAssignment.role_id.in_(roles)))
            s.execute(delete(DomainRoleAssignment).where(DomainRoleAssignment.domain_id == domain_id))
            s.execute(delete(DomainRoleAssignment).where(DomainRoleAssignment.role_id.in_(roles)))
            s.execute(delete(ApplicationCredential).where(ApplicationCredential.project_id.in_(projects)))
            s.execute(delete(ApplicationCredential).where(ApplicationCredential.user_id.in_(users)))
            s.execute(delete(Credential).where(Credential.user_id.in_(users)))
            s.execute(delete(GroupMember).where(GroupMember.group_id.in_(groups) | GroupMember.user_id.in_(users)))
            for project_id in projects:
                add_revocation(s, self.token_ttl, project_id=project_id)
            for user_id in users:
                add_revocation(s, self.token_ttl, user_id=user_id)
            s.execute(delete(Project).where(Project.domain_id == domain_id))
            s.execute(delete(User).where(User.domain_id == domain_id))
            s.execute(delete(Group).where(Group.domain_id == domain_id))
            s.execute(delete(Role).where(Role.domain_id == domain_id))
            s.delete(domain)
            bump_generation(s)
