"""Pools: create and update under Octavia's rules (algorithms and session persistence served;
re-encryption to members is refused by this provider)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import PoolRecord
from overcast.errors import Conflict, NotFound
from overcast.loadbalancer import constants as c
from overcast.loadbalancer.children import Changed, Editor, apply_common, check_listener_pool
from overcast.loadbalancer.errors import invalid, invalid_subresource, unsupported_option, validation
from overcast.loadbalancer.fields import parse, unwrap
from overcast.loadbalancer.specs import POOL, POOL_UPDATABLE, take_owner, updates
from overcast.loadbalancer.store import check_not_deleting, get_visible, lock_loadbalancer


class Pools(Editor):
    """``/lbaas/pools``: create and update (show, list and delete are ``Children``'s)."""

    def _check_values(self, values: dict[str, Any], protocol: str) -> None:
        algorithm = values.get("lb_algorithm")
        if algorithm is not None and algorithm not in c.SERVED_LB_ALGORITHMS:
            raise unsupported_option(self.provider, f"lb_algorithm {algorithm} is not served.")
        persistence = values.get("session_persistence")
        if persistence:
            kind = persistence.get("type")
            unknown = set(persistence) - {"type", "cookie_name", "persistence_timeout", "persistence_granularity"}
            if unknown:
                raise invalid(
                    "session_persistence",
                    persistence,
                    f"Unknown attribute for argument session_persistence: {', '.join(sorted(unknown))}",
                )
            if kind not in c.SESSION_PERSISTENCE_TYPES:
                raise invalid("type", kind, f"Value should be one of: {', '.join(c.SESSION_PERSISTENCE_TYPES)}")
            if kind == "APP_COOKIE" and not persistence.get("cookie_name"):
                raise validation("Field cookie_name is required when using APP_COOKIE session persistence type.")
            if kind != "APP_COOKIE" and persistence.get("cookie_name"):
                raise validation(
                    "Field cookie_name can only be specified when using the APP_COOKIE session persistence type."
                )
            if kind in ("HTTP_COOKIE", "APP_COOKIE") and protocol not in ("HTTP",):
                raise validation(
                    f"Cookie names are not supported for {protocol} pools."
                    if kind == "APP_COOKIE"
                    else f"Session persistence of type {kind} is not supported for {protocol} pools."
                )
            if persistence.get("persistence_granularity"):
                raise unsupported_option(
                    self.provider, "persistence_granularity is for UDP pools, which are not served."
                )
        for tls in ("tls_enabled", "tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols"):  # fmt: skip
            if values.get(tls):
                raise unsupported_option(
                    self.provider, f"re-encryption to members ({tls}) is not served by this provider."
                )

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse("pool", unwrap(body, "pool"), POOL, required=("protocol", "lb_algorithm"))
        if not values.get("loadbalancer_id") and not values.get("listener_id"):
            raise validation("loadbalancer_id or listener_id must be specified.")
        protocol = values["protocol"]
        if protocol not in c.SERVED_POOL_PROTOCOLS:
            raise unsupported_option(self.provider, f"pool protocol {protocol} is not served.")
        self._check_values(values, protocol)

        def work(s: Session) -> Changed:
            listener = None
            if values.get("listener_id"):
                try:
                    listener = get_visible(s, ctx, "listener", values["listener_id"])
                except NotFound:
                    raise invalid_subresource("Listener", values["listener_id"]) from None
                check_listener_pool(listener.protocol, protocol)
                if listener.default_pool_id:
                    raise Conflict("This listener already has a default pool", code="DuplicatePoolEntry")
                if values.get("loadbalancer_id") and values["loadbalancer_id"] != listener.loadbalancer_id:
                    raise validation("The listener is on another load balancer.")
            lb = self._lb(s, ctx, values.get("loadbalancer_id") or listener.loadbalancer_id)  # type: ignore[union-attr]
            take_owner(values, lb.project_id)
            if lb.provisioning_status == c.PENDING_DELETE:
                raise validation(f"Load Balancer {lb.id} is being deleted.")
            lock_loadbalancer(s, lb.id)
            rec = PoolRecord(
                project_id=lb.project_id,
                loadbalancer_id=lb.id,
                listener_id=listener.id if listener else None,
                name=values.get("name") or "",
                description=values.get("description") or "",
                admin_state_up=values.get("admin_state_up", True),
                tags=values.get("tags") or [],
                protocol=protocol,
                lb_algorithm=values["lb_algorithm"],
                session_persistence=persistence(values.get("session_persistence")),
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            s.add(rec)
            s.flush()
            if listener is not None:
                listener.default_pool_id = rec.id
            self.svc.quotas.check(s, lb.project_id, "pool")
            return "pool", rec.id, lb.id

        return self._commit(ctx, work)

    def update(self, ctx: RequestContext, pool_id: str, body: Any) -> dict[str, Any]:
        values = updates("pool", body, POOL, POOL_UPDATABLE)

        def work(s: Session) -> Changed:
            rec: PoolRecord = get_visible(s, ctx, "pool", pool_id)
            check_not_deleting("pool", rec)
            self._check_values(values, rec.protocol)
            self._mark(s, rec, c.PENDING_UPDATE)
            apply_common(rec, values)
            if values.get("lb_algorithm") is not None:
                rec.lb_algorithm = values["lb_algorithm"]
            if "session_persistence" in values:
                rec.session_persistence = persistence(values["session_persistence"])
            return "pool", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)


def persistence(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A pool's stored session persistence (granularity is for UDP pools, never served)."""
    if not value:
        return None
    return {
        "type": value["type"],
        "cookie_name": value.get("cookie_name"),
        "persistence_timeout": value.get("persistence_timeout"),
        "persistence_granularity": None,
    }
