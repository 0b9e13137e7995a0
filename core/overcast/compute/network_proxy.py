"""Nova's network proxy APIs before 2.36 (``os-security-groups``, ``os-security-group-rules``,
``os-floating-ips``, ``os-floating-ip-pools``, ``os-tenant-networks``): Nova's shapes and
errors over the network service, as Nova's Neutron driver translates them. Nothing is kept
here; every call is a call to the network service with the caller's context."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from overcast.compute.peers import require
from overcast.context import RequestContext
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound, OvercastError

PROTOCOLS = ("tcp", "udp", "icmp")


def network(runtime: Any) -> Any:
    return require(runtime, "network", "security_groups", "Nova's network proxy APIs")


# --- security groups ---------------------------------------------------------------------------


def rule_view(rule: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """One Neutron ingress rule in Nova's form: a rule with no ports means every port
    (1-65535 for TCP and UDP, -1 for ICMP); a rule without a remote group has a CIDR."""
    protocol = rule.get("protocol")
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if protocol and low is None and high is None:
        low, high = (1, 65535) if protocol.lower() in ("tcp", "udp") else (-1, -1)
    view: dict[str, Any] = {
        "id": rule["id"],
        "parent_group_id": rule["security_group_id"],
        "ip_protocol": protocol,
        "from_port": low,
        "to_port": high,
        "group": {},
        "ip_range": {},
    }
    remote = rule.get("remote_group_id")
    if remote:
        view["group"] = {"name": names.get(remote, ""), "tenant_id": rule.get("project_id") or ""}
    else:
        default = "0.0.0.0/0" if rule.get("ethertype", "IPv4") == "IPv4" else "::/0"
        view["ip_range"] = {"cidr": rule.get("remote_ip_prefix") or default}
    return view


def group_view(group: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A Neutron security group in Nova's form: its ingress rules only."""
    return {
        "id": group["id"],
        "name": group["name"],
        "description": group.get("description") or "",
        "tenant_id": group.get("project_id") or "",
        "rules": [rule_view(r, names) for r in group.get("security_group_rules", []) if r["direction"] == "ingress"],
    }


def _names(runtime: Any, ctx: RequestContext) -> dict[str, str]:
    return {g["id"]: g["name"] for g in network(runtime).security_groups.list(ctx)}


def _check_id(value: Any, what: str = "Security group id") -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"{what} should be uuid") from None


def _group_not_found(group_id: Any) -> NotFound:
    return NotFound(f"Security group {group_id} not found.")


def get_group(runtime: Any, ctx: RequestContext, group_id: str) -> dict[str, Any]:
    _check_id(group_id)
    try:
        group = network(runtime).security_groups.get(ctx, group_id)
    except NotFound:
        raise _group_not_found(group_id) from None
    return group_view(group, _names(runtime, ctx))


def list_groups(runtime: Any, ctx: RequestContext, all_tenants: bool) -> list[dict[str, Any]]:
    groups = network(runtime).security_groups.list(ctx)
    if not (all_tenants and ctx.is_admin):
        groups = [g for g in groups if g.get("project_id") == ctx.project_id]
    names = {g["id"]: g["name"] for g in groups}
    return [group_view(g, names) for g in groups]


def _group_fields(body: Any) -> dict[str, str]:
    values = body.get("security_group") if isinstance(body, dict) else None
    if not isinstance(values, dict):
        raise BadRequest("Invalid input for field/attribute security_group.")
    out = {}
    for field in ("name", "description"):
        value = values.get(field)
        if not isinstance(value, str):
            raise BadRequest(f"Security group {field} is not a string or unicode")
        if not value.strip() or len(value) > 255:
            raise BadRequest(f"Security group {field} should not be empty or longer than 255 characters.")
        out[field] = value
    return out


def create_group(runtime: Any, ctx: RequestContext, body: Any) -> dict[str, Any]:
    fields = _group_fields(body)
    group = network(runtime).security_groups.create(ctx, {"security_group": fields})
    return group_view(group, {})


def update_group(runtime: Any, ctx: RequestContext, group_id: str, body: Any) -> dict[str, Any]:
    _check_id(group_id)
    fields = _group_fields(body)
    try:
        group = network(runtime).security_groups.update(ctx, group_id, {"security_group": fields})
    except NotFound:
        raise _group_not_found(group_id) from None
    return group_view(group, _names(runtime, ctx))


