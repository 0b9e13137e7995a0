"""Who is asking: the request context every service call receives.

Built from a validated token by the identity service. Project scoping lives here, in one
place: services filter every query and every lookup through :meth:`RequestContext.filter`
and :meth:`RequestContext.can_see`, so a resource of another project is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

Stmt = TypeVar("Stmt")


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    project_id: str | None
    roles: frozenset[str] = frozenset()
    user_name: str = ""
    project_name: str = ""
    domain_id: str = "default"
    audit_ids: tuple[str, ...] = ()
    expires_at: datetime | None = None
    request_id: str = ""
    auth_token: str = field(default="", repr=False)
    application_credential_id: str | None = None
    # whether the token is scoped to ``[identity] admin_project`` (Keystone's is_admin_project):
    # only there does the admin role administer the cloud
    is_admin_project: bool = True
    system_scope: str | None = None  # "all" for a system-scoped token (then no project)

    @property
    def is_admin(self) -> bool:
        """A cloud administrator: the admin role on the system, or on the admin project."""
        return "admin" in self.roles and (self.system_scope == "all" or self.is_admin_project)

    def can_see(self, project_id: str | None) -> bool:
        """Whether a resource owned by ``project_id`` is visible to this caller."""
        return self.is_admin or (project_id is not None and project_id == self.project_id)

    def filter(self, stmt: Stmt, project_column: Any, all_projects: bool = False) -> Stmt:
        """Restrict a SELECT to the caller's project. Admins see every project only when
        they ask for it (``all_projects``), as Nova's ``all_tenants`` does."""
        if self.is_admin and all_projects:
            return stmt
        return stmt.where(project_column == self.project_id)  # type: ignore[attr-defined]


def system_context(request_id: str = "") -> RequestContext:
    """A context for the cloud's own background work (reconciliation, agents)."""
    return RequestContext(user_id="overcast-system", project_id=None, roles=frozenset({"admin"}), request_id=request_id)
