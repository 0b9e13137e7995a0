"""Finding resources as one caller may see them: anything of another project is 404.

Networks are the exception Neutron makes: shared and external networks (and their
subnets) are visible to every project, but only their owner (or an admin) may change them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.network import (
    FloatingIpRecord,
    NetworkRecord,
    PortRecord,
    RouterRecord,
    SecurityGroupRecord,
    SecurityGroupRuleRecord,
    SubnetPoolRecord,
    SubnetRecord,
)
from overcast.errors import Forbidden, NotFound

_NAMES = {
    NetworkRecord: ("Network", "NetworkNotFound"),
    SubnetRecord: ("Subnet", "SubnetNotFound"),
    SubnetPoolRecord: ("Subnet pool", "SubnetPoolNotFound"),
    PortRecord: ("Port", "PortNotFound"),
    RouterRecord: ("Router", "RouterNotFound"),
    FloatingIpRecord: ("Floating IP", "FloatingIPNotFound"),
    SecurityGroupRecord: ("Security group", "SecurityGroupNotFound"),
    SecurityGroupRuleRecord: ("Security group rule", "SecurityGroupRuleNotFound"),
}


def not_found(model: type[Any], resource_id: Any) -> NotFound:
    label, code = _NAMES[model]
    return NotFound(f"{label} {resource_id} could not be found.", code=code)


def network_visible(ctx: RequestContext, net: NetworkRecord) -> bool:
    return ctx.can_see(net.project_id) or net.shared or net.external


def visible_networks_clause(ctx: RequestContext) -> Any:
    return or_(
        NetworkRecord.project_id == ctx.project_id, NetworkRecord.shared.is_(True), NetworkRecord.external.is_(True)
    )


def subnet_visible(ctx: RequestContext, sub: SubnetRecord) -> bool:
    """Neutron's rule: the subnet's or its network's owner, or a shared network's subnet. An
    external network is visible to everyone, its subnets are not."""
    return ctx.can_see(sub.project_id) or ctx.can_see(sub.network.project_id) or sub.network.shared


def get_owned(session: Session, ctx: RequestContext, model: type, resource_id: Any) -> Any:
    """A project-owned row the caller may see (admins see every project's)."""
    row = session.get(model, resource_id) if isinstance(resource_id, str) else None
    if row is None or not ctx.can_see(row.project_id):
        raise not_found(model, resource_id)
    return row


def get_network(session: Session, ctx: RequestContext, network_id: Any, write: bool = False) -> NetworkRecord:
    net = session.get(NetworkRecord, network_id) if isinstance(network_id, str) else None
    if net is None or not network_visible(ctx, net):
        raise not_found(NetworkRecord, network_id)
    if write and not ctx.can_see(net.project_id):
        raise Forbidden(f"Not allowed to modify network {network_id} of another project.", code="PolicyNotAuthorized")
    return net


def get_subnet(session: Session, ctx: RequestContext, subnet_id: Any, write: bool = False) -> SubnetRecord:
    sub = session.get(SubnetRecord, subnet_id) if isinstance(subnet_id, str) else None
    if sub is None or not subnet_visible(ctx, sub):
        raise not_found(SubnetRecord, subnet_id)
    if write and not ctx.can_see(sub.project_id):
        raise Forbidden(f"Not allowed to modify subnet {subnet_id} of another project.", code="PolicyNotAuthorized")
    return sub


def list_visible(session: Session, ctx: RequestContext, model: type[Any], all_projects: bool = True) -> list[Any]:
    """Every row of ``model`` the caller may see (admins: every project's)."""
    stmt = select(model)
    if model is NetworkRecord:
        if not ctx.is_admin:
            stmt = stmt.where(visible_networks_clause(ctx))
    elif model is SubnetRecord:
        if not ctx.is_admin:
            stmt = stmt.join(NetworkRecord, SubnetRecord.network_id == NetworkRecord.id).where(
                or_(
                    SubnetRecord.project_id == ctx.project_id,
                    NetworkRecord.project_id == ctx.project_id,
                    NetworkRecord.shared.is_(True),
                )
            )
    else:
        stmt = ctx.filter(stmt, model.project_id, all_projects=all_projects)
    return list(session.scalars(stmt))
