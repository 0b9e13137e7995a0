"""Subnet pools (Neutron's ``subnet_allocation``): prefixes that subnets take their CIDRs from.

A subnet created with ``subnetpool_id`` (or ``use_default_subnetpool``) either names a CIDR,
which must lie in the pool's free space, or a ``prefixlen`` (the pool's ``default_prefixlen``
if it names neither), and gets the first free block of that size. Allocation runs in the
subnet's transaction with the pool's row locked, so two creates never take one block.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.network import SubnetPoolRecord, SubnetRecord
from overcast.errors import BadRequest, Conflict, Forbidden
from overcast.network import validate as v
from overcast.network.ipam import IPNetwork
from overcast.network.lookup import not_found
from overcast.network.networks import owner_project
from overcast.network.views import subnetpool_view

CREATE_FIELDS = {
    "name",
    "description",
    "prefixes",
    "default_prefixlen",
    "min_prefixlen",
    "max_prefixlen",
    "shared",
    "is_default",
    "tenant_id",
    "project_id",
}
UPDATABLE = {"name", "description", "prefixes", "default_prefixlen", "min_prefixlen", "max_prefixlen", "is_default"}
#: Neutron's bounds per IP version: the longest prefix, and the default ``min_prefixlen``
PREFIX_BOUNDS = {4: (32, 8), 6: (128, 64)}


def _prefixes(value: Any) -> list[IPNetwork]:
    if not isinstance(value, list) or not value:
        raise v.invalid("prefixes", value, f"'{value}' is not a non-empty list of CIDRs")
    nets: list[IPNetwork] = []
    for item in value:
        try:
            nets.append(ipaddress.ip_network(item))
        except (ValueError, TypeError):
            raise v.invalid("prefixes", item, f"'{item}' is not a valid IP subnet") from None
    if len({n.version for n in nets}) > 1:
        raise BadRequest("Cannot mix IPv4 and IPv6 prefixes in a subnet pool.", code="PrefixVersionMismatch")
    return sorted(ipaddress.collapse_addresses(nets))  # type: ignore[type-var]  # one version, checked above


def _bounds(values: dict[str, Any], version: int, current: SubnetPoolRecord | None = None) -> tuple[int, int, int]:
    """``(min, max, default)`` prefix lengths from the body (or the pool's current ones)."""
    longest, default_min = PREFIX_BOUNDS[version]
    low = v.integer(
        values.get("min_prefixlen", current.min_prefixlen if current else default_min), "min_prefixlen", 0, longest
    )
    high = v.integer(
        values.get("max_prefixlen", current.max_prefixlen if current else longest), "max_prefixlen", 0, longest
    )
    default = v.integer(
        values.get(
            "default_prefixlen", current.default_prefixlen if current and "min_prefixlen" not in values else low
        ),
        "default_prefixlen",
        0,
        longest,
    )
    if low > high:
        raise _illegal_bounds("min_prefixlen", low, "max_prefixlen", high)
    if not low <= default <= high:
        raise _illegal_bounds(
            "default_prefixlen",
            default,
            "min_prefixlen" if default < low else "max_prefixlen",
            low if default < low else high,
        )
    return low, high, default


def _illegal_bounds(kind: str, length: int, base_kind: str, base_length: int) -> BadRequest:
    return BadRequest(
        f"Illegal prefix bounds: {kind}={length}, {base_kind}={base_length}.", code="IllegalSubnetPoolPrefixBounds"
    )


def visible_clause(ctx: RequestContext) -> Any:
    return or_(SubnetPoolRecord.project_id == ctx.project_id, SubnetPoolRecord.shared.is_(True))


def get_pool(
    session: Session, ctx: RequestContext, pool_id: Any, write: bool = False, lock: bool = False
) -> SubnetPoolRecord:
    pool = session.get(SubnetPoolRecord, pool_id, with_for_update=lock or None) if isinstance(pool_id, str) else None
    if pool is None or not (ctx.can_see(pool.project_id) or pool.shared):
        raise not_found(SubnetPoolRecord, pool_id)
    if write and not ctx.can_see(pool.project_id):
        raise Forbidden(f"Not allowed to modify subnet pool {pool_id} of another project.", code="PolicyNotAuthorized")
    return pool


def _check_single_default(session: Session, version: int, except_id: str | None) -> None:
    stmt = (
        select(func.count())
        .select_from(SubnetPoolRecord)
        .where(SubnetPoolRecord.is_default.is_(True), SubnetPoolRecord.ip_version == version)
    )
    if except_id:
        stmt = stmt.where(SubnetPoolRecord.id != except_id)
    if session.scalar(stmt):
        raise BadRequest(
            "Invalid input for operation: A default subnetpool for this IP family has already been set. "
            "Only one default may exist per IP family.",
            code="InvalidInput",
        )


def _allocated(session: Session, pool_id: str) -> list[IPNetwork]:
    rows = session.scalars(select(SubnetRecord.cidr).where(SubnetRecord.subnetpool_id == pool_id))
    return [ipaddress.ip_network(c) for c in rows]


def free_blocks(prefixes: list[IPNetwork], used: list[IPNetwork]) -> list[IPNetwork]:
    """The pool's space minus what is allocated, as the fewest CIDR blocks, lowest first."""
    blocks = list(prefixes)
    for taken in used:
        remaining: list[IPNetwork] = []
        for block in blocks:
            if not block.overlaps(taken):
                remaining.append(block)
            elif taken.subnet_of(block):  # type: ignore[arg-type]  # same version: overlaps
                remaining.extend(block.address_exclude(taken))  # type: ignore[arg-type]
            # else the block lies inside what is taken: nothing of it is free
        blocks = remaining
    return sorted(blocks)


def allocate(session: Session, pool: SubnetPoolRecord, cidr: Any, prefixlen: Any) -> IPNetwork:
    """The subnet's CIDR from ``pool`` (locked by the caller): ``cidr`` checked, or the first
    free block of ``prefixlen`` (the pool's default if ``None``)."""
    if cidr is not None and prefixlen is not None:
        raise BadRequest(
            "Invalid input for operation: cidr and prefixlen must not be supplied together.", code="InvalidInput"
        )
    free = free_blocks([ipaddress.ip_network(p) for p in pool.prefixes], _allocated(session, pool.id))
    if cidr is not None:
        from overcast.network.ipam import parse_cidr

        wanted = parse_cidr(cidr, pool.ip_version)
        length = wanted.prefixlen
    else:
        length = v.integer(
            pool.default_prefixlen if prefixlen is None else prefixlen,
            "prefixlen",
            0,
            PREFIX_BOUNDS[pool.ip_version][0],
        )
    if length > pool.max_prefixlen:
        raise BadRequest(
            f"Unable to allocate subnet with prefix length {length}, maximum allowed prefix is {pool.max_prefixlen}.",
            code="MaxPrefixSubnetAllocationError",
        )
    if length < pool.min_prefixlen:
        raise BadRequest(
            f"Unable to allocate subnet with prefix length {length}, minimum allowed prefix is {pool.min_prefixlen}.",
            code="MinPrefixSubnetAllocationError",
        )
    if cidr is not None:
        if any(wanted.subnet_of(block) for block in free):  # type: ignore[arg-type]
            return wanted
        raise Conflict(
            "Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes.",
            code="SubnetAllocationError",
        )
    for block in free:
        if block.prefixlen <= length:
            return ipaddress.ip_network(f"{block.network_address}/{length}")
    raise Conflict(
        f"Failed to allocate subnet: Insufficient prefix space to allocate subnet size /{length}.",
        code="SubnetAllocationError",
    )


def default_pool(session: Session, ctx: RequestContext, version: int) -> SubnetPoolRecord:
    pool = session.scalars(
        select(SubnetPoolRecord).where(SubnetPoolRecord.is_default.is_(True), SubnetPoolRecord.ip_version == version)
    ).first()
    if pool is None:
        raise BadRequest(
            f"Invalid input for operation: No default subnetpool found for IPv{version}.", code="InvalidInput"
        )
    return get_pool(session, ctx, pool.id, lock=True)


class SubnetPoolManager:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "subnetpool")
        v.only(values, CREATE_FIELDS)
        prefixes = _prefixes(values.get("prefixes"))
        version = prefixes[0].version
        low, high, default = _bounds(values, version)
        shared = v.boolean(values, "shared", False)
        is_default = v.boolean(values, "is_default", False)
        if (shared or is_default) and not ctx.is_admin:
            flag = "shared" if shared else "is_default"
            raise Forbidden(f"(rule:create_subnetpool:{flag}) is disallowed by policy", code="PolicyNotAuthorized")
        with self.runtime.db.session() as s:
            if is_default:
                _check_single_default(s, version, None)
            pool = SubnetPoolRecord(
                project_id=owner_project(ctx, values),
                name=v.string(values, "name"),
                description=v.string(values, "description", max_len=1024),
                ip_version=version,
                prefixes=[str(p) for p in prefixes],
                min_prefixlen=low,
                max_prefixlen=high,
                default_prefixlen=default,
                shared=shared,
                is_default=is_default,
            )
            s.add(pool)
            s.flush()
            return subnetpool_view(pool)

    def get(self, ctx: RequestContext, pool_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return subnetpool_view(get_pool(s, ctx, pool_id))

    def list(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            stmt = select(SubnetPoolRecord)
            if not ctx.is_admin:
                stmt = stmt.where(visible_clause(ctx))
            return [subnetpool_view(p) for p in s.scalars(stmt)]

    def update(self, ctx: RequestContext, pool_id: str, body: Any) -> dict[str, Any]:
        values = v.body_of(body, "subnetpool")
        v.only(values, UPDATABLE)
        with self.runtime.db.session() as s:
            pool = get_pool(s, ctx, pool_id, write=True, lock=True)
            if "prefixes" in values:
                new = _prefixes(values["prefixes"])
                if new[0].version != pool.ip_version:
                    raise BadRequest(
                        "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.", code="PrefixVersionMismatch"
                    )
                for old in (ipaddress.ip_network(p) for p in pool.prefixes):
                    if not any(old.subnet_of(n) for n in new):  # type: ignore[arg-type]
                        raise BadRequest(
                            f"Illegal update to prefixes: Existing prefix {old} is not a subset of the new prefixes.",
                            code="IllegalSubnetPoolPrefixUpdate",
                        )
                pool.prefixes = [str(p) for p in new]
            if {"min_prefixlen", "max_prefixlen", "default_prefixlen"} & set(values):
                pool.min_prefixlen, pool.max_prefixlen, pool.default_prefixlen = _bounds(values, pool.ip_version, pool)
            if "is_default" in values:
                is_default = v.boolean(values, "is_default", False)
                if not ctx.is_admin:
                    raise Forbidden(
                        "(rule:update_subnetpool:is_default) is disallowed by policy", code="PolicyNotAuthorized"
                    )
                if is_default:
                    _check_single_default(s, pool.ip_version, pool.id)
                pool.is_default = is_default
            if "name" in values:
                pool.name = v.string(values, "name")
            if "description" in values:
                pool.description = v.string(values, "description", max_len=1024)
            pool.revision_number += 1
            s.flush()
            return subnetpool_view(pool)

    def delete(self, ctx: RequestContext, pool_id: str) -> None:
        with self.runtime.db.session() as s:
            pool = get_pool(s, ctx, pool_id, write=True, lock=True)
            if _allocated(s, pool.id):
                raise Conflict(
                    f"Unable to complete operation on subnet pool {pool_id}. Subnet pool has existing allocations.",
                    code="SubnetPoolInUse",
                )
            s.delete(pool)
