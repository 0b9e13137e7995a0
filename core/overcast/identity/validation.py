"""Token validation: from a token string to everything a request needs to know.

The fast path is a dictionary hit: validated tokens, users, projects and role sets are
cached for a short time, and every cache is dropped as soon as the identity generation
moves (any process revoking a token, disabling a user, changing an assignment...). Every
validation still checks that generation and the token's expiry, and validated tokens are
dropped when the Fernet key set changes (a rotation may retire a key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from overcast.db.models.identity import Domain, Project, User
from overcast.identity.assignments import Assignments, RoleRef, SystemAssignments
from overcast.identity.cache import TTLCache
from overcast.identity.revocation import GenerationWatch
from overcast.identity.tokens import InvalidTokenError, TokenPayload, TokenProvider

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Named:
    id: str
    name: str
    domain_id: str
    domain_name: str
    enabled: bool = True


@dataclass(frozen=True)
class AppCredRef:
    id: str
    name: str
    restricted: bool


@dataclass(frozen=True)
class TokenData:
    """A valid token, resolved: who, which project, which roles, and its payload."""

    token: str
    payload: TokenPayload
    user: Named
    project: Named | None
    roles: tuple[RoleRef, ...]
    application_credential: AppCredRef | None = None

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.roles)


class TokenResolver:
    def __init__(
        self,
        db: Any,
        provider: TokenProvider,
        assignments: Assignments,
        appcreds: Any,
        system_assignments: SystemAssignments,
    ) -> None:
        self.db = db
        self.provider = provider
        self.assignments = assignments
        self.system_assignments = system_assignments
        self.appcreds = appcreds
        self.watch = GenerationWatch(db)
        self._tokens: TTLCache[TokenData] = TTLCache(CACHE_SECONDS, 20000)
        self._users: TTLCache[Named] = TTLCache(CACHE_SECONDS)
        self._projects: TTLCache[Named] = TTLCache(CACHE_SECONDS)
        self._roles: TTLCache[tuple[RoleRef, ...]] = TTLCache(CACHE_SECONDS)
        self._appcreds: TTLCache[Any] = TTLCache(CACHE_SECONDS)
        self._keyset: Any = None  # the key set the cached tokens were decrypted with
        self.watch.on_change(self.clear)

    def clear(self) -> None:
        for cache in (self._tokens, self._users, self._projects, self._roles, self._appcreds):
            cache.clear()

    # --- validation ---------------------------------------------------------------------

    def validate(self, token: str, check_state: bool = True) -> TokenData:
        """Raises :class:`InvalidTokenError` (401) for a malformed, unknown-key, expired or
        revoked token, or one whose user, project, role or credential is gone.

        ``check_state=False`` skips the generation read; only for a second token in the
        same request, right after a validation that did read it."""
        if check_state:
            self.watch.check()
        keyset = self.provider.keys.fernet()  # re-read from disk at most once a second
        if keyset is not self._keyset:
            # A rotation (here or by ``overcast keys rotate``) may have retired the key a
            # cached token was signed with: decrypt again from now on.
            self._tokens.clear()
            self._keyset = keyset
        now = datetime.now(timezone.utc)
        cached = self._tokens.get(token)
        if cached is not None:
            if cached.payload.expires_at <= now:
                raise InvalidTokenError("The token has expired.")
            return cached
        epoch = self._tokens.epoch
        payload = self.provider.decode(token, now)
        data = self.resolve(payload, token)
        self._tokens.put(token, data, epoch)
        return data

    def resolve(self, payload: TokenPayload, token: str = "") -> TokenData:
        """Check a decoded payload against current state (revocations, user, project,
        roles, application credential) and name everything in it."""
        if self.watch.revocations.is_revoked(payload):
            raise InvalidTokenError("The token has been revoked.")
        user = self.user(payload.user_id)
        if user is None or not user.enabled:
            raise InvalidTokenError()
        project = None
        roles: tuple[RoleRef, ...] = ()
        appcred_ref = None
        if payload.project_id:
            project = self.project(payload.project_id)
            if project is None or not project.enabled:
                raise InvalidTokenError()
            roles = self.roles(payload.user_id, payload.project_id)
        elif payload.system:
            roles = self.system_roles(payload.user_id)
            if not roles:
                raise InvalidTokenError()
        if payload.application_credential_id:
            cred = self._appcreds.get_or_load(
                payload.application_credential_id,
                lambda: self.appcreds.lookup(payload.application_credential_id) or False,
            )
            if (
                not cred
                or cred.user_id != payload.user_id
                or cred.project_id != payload.project_id
                or self.appcreds.is_expired(cred)
            ):
                raise InvalidTokenError()
            allowed = set(cred.role_ids)
            roles = tuple(r for r in roles if r.id in allowed)
            appcred_ref = AppCredRef(cred.id, cred.name, not cred.unrestricted)
        if payload.project_id and not roles:
            raise InvalidTokenError()
        return TokenData(token, payload, user, project, roles, appcred_ref)

    # --- cached lookups -----------------------------------------------------------------

    def user(self, user_id: str) -> Named | None:
        found = self._users.get(user_id)
        if found is None:
            epoch = self._users.epoch
            with self.db.session() as s:
                row = s.get(User, user_id)
                if row is None:
                    return None
                found = self._named(s, row)
            self._users.put(user_id, found, epoch)
        return found

    def project(self, project_id: str) -> Named | None:
        found = self._projects.get(project_id)
        if found is None:
            epoch = self._projects.epoch
            with self.db.session() as s:
                row = s.get(Project, project_id)
                if row is None:
                    return None
                found = self._named(s, row)
            self._projects.put(project_id, found, epoch)
        return found

    def system_roles(self, user_id: str) -> tuple[RoleRef, ...]:
        # "" is never a project id: system roles share the role cache (and its invalidation)
        return self._roles.get_or_load((user_id, ""), lambda: self.system_assignments.effective_roles(user_id))

    def roles(self, user_id: str, project_id: str) -> tuple[RoleRef, ...]:
        return self._roles.get_or_load(
            (user_id, project_id), lambda: self.assignments.effective_roles(user_id, project_id)
        )

    @staticmethod
    def _named(session: Any, row: Any) -> Named:
        """A user or project, enabled only while its domain is enabled too."""
        domain = session.get(Domain, row.domain_id)
        if domain is None:
            return Named(row.id, row.name, row.domain_id, row.domain_id, False)
        return Named(row.id, row.name, row.domain_id, domain.name, row.enabled and domain.enabled)
