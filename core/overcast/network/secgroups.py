"""Security groups and their rules; every project gets a ``default`` group on first use
(egress open, ingress only from members of the same group), as Neutron does."""

from __future__ import annotations

import builtins

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.network import PortSecurityGroupRecord, SecurityGroupRecord, SecurityGroupRuleRecord
from overcast.errors import BadRequest, Conflict
from overcast.network import validate as v
from overcast.network.db import run_in_transaction
from overcast.network.lookup import get_owned, list_visible, not_found
from overcast.network.networks import owner_project
from overcast.network.views import rule_view, security_group_view

GROUP_FIELDS = {"name", "description", "tenant_id", "project_id", "stateful", "tags", "shared"}
RULE_FIELDS = {
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "description",
    "tenant_id",
    "project_id",
    "remote_address_group_id",
}
PROTOCOLS = {
    "tcp": "6",
    "udp": "17",
    "icmp": "1",
    "icmpv6": "58",
    "ipv6-icmp": "58",
    "sctp": "132",
    "gre": "47",
    "esp": "50",
    "ah": "51",
    "vrrp": "112",
    "igmp": "2",
}
PORT_PROTOCOLS = ("tcp", "udp", "sctp", "6", "17", "132")
ICMP_PROTOCOLS = ("icmp", "icmpv6", "ipv6-icmp", "1", "58")


def _new_rule(
    group: SecurityGroupRecord, direction: str, ethertype: str, remote_group_id: str | None = None
) -> SecurityGroupRuleRecord:
    return SecurityGroupRuleRecord(
        project_id=group.project_id,
        security_group_id=group.id,
        direction=direction,
        ethertype=ethertype,
        remote_group_id=remote_group_id,
    )


def _egress_rules(group: SecurityGroupRecord) -> list[SecurityGroupRuleRecord]:
    return [_new_rule(group, "egress", "IPv4"), _new_rule(group, "egress", "IPv6")]


def _protocol(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.lower() in ("", "any")):
        return None
    text = str(value).lower()
    if text in PROTOCOLS:
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        return text
    raise BadRequest(
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"{sorted(PROTOCOLS)} and integer representations [0 to 255] are supported.",
        code="SecurityGroupRuleInvalidProtocol",
    )


def _port_value(value: Any) -> int | None:
    """A port bound as Neutron converts it: an integer 0..65535 (or None)."""
    if value is None:
        return None
    try:
        number = int(value) if not isinstance(value, (bool, float)) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 <= number <= 65535:
        raise BadRequest(f"Invalid value for port {value}.", code="SecurityGroupInvalidPortValue")
    return number


def _ports(protocol: str | None, values: dict[str, Any]) -> tuple[int | None, int | None]:
    """The port range (or ICMP type and code) with Neutron's checks and error texts."""
    low, high = _port_value(values.get("port_range_min")), _port_value(values.get("port_range_max"))
    if low is None and high is None:
        return None, None
    if protocol is None:
        raise BadRequest(
            "Must also specify protocol if port range is given.", code="SecurityGroupProtocolRequiredWithPorts"
        )
    if protocol in ICMP_PROTOCOLS:
        for value, field, attr in ((low, "type", "port_range_min"), (high, "code", "port_range_max")):
            if value is not None and not 0 <= value <= 255:
                raise BadRequest(
                    f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255.",
                    code="SecurityGroupInvalidIcmpValue",
                )
        if low is None and high is not None:
            raise BadRequest(
                f"ICMP code (port-range-max) {high} is provided but ICMP type (port-range-min) is missing.",
                code="SecurityGroupMissingIcmpType",
            )
        return low, high
    if protocol not in PORT_PROTOCOLS:
        raise BadRequest(
            f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.",
            code="SecurityGroupInvalidProtocolForPortRange",
        )
    if low == 0 or high == 0:
        raise BadRequest("Invalid value for port 0.", code="SecurityGroupInvalidPortValue")
    if low is None or high is None or low > high:
        raise BadRequest(
            "For TCP/UDP protocols, port_range_min must be <= port_range_max", code="SecurityGroupInvalidPortRange"
        )
    return low, high


