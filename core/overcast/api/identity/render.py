"""Keystone v3 JSON shapes for tokens and resources (what clients read back)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from overcast.db.models.identity import (
    ApplicationCredential,
    CatalogService,
    Credential,
    Domain,
    Endpoint,
    Group,
    Policy,
    Project,
    Region,
    Role,
    User,
)
from overcast.identity.assignments import Assignment
from overcast.identity.validation import Named, TokenData

DEFAULT_DOMAIN_NAME = "Default"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json", headers=headers
    )


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    """An empty body with an explicit ``Content-Length: 0`` (Starlette leaves it out of
    204s; clients that reuse connections read it, as Keystone sends it)."""
    response = Response(b"", status_code=status, headers=headers)
    response.headers["content-length"] = "0"
    return response


def iso(moment: datetime | None) -> str | None:
    """Keystone's timestamps: ``2026-11-21T05:39:57.000000Z``."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def v3_url(request: Request, path: str = "") -> str:
    return str(request.base_url).rstrip("/") + "/identity/v3" + path


def collection(request: Request, key: str, items: list[dict[str, Any]]) -> Response:
    url = str(request.url)
    return json_response({key: items, "links": {"self": url, "previous": None, "next": None}})


# --- tokens ------------------------------------------------------------------------------


def _named(n: Named) -> dict[str, Any]:
    return {"id": n.id, "name": n.name, "domain": {"id": n.domain_id, "name": n.domain_name}}


def token_body(data: TokenData) -> dict[str, Any]:
    """``{"token": {...}}`` without the catalog (see :func:`token_response`)."""
    p = data.payload
    token: dict[str, Any] = {
        "methods": list(p.methods),
        "user": {**_named(data.user), "password_expires_at": None},
        "audit_ids": list(p.audit_ids),
        "expires_at": iso(p.expires_at),
        "issued_at": iso(p.issued_at),
    }
    if data.project is not None:
        token["project"] = _named(data.project)
        token["is_domain"] = False
        token["roles"] = [{"id": r.id, "name": r.name} for r in data.roles]
    elif p.system:
        token["system"] = {"all": True}
        token["roles"] = [{"id": r.id, "name": r.name} for r in data.roles]
    if data.application_credential is not None:
        ac = data.application_credential
        token["application_credential"] = {"id": ac.id, "name": ac.name, "restricted": ac.restricted}
    return {"token": token}


def token_response(data: TokenData, catalog_json: str | None, status: int) -> Response:
    """The token body with ``X-Subject-Token``. The catalog arrives serialized (it is cached
    per project) and is spliced in, which halves the cost of a validation response."""
    return Response(
        token_json(data, catalog_json),
        status_code=status,
        media_type="application/json",
        headers={"X-Subject-Token": data.token},
    )


#: Rendered validation bodies: token -> (the TokenData rendered, catalog, body). An entry is
#: used only while the resolver hands out that very TokenData object (its cache keeps one per
#: token until the token expires or identity state changes), so it is never stale.
_RENDERED: dict[str, tuple[TokenData, str | None, bytes]] = {}
_RENDERED_MAX = 2048


def token_json(data: TokenData, catalog_json: str | None) -> bytes:
    """The serialized ``{"token": {...}}`` body, with ``catalog_json`` spliced in if given."""
    hit = _RENDERED.get(data.token)
    if hit is not None and hit[0] is data and hit[1] is catalog_json:
        return hit[2]
    body = json.dumps(token_body(data), separators=(",", ":"))
    if catalog_json is not None:
        body = body[:-2] + ',"catalog":' + catalog_json + "}}"
    raw = body.encode()
    if len(_RENDERED) >= _RENDERED_MAX:
        _RENDERED.clear()
    _RENDERED[data.token] = (data, catalog_json, raw)
    return raw


# --- resources ---------------------------------------------------------------------------


def domain(request: Request, d: Domain) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "enabled": d.enabled,
        "tags": [],
        "options": {},
        "links": {"self": v3_url(request, f"/domains/{d.id}")},
    }


def domain_as_project(request: Request, d: Domain) -> dict[str, Any]:
    """A domain seen through ``/v3/projects`` (Keystone's ``is_domain`` projects)."""
    return {
        "id": d.id,
        "name": d.name,
        "domain_id": None,
        "description": d.description,
        "enabled": d.enabled,
        "parent_id": None,
        "is_domain": True,
        "tags": [],
        "options": {},
        "links": {"self": v3_url(request, f"/projects/{d.id}")},
    }


def project(request: Request, p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description,
        "enabled": p.enabled,
        "parent_id": p.parent_id or p.domain_id,
        "is_domain": False,
        "tags": list(p.tags or []),
        "options": {},
        "links": {"self": v3_url(request, f"/projects/{p.id}")},
    }


def user(request: Request, u: User) -> dict[str, Any]:
    body = {
        **(u.extra or {}),
        "id": u.id,
        "name": u.name,
        "domain_id": u.domain_id,
        "enabled": u.enabled,
        "password_expires_at": None,
        "options": {},
        "links": {"self": v3_url(request, f"/users/{u.id}")},
    }
    if u.description:
        body["description"] = u.description
    if u.default_project_id:
        body["default_project_id"] = u.default_project_id
    return body