def delete_group(runtime: Any, ctx: RequestContext, group_id: str) -> None:
    _check_id(group_id)
    net = network(runtime)
    try:
        group = net.security_groups.get(ctx, group_id)
    except NotFound:
        raise _group_not_found(group_id) from None
    if group["name"] == "default":
        raise BadRequest("Removing default security group not allowed.")
    try:
        net.security_groups.delete(ctx, group_id)
    except Conflict as exc:  # in use by a port
        raise BadRequest(exc.message) from None


def _port(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid port range {value}. {field} must be an integer.") from None


def create_rule(runtime: Any, ctx: RequestContext, body: Any) -> dict[str, Any]:
    """Nova's ``security_group_rule`` as a Neutron ingress rule, with Nova's checks."""
    values = body.get("security_group_rule") if isinstance(body, dict) else None
    if not isinstance(values, dict):
        raise BadRequest("Invalid input for field/attribute security_group_rule.")
    parent = values.get("parent_group_id")
    if parent is None:
        raise BadRequest("Missing parent_group_id in security_group_rule.")
    _check_id(parent, "Security group id")
    net = network(runtime)
    try:
        net.security_groups.get(ctx, str(parent))
    except NotFound:
        raise _group_not_found(parent) from None
    protocol = values.get("ip_protocol")
    from_port, to_port = values.get("from_port"), values.get("to_port")
    rule: dict[str, Any] = {"security_group_id": str(parent), "direction": "ingress", "ethertype": "IPv4"}
    if protocol is not None:
        if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
            raise BadRequest(f"Invalid IP protocol {protocol}.")
        protocol = protocol.lower()
        low, high = _port(from_port, "from_port"), _port(to_port, "to_port")
        if protocol == "icmp":
            if not (-1 <= low <= 255 and -1 <= high <= 255):
                raise BadRequest(f"Invalid port range {low}:{high}. ICMP type and code must be -1 to 255.")
            if low != -1:
                rule.update(port_range_min=low, port_range_max=None if high == -1 else high)
        else:
            if not (1 <= low <= 65535 and 1 <= high <= 65535):
                raise BadRequest(f"Invalid port range {low}:{high}. Valid TCP ports should be between 1-65535")
            if low > high:
                raise BadRequest(f"Invalid port range {low}:{high}. Former value cannot be greater than the later")
            rule.update(port_range_min=low, port_range_max=high)
        rule["protocol"] = protocol
    elif from_port is not None or to_port is not None:
        raise BadRequest("Invalid input: ports need ip_protocol.")
    group_id, cidr = values.get("group_id"), values.get("cidr")
    if group_id is not None and cidr is not None:
        raise BadRequest("Only one of cidr and group_id may be given.")
    if group_id is not None:
        _check_id(group_id, "Security group id")
        try:
            net.security_groups.get(ctx, str(group_id))
        except NotFound:
            raise _group_not_found(group_id) from None
        rule["remote_group_id"] = str(group_id)
    else:
        try:
            network_cidr = ipaddress.ip_network(cidr or "0.0.0.0/0", strict=False)
        except ValueError:
            raise BadRequest(f"Invalid cidr {cidr}.") from None
        rule["ethertype"] = f"IPv{network_cidr.version}"
        # as given (Nova's parse_cidr): Neutron keeps the host bits, Nova shows them back
        rule["remote_ip_prefix"] = str(ipaddress.ip_interface(cidr or "0.0.0.0/0"))
    try:
        made = net.security_groups.create_rule(ctx, {"security_group_rule": rule})
    except Conflict:
        raise BadRequest(f"Security group rule already exists. Group id is {parent}.") from None
    return rule_view(made, _names(runtime, ctx))


def delete_rule(runtime: Any, ctx: RequestContext, rule_id: str) -> None:
    _check_id(rule_id, "Security group rule id")
    try:
        network(runtime).security_groups.delete_rule(ctx, rule_id)
    except NotFound:
        raise NotFound(f"Security group rule {rule_id} not found.") from None


# --- floating IPs ------------------------------------------------------------------------------


def _external_networks(runtime: Any, ctx: RequestContext) -> list[dict[str, Any]]:
    return [n for n in network(runtime).networks.list(ctx) if n.get("router:external")]


def floating_ip_view(runtime: Any, ctx: RequestContext, fip: dict[str, Any], pools: dict[str, str]) -> dict[str, Any]:
    """Nova's floating IP: ``instance_id`` is the server on the associated port."""
    instance = None
    if fip.get("port_id"):
        try:
            instance = network(runtime).ports.get(ctx, fip["port_id"]).get("device_id") or None
        except OvercastError:
            instance = None
    return {
        "id": fip["id"],
        "ip": fip["floating_ip_address"],
        "fixed_ip": fip.get("fixed_ip_address"),
        "instance_id": instance,
        "pool": pools.get(fip["floating_network_id"], fip["floating_network_id"]),
    }


def _pools(runtime: Any, ctx: RequestContext) -> dict[str, str]:
    return {n["id"]: n["name"] for n in _external_networks(runtime, ctx)}


def list_floating_ips(runtime: Any, ctx: RequestContext) -> list[dict[str, Any]]:
    pools = _pools(runtime, ctx)
    fips = [f for f in network(runtime).floating_ips.list(ctx) if f.get("project_id") == ctx.project_id]
    return [floating_ip_view(runtime, ctx, f, pools) for f in fips]


def _fip_not_found(fip_id: Any) -> NotFound:
    return NotFound(f"Floating IP {fip_id} could not be found")


def get_floating_ip(runtime: Any, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
    try:
        fip = network(runtime).floating_ips.get(ctx, fip_id)
    except NotFound:
        raise _fip_not_found(fip_id) from None
    return floating_ip_view(runtime, ctx, fip, _pools(runtime, ctx))


def allocate_floating_ip(runtime: Any, ctx: RequestContext, body: Any) -> dict[str, Any]:
    pool = body.get("pool") if isinstance(body, dict) else None
    externals = _external_networks(runtime, ctx)
    if pool is None:
        if not externals:
            raise NotFound("No more floating IPs available.")
        chosen = externals[0]
    else:
        matches = [n for n in externals if pool in (n["name"], n["id"])]
        if not matches:
            raise NotFound(f"Floating IP pool not found: {pool}")
        chosen = matches[0]
    try:
        fip = network(runtime).floating_ips.create(ctx, {"floatingip": {"floating_network_id": chosen["id"]}})
    except Conflict as exc:
        if "quota" in exc.message.lower():
            raise Forbidden("Maximum number of floating IPs exceeded") from None
        raise NotFound(f"No more floating IPs in pool {chosen['name']}.") from None
    return floating_ip_view(runtime, ctx, fip, {chosen["id"]: chosen["name"]})


def release_floating_ip(runtime: Any, ctx: RequestContext, fip_id: str) -> None:
    try:
        network(runtime).floating_ips.delete(ctx, fip_id)
    except NotFound:
        raise _fip_not_found(fip_id) from None


def pools(runtime: Any, ctx: RequestContext) -> list[dict[str, str]]:
    return [{"name": n["name"]} for n in _external_networks(runtime, ctx)]


# --- tenant networks ---------------------------------------------------------------------------


def tenant_network_view(net: dict[str, Any], subnets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cidr = next((subnets[s]["cidr"] for s in net.get("subnets", []) if s in subnets), None)
    return {"id": net["id"], "label": net["name"], "cidr": cidr}


def list_tenant_networks(runtime: Any, ctx: RequestContext) -> list[dict[str, Any]]:
    net = network(runtime)
    subnets = {s["id"]: s for s in net.subnets.list(ctx)}
    return [
        tenant_network_view(n, subnets)
        for n in net.networks.list(ctx)
        if n.get("project_id") == ctx.project_id or n.get("shared")
    ]


def get_tenant_network(runtime: Any, ctx: RequestContext, network_id: str) -> dict[str, Any]:
    found = [n for n in list_tenant_networks(runtime, ctx) if n["id"] == network_id]
    if not found:
        raise NotFound("Network not found")
    return found[0]


# --- os-networks --------------------------------------------------------------------------------

#: the fields of Nova's network view; with the network service only ``id`` and ``label`` (its
#: name) have values (nova-network's are null), and admins see the admin fields too
NETWORK_FIELDS = (
    "id", "cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6", "gateway_v6", "label", "netmask_v6",
)  # fmt: skip
NETWORK_ADMIN_FIELDS = (
    "created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge", "vlan", "vpn_public_address",
    "vpn_public_port", "vpn_private_address", "dhcp_start", "project_id", "host", "bridge_interface", "multi_host",
    "priority", "rxtx_base", "mtu", "dhcp_server", "enable_dhcp", "share_address",
)  # fmt: skip


def network_view(ctx: RequestContext, net: dict[str, Any]) -> dict[str, Any]:
    fields = NETWORK_FIELDS + (NETWORK_ADMIN_FIELDS if ctx.is_admin else ())
    out: dict[str, Any] = dict.fromkeys(fields)
    out.update(id=net["id"], label=net["name"])
    return out


def list_networks(runtime: Any, ctx: RequestContext) -> list[dict[str, Any]]:
    """Every network the caller can see in the network service."""
    return [network_view(ctx, n) for n in network(runtime).networks.list(ctx)]


def get_network(runtime: Any, ctx: RequestContext, network_id: str) -> dict[str, Any]:
    found = [n for n in network(runtime).networks.list(ctx) if n["id"] == network_id]
    if not found:
        raise NotFound("Network not found")
    return network_view(ctx, found[0])


# --- addFloatingIp / removeFloatingIp (until 2.43) ---------------------------------------------


def _fip_by_address(runtime: Any, ctx: RequestContext, address: Any) -> dict[str, Any]:
    if not isinstance(address, str) or not address:
        raise BadRequest("Invalid input for field/attribute address.")
    for fip in network(runtime).floating_ips.list(ctx):
        if fip["floating_ip_address"] == address and fip.get("project_id") == ctx.project_id:
            return dict(fip)
    raise NotFound(f"floating IP not found for address {address}.")


def add_floating_ip(runtime: Any, ctx: RequestContext, compute: Any, server_id: str, args: Any) -> None:
    """Nova's ``addFloatingIp``: the floating IP onto the server's port that has
    ``fixed_address`` (else its first IPv4 address); moved if it was on another port."""
    if not isinstance(args, dict):
        raise BadRequest("Invalid input for field/attribute addFloatingIp.")
    compute.get_server(ctx, server_id)  # 404 for another project's server
    fip = _fip_by_address(runtime, ctx, args.get("address"))
    wanted = args.get("fixed_address")
    for port in network(runtime).instance_ports(server_id):
        for fixed in port.get("fixed_ips", []):
            ip = fixed["ip_address"]
            if (wanted is None and ipaddress.ip_address(ip).version == 4) or ip == wanted:
                body = {"floatingip": {"port_id": port["id"], "fixed_ip_address": ip}}
                try:
                    network(runtime).floating_ips.update(ctx, fip["id"], body)
                except (Conflict, BadRequest) as exc:  # Nova turns the network service's refusal into a 400
                    raise BadRequest(
                        f"Unable to associate floating IP {fip['floating_ip_address']} to fixed IP {ip} for "
                        f"instance {server_id}. Error: {exc.message}"
                    ) from None
                return
    if wanted is not None:
        raise BadRequest("Specified fixed address not assigned to instance")
    raise BadRequest(
        f"Unable to associate floating IP {fip['floating_ip_address']} to any fixed IPs for instance {server_id}. "
        "Instance has no fixed IPv4 addresses to associate."
    )


def remove_floating_ip(runtime: Any, ctx: RequestContext, compute: Any, server_id: str, args: Any) -> None:
    """Nova's ``removeFloatingIp``: 409 unless the floating IP is on this server."""
    if not isinstance(args, dict):
        raise BadRequest("Invalid input for field/attribute removeFloatingIp.")
    compute.get_server(ctx, server_id)
    fip = _fip_by_address(runtime, ctx, args.get("address"))
    ports = {p["id"] for p in network(runtime).instance_ports(server_id)}
    if fip.get("port_id") not in ports:
        raise Conflict(f"Floating IP {fip['floating_ip_address']} is not associated with instance {server_id}.")
    network(runtime).floating_ips.update(ctx, fip["id"], {"floatingip": {"port_id": None}})