class SecurityGroupManager:
    def __init__(self, runtime: Any, service: Any) -> None:
        self.runtime = runtime
        self.service = service

    def ensure_default(self, project_id: str) -> str:
        """The id of the project's ``default`` group, made on first use (race-safe)."""
        with self.runtime.db.session() as s:
            existing = s.scalar(
                select(SecurityGroupRecord.id).where(SecurityGroupRecord.default_for_project == project_id)
            )
        if existing:
            return existing
        try:
            with self.runtime.db.session() as s:
                group = SecurityGroupRecord(
                    project_id=project_id,
                    name="default",
                    default_for_project=project_id,
                    description="Default security group",
                )
                s.add(group)
                s.flush()
                group.rules = [
                    *_egress_rules(group),
                    _new_rule(group, "ingress", "IPv4", group.id),
                    _new_rule(group, "ingress", "IPv6", group.id),
                ]
                return group.id
        except IntegrityError:
            with self.runtime.db.session() as s:
                return s.scalar(
                    select(SecurityGroupRecord.id).where(SecurityGroupRecord.default_for_project == project_id)
                )

    # --- groups ----------------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "security_group")
        v.only(values, GROUP_FIELDS)
        project_id = owner_project(ctx, values)
        name = v.string(values, "name")
        if name == "default":  # Neutron makes each project's default group itself, and only one
            raise Conflict("Default security group already exists.", code="SecurityGroupDefaultAlreadyExists")
        description = v.string(values, "description", max_len=1024)
        stateful = v.boolean(values, "stateful", True)
        if not stateful:
            raise BadRequest(
                "Invalid input for operation: stateless security groups are not supported.", code="InvalidInput"
            )
        self.service.quotas.prepare(project_id)

        def work(session: Session, attempt: int) -> dict[str, Any]:
            group = SecurityGroupRecord(project_id=project_id, name=name, description=description)
            session.add(group)
            session.flush()
            group.rules = _egress_rules(group)
            self.service.quotas.check(session, project_id, "security_group")
            return security_group_view(group)

        return run_in_transaction(self.runtime.db, work)

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        if ctx.project_id:
            self.ensure_default(ctx.project_id)
        with self.runtime.db.session() as s:
            return [security_group_view(g) for g in list_visible(s, ctx, SecurityGroupRecord)]

    def get(self, ctx: RequestContext, group_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return security_group_view(get_owned(s, ctx, SecurityGroupRecord, group_id))

    def update(self, ctx: RequestContext, group_id: str, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "security_group")
        v.only(values, {"name", "description", "stateful", "tags"})
        with self.runtime.db.session() as s:
            group = get_owned(s, ctx, SecurityGroupRecord, group_id)
            if "name" in values:
                name = v.string(values, "name")
                if group.default_for_project and name != "default":
                    raise Conflict(
                        "Updating default security group not allowed.", code="SecurityGroupCannotUpdateDefault"
                    )
                if name == "default" and not group.default_for_project:  # one default group per project
                    raise Conflict("Default security group already exists.", code="SecurityGroupDefaultAlreadyExists")
                group.name = name
            if "description" in values:
                group.description = v.string(values, "description", max_len=1024)
            group.revision_number += 1
            s.flush()
            return security_group_view(group)

    def delete(self, ctx: RequestContext, group_id: str) -> None:
        with self.runtime.db.session() as s:
            group = get_owned(s, ctx, SecurityGroupRecord, group_id)
            if group.default_for_project and not ctx.is_admin:
                raise Conflict(
                    "Insufficient rights for removing default security group.", code="SecurityGroupCannotRemoveDefault"
                )
            if s.scalar(
                select(PortSecurityGroupRecord.port_id)
                .where(PortSecurityGroupRecord.security_group_id == group_id)
                .limit(1)
            ):
                raise Conflict(f"Security Group {group_id} in use.", code="SecurityGroupInUse")
            # the rules of other groups that name it as their remote group go with it (Neutron's
            # ON DELETE CASCADE), and those groups' ports are re-applied without them
            referencing = list(
                s.scalars(
                    select(SecurityGroupRuleRecord).where(
                        SecurityGroupRuleRecord.remote_group_id == group_id,
                        SecurityGroupRuleRecord.security_group_id != group_id,
                    )
                )
            )
            changed = {rule.security_group_id for rule in referencing}
            for rule in referencing:
                s.delete(rule)
            for other in changed:
                row = s.get(SecurityGroupRecord, other)
                if row is not None:
                    row.revision_number += 1
            s.delete(group)
        self.service.plumbing.groups_changed(changed)

    # --- rules -----------------------------------------------------------------------------

    def create_rule(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "security_group_rule")
        v.only(values, RULE_FIELDS)
        if values.get("remote_address_group_id"):
            raise BadRequest("Invalid input for operation: address groups are not supported.", code="InvalidInput")
        direction = values.get("direction")
        if direction not in ("ingress", "egress"):
            raise v.invalid("direction", direction, f"'{direction}' is not in ['ingress', 'egress']")
        ethertype = values.get("ethertype") or "IPv4"
        if ethertype not in ("IPv4", "IPv6"):
            raise v.invalid("ethertype", ethertype, f"'{ethertype}' is not in ['IPv4', 'IPv6']")
        protocol = _protocol(values.get("protocol"))
        # Neutron refuses IPv6-only protocols in IPv4 rules; "icmp" in an IPv6 rule means ICMPv6
        if protocol in ("icmpv6", "ipv6-icmp", "58") and ethertype == "IPv4":
            raise BadRequest(
                f"Invalid ethertype {ethertype} for protocol {protocol}.",
                code="SecurityGroupEthertypeConflictWithProtocol",
            )
        low, high = _ports(protocol, values)
        prefix = values.get("remote_ip_prefix")
        if prefix is not None and values.get("remote_group_id") is not None:
            raise BadRequest(
                "Only remote_ip_prefix or remote_group_id may be provided.",
                code="SecurityGroupRemoteGroupAndRemoteIpPrefix",
            )
        if prefix is not None:
            try:
                net = ipaddress.ip_network(prefix, strict=False)
            except (ValueError, TypeError):
                raise v.invalid("remote_ip_prefix", prefix, f"'{prefix}' is not a valid IP prefix") from None
            if f"IPv{net.version}" != ethertype:
                raise BadRequest(
                    f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                    code="SecurityGroupRuleParameterConflict",
                )
            # Neutron keeps the address as given, with its netmask (10.2.3.124/24 stays so,
            # 10.0.0.1 becomes 10.0.0.1/32); views add the network as normalized_cidr
            prefix = str(ipaddress.ip_interface(prefix))
        description = v.string(values, "description", max_len=1024)
        group_id = values.get("security_group_id")

        with self.runtime.db.session() as s:
            group = get_owned(s, ctx, SecurityGroupRecord, group_id)
            project_id = group.project_id
        self.service.quotas.prepare(project_id)

        def work(session: Session, attempt: int) -> dict[str, Any]:
            group = get_owned(session, ctx, SecurityGroupRecord, group_id)
            remote_group = values.get("remote_group_id")
            if remote_group is not None:
                other = session.get(SecurityGroupRecord, remote_group)
                if other is None or not ctx.can_see(other.project_id):
                    raise not_found(SecurityGroupRecord, remote_group)
            key = (direction, ethertype, protocol, low, high, prefix, remote_group)
            for rule in group.rules:
                if (
                    rule.direction,
                    rule.ethertype,
                    rule.protocol,
                    rule.port_range_min,
                    rule.port_range_max,
                    rule.remote_ip_prefix,
                    rule.remote_group_id,
                ) == key:
                    raise Conflict(
                        f"Security group rule already exists. Rule id is {rule.id}.", code="SecurityGroupRuleExists"
                    )
            rule = SecurityGroupRuleRecord(
                project_id=group.project_id,
                security_group_id=group.id,
                direction=direction,
                ethertype=ethertype,
                protocol=protocol,
                port_range_min=low,
                port_range_max=high,
                remote_ip_prefix=prefix,
                remote_group_id=remote_group,
                description=description,
            )
            session.add(rule)
            group.revision_number += 1
            self.service.quotas.check(session, group.project_id, "security_group_rule")
            return rule_view(rule)

        view = run_in_transaction(self.runtime.db, work)
        self.service.plumbing.groups_changed({group_id})
        return view

    def list_rules(self, ctx: RequestContext) -> builtins.list[dict[str, Any]]:
        if ctx.project_id:
            self.ensure_default(ctx.project_id)
        with self.runtime.db.session() as s:
            return [rule_view(r) for r in list_visible(s, ctx, SecurityGroupRuleRecord)]

    def get_rule(self, ctx: RequestContext, rule_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return rule_view(get_owned(s, ctx, SecurityGroupRuleRecord, rule_id))

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> None:
        with self.runtime.db.session() as s:
            rule = get_owned(s, ctx, SecurityGroupRuleRecord, rule_id)
            group_id = rule.security_group_id
            s.delete(rule)
        self.service.plumbing.groups_changed({group_id})
