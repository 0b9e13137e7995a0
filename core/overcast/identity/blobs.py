"""Policies (OS-POLICY) and credentials: blobs Keystone stores for other services.

A policy blob is stored and served back as given; Overcast never enforces it (its own
policy is :mod:`overcast.policy`). A credential belongs to a user (and optionally a
project); an ``ec2`` credential's blob is JSON with an ``access`` key, it needs a project,
and its id is the SHA-256 of the access key, as in Keystone, so one access key names one
credential.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from overcast.db.models.identity import Credential, Policy, Project, User
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.identity.directory import not_found


def policy_not_found(policy_id: str) -> NotFound:
    return NotFound(f"Could not find policy: {policy_id}.", code="PolicyNotFound")


def credential_not_found(credential_id: str) -> NotFound:
    return NotFound(f"Could not find credential: {credential_id}.", code="CredentialNotFound")


def ec2_credential_id(blob: str) -> str:
    """The id of an ``ec2`` credential: the SHA-256 of its access key (400 if there is none)."""
    try:
        parsed = json.loads(blob)
    except ValueError:
        parsed = None
    access = parsed.get("access") if isinstance(parsed, dict) else None
    if not isinstance(access, str) or not access:
        raise BadRequest("Invalid blob in credential: an ec2 credential's blob is JSON with an 'access' key.")
    return hashlib.sha256(access.encode()).hexdigest()


def ec2_blob(credential: Credential) -> dict[str, Any]:
    """An ec2 credential's blob as an object (empty if it does not parse)."""
    try:
        parsed = json.loads(credential.blob)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class Blobs:
    def __init__(self, session_factory: Callable[[], Any]) -> None:
        self.session = session_factory

    # --- policies ---------------------------------------------------------------------------

    def get_policy(self, policy_id: str) -> Policy:
        with self.session() as s:
            found = s.get(Policy, policy_id)
        if found is None:
            raise policy_not_found(policy_id)
        return found

    def list_policies(self, type: str | None = None) -> list[Policy]:
        stmt = select(Policy).order_by(Policy.created_at, Policy.id)
        if type is not None:
            stmt = stmt.where(Policy.type == type)
        with self.session() as s:
            return list(s.scalars(stmt))

    def create_policy(self, type: str, blob: str, extra: Mapping[str, Any] | None = None) -> Policy:
        policy = Policy(type=type, blob=blob, extra=dict(extra or {}))
        with self.session() as s:
            s.add(policy)
        return policy

    def update_policy(self, policy_id: str, changes: Mapping[str, Any]) -> Policy:
        with self.session() as s:
            policy = s.get(Policy, policy_id)
            if policy is None:
                raise policy_not_found(policy_id)
            for field in ("type", "blob"):
                if field in changes:
                    setattr(policy, field, changes[field])
            extra = {k: v for k, v in changes.items() if k not in ("type", "blob")}
            if extra:
                policy.extra = {**(policy.extra or {}), **extra}
            s.flush()
            return policy

    def delete_policy(self, policy_id: str) -> None:
        with self.session() as s:
            policy = s.get(Policy, policy_id)
            if policy is None:
                raise policy_not_found(policy_id)
            s.delete(policy)

    # --- credentials ------------------------------------------------------------------------

    def get_credential(self, credential_id: str) -> Credential:
        with self.session() as s:
            found = s.get(Credential, credential_id)
        if found is None:
            raise credential_not_found(credential_id)
        return found

    def list_credentials(self, user_id: str | None = None, type: str | None = None) -> list[Credential]:
        stmt = select(Credential).order_by(Credential.created_at, Credential.id)
        if user_id is not None:
            stmt = stmt.where(Credential.user_id == user_id)
        if type is not None:
            stmt = stmt.where(Credential.type == type)
        with self.session() as s:
            return list(s.scalars(stmt))

    def create_credential(
        self,
        user_id: str,
        type: str,
        blob: str,
        project_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Credential:
        credential = Credential(user_id=user_id, project_id=project_id, type=type, blob=blob, extra=dict(extra or {}))
        if type == "ec2":
            if not project_id:
                raise BadRequest("Invalid input for field 'project_id': an ec2 credential needs a project.")
            credential.id = ec2_credential_id(blob)
        try:
            with self.session() as s:
                if s.get(User, user_id) is None:
                    raise not_found("user", user_id)
                if project_id and s.get(Project, project_id) is None:
                    raise not_found("project", project_id)
                s.add(credential)
                s.flush()
        except IntegrityError:
            raise Conflict(
                f"Conflict occurred attempting to store credential - Duplicate ID, {credential.id}."
            ) from None
        return credential

    def update_credential(self, credential_id: str, changes: Mapping[str, Any]) -> Credential:
        with self.session() as s:
            credential = s.get(Credential, credential_id)
            if credential is None:
                raise credential_not_found(credential_id)
            kind = changes.get("type", credential.type)
            project_id = changes["project_id"] if "project_id" in changes else credential.project_id
            blob = changes.get("blob", credential.blob)
            if kind == "ec2":
                if not project_id:
                    raise BadRequest("Invalid input for field 'project_id': an ec2 credential needs a project.")
                if ec2_credential_id(blob) != credential_id and "blob" in changes and credential.type != "ec2":
                    raise BadRequest("Cannot turn a credential into an ec2 credential: its id would change.")
            if "user_id" in changes and s.get(User, changes["user_id"]) is None:
                raise not_found("user", changes["user_id"])
            if project_id and "project_id" in changes and s.get(Project, project_id) is None:
                raise not_found("project", project_id)
            for field in ("user_id", "project_id", "type", "blob"):
                if field in changes:
                    setattr(credential, field, changes[field])
            extra = {k: v for k, v in changes.items() if k not in ("user_id", "project_id", "type", "blob")}
            if extra:
                credential.extra = {**(credential.extra or {}), **extra}
            s.flush()
            return credential

    def delete_credential(self, credential_id: str) -> None:
        with self.session() as s:
            credential = s.get(Credential, credential_id)
            if credential is None:
                raise credential_not_found(credential_id)
            s.delete(credential)
