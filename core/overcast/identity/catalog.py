"""The service catalog: every service's endpoint under the API's one base URL (the object
store's under its own when ``[objectstore] workers`` serve it on another port).

Types and URLs follow devstack's single-port layout (see the shared client notes). Both
``block-storage`` and ``volumev3`` are listed, because libcloud only knows ``volumev3``.
Ids are derived from the type and interface, so they are the same in every process.
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any

INTERFACES = ("public", "internal", "admin")
_NAMESPACE = uuid.UUID("5b7c0f0e-6d1a-4f4e-9a53-6f7665726361")


@dataclass(frozen=True)
class ServiceDef:
    type: str
    name: str
    path: str  # after the base URL; "{project_id}" is filled in per token
    description: str


SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef("identity", "keystone", "/identity", "Identity (Keystone v3)"),
    ServiceDef("compute", "nova", "/compute/v2.1", "Compute (Nova v2.1)"),
    ServiceDef("image", "glance", "/image", "Image (Glance v2)"),
    ServiceDef("block-storage", "cinder", "/volume/v3/{project_id}", "Block storage (Cinder v3)"),
    ServiceDef("volumev3", "cinderv3", "/volume/v3/{project_id}", "Block storage (Cinder v3)"),
    ServiceDef("network", "neutron", "/networking", "Networking (Neutron v2.0)"),
    ServiceDef("object-store", "swift", "/object/v1/AUTH_{project_id}", "Object storage (Swift v1)"),
    ServiceDef("load-balancer", "octavia", "/load-balancer", "Load balancing (Octavia v2)"),
)
# --- orchestration ---
SERVICES += (ServiceDef("orchestration", "heat", "/orchestration/v1/{project_id}", "Orchestration (Heat v1)"),)


def stable_id(*parts: str) -> str:
    return uuid.uuid5(_NAMESPACE, "/".join(parts)).hex


def service_id(svc: ServiceDef) -> str:
    return stable_id("service", svc.type)


def endpoint_id(svc: ServiceDef, interface: str) -> str:
    return stable_id("endpoint", svc.type, interface)


def _base(svc: ServiceDef, base_url: str, object_url: str | None) -> str:
    return object_url if object_url and svc.type == "object-store" else base_url


@functools.lru_cache(maxsize=4096)
def catalog_json(
    base_url: str,
    region: str,
    project_id: str | None,
    object_url: str | None = None,
    stored: tuple[Any, ...] = (),
    only: frozenset[str] | None = None,
) -> str:
    """The catalog already serialized, cached per project (and stored catalog entries):
    token responses embed it as is. ``only``: the endpoint ids to keep (OS-EP-FILTER)."""
    catalog = _build_catalog(base_url, region, project_id, object_url, stored)
    if only is not None:
        for svc in catalog:
            svc["endpoints"] = [e for e in svc["endpoints"] if e["id"] in only]
        catalog = [svc for svc in catalog if svc["endpoints"]]
    return json.dumps(catalog, separators=(",", ":"))


def build_catalog(
    base_url: str, region: str, project_id: str | None, object_url: str | None = None, stored: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """The token's ``catalog`` (a fresh copy)."""
    return json.loads(catalog_json(base_url, region, project_id, object_url, stored))


_PROJECT_TEMPLATES = ("$(project_id)s", "$(tenant_id)s", "%(project_id)s", "%(tenant_id)s")


def _fill(url: str, project_id: str | None) -> str | None:
    """A stored endpoint URL with Keystone's project templates filled in; ``None`` when it
    needs a project and there is none."""
    for template in _PROJECT_TEMPLATES:
        if template in url:
            if not project_id:
                return None
            url = url.replace(template, project_id)
    return url


def _stored_endpoints(endpoints: tuple[Any, ...], project_id: str | None) -> list[dict[str, Any]]:
    out = []
    for endpoint_id, interface, region_id, url in endpoints:
        filled = _fill(url, project_id)
        if filled is not None:
            out.append(
                {"id": endpoint_id, "interface": interface, "region": region_id, "region_id": region_id, "url": filled}
            )
    return out


def _build_catalog(
    base_url: str, region: str, project_id: str | None, object_url: str | None, stored: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """The token's ``catalog``: Overcast's services, then the stored ones (``stored``: see
    :meth:`~overcast.identity.catalog_store.CatalogStore.token_entries`). Without a project,
    endpoints whose URL needs one are left out (Keystone does the same for unscoped tokens)."""
    extra = {entry[0]: entry for entry in stored}
    out = []
    for svc in SERVICES:
        if "{project_id}" in svc.path and not project_id:
            continue
        url = _base(svc, base_url, object_url) + svc.path.format(project_id=project_id or "")
        out.append(
            {
                "id": service_id(svc),
                "type": svc.type,
                "name": svc.name,
                "endpoints": [
                    {
                        "id": endpoint_id(svc, iface),
                        "interface": iface,
                        "region": region,
                        "region_id": region,
                        "url": url,
                    }
                    for iface in INTERFACES
                ]
                + _stored_endpoints(extra.pop(service_id(svc), ("", "", "", ()))[3], project_id),
            }
        )
    for sid, kind, name, endpoints in extra.values():
        if kind:  # a stored service (an unknown id here is an endpoint of a deleted one)
            out.append({"id": sid, "type": kind, "name": name, "endpoints": _stored_endpoints(endpoints, project_id)})
    return out


def service_records(base_url: str) -> list[dict[str, Any]]:
    """``/v3/services`` entries (without links)."""
    return [
        {"id": service_id(s), "type": s.type, "name": s.name, "description": s.description, "enabled": True}
        for s in SERVICES
    ]


def endpoint_records(base_url: str, region: str, object_url: str | None = None) -> list[dict[str, Any]]:
    """``/v3/endpoints`` entries: URLs keep Keystone's ``$(project_id)s`` template."""
    return [
        {
            "id": endpoint_id(s, iface),
            "service_id": service_id(s),
            "interface": iface,
            "region": region,
            "region_id": region,
            "url": _base(s, base_url, object_url) + s.path.replace("{project_id}", "$(project_id)s"),
            "enabled": True,
        }
        for s in SERVICES
        for iface in INTERFACES
    ]
