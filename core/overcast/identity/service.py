"""The identity service: the small interface the API and the other services use.

* ``context_from_token(token)`` -> :class:`~overcast.context.RequestContext` (401 if the
  token is invalid, expired or revoked) and ``enforce(rule, ctx)`` (403), the one place
  policy is decided;
* tokens: ``issue_token(auth_body)``, ``validate_token``, ``revoke_token``;
* ``bootstrap(admin_password)``: the default domain, the roles, the admin project and user;
* the resources (``directory``, ``assignments``, ``appcreds``) for the identity API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
import json
from typing import Any, cast

from sqlalchemy import select

from overcast.config import Config
from overcast.context import RequestContext
from overcast.db.models.identity import DEFAULT_DOMAIN_ID, GLOBAL_ROLE_DOMAIN, Project, Role, User
from overcast.errors import Forbidden, NotFound
from overcast.identity.appcreds import AppCredentials
from overcast.identity.assignments import Assignments, SystemAssignments
from overcast.identity.auth import Authenticator
from overcast.identity.catalog import catalog_json, endpoint_records
from overcast.identity.blobs import Blobs
from overcast.identity.catalog_store import CatalogStore
from overcast.identity.directory import Directory
from overcast.identity.domains import Domains
from overcast.identity.endpoint_filter import EndpointFilter
from overcast.identity.implied import ImpliedRoles
from overcast.identity.keys import KeyRepository
from overcast.identity.passwords import Passwords
from overcast.identity.revocation import add_revocation
from overcast.identity.throttle import THROTTLE_TOPIC, LoginThrottle, RemoteThrottle
from overcast.identity.tokens import TokenPayload, TokenProvider, new_audit_id
from overcast.identity.validation import TokenData, TokenResolver
from overcast.policy import ROLE_ORDER, required_role, role_satisfies

#: A rule whose required "role" is this needs only a valid token (scoped or not).
AUTHENTICATED = "authenticated"


def keys_dir(config: Config) -> Path:
    return config.resolve_path(config.identity.keys_dir, "fernet-keys")


@dataclass(frozen=True)
class BootstrapResult:
    domain_id: str
    project_id: str
    user_id: str
    role_ids: dict[str, str]  # name -> id


class IdentityService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        config: Config = runtime.config
        section = config.identity
        self.db = runtime.db
        self.ttl = timedelta(seconds=section.token_ttl)
        self.passwords = Passwords(section)
        self.keys = KeyRepository(keys_dir(config), section.max_active_keys)
        self.tokens = TokenProvider(self.keys)
        self.directory = Directory(self.db.session, self.passwords, section.token_ttl)
        self.assignments = Assignments(self.db.session)
        self.domains = Domains(self.db.session, section.token_ttl)
        self.implied = ImpliedRoles(self.db.session)
        self.catalog_store = CatalogStore(self.db.session)
        self.endpoint_filter = EndpointFilter(self.db.session)
        self.blobs = Blobs(self.db.session)
        self.appcreds = AppCredentials(self.db.session, self.passwords, section.token_ttl)
        self.system_assignments = SystemAssignments(self.db.session)
        self.resolver = TokenResolver(self.db, self.tokens, self.assignments, self.appcreds, self.system_assignments)
        self.resolver.watch.on_change(self.catalog_store.clear)
        self.resolver.watch.on_change(self.endpoint_filter.clear)
        self.authenticator = Authenticator(self)
        self.throttle: LoginThrottle | RemoteThrottle = (
            RemoteThrottle(runtime.bus) if getattr(runtime, "api_worker", False) else LoginThrottle(section)
        )

    def start(self) -> None:
        """Create the Fernet keys if this data dir has none yet; with API workers, serve them
        this process's login throttle."""
        self.keys.setup()
        if self.runtime.config.api.workers > 1:
            self.runtime.bus.serve(THROTTLE_TOPIC, self.throttle)

    def close(self) -> None:
        self.resolver.watch.close()

    # --- requests -----------------------------------------------------------------------

    def context_from_token(self, token: str, request_id: str = "") -> RequestContext:
        """The caller behind ``token``; raises ``Unauthorized`` if it is not valid now."""
        data = self.resolver.validate(token)
        return context_of(data, request_id, self.runtime.config.identity.admin_project)

    def enforce(self, rule: str, ctx: RequestContext) -> None:
        """Raise ``Forbidden`` unless ``ctx`` holds the role ``rule`` needs."""
        needed = required_role(rule)
        if needed == AUTHENTICATED:
            return
        if needed == "admin" and "admin" in ctx.roles and not ctx.is_admin:
            raise Forbidden(
                f"You are not authorized to perform the requested action: {rule}. "
                "The admin role administers the cloud only on the admin project."
            )
        if not role_satisfies(ctx.roles, needed):
            raise Forbidden(f"You are not authorized to perform the requested action: {rule}.")

    # --- tokens -------------------------------------------------------------------------

    def issue_token(self, auth_body: Any, source: str | None = None) -> TokenData:
        """Authenticate a ``{"auth": ...}`` body and issue a token (401 on bad credentials;
        failed logins are limited per user and per ``source`` address: 401 locked or 429)."""
        self.resolver.watch.check()  # see other processes' changes before deciding
        payload = self.authenticator.authenticate(auth_body, source)
        return self._issue(payload)

    def issue_token_for(self, user_id: str, project_id: str | None) -> TokenData:
        """A token for a known user without credentials: for trusted in-process callers
        (bootstrap, test fixtures), never reachable from the API."""
        self.resolver.watch.check()
        now = datetime.now(timezone.utc)
        payload = TokenPayload(
            user_id, ("password",), project_id, now, (now + self.ttl).replace(microsecond=0), (new_audit_id(),)
        )
        self.authenticator.check_usable(payload)
        return self._issue(payload)

    def _issue(self, payload: TokenPayload) -> TokenData:
        token = self.tokens.issue(payload)
        return self.resolver.resolve(payload, token)

    def validate_token(self, token: str) -> TokenData:
        return self.resolver.validate(token)

    def validate_subject_token(self, token: str, state_checked: bool = False) -> TokenData:
        """Like :meth:`validate_token`, but an invalid subject token is 404, as Keystone's
        ``GET /v3/auth/tokens`` answers. ``state_checked``: the caller's own token was
        validated in this same request, so the identity generation read then is current
        (see :meth:`TokenResolver.validate`)."""
        try:
            return self.resolver.validate(token, check_state=not state_checked)
        except Exception as exc:
            if getattr(exc, "status", None) == 401:
                raise NotFound(f"Could not find token: {token}.", code="TokenNotFound") from None
            raise

    def revoke_token(self, token: str) -> None:
        """Revoke ``token`` and every token re-scoped from it."""
        data = self.validate_subject_token(token)
        with self.db.session() as s:
            add_revocation(s, int(self.ttl.total_seconds()), audit_id=data.payload.audit_id)

    def catalog(self, project_id: str | None) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", json.loads(self.catalog_json(project_id)))

    def catalog_json(self, project_id: str | None) -> str:
        """The token catalog, serialized: Overcast's services and the stored ones, narrowed
        to the project's OS-EP-FILTER endpoints when it has any."""
        config = self.runtime.config
        stored = self.catalog_store.token_entries()
        only = self.endpoint_filter.allowed(project_id, self.all_endpoints) if project_id else None
        return catalog_json(
            config.api.base_url(), config.api.region, project_id, config.object_store_url(), stored, only
        )

    def all_endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint, Overcast's and the stored ones (id, service_id, region_id, interface, url)."""
        config = self.runtime.config
        out = endpoint_records(config.api.base_url(), config.api.region, config.object_store_url())
        out += [
            {"id": e.id, "service_id": e.service_id, "region_id": e.region_id, "interface": e.interface, "url": e.url}
            for e in self.catalog_store.list_endpoints()
        ]
        return out

    # --- bootstrap ----------------------------------------------------------------------

    def bootstrap(
        self, admin_password: str, admin_user: str = "admin", admin_project: str | None = None
    ) -> BootstrapResult:
        """Idempotent: create what is missing; an existing admin gets the given password
        and is enabled again (how an operator recovers a lost admin password). The admin
        project is ``[identity] admin_project`` unless named."""
        admin_project = admin_project or self.runtime.config.identity.admin_project or "admin"
        self.start()
        self.directory.ensure_default_domain()
        role_ids = {}
        for name in ROLE_ORDER:
            role_ids[name] = self._ensure(Role, name, lambda n=name: self.directory.create_role(n)).id
        for lower, higher in zip(ROLE_ORDER, ROLE_ORDER[1:]):  # admin -> member -> reader
            self.implied.create(role_ids[higher], role_ids[lower])
        project = self._ensure(
            Project,
            admin_project,
            lambda: self.directory.create_project(
                admin_project, description="Bootstrap project for the cloud administrator"
            ),
        )
        user = self._ensure(User, admin_user, lambda: self.directory.create_user(admin_user, password=admin_password))
        self.directory.update_user(user.id, {"password": admin_password, "enabled": True})
        self.assignments.grant("user", user.id, project.id, role_ids["admin"])
        self.system_assignments.grant("user", user.id, role_ids["admin"])  # as keystone-manage bootstrap does
        return BootstrapResult(DEFAULT_DOMAIN_ID, project.id, user.id, role_ids)

    def find_bootstrap(self, admin_user: str = "admin", admin_project: str = "admin") -> BootstrapResult | None:
        """What :meth:`bootstrap` made, if it ran (the admin holds admin on its project)."""
        with self.db.session() as s:
            roles = {
                r.name: r.id
                for r in s.scalars(select(Role).where(Role.name.in_(ROLE_ORDER), Role.domain_id == GLOBAL_ROLE_DOMAIN))
            }
            user = s.scalars(select(User).where(User.name == admin_user, User.domain_id == DEFAULT_DOMAIN_ID)).first()
            project = s.scalars(
                select(Project).where(Project.name == admin_project, Project.domain_id == DEFAULT_DOMAIN_ID)
            ).first()
        if user is None or project is None or len(roles) != len(ROLE_ORDER):
            return None
        if roles["admin"] not in {r.id for r in self.assignments.direct_roles("user", user.id, project.id)}:
            return None
        return BootstrapResult(DEFAULT_DOMAIN_ID, project.id, user.id, roles)

    def _ensure(self, model: type[Any], name: str, create: Any) -> Any:
        stmt = select(model).where(model.name == name)
        if model is Role:
            stmt = stmt.where(Role.domain_id == GLOBAL_ROLE_DOMAIN)
        elif hasattr(model, "domain_id"):
            stmt = stmt.where(model.domain_id == DEFAULT_DOMAIN_ID)
        with self.db.session() as s:
            found = s.scalars(stmt).first()
        return found if found is not None else create()


def context_of(data: TokenData, request_id: str = "", admin_project: str = "admin") -> RequestContext:
    p = data.payload
    project = data.project
    return RequestContext(
        # no admin project configured: the admin role on any project administers the cloud
        # (Keystone's default when admin_project_name is unset)
        is_admin_project=not admin_project
        or (project is not None and project.name == admin_project and project.domain_id == "default"),
        system_scope="all" if p.system else None,
        user_id=p.user_id,
        project_id=p.project_id,
        roles=data.role_names,
        user_name=data.user.name,
        project_name=data.project.name if data.project else "",
        domain_id=data.user.domain_id,
        audit_ids=p.audit_ids,
        expires_at=p.expires_at,
        request_id=request_id,
        auth_token=data.token,
        application_credential_id=p.application_credential_id,
    )
