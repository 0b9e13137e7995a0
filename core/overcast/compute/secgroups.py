"""A server's security groups (Nova's ``addSecurityGroup`` / ``removeSecurityGroup`` and
``GET /servers/{id}/os-security-groups``; issue 18), kept where Neutron keeps them: on the
server's ports. Each change is a port update through the network service, which applies it
to the running guest's port at once (``net_setup_port`` on its host)."""

from __future__ import annotations

from typing import Any

from overcast.compute.peers import require
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound


def _network(runtime: Any) -> Any:
    return require(runtime, "network", "ports", "Changing a server's security groups")


def _ports(runtime: Any, ctx: RequestContext, uuid: str) -> list[dict[str, Any]]:
    return [p for p in _network(runtime).ports.list(ctx) if p.get("device_id") == uuid]


def _group(runtime: Any, ctx: RequestContext, ref: Any) -> dict[str, Any]:
    if not isinstance(ref, str) or not ref:
        raise BadRequest("Invalid input for field/attribute name.")
    groups = [g for g in _network(runtime).security_groups.list(ctx) if g.get("project_id") == ctx.project_id]
    by_id = [g for g in groups if g["id"] == ref]
    by_name = [g for g in groups if g["name"] == ref]
    if by_id:
        return by_id[0]
    if len(by_name) > 1:
        raise BadRequest(f"Multiple security groups named {ref}: use the security group's id.")
    if not by_name:
        raise NotFound(f"Security group {ref} not found for project {ctx.project_id}.")
    return by_name[0]


def requested_groups(runtime: Any, ctx: RequestContext, value: Any) -> list[str] | None:
    """The ids of server create's ``security_groups`` (``[{"name": name or id}]``) of the
    caller's project; ``None`` when the request names none (ports get the project's default
    group). An unknown group is Nova's 400, before anything is made."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(g, dict) and set(g) == {"name"} for g in value):
        raise BadRequest("Invalid input for field/attribute security_groups.")
    ids: list[str] = []
    for item in value:
        try:
            group = _group(runtime, ctx, item["name"])
        except NotFound as exc:
            raise BadRequest(exc.message) from None
        if group["id"] not in ids:
            ids.append(group["id"])
    return ids


def server_groups(runtime: Any, ctx: RequestContext, compute: Any, uuid: str) -> list[dict[str, Any]]:
    """The security groups on the server's ports (Nova's os-security-groups view)."""
    compute.get_server(ctx, uuid)  # 404 for another project's server
    ids = {g for p in _ports(runtime, ctx, uuid) for g in p.get("security_groups", [])}
    net = _network(runtime)
    return [net.security_groups.get(ctx, gid) for gid in sorted(ids)]


def add(runtime: Any, ctx: RequestContext, compute: Any, uuid: str, name: Any) -> None:
    compute.get_server(ctx, uuid)
    group = _group(runtime, ctx, name)
    ports = _ports(runtime, ctx, uuid)
    if not ports:
        raise BadRequest(f"Unable to add security group {name} to server {uuid}: it has no ports.")
    for port in ports:
        if not port.get("port_security_enabled", True):
            raise BadRequest(
                "Network requires port_security_enabled and subnet associated in order to apply security groups."
            )
    for port in ports:
        current = list(port.get("security_groups", []))
        if group["id"] not in current:
            _network(runtime).ports.update(ctx, port["id"], {"port": {"security_groups": [*current, group["id"]]}})


def remove(runtime: Any, ctx: RequestContext, compute: Any, uuid: str, name: Any) -> None:
    compute.get_server(ctx, uuid)
    group = _group(runtime, ctx, name)
    ports = [p for p in _ports(runtime, ctx, uuid) if group["id"] in p.get("security_groups", [])]
    if not ports:
        raise BadRequest(f"Security group {name} not associated with the instance {uuid}")
    for port in ports:
        keep = [g for g in port["security_groups"] if g != group["id"]]
        _network(runtime).ports.update(ctx, port["id"], {"port": {"security_groups": keep}})
