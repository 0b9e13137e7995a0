"""Tables of the identity service (a Keystone v3 subset).

Ids are 32 lowercase hex characters (``uuid4().hex``), as Keystone's are, except the
``default`` domain. Tokens are not stored (they are Fernet tokens); what the database
keeps for them is the revocation events and one generation counter that every
authorization-relevant write bumps, so every process sees such a write at once.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from overcast.db.models.base import Base, created_at, updated_at

DEFAULT_DOMAIN_ID = "default"


def hex_id() -> str:
    return uuid.uuid4().hex


def _hex_pk() -> Mapped[str]:
    return mapped_column(String(64), primary_key=True, default=hex_id)


class Domain(Base):
    __tablename__ = "identity_domains"

    id: Mapped[str] = _hex_pk()
    name: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = created_at()


class Project(Base):
    __tablename__ = "identity_projects"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_identity_projects_domain_id"),)

    id: Mapped[str] = _hex_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domains.id"), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(String(64))  # None: a top-level project of its domain
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    tags: Mapped[list] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class User(Base):
    __tablename__ = "identity_users"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_identity_users_domain_id"),)

    id: Mapped[str] = _hex_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domains.id"), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    default_project_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    extra: Mapped[dict] = mapped_column(default=dict)  # email and other free attributes
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class Group(Base):
    __tablename__ = "identity_groups"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_identity_groups_domain_id"),)

    id: Mapped[str] = _hex_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    domain_id: Mapped[str] = mapped_column(ForeignKey("identity_domains.id"), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = created_at()


class GroupMember(Base):
    __tablename__ = "identity_group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("identity_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("identity_users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


#: ``Role.domain_id`` of a global role (Keystone's roles without a domain).
GLOBAL_ROLE_DOMAIN = ""


class Role(Base):
    """A global role (``domain_id`` is :data:`GLOBAL_ROLE_DOMAIN`) or a domain-specific one,
    which only ever counts through the global roles it implies."""

    __tablename__ = "identity_roles"
    __table_args__ = (UniqueConstraint("domain_id", "name", name="uq_identity_roles_domain_id"),)

    id: Mapped[str] = _hex_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    domain_id: Mapped[str] = mapped_column(String(64), default=GLOBAL_ROLE_DOMAIN, server_default="", nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[datetime] = created_at()


class RoleAssignment(Base):
    """A role given to a user or a group (``actor_type``) on a project; an ``inherited`` one
    (OS-INHERIT) applies to the project's subtree and not to the project itself."""

    __tablename__ = "identity_role_assignments"

    actor_type: Mapped[str] = mapped_column(String(8), primary_key=True)  # "user" | "group"
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        ForeignKey("identity_projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role_id: Mapped[str] = mapped_column(
        ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    inherited: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False, server_default=false())


