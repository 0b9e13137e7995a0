"""Helpers the core's resource types share: physical names, name-or-id look-ups through the
APIs, and deletes that treat "already gone" as done."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from overcast.orchestration.errors import ResourceFailure
from overcast.orchestration.resource import ApiError, ResourceContext

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def short_id(n: int = 12) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def physical_name(rc: ResourceContext) -> str:
    """Heat's ``STACK-RESOURCE-SHORTID`` name, made once and kept."""
    if "physical_name" not in rc.data:
        rc.data["physical_name"] = f"{rc.stack_name}-{rc.name}-{short_id()}"[:255]
    return str(rc.data["physical_name"])


def name_or_physical(rc: ResourceContext, key: str = "name") -> str:
    value = rc.properties.get(key)
    return str(value) if value else physical_name(rc)


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def find(rc: ResourceContext, service: str, collection: str, key: str, value: str, path: str | None = None) -> str:
    """The id of the ``key`` object named or identified by ``value`` (Heat's lookup: by id,
    then by name; ``NotFound`` or ``PhysicalResourceNameAmbiguity`` otherwise)."""
    base = path or f"/{collection}"
    if is_uuid(value):  # a name is looked up by name at once, as Heat does
        try:
            body = rc.api.call(service, "GET", f"{base}/{quote(value, safe='')}")
            return str(body[key]["id"])
        except ApiError as exc:
            if exc.status not in (400, 404):
                raise
    body = rc.api.call(service, "GET", f"{base}?name={quote(value, safe='')}")
    items = [i for i in body.get(collection.replace("-", "_"), []) if i.get("name") == value]
    if not items:
        entity = {"networks": "Network", "subnets": "Subnet", "ports": "Port", "routers": "Router"}.get(collection, key)
        raise ResourceFailure("NotFound", f"The {entity} ({value}) could not be found.")
    if len(items) > 1:
        raise ResourceFailure(
            "PhysicalResourceNameAmbiguity", f"Multiple physical resources were found with name ({value})."
        )
    return str(items[0]["id"])


def find_network(rc: ResourceContext, value: str) -> str:
    return find(rc, "network", "networks", "network", value, "/v2.0/networks")


def find_subnet(rc: ResourceContext, value: str) -> str:
    return find(rc, "network", "subnets", "subnet", value, "/v2.0/subnets")


def find_port(rc: ResourceContext, value: str) -> str:
    return find(rc, "network", "ports", "port", value, "/v2.0/ports")


def find_router(rc: ResourceContext, value: str) -> str:
    return find(rc, "network", "routers", "router", value, "/v2.0/routers")


def find_security_group(rc: ResourceContext, value: str) -> str:
    return find(rc, "network", "security-groups", "security_group", value, "/v2.0/security-groups")


def _lookup(rc: ResourceContext, service: str, path: str) -> Any:
    """A look-up GET, through the API's per-action cache when it has one."""
    cached = getattr(rc.api, "lookup", None)
    return cached(service, path) if cached is not None else rc.api.call(service, "GET", path)


def find_image(rc: ResourceContext, value: str) -> str:
    if is_uuid(value):
        try:
            return str(rc.api.call("image", "GET", f"/v2/images/{quote(value, safe='')}")["id"])
        except ApiError as exc:
            if exc.status not in (400, 404):
                raise
    images = _lookup(rc, "image", f"/v2/images?name={quote(value, safe='')}").get("images", [])
    if not images:
        raise ResourceFailure("NotFound", f"Image {value} could not be found.")
    if len(images) > 1:
        raise ResourceFailure(
            "PhysicalResourceNameAmbiguity", f"Multiple physical resources were found with name ({value})."
        )
    return str(images[0]["id"])


def find_flavor(rc: ResourceContext, value: str) -> str:
    """By id or name from one listing (flavor ids need not be UUIDs)."""
    for _ in range(2):  # the cached listing, then a fresh one (a flavor made since)
        flavors = _lookup(rc, "compute", "/flavors").get("flavors", [])
        for key in ("id", "name"):
            for f in flavors:
                if f.get(key) == value:
                    return str(f["id"])
        forget = getattr(rc.api, "forget", None)
        if forget is None:
            break
        forget("compute", "/flavors")
    raise ResourceFailure("NotFound", f"Flavor {value} could not be found.")


def gone(call: Callable[[], Any]) -> bool:
    """Run a delete (or a read): True when the object does not exist (404)."""
    try:
        call()
    except ApiError as exc:
        if exc.status == 404:
            return True
        raise
    return False


def show(rc: ResourceContext, service: str, path: str, key: str) -> dict[str, Any] | None:
    """The object as its API shows it, or None when it is gone."""
    if not rc.resource_id:
        return None
    try:
        body = rc.api.call(service, "GET", path)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return body.get(key) if isinstance(body, dict) else None
