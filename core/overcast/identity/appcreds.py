"""Application credentials: a user's id + secret for automation, bound to one project and
a subset of the user's roles there, optionally expiring.

The secret is shown once, at creation, and stored as an argon2 hash. A credential's
effective roles are its roles that the user still holds on the project, so taking a role
away from the user takes it away from their credentials too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from overcast.db.models.base import utcnow
from overcast.db.models.identity import ApplicationCredential, User
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound
from overcast.identity.directory import check_name, not_found
from overcast.identity.passwords import Passwords
from overcast.identity.revocation import add_revocation


def parse_expiry(value: Any) -> datetime | None:
    """Keystone accepts ISO 8601 with or without ``Z``; stored as naive UTC."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRequest("Invalid input for field 'expires_at': an ISO 8601 date-time string is required.")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for field 'expires_at': {value!r} is not an ISO 8601 date-time.") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    if moment <= utcnow():
        raise BadRequest("Invalid input for field 'expires_at': the expiry is in the past.")
    return moment


class AppCredentials:
    def __init__(self, session_factory: Callable[[], Any], passwords: Passwords, token_ttl: int) -> None:
        self.session = session_factory
        self.passwords = passwords
        self.token_ttl = token_ttl

    def create(
        self,
        user_id: str,
        project_id: str,
        name: str,
        role_ids: Sequence[str],
        secret: str | None = None,
        description: str = "",
        expires_at: Any = None,
        unrestricted: bool = False,
    ) -> tuple[ApplicationCredential, str]:
        """Returns the stored credential and its secret (the only time it is readable)."""
        check_name(name)
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise BadRequest("Invalid input for field 'secret': a non-empty string is required.")
        if not role_ids:
            raise Forbidden("An application credential needs at least one role the user holds on the project.")
        expiry = parse_expiry(expires_at)
        secret = secret or secrets.token_urlsafe(64)
        cred = ApplicationCredential(
            name=name,
            user_id=user_id,
            project_id=project_id,
            secret_hash=self.passwords.hash(secret),
            description=description or "",
            role_ids=list(dict.fromkeys(role_ids)),
            unrestricted=bool(unrestricted),
            expires_at=expiry,
        )
        try:
            with self.session() as s:
                if s.get(User, user_id) is None:
                    raise not_found("user", user_id)
                s.add(cred)
                s.flush()
        except IntegrityError:
            raise Conflict(
                f"Conflict occurred attempting to store application_credential - Duplicate entry found with name {name}."
            ) from None
        return cred, secret

    def get(self, user_id: str, cred_id: str) -> ApplicationCredential:
        with self.session() as s:
            cred = s.get(ApplicationCredential, cred_id)
        if cred is None or cred.user_id != user_id:
            raise NotFound(f"Could not find application credential: {cred_id}.", code="ApplicationCredentialNotFound")
        return cred

    def find(self, user_id: str, name: str) -> ApplicationCredential:
        with self.session() as s:
            cred = s.scalars(
                select(ApplicationCredential).where(
                    ApplicationCredential.user_id == user_id, ApplicationCredential.name == name
                )
            ).first()
        if cred is None:
            raise NotFound(f"Could not find application credential: {name}.", code="ApplicationCredentialNotFound")
        return cred

    def lookup(self, cred_id: str) -> ApplicationCredential | None:
        with self.session() as s:
            return s.get(ApplicationCredential, cred_id)

    def list(self, user_id: str, name: str | None = None) -> list[ApplicationCredential]:
        stmt = (
            select(ApplicationCredential)
            .where(ApplicationCredential.user_id == user_id)
            .order_by(ApplicationCredential.name)
        )
        if name is not None:
            stmt = stmt.where(ApplicationCredential.name == name)
        with self.session() as s:
            return list(s.scalars(stmt))

    def delete(self, user_id: str, cred_id: str) -> None:
        """Delete and revoke every token obtained with it."""
        with self.session() as s:
            cred = s.get(ApplicationCredential, cred_id)
            if cred is None or cred.user_id != user_id:
                raise NotFound(
                    f"Could not find application credential: {cred_id}.", code="ApplicationCredentialNotFound"
                )
            s.delete(cred)
            add_revocation(s, self.token_ttl, application_credential_id=cred_id)

    def verify_secret(self, cred: ApplicationCredential, secret: str) -> bool:
        return self.passwords.verify(cred.secret_hash, secret)

    @staticmethod
    def is_expired(cred: ApplicationCredential) -> bool:
        return cred.expires_at is not None and cred.expires_at <= utcnow()