class DomainRoleAssignment(Base):
    """A role on a domain; an ``inherited`` one applies to every project of the domain instead."""

    __tablename__ = "identity_domain_assignments"

    actor_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    domain_id: Mapped[str] = mapped_column(
        ForeignKey("identity_domains.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role_id: Mapped[str] = mapped_column(ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True)
    inherited: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False)


class ImpliedRole(Base):
    """A role inference rule: whoever holds ``prior_role_id`` also holds ``implied_role_id``."""

    __tablename__ = "identity_implied_roles"

    prior_role_id: Mapped[str] = mapped_column(ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True)


class SystemRoleAssignment(Base):
    """A role given to a user or a group on the system (``all``): what a system-scoped token
    (``--os-system-scope all``) carries, for cloud-wide operations."""

    __tablename__ = "identity_system_assignments"

    actor_type: Mapped[str] = mapped_column(String(8), primary_key=True)  # "user" | "group"
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role_id: Mapped[str] = mapped_column(
        ForeignKey("identity_roles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ApplicationCredential(Base):
    """A user's secret for automation, bound to one project and a subset of its roles."""

    __tablename__ = "identity_app_credentials"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_identity_app_credentials_user_id"),)

    id: Mapped[str] = _hex_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_users.id", ondelete="CASCADE"), nullable=False)
    project_id: Mapped[str] = mapped_column(ForeignKey("identity_projects.id", ondelete="CASCADE"), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    role_ids: Mapped[list] = mapped_column(default=list)
    unrestricted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at()


class Region(Base):
    """A catalog region; ids are chosen by the caller or generated."""

    __tablename__ = "identity_regions"

    id: Mapped[str] = mapped_column(String(255), primary_key=True, default=hex_id)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    parent_region_id: Mapped[str | None] = mapped_column(String(255))
    extra: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class CatalogService(Base):
    """A service added to the catalog through the API (Overcast's own come from the config)."""

    __tablename__ = "identity_services"

    id: Mapped[str] = _hex_pk()
    type: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    extra: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class Endpoint(Base):
    """An endpoint of a catalog service added through the API."""

    __tablename__ = "identity_endpoints"

    id: Mapped[str] = _hex_pk()
    service_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    interface: Mapped[str] = mapped_column(String(8), nullable=False)
    region_id: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(Text, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    extra: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class EndpointGroup(Base):
    """OS-EP-FILTER: a named filter (``service_id``, ``region_id``, ``interface``) on endpoints."""

    __tablename__ = "identity_endpoint_groups"

    id: Mapped[str] = _hex_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    filters: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class ProjectEndpoint(Base):
    """OS-EP-FILTER: an endpoint in a project's catalog (a project with any narrows its catalog)."""

    __tablename__ = "identity_project_endpoints"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("identity_projects.id", ondelete="CASCADE", name="fk_identity_project_endpoints_project"),
        primary_key=True,
    )
    endpoint_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ProjectEndpointGroup(Base):
    """OS-EP-FILTER: an endpoint group's endpoints in a project's catalog."""

    __tablename__ = "identity_project_endpoint_groups"

    project_id: Mapped[str] = mapped_column(
        ForeignKey("identity_projects.id", ondelete="CASCADE", name="fk_identity_project_endpoint_groups_project"),
        primary_key=True,
    )
    endpoint_group_id: Mapped[str] = mapped_column(
        ForeignKey("identity_endpoint_groups.id", ondelete="CASCADE", name="fk_identity_project_endpoint_groups_group"),
        primary_key=True,
    )


class Policy(Base):
    """An OS-POLICY blob: stored and served back as given, never enforced."""

    __tablename__ = "identity_policies"

    id: Mapped[str] = _hex_pk()
    type: Mapped[str] = mapped_column(String(255), nullable=False)
    blob: Mapped[str] = mapped_column(Text, nullable=False)
    extra: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class Credential(Base):
    """A user's credential blob (``ec2``, ``totp``, ``cert``...), optionally tied to a project."""

    __tablename__ = "identity_credentials"

    id: Mapped[str] = _hex_pk()
    user_id: Mapped[str] = mapped_column(
        ForeignKey("identity_users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    project_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(255), nullable=False)
    blob: Mapped[str] = mapped_column(Text, nullable=False)
    extra: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class RevocationEvent(Base):
    """Tokens issued before ``issued_before`` that match every non-null field are revoked.

    Kept until ``expires_at`` (the longest a matching token could still live).
    """

    __tablename__ = "identity_revocation_events"
    __table_args__ = (Index("ix_identity_revocation_events_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    project_id: Mapped[str | None] = mapped_column(String(64))
    audit_id: Mapped[str | None] = mapped_column(String(32))
    application_credential_id: Mapped[str | None] = mapped_column(String(64))
    issued_before: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    created_at: Mapped[datetime] = created_at()


class IdentityState(Base):
    """One row: ``generation`` grows with every write that can change a token's validity
    or roles, so each process can drop its caches when another process changed them."""

    __tablename__ = "identity_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    updated_at: Mapped[datetime] = updated_at()