def role(request: Request, r: Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "domain_id": r.domain_id or None,
        "description": r.description or None,
        "options": {},
        "links": {"self": v3_url(request, f"/roles/{r.id}")},
    }


def group(request: Request, g: Group) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "domain_id": g.domain_id,
        "description": g.description,
        "links": {"self": v3_url(request, f"/groups/{g.id}")},
    }


def app_credential(
    request: Request, c: ApplicationCredential, roles: Iterable[Role], secret: str | None = None
) -> dict[str, Any]:
    body = {
        "id": c.id,
        "name": c.name,
        "description": c.description or None,
        "user_id": c.user_id,
        "project_id": c.project_id,
        "roles": [{"id": r.id, "name": r.name, "domain_id": None} for r in roles],
        "unrestricted": c.unrestricted,
        # as Keystone stores and shows it: ISO 8601 with microseconds, no zone suffix
        "expires_at": c.expires_at.replace(tzinfo=None).isoformat(timespec="microseconds") if c.expires_at else None,
        "access_rules": [],
        "links": {"self": v3_url(request, f"/users/{c.user_id}/application_credentials/{c.id}")},
    }
    if secret is not None:
        body["secret"] = secret
    return body


def assignment(request: Request, a: Assignment, names: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``/v3/role_assignments`` row. ``names`` (for ``include_names``) maps ids to the
    rows they name."""

    def ref(ident: str, with_domain: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"id": ident}
        if names is not None and ident in names:
            obj = names[ident]
            out["name"] = obj.name
            if with_domain and getattr(obj, "domain_id", None):
                domain = names.get(obj.domain_id)
                out["domain"] = {"id": obj.domain_id, "name": domain.name if domain is not None else obj.domain_id}
        return out

    actor_path = "users" if a.actor_type == "user" else "groups"
    actor_id = a.inherited_from_group or a.actor_id
    if a.inherited_from_group:
        actor_path = "groups"
    if a.project_id is not None:
        scope: dict[str, Any] = {"project": ref(a.project_id, True)}
        target = f"/projects/{a.project_id}"
    else:
        scope = {"domain": ref(a.domain_id or "", False)}
        target = f"/domains/{a.domain_id}"
    role_id = a.prior_role_id or a.role_id
    link = f"{target}/{actor_path}/{actor_id}/roles/{role_id}"
    if a.inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
        link = f"/OS-INHERIT{link}/inherited_to_projects"
    elif a.source is not None:
        kind, source_id = a.source
        link = f"/OS-INHERIT/{kind}s/{source_id}/{actor_path}/{actor_id}/roles/{role_id}/inherited_to_projects"
    body: dict[str, Any] = {
        "role": ref(a.role_id, True),
        a.actor_type: ref(a.actor_id, True),
        "scope": scope,
        "links": {"assignment": v3_url(request, link)},
    }
    if a.inherited_from_group:
        body["links"]["membership"] = v3_url(request, f"/groups/{a.inherited_from_group}/users/{a.actor_id}")
    if a.prior_role_id:
        body["links"]["prior_role"] = v3_url(request, f"/roles/{a.prior_role_id}")
    return body


def role_ref(request: Request, r: Role) -> dict[str, Any]:
    """A role inside a role inference body."""
    return {"id": r.id, "name": r.name, "links": {"self": v3_url(request, f"/roles/{r.id}")}}


def region(request: Request, r: Region) -> dict[str, Any]:
    return {
        **(r.extra or {}),
        "id": r.id,
        "description": r.description,
        "parent_region_id": r.parent_region_id,
        "links": {"self": v3_url(request, f"/regions/{r.id}")},
    }


def service(request: Request, svc: CatalogService) -> dict[str, Any]:
    body = {**(svc.extra or {}), "id": svc.id, "type": svc.type, "enabled": svc.enabled}
    if svc.name:
        body["name"] = svc.name
    if svc.description:
        body["description"] = svc.description
    body["links"] = {"self": v3_url(request, f"/services/{svc.id}")}
    return body


def endpoint(request: Request, e: Endpoint) -> dict[str, Any]:
    return {
        **(e.extra or {}),
        "id": e.id,
        "service_id": e.service_id,
        "interface": e.interface,
        "region": e.region_id,
        "region_id": e.region_id,
        "url": e.url,
        "enabled": e.enabled,
        "links": {"self": v3_url(request, f"/endpoints/{e.id}")},
    }


def policy(request: Request, p: Policy) -> dict[str, Any]:
    return {
        **(p.extra or {}),
        "id": p.id,
        "type": p.type,
        "blob": p.blob,
        "links": {"self": v3_url(request, f"/policies/{p.id}")},
    }


def credential(request: Request, c: Credential) -> dict[str, Any]:
    return {
        **(c.extra or {}),
        "id": c.id,
        "user_id": c.user_id,
        "project_id": c.project_id,
        "type": c.type,
        "blob": c.blob,
        "links": {"self": v3_url(request, f"/credentials/{c.id}")},
    }
