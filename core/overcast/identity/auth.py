"""``POST /v3/auth/tokens``: the three auth methods and scoping, as Keystone v3 does them.

* ``password``: a user by id, or by name with a domain (by id or name);
* ``token``: re-scope an existing token (keeps its expiry; the audit chain records it);
* ``application_credential``: by id, or by name with its user; the scope comes from the
  credential and must not be given.

Any failure to prove who you are is the same 401, so a caller cannot tell a wrong
password from an unknown user. Malformed requests are 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from overcast.db.models.identity import Domain, Project, User
from overcast.errors import BadRequest, Forbidden, Unauthorized
from overcast.identity.tokens import METHOD_BITS, InvalidTokenError, TokenPayload, new_audit_id

AUTH_FAILED = "The request you have made requires authentication."


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadRequest(f"Invalid input for field '{where}': an object is required.")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Invalid input for field '{where}': a non-empty string is required.")
    return value


class Authenticator:
    """Turns an ``auth`` request body into the payload of a new token."""

    def __init__(self, service: Any) -> None:
        self.svc = service

    def authenticate(self, body: Any, source: str | None = None) -> TokenPayload:
        """``source``: the client's address, for the per-source limit on failed logins."""
        auth = _obj(_obj(body, "body").get("auth"), "auth")
        identity = _obj(auth.get("identity"), "identity")
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
            raise BadRequest("Invalid input for field 'identity/methods': a non-empty list of strings is required.")
        scope = auth.get("scope")
        if scope is not None and scope != "unscoped":
            scope = _obj(scope, "scope")
        now = datetime.now(timezone.utc)
        method = methods[0]
        if len(set(methods)) > 1:
            raise BadRequest("Only one authentication method per request is supported.")
        if method == "password":
            user_id = self._password(_obj(identity.get("password"), "identity/password"), source)
            return self._scoped(user_id, ("password",), scope, now, now + self.svc.ttl, None)
        if method == "token":
            return self._rescope(_obj(identity.get("token"), "identity/token"), scope, now)
        if method == "application_credential":
            if scope:
                raise BadRequest("An application credential carries its own scope; do not give one.")
            return self._app_credential(
                _obj(identity.get("application_credential"), "identity/application_credential"), now
            )
        raise Unauthorized(f"Attempted to authenticate with an unsupported method: {method}.")

    # --- methods ------------------------------------------------------------------------

    def _password(self, password: Mapping[str, Any], source: str | None) -> str:
        user_ref = _obj(password.get("user"), "identity/password/user")
        secret = user_ref.get("password")
        if not isinstance(secret, str):
            raise BadRequest("Invalid input for field 'identity/password/user/password': a string is required.")
        user = self._find_user(user_ref, "identity/password/user")
        # an unknown user is counted under the name asked for, so it is limited the same way
        key = user.id if user is not None else repr(sorted((k, str(v)) for k, v in user_ref.items() if k != "password"))
        self.svc.throttle.check(key, user.id if user is not None else None, source)
        stored = user.password_hash if user is not None else None
        ok = self.svc.passwords.verify(stored, secret)
        if not ok or user is None or not user.enabled:
            self.svc.throttle.failed(key, source)
            raise Unauthorized(AUTH_FAILED)
        self.svc.throttle.succeeded(key)
        if stored and self.svc.passwords.needs_rehash(stored):
            self.svc.directory.set_password_hash(user.id, self.svc.passwords.hash(secret))
        return user.id

    def _rescope(self, token_ref: Mapping[str, Any], scope: Any, now: datetime) -> TokenPayload:
        token = _str(token_ref.get("id"), "identity/token/id")
        parent = self.svc.resolver.validate(token)
        if parent.application_credential is not None:
            raise Forbidden("A token obtained with an application credential cannot be re-scoped.")
        p = parent.payload
        methods = tuple(m for m in METHOD_BITS if m == "token" or m in p.methods)
        return self._scoped(p.user_id, methods, scope, now, p.expires_at, p.audit_chain_id)

    def _app_credential(self, ref: Mapping[str, Any], now: datetime) -> TokenPayload:
        secret = ref.get("secret")
        if not isinstance(secret, str):
            raise BadRequest("Invalid input for field 'identity/application_credential/secret': a string is required.")
        cred = None
        if ref.get("id") is not None:
            cred = self.svc.appcreds.lookup(_str(ref.get("id"), "identity/application_credential/id"))
        else:
            name = _str(ref.get("name"), "identity/application_credential/name")
            user = self._find_user(
                _obj(ref.get("user"), "identity/application_credential/user"), "identity/application_credential/user"
            )
            if user is not None:
                found = self.svc.appcreds.list(user.id, name=name)
                cred = found[0] if found else None
        ok = (
            self.svc.appcreds.verify_secret(cred, secret)
            if cred is not None
            else self.svc.passwords.verify(None, secret)
        )
        if not ok or cred is None or self.svc.appcreds.is_expired(cred):
            raise Unauthorized(AUTH_FAILED)
        user_row = self.svc.resolver.user(cred.user_id)
        if user_row is None or not user_row.enabled:
            raise Unauthorized(AUTH_FAILED)
        expires = now + self.svc.ttl
        if cred.expires_at is not None:
            expires = min(expires, cred.expires_at.replace(tzinfo=timezone.utc))
        payload = TokenPayload(
            user_id=cred.user_id,
            methods=("application_credential",),
            project_id=cred.project_id,
            issued_at=now,
            expires_at=_whole_second(expires),
            audit_ids=(new_audit_id(),),
            application_credential_id=cred.id,
        )
        self.check_usable(payload)
        return payload

    # --- scope --------------------------------------------------------------------------

    def _scoped(
        self,
        user_id: str,
        methods: tuple[str, ...],
        scope: Any,
        now: datetime,
        expires: datetime,
        parent_audit: str | None,
    ) -> TokenPayload:
        project_id = None
        system = False
        if scope and scope != "unscoped":
            if "project" in scope:
                project_id = self._find_project(_obj(scope["project"], "scope/project"))
            elif "system" in scope:
                if _obj(scope["system"], "scope/system") != {"all": True}:
                    raise BadRequest("Invalid input for field 'scope/system': only {'all': true} is a system scope.")
                system = True
            elif "domain" in scope or "OS-TRUST:trust" in scope:
                raise BadRequest("Only project-scoped, system-scoped and unscoped tokens are supported.")
            else:
                raise BadRequest("Invalid input for field 'scope': a project is required.")
        elif scope is None:
            default = self._default_project(user_id)
            if default is not None:
                project_id = default
        audits = (new_audit_id(), parent_audit) if parent_audit else (new_audit_id(),)
        payload = TokenPayload(user_id, methods, project_id, now, _whole_second(expires), audits, system=system)
        self.check_usable(payload)
        return payload

    def check_usable(self, payload: TokenPayload) -> None:
        """The new token must resolve now (user enabled, project enabled, some role)."""
        try:
            self.svc.resolver.resolve(payload)
        except InvalidTokenError:
            if payload.project_id:
                raise Unauthorized(f"User {payload.user_id} has no access to project {payload.project_id}.") from None
            if payload.system:
                raise Unauthorized(f"User {payload.user_id} has no access to the system.") from None
            raise Unauthorized(AUTH_FAILED) from None

    def _default_project(self, user_id: str) -> str | None:
        with self.svc.db.session() as s:
            user = s.get(User, user_id)
            pid = user.default_project_id if user is not None else None
        if pid and self.svc.resolver.roles(user_id, pid):
            return pid
        return None

    # --- lookups ------------------------------------------------------------------------

    def _domain_id(self, ref: Any, where: str) -> str:
        ref = _obj(ref, where)
        if ref.get("id") is not None:
            return _str(ref["id"], f"{where}/id")
        name = _str(ref.get("name"), f"{where}/name")
        with self.svc.db.session() as s:
            domain = s.scalars(select(Domain).where(Domain.name == name)).first()
        if domain is None:
            raise Unauthorized(AUTH_FAILED)
        return domain.id

    def _find_user(self, ref: Mapping[str, Any], where: str) -> User | None:
        with self.svc.db.session() as s:
            if ref.get("id") is not None:
                return s.get(User, _str(ref["id"], f"{where}/id"))
            name = _str(ref.get("name"), f"{where}/name")
            if ref.get("domain") is None:
                raise BadRequest(f"Invalid input for field '{where}/domain': a user given by name needs its domain.")
            domain_id = self._domain_id(ref["domain"], f"{where}/domain")
            return s.scalars(select(User).where(User.name == name, User.domain_id == domain_id)).first()

    def _find_project(self, ref: Mapping[str, Any]) -> str:
        with self.svc.db.session() as s:
            if ref.get("id") is not None:
                project = s.get(Project, _str(ref["id"], "scope/project/id"))
            else:
                name = _str(ref.get("name"), "scope/project/name")
                domain_id = (
                    self._domain_id(ref["domain"], "scope/project/domain") if ref.get("domain") is not None else None
                )
                if domain_id is None:
                    raise BadRequest(
                        "Invalid input for field 'scope/project/domain': a project given by name needs its domain."
                    )
                project = s.scalars(select(Project).where(Project.name == name, Project.domain_id == domain_id)).first()
        if project is None:
            raise Unauthorized(AUTH_FAILED)
        return project.id


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)
