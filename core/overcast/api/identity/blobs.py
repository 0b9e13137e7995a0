"""``/v3/policies`` (OS-POLICY blobs, admin only), ``/v3/credentials`` and OS-EC2's
``/v3/users/{id}/credentials/OS-EC2`` (ec2 credentials seen as access/secret pairs).

A credential belongs to a user: an admin sees and manages every one, anyone else only
their own (another user's credential answers 404)."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from fastapi import Body, Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, get_runtime
from overcast.api.identity import body as b
from overcast.api.identity import render
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.db.models.identity import Credential, Project, User
from overcast.errors import Forbidden, NotFound
from overcast.identity.blobs import credential_not_found, ec2_blob
from overcast.identity.directory import not_found
from overcast.runtime import Runtime

router = ResourceRouter()


def _extra(obj: dict[str, Any], known: set[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in known and k not in ("id", "links")}


# --- policies -----------------------------------------------------------------------------

_POLICY_FIELDS = {"type", "blob"}


@router.get("/v3/policies")
def list_policies(
    request: Request,
    type: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:policies:list")),
) -> Response:
    policies = runtime.identity.blobs.list_policies(type)
    return render.collection(request, "policies", [render.policy(request, p) for p in policies])


@router.post("/v3/policies")
def create_policy(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:policies:create")),
) -> Response:
    obj = b.entity(body, "policy")
    kind = b.string(obj, "type", required=True) or ""
    blob = b.string(obj, "blob", required=True, max_len=1 << 20) or ""
    policy = runtime.identity.blobs.create_policy(kind, blob, _extra(obj, _POLICY_FIELDS))
    return render.json_response({"policy": render.policy(request, policy)}, 201)


@router.get("/v3/policies/{policy_id}")
def show_policy(
    request: Request,
    policy_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:policies:show")),
) -> Response:
    return render.json_response({"policy": render.policy(request, runtime.identity.blobs.get_policy(policy_id))})


@router.patch("/v3/policies/{policy_id}")
def update_policy(
    request: Request,
    policy_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:policies:update")),
) -> Response:
    obj = b.entity(body, "policy")
    changes = _extra(obj, _POLICY_FIELDS)
    if "type" in obj:
        changes["type"] = b.string(obj, "type", required=True)
    if "blob" in obj:
        changes["blob"] = b.string(obj, "blob", required=True, max_len=1 << 20)
    policy = runtime.identity.blobs.update_policy(policy_id, changes)
    return render.json_response({"policy": render.policy(request, policy)})


@router.delete("/v3/policies/{policy_id}")
def delete_policy(
    policy_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:policies:delete")),
) -> Response:
    runtime.identity.blobs.delete_policy(policy_id)
    return render.empty_response(204)


# --- credentials --------------------------------------------------------------------------

_CREDENTIAL_FIELDS = {"user_id", "project_id", "type", "blob"}


def visible_credential(runtime: Runtime, ctx: RequestContext, credential_id: str) -> Credential:
    credential = runtime.identity.blobs.get_credential(credential_id)
    if not ctx.is_admin and credential.user_id != ctx.user_id:
        raise credential_not_found(credential_id)
    return credential


def _owner(ctx: RequestContext, user_id: str | None) -> None:
    """A non-admin acts on their own credentials only."""
    if not ctx.is_admin and user_id != ctx.user_id:
        raise b.invalid("user_id", "you may only manage your own credentials.")


@router.get("/v3/credentials")
def list_credentials(
    request: Request,
    user_id: str | None = None,
    type: str | None = None,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:credentials:list")),
) -> Response:
    if not ctx.is_admin:
        if user_id is not None and user_id != ctx.user_id:
            return render.collection(request, "credentials", [])
        user_id = ctx.user_id
    found = runtime.identity.blobs.list_credentials(user_id, type)
    return render.collection(request, "credentials", [render.credential(request, c) for c in found])


@router.post("/v3/credentials")
def create_credential(
    request: Request,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:credentials:create")),
) -> Response:
    obj = b.entity(body, "credential")
    user_id = b.string(obj, "user_id", required=True) or ""
    _owner(ctx, user_id)
    credential = runtime.identity.blobs.create_credential(
        user_id,
        b.string(obj, "type", required=True) or "",
        b.string(obj, "blob", required=True, max_len=1 << 16) or "",
        project_id=b.string(obj, "project_id"),
        extra=_extra(obj, _CREDENTIAL_FIELDS),
    )
    return render.json_response({"credential": render.credential(request, credential)}, 201)


@router.get("/v3/credentials/{credential_id}")
def show_credential(
    request: Request,
    credential_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:credentials:show")),
) -> Response:
    credential = visible_credential(runtime, ctx, credential_id)
    return render.json_response({"credential": render.credential(request, credential)})


@router.patch("/v3/credentials/{credential_id}")
def update_credential(
    request: Request,
    credential_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:credentials:update")),
) -> Response:
    visible_credential(runtime, ctx, credential_id)
    obj = b.entity(body, "credential")
    changes = _extra(obj, _CREDENTIAL_FIELDS)
    for field in ("user_id", "type"):
        if field in obj:
            changes[field] = b.string(obj, field, required=True)
    if "blob" in obj:
        changes["blob"] = b.string(obj, "blob", required=True, max_len=1 << 16)
    if "project_id" in obj:
        changes["project_id"] = b.string(obj, "project_id")
    if "user_id" in changes:
        _owner(ctx, changes["user_id"])
    credential = runtime.identity.blobs.update_credential(credential_id, changes)
    return render.json_response({"credential": render.credential(request, credential)})


@router.delete("/v3/credentials/{credential_id}")
def delete_credential(
    credential_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:credentials:delete")),
) -> Response:
    visible_credential(runtime, ctx, credential_id)
    runtime.identity.blobs.delete_credential(credential_id)
    return render.empty_response(204)


# --- OS-EC2: a user's EC2-style access/secret pairs, kept as ec2 credentials -----------------


def _ec2(request: Request, c: Credential) -> dict[str, Any]:
    blob = ec2_blob(c)
    return {
        "user_id": c.user_id,
        "tenant_id": c.project_id,
        "access": blob.get("access"),
        "secret": blob.get("secret"),
        "trust_id": blob.get("trust_id"),
        "links": {"self": render.v3_url(request, f"/users/{c.user_id}/credentials/OS-EC2/{blob.get('access')}")},
    }


def _ec2_owner(runtime: Runtime, ctx: RequestContext, user_id: str) -> None:
    """An admin, or the user themself (another user is not there: 404)."""
    if not ctx.is_admin and user_id != ctx.user_id:
        raise not_found("user", user_id)
    runtime.identity.directory.get(User, user_id)


def _ec2_credential(runtime: Runtime, user_id: str, access: str) -> Credential:
    try:
        credential = runtime.identity.blobs.get_credential(hashlib.sha256(access.encode()).hexdigest())
    except NotFound:
        credential = None
    if credential is None or credential.type != "ec2" or credential.user_id != user_id:
        raise NotFound(f"Could not find credential: {access}.", code="CredentialNotFound")
    return credential


@router.get("/v3/users/{user_id}/credentials/OS-EC2")
def list_ec2_credentials(
    request: Request,
    user_id: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:ec2_credentials:list")),
) -> Response:
    _ec2_owner(runtime, ctx, user_id)
    found = runtime.identity.blobs.list_credentials(user_id, "ec2")
    return render.collection(request, "credentials", [_ec2(request, c) for c in found])


@router.post("/v3/users/{user_id}/credentials/OS-EC2")
def create_ec2_credential(
    request: Request,
    user_id: str,
    body: Any = Body(None),
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:ec2_credentials:create")),
) -> Response:
    _ec2_owner(runtime, ctx, user_id)
    if not isinstance(body, dict):
        raise b.invalid("tenant_id", "'tenant_id' is a required property.")
    project_id = b.string(body, "tenant_id", required=True) or ""
    runtime.identity.directory.get(Project, project_id)
    if not runtime.identity.assignments.effective_roles(user_id, project_id):
        raise Forbidden(f"User {user_id} has no role on project {project_id}.")
    blob = json.dumps({"access": secrets.token_hex(16), "secret": secrets.token_hex(16), "trust_id": None})
    credential = runtime.identity.blobs.create_credential(user_id, "ec2", blob, project_id=project_id)
    return render.json_response({"credential": _ec2(request, credential)}, 201)


@router.get("/v3/users/{user_id}/credentials/OS-EC2/{access}")
def show_ec2_credential(
    request: Request,
    user_id: str,
    access: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:ec2_credentials:show")),
) -> Response:
    _ec2_owner(runtime, ctx, user_id)
    return render.json_response({"credential": _ec2(request, _ec2_credential(runtime, user_id, access))})


@router.delete("/v3/users/{user_id}/credentials/OS-EC2/{access}")
def delete_ec2_credential(
    user_id: str,
    access: str,
    runtime: Runtime = Depends(get_runtime),
    ctx: RequestContext = Depends(authorize("identity:ec2_credentials:delete")),
) -> Response:
    _ec2_owner(runtime, ctx, user_id)
    runtime.identity.blobs.delete_credential(_ec2_credential(runtime, user_id, access).id)
    return render.empty_response(204)
