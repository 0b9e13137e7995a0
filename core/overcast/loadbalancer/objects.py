"""Listeners, pools, members, health monitors, L7 policies and rules: create, update,
delete under Octavia's rules. Each change locks its load balancer (``store.lock_loadbalancer``),
marks the object ``PENDING_*`` and hands the load balancer to the provisioner, which makes
the data plane match and settles every status (``provisioning.Provisioner.sync``)."""

from __future__ import annotations

import builtins

import ipaddress
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import (
    HealthMonitorRecord,
    L7PolicyRecord,
    L7RuleRecord,
    ListenerRecord,
    LoadBalancerRecord,
    MemberRecord,
    PoolRecord,
)
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.loadbalancer import constants as c
from overcast.loadbalancer import views
from overcast.loadbalancer.errors import invalid, invalid_subresource, not_found, unsupported_option, validation
from overcast.loadbalancer.fields import ADMIN, COMMON, OWNER, PORT, UUID, Spec, parse, unwrap
from overcast.loadbalancer.store import check_not_deleting, get_visible, list_visible, lock_loadbalancer

TIMEOUT = Spec("int", minimum=0, maximum=31536000000)

LISTENER = {
    **COMMON,
    **OWNER,
    "loadbalancer_id": UUID,
    "protocol": Spec("str", choices=c.LISTENER_PROTOCOLS, nullable=False),
    "protocol_port": PORT,
    "connection_limit": Spec("int", minimum=-1, maximum=2**31 - 1),
    "default_pool_id": UUID,
    "default_pool": Spec("dict"),
    "default_tls_container_ref": Spec("str"),
    "sni_container_refs": Spec("list"),
    "insert_headers": Spec("dict"),
    "timeout_client_data": TIMEOUT,
    "timeout_member_connect": TIMEOUT,
    "timeout_member_data": TIMEOUT,
    "timeout_tcp_inspect": TIMEOUT,
    "allowed_cidrs": Spec("list"),
    "client_authentication": Spec("str", choices=("NONE", "OPTIONAL", "MANDATORY")),
    "client_ca_tls_container_ref": Spec("str"),
    "client_crl_container_ref": Spec("str"),
    "tls_ciphers": Spec("str", max_length=2048),
    "tls_versions": Spec("list"),
    "alpn_protocols": Spec("list"),
    "l7policies": Spec("list"),
    "hsts_max_age": Spec("int", minimum=0),
    "hsts_include_subdomains": Spec("bool"),
    "hsts_preload": Spec("bool"),
}
LISTENER_UPDATABLE = {
    "name", "description", "admin_state_up", "tags", "connection_limit", "default_pool_id", "insert_headers",
    "timeout_client_data", "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect", "allowed_cidrs",
    "default_tls_container_ref", "sni_container_refs", "client_authentication", "client_ca_tls_container_ref",
    "client_crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age",
    "hsts_include_subdomains", "hsts_preload",
}  # fmt: skip
POOL = {
    **COMMON,
    **OWNER,
    "loadbalancer_id": UUID,
    "listener_id": UUID,
    "protocol": Spec("str", choices=c.POOL_PROTOCOLS, nullable=False),
    "lb_algorithm": Spec("str", choices=c.LB_ALGORITHMS, nullable=False),
    "session_persistence": Spec("dict"),
    "tls_enabled": Spec("bool"),
    "tls_container_ref": Spec("str"),
    "ca_tls_container_ref": Spec("str"),
    "crl_container_ref": Spec("str"),
    "tls_ciphers": Spec("str", max_length=2048),
    "tls_versions": Spec("list"),
    "alpn_protocols": Spec("list"),
}
POOL_UPDATABLE = {
    "name", "description", "admin_state_up", "tags", "lb_algorithm", "session_persistence", "tls_enabled",
    "tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers", "tls_versions",
    "alpn_protocols",
}  # fmt: skip
MEMBER = {
    "name": COMMON["name"],
    "admin_state_up": ADMIN,
    "tags": COMMON["tags"],
    **OWNER,
    "address": Spec("ip", nullable=False),
    "protocol_port": PORT,
    "weight": Spec("int", minimum=0, maximum=256),
    "backup": Spec("bool"),
    "subnet_id": UUID,
    "monitor_address": Spec("ip"),
    "monitor_port": Spec("int", minimum=1, maximum=65535),
    "request_sriov": Spec("bool"),
}
MEMBER_UPDATABLE = {"name", "admin_state_up", "tags", "weight", "backup", "monitor_address", "monitor_port"}
MONITOR = {
    "name": COMMON["name"],
    "admin_state_up": ADMIN,
    "tags": COMMON["tags"],
    **OWNER,
    "pool_id": UUID,
    "type": Spec("str", choices=c.MONITOR_TYPES, nullable=False),
    "delay": Spec("int", minimum=0, maximum=2**31 - 1, nullable=False),
    "timeout": Spec("int", minimum=0, maximum=2**31 - 1, nullable=False),
    "max_retries": Spec("int", minimum=1, maximum=10, nullable=False),
    "max_retries_down": Spec("int", minimum=1, maximum=10),
    "http_method": Spec("str", choices=c.HTTP_METHODS),
    "url_path": Spec("str", max_length=2048),
    "expected_codes": Spec("str", max_length=64),
    "http_version": Spec("float", choices=(1.0, 1.1)),
    "domain_name": Spec("str"),
}
MONITOR_UPDATABLE = {
    "name", "admin_state_up", "tags", "delay", "timeout", "max_retries", "max_retries_down", "http_method",
    "url_path", "expected_codes", "http_version", "domain_name",
}  # fmt: skip
L7POLICY = {
    **COMMON,
    **OWNER,
    "listener_id": UUID,
    "action": Spec("str", choices=c.L7_ACTIONS, nullable=False),
    "position": Spec("int", minimum=1, maximum=2**31 - 1),
    "redirect_url": Spec("str", max_length=2048),
    "redirect_prefix": Spec("str", max_length=2048),
    "redirect_pool_id": UUID,
    "redirect_http_code": Spec("int", choices=c.REDIRECT_CODES),
    "rules": Spec("list"),
}
L7POLICY_UPDATABLE = {
    "name", "description", "admin_state_up", "tags", "action", "position", "redirect_url", "redirect_prefix",
    "redirect_pool_id", "redirect_http_code",
}  # fmt: skip
L7RULE = {
    "admin_state_up": ADMIN,
    "tags": COMMON["tags"],
    **OWNER,
    "type": Spec("str", choices=c.L7_RULE_TYPES, nullable=False),
    "compare_type": Spec("str", choices=c.L7_COMPARE_TYPES, nullable=False),
    "key": Spec("str"),
    "value": Spec("str", nullable=False),
    "invert": Spec("bool"),
}
L7RULE_UPDATABLE = {"admin_state_up", "tags", "type", "compare_type", "key", "value", "invert"}


def _updates(key: str, body: Any, specs: dict[str, Spec], updatable: set[str]) -> dict[str, Any]:
    values = unwrap(body, key)
    fixed = sorted(set(values) & set(specs) - updatable)
    if fixed:
        raise invalid(key, values, f"Unknown attribute for argument {key}: {', '.join(fixed)}")
    return parse(key, values, {k: specs[k] for k in updatable})


def _owner(ctx: RequestContext, values: dict[str, Any], parent_project: str) -> None:
    """``project_id`` in a body must be the parent's (Octavia takes it from the parent)."""
    for key in ("project_id", "tenant_id"):
        given = values.pop(key, None)
        if given is not None and given != parent_project:
            raise validation(f"{key} {given} does not match the parent object's project.")


def _integrity(message: str, code: str) -> Callable[[IntegrityError], Conflict]:
    return lambda exc: Conflict(message, code=code)


class Objects:
    """The child objects of load balancers; ``svc`` is the ``LoadBalancerService``."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime

    # --- shared ----------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        return str(self.svc.provider)

    def _commit(
        self, ctx: RequestContext, work: Callable[[Session], tuple[str, str, Any]], duplicate: Conflict | None = None
    ) -> dict[str, Any]:
        """Run ``work`` (returns kind, id and the load balancer id) in one transaction, then
        hand the load balancer to the provisioner and answer the object's view."""
        try:
            with self.runtime.db.session() as s:
                kind, object_id, lb_id = work(s)
                s.flush()
                view = self.render(s, kind, s.get(_model(kind), object_id))
        except IntegrityError:
            if duplicate is None:
                raise
            raise duplicate from None
        self.svc.provisioner.submit(lb_id)
        return view

    @staticmethod
    def render(session: Session, kind: str, rec: Any) -> dict[str, Any]:
        return RENDER[kind](session, rec)

    def get(self, ctx: RequestContext, kind: str, object_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return self.render(s, kind, get_visible(s, ctx, kind, object_id))

    def list(self, ctx: RequestContext, kind: str, **where: Any) -> builtins.list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            return [self.render(s, kind, rec) for rec in list_visible(s, ctx, kind, **where)]

    def _pool_of(self, s: Session, ctx: RequestContext, pool_id: str) -> PoolRecord:
        pool: PoolRecord = get_visible(s, ctx, "pool", pool_id)
        return pool

    def _lb(self, s: Session, ctx: RequestContext, lb_id: Any) -> LoadBalancerRecord:
        try:
            lb: LoadBalancerRecord = get_visible(s, ctx, "loadbalancer", lb_id)
        except NotFound:
            raise invalid_subresource("Load Balancer", lb_id) from None
        return lb

    def _mark(self, s: Session, rec: Any, status: str) -> None:
        lock_loadbalancer(s, rec.loadbalancer_id)
        rec.provisioning_status = status

    def delete(self, ctx: RequestContext, kind: str, object_id: str) -> None:
        def work(s: Session) -> tuple[str, str, Any]:
            rec = get_visible(s, ctx, kind, object_id)
            check_not_deleting(kind, rec)
            if kind == "pool":
                user = s.scalar(select(L7PolicyRecord.id).where(L7PolicyRecord.redirect_pool_id == rec.id))
                if user is not None:
                    raise Conflict(f"Pool {rec.id} is in use by L7 policy {user}.", code="PoolInUse")
            self._mark(s, rec, c.PENDING_DELETE)
            return kind, rec.id, rec.loadbalancer_id

        with self.runtime.db.session() as s:
            kind_, _, lb_id = work(s)
        self.svc.provisioner.submit(lb_id)

    # --- listeners -------------------------------------------------------------------------

    def _check_listener_values(self, values: dict[str, Any], protocol: str) -> None:
        headers = values.get("insert_headers")
        if headers:
            for name, value in headers.items():
                if name not in c.INSERT_HEADERS:
                    raise (
                        validation(f"{name} is not a valid option for {protocol} listeners.")
                        if protocol == "HTTP"
                        else validation(f"The following headers are not valid for {protocol} listeners: {name}")
                    )
                if str(value).lower() not in ("true", "false"):
                    raise invalid("insert_headers", headers, f"Value for {name} should be 'true' or 'false'")
            if protocol != "HTTP":
                raise validation(f"The following headers are not valid for {protocol} listeners: {', '.join(headers)}")
        for cidr in values.get("allowed_cidrs") or []:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise invalid("allowed_cidrs", values["allowed_cidrs"], f"{cidr} is not a valid CIDR") from None
        for tls in ("default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref",
                    "client_crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age",
                    "hsts_include_subdomains", "hsts_preload"):  # fmt: skip
            if values.get(tls):
                raise unsupported_option(self.provider, f"TLS termination ({tls}) is not served by this provider.")
        if values.get("client_authentication") not in (None, "NONE"):
            raise unsupported_option(self.provider, "client_authentication is not served by this provider.")

    def _check_default_pool(
        self, s: Session, ctx: RequestContext, pool_id: str, lb_id: str, protocol: str, listener_id: str | None
    ) -> None:
        try:
            pool = self._pool_of(s, ctx, pool_id)
        except NotFound:
            raise invalid_subresource("Pool", pool_id) from None
        if pool.loadbalancer_id != lb_id:
            raise validation(f"Pool {pool_id} is on another load balancer.")
        check_listener_pool(protocol, pool.protocol)
        other = s.scalar(
            select(ListenerRecord.id).where(ListenerRecord.default_pool_id == pool_id, ListenerRecord.id != listener_id)
        )
        if other is not None or (pool.listener_id not in (None, listener_id)):
            raise Conflict(f"Pool {pool_id} is already in use by another listener.", code="DuplicatePoolEntry")

    def create_listener(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse(
            "listener", unwrap(body, "listener"), LISTENER, required=("loadbalancer_id", "protocol", "protocol_port")
        )
        for inline in ("default_pool", "l7policies"):
            if values.get(inline):
                raise unsupported_option(
                    self.provider,
                    f"creating {inline} inline with a listener is not supported; create them on their own.",
                )
        protocol = values["protocol"]
        if protocol not in c.SERVED_LISTENER_PROTOCOLS:
            raise unsupported_option(
                self.provider, f"listener protocol {protocol} is not served (HTTP, HTTPS passthrough and TCP are)."
            )
        self._check_listener_values(values, protocol)
        dup = Conflict(
            f"Another Listener on this Load Balancer is already using protocol {protocol} and protocol_port {values['protocol_port']}",
            code="DuplicateListenerEntry",
        )

        def work(s: Session) -> tuple[str, str, Any]:
            lb = self._lb(s, ctx, values["loadbalancer_id"])
            _owner(ctx, values, lb.project_id)
            if lb.provisioning_status == c.PENDING_DELETE:
                raise validation(f"Load Balancer {lb.id} is being deleted.")
            taken = s.scalar(
                select(ListenerRecord.id).where(
                    ListenerRecord.loadbalancer_id == lb.id, ListenerRecord.protocol_port == values["protocol_port"]
                )
            )
            if taken is not None:
                raise dup
            if values.get("default_pool_id"):
                self._check_default_pool(s, ctx, values["default_pool_id"], lb.id, protocol, None)
            lock_loadbalancer(s, lb.id)
            rec = ListenerRecord(
                project_id=lb.project_id,
                loadbalancer_id=lb.id,
                name=values.get("name") or "",
                description=values.get("description") or "",
                admin_state_up=values.get("admin_state_up", True),
                tags=values.get("tags") or [],
                protocol=protocol,
                protocol_port=values["protocol_port"],
                connection_limit=_or(values.get("connection_limit"), -1),
                default_pool_id=values.get("default_pool_id"),
                timeout_client_data=_or(values.get("timeout_client_data"), 50000),
                timeout_member_connect=_or(values.get("timeout_member_connect"), 5000),
                timeout_member_data=_or(values.get("timeout_member_data"), 50000),
                timeout_tcp_inspect=_or(values.get("timeout_tcp_inspect"), 0),
                insert_headers={k: str(v) for k, v in (values.get("insert_headers") or {}).items()},
                allowed_cidrs=values.get("allowed_cidrs") or [],
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            s.add(rec)
            self.svc.quotas.check(s, lb.project_id, "listener")
            return "listener", rec.id, lb.id

        return self._commit(ctx, work, dup)

    def update_listener(self, ctx: RequestContext, listener_id: str, body: Any) -> dict[str, Any]:
        values = _updates("listener", body, LISTENER, LISTENER_UPDATABLE)

        def work(s: Session) -> tuple[str, str, Any]:
            rec: ListenerRecord = get_visible(s, ctx, "listener", listener_id)
            check_not_deleting("listener", rec)
            self._check_listener_values(values, rec.protocol)
            if values.get("default_pool_id"):
                self._check_default_pool(s, ctx, values["default_pool_id"], rec.loadbalancer_id, rec.protocol, rec.id)
            self._mark(s, rec, c.PENDING_UPDATE)
            for key, value in values.items():
                if key in ("connection_limit",):
                    value = _or(value, -1)
                elif key.startswith("timeout_"):
                    value = _or(value, LISTENER_DEFAULTS[key])
                elif key == "insert_headers":
                    value = {k: str(v) for k, v in (value or {}).items()}
                elif key in ("allowed_cidrs", "tags"):
                    value = value or []
                elif key in ("name", "description"):
                    value = value or ""
                elif key not in ("default_pool_id", "admin_state_up"):
                    continue  # TLS keys: refused above unless empty
                setattr(rec, key, value)
            return "listener", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)

    # --- pools -----------------------------------------------------------------------------

    def _check_pool_values(self, values: dict[str, Any], protocol: str) -> None:
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

    def create_pool(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse("pool", unwrap(body, "pool"), POOL, required=("protocol", "lb_algorithm"))
        if not values.get("loadbalancer_id") and not values.get("listener_id"):
            raise validation("loadbalancer_id or listener_id must be specified.")
        protocol = values["protocol"]
        if protocol not in c.SERVED_POOL_PROTOCOLS:
            raise unsupported_option(self.provider, f"pool protocol {protocol} is not served.")
        self._check_pool_values(values, protocol)

        def work(s: Session) -> tuple[str, str, Any]:
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
            _owner(ctx, values, lb.project_id)
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
                session_persistence=_persistence(values.get("session_persistence")),
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

    def update_pool(self, ctx: RequestContext, pool_id: str, body: Any) -> dict[str, Any]:
        values = _updates("pool", body, POOL, POOL_UPDATABLE)

        def work(s: Session) -> tuple[str, str, Any]:
            rec: PoolRecord = get_visible(s, ctx, "pool", pool_id)
            check_not_deleting("pool", rec)
            self._check_pool_values(values, rec.protocol)
            self._mark(s, rec, c.PENDING_UPDATE)
            for key in ("name", "description"):
                if key in values:
                    setattr(rec, key, values[key] or "")
            for key in ("admin_state_up", "lb_algorithm"):
                if values.get(key) is not None:
                    setattr(rec, key, values[key])
            if "tags" in values:
                rec.tags = values["tags"] or []
            if "session_persistence" in values:
                rec.session_persistence = _persistence(values["session_persistence"])
            return "pool", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)

    # --- members ---------------------------------------------------------------------------

    def _check_member_route(
        self, s: Session, lb: LoadBalancerRecord, address: str, subnet_id: str | None, ctx: RequestContext
    ) -> None:
        """The data plane reaches members from the VIP's network: directly on one of its
        subnets, or through the VIP subnet's router. Anything else has no route."""
        network = self.runtime.network
        ip = ipaddress.ip_address(address)
        if subnet_id is not None:
            try:
                subnet = network.subnets.get(ctx, subnet_id)
            except NotFound:
                raise invalid_subresource("Subnet", subnet_id) from None
            if ip not in ipaddress.ip_network(subnet["cidr"]):
                raise validation(f"Member address {address} is not in subnet {subnet_id} ({subnet['cidr']}).")
        vip_net = network.networks.get(ctx, lb.vip_network_id) if lb.vip_network_id else None
        vip_subnets = [network.subnets.get(ctx, sid) for sid in (vip_net or {}).get("subnets", [])]
        if any(ip in ipaddress.ip_network(sub["cidr"]) for sub in vip_subnets):
            if subnet_id is None or subnet_id in {sub["id"] for sub in vip_subnets}:
                return
        routed = network.routed_subnets(lb.vip_subnet_id) if lb.vip_subnet_id else set()
        vip_gateway = next((sub.get("gateway_ip") for sub in vip_subnets if sub["id"] == lb.vip_subnet_id), None)
        if subnet_id is not None:
            if subnet_id in routed and vip_gateway:
                return
            raise validation(
                f"Member subnet {subnet_id} is not reachable from load balancer {lb.id}: no router connects it "
                f"to the VIP subnet {lb.vip_subnet_id}."
            )
        reachable = [network.subnets.get(ctx, sid) for sid in routed] if vip_gateway else []
        if any(ip in ipaddress.ip_network(sub["cidr"]) for sub in reachable):
            return
        raise validation(
            f"Member address {address} is not reachable from load balancer {lb.id}: it is on none of the VIP "
            "network's subnets nor on a subnet routed to the VIP subnet."
        )

    def create_member(self, ctx: RequestContext, pool_id: str, body: Any) -> dict[str, Any]:
        values = parse("member", unwrap(body, "member"), MEMBER, required=("address", "protocol_port"))
        if values.get("request_sriov"):
            raise unsupported_option(self.provider, "request_sriov is not served.")
        dup = Conflict(
            f"Another member on this pool is already using ip {values['address']} on protocol_port {values['protocol_port']}",
            code="DuplicateMemberEntry",
        )

        def work(s: Session) -> tuple[str, str, Any]:
            pool = self._pool_of(s, ctx, pool_id)
            check_not_deleting("pool", pool)
            _owner(ctx, values, pool.project_id)
            lb = _parent_lb(s, pool.loadbalancer_id)
            self._check_member_route(s, lb, values["address"], values.get("subnet_id"), ctx)
            if values.get("monitor_address"):
                self._check_member_route(s, lb, values["monitor_address"], None, ctx)
            taken = s.scalar(
                select(MemberRecord.id).where(
                    MemberRecord.pool_id == pool.id,
                    MemberRecord.address == values["address"],
                    MemberRecord.protocol_port == values["protocol_port"],
                )
            )
            if taken is not None:
                raise dup
            lock_loadbalancer(s, pool.loadbalancer_id)
            rec = MemberRecord(
                project_id=pool.project_id,
                loadbalancer_id=pool.loadbalancer_id,
                pool_id=pool.id,
                name=values.get("name") or "",
                admin_state_up=values.get("admin_state_up", True),
                tags=values.get("tags") or [],
                address=str(ipaddress.ip_address(values["address"])),
                protocol_port=values["protocol_port"],
                weight=_or(values.get("weight"), 1),
                backup=bool(values.get("backup")),
                subnet_id=values.get("subnet_id"),
                monitor_address=values.get("monitor_address"),
                monitor_port=values.get("monitor_port"),
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.NO_MONITOR,
            )
            s.add(rec)
            self.svc.quotas.check(s, pool.project_id, "member")
            return "member", rec.id, pool.loadbalancer_id

        return self._commit(ctx, work, dup)

    def get_member(self, ctx: RequestContext, pool_id: str, member_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            self._pool_of(s, ctx, pool_id)
            rec = get_visible(s, ctx, "member", member_id)
            if rec.pool_id != pool_id:
                raise not_found("member", member_id)
            return self.render(s, "member", rec)

    def update_member(self, ctx: RequestContext, pool_id: str, member_id: str, body: Any) -> dict[str, Any]:
        values = _updates("member", body, MEMBER, MEMBER_UPDATABLE)

        def work(s: Session) -> tuple[str, str, Any]:
            self._pool_of(s, ctx, pool_id)
            rec: MemberRecord = get_visible(s, ctx, "member", member_id)
            if rec.pool_id != pool_id:
                raise not_found("member", member_id)
            check_not_deleting("member", rec)
            if values.get("monitor_address"):
                lb = _parent_lb(s, rec.loadbalancer_id)
                self._check_member_route(s, lb, values["monitor_address"], None, ctx)
            self._mark(s, rec, c.PENDING_UPDATE)
            for key, value in values.items():
                if key == "weight":
                    value = _or(value, 1)
                elif key in ("name",):
                    value = value or ""
                elif key == "tags":
                    value = value or []
                elif key in ("admin_state_up", "backup") and value is None:
                    continue
                setattr(rec, key, value)
            return "member", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)

    def delete_member(self, ctx: RequestContext, pool_id: str, member_id: str) -> None:
        with self.runtime.db.session() as s:
            self._pool_of(s, ctx, pool_id)
            rec = get_visible(s, ctx, "member", member_id)
            if rec.pool_id != pool_id:
                raise not_found("member", member_id)
        self.delete(ctx, "member", member_id)

    def list_members(self, ctx: RequestContext, pool_id: str) -> builtins.list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            self._pool_of(s, ctx, pool_id)
        return self.list(ctx, "member", pool_id=pool_id)

    # --- health monitors -------------------------------------------------------------------

    def _check_monitor_values(self, values: dict[str, Any], kind: str) -> None:
        if kind not in c.SERVED_MONITOR_TYPES:
            raise unsupported_option(self.provider, f"health monitor type {kind} is not served.")
        http = kind in ("HTTP", "HTTPS")
        if not http:
            for key in ("http_method", "url_path", "expected_codes", "http_version", "domain_name"):
                if values.get(key) is not None:
                    raise validation(f"{key} is not a valid option for health monitors of type {kind}")
        if values.get("url_path") is not None and not values["url_path"].startswith("/"):
            raise invalid("url_path", values["url_path"], "Value should start with /")
        codes = values.get("expected_codes")
        if codes is not None and not _valid_codes(codes):
            raise invalid(
                "expected_codes", codes, "Value should be a status code, a list (200,202) or a range (200-204)"
            )
        if values.get("domain_name") and values.get("http_version") != 1.1:
            raise validation("http_version 1.1 is required when domain_name is given.")
        delay, timeout = values.get("delay"), values.get("timeout")
        if delay is not None and timeout is not None and timeout > delay:
            raise validation(
                "The request delay value %d should be larger than the request timeout value %d." % (delay, timeout)
            )

    def create_healthmonitor(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse(
            "healthmonitor",
            unwrap(body, "healthmonitor"),
            MONITOR,
            required=("pool_id", "type", "delay", "timeout", "max_retries"),
        )
        kind = values["type"]
        self._check_monitor_values(values, kind)
        dup = Conflict(f"Pool {values['pool_id']} already has a health monitor", code="DuplicateHealthMonitor")

        def work(s: Session) -> tuple[str, str, Any]:
            try:
                pool = self._pool_of(s, ctx, values["pool_id"])
            except NotFound:
                raise invalid_subresource("Pool", values["pool_id"]) from None
            check_not_deleting("pool", pool)
            _owner(ctx, values, pool.project_id)
            if s.scalar(select(HealthMonitorRecord.id).where(HealthMonitorRecord.pool_id == pool.id)) is not None:
                raise dup
            lock_loadbalancer(s, pool.loadbalancer_id)
            http = kind in ("HTTP", "HTTPS")
            rec = HealthMonitorRecord(
                project_id=pool.project_id,
                loadbalancer_id=pool.loadbalancer_id,
                pool_id=pool.id,
                name=values.get("name") or "",
                admin_state_up=values.get("admin_state_up", True),
                tags=values.get("tags") or [],
                type=kind,
                delay=values["delay"],
                timeout=values["timeout"],
                max_retries=values["max_retries"],
                max_retries_down=_or(values.get("max_retries_down"), 3),
                http_method=_or(values.get("http_method"), "GET") if http else None,
                url_path=_or(values.get("url_path"), "/") if http else None,
                expected_codes=_or(values.get("expected_codes"), "200") if http else None,
                http_version=values.get("http_version"),
                domain_name=values.get("domain_name"),
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            s.add(rec)
            self.svc.quotas.check(s, pool.project_id, "healthmonitor")
            return "healthmonitor", rec.id, pool.loadbalancer_id

        return self._commit(ctx, work, dup)

    def update_healthmonitor(self, ctx: RequestContext, monitor_id: str, body: Any) -> dict[str, Any]:
        values = _updates("healthmonitor", body, MONITOR, MONITOR_UPDATABLE)

        def work(s: Session) -> tuple[str, str, Any]:
            rec: HealthMonitorRecord = get_visible(s, ctx, "healthmonitor", monitor_id)
            check_not_deleting("healthmonitor", rec)
            merged = {"delay": rec.delay, "timeout": rec.timeout, **{k: v for k, v in values.items() if v is not None}}
            self._check_monitor_values({**values, "delay": merged["delay"], "timeout": merged["timeout"]}, rec.type)
            self._mark(s, rec, c.PENDING_UPDATE)
            defaults = {"max_retries_down": 3, "http_method": "GET", "url_path": "/", "expected_codes": "200"}
            for key, value in values.items():
                if key in ("name",):
                    value = value or ""
                elif key == "tags":
                    value = value or []
                elif value is None and key in defaults:
                    value = defaults[key]
                elif value is None and key not in ("http_version", "domain_name"):
                    continue
                setattr(rec, key, value)
            return "healthmonitor", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)

    # --- L7 policies and rules -------------------------------------------------------------

    def _check_policy(self, s: Session, ctx: RequestContext, values: dict[str, Any], listener: ListenerRecord) -> None:
        action = values.get("action")
        needs = {
            "REDIRECT_TO_URL": "redirect_url",
            "REDIRECT_PREFIX": "redirect_prefix",
            "REDIRECT_TO_POOL": "redirect_pool_id",
        }
        if action in needs and not values.get(needs[action]):
            raise validation(f"{needs[action]} is required when action is {action}.")
        for act, key in needs.items():
            if act != action and values.get(key):
                raise validation(f"{key} is only valid when action is {act}.")
        if values.get("redirect_http_code") and action not in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
            raise validation("redirect_http_code is only valid for REDIRECT_TO_URL and REDIRECT_PREFIX actions.")
        if listener.protocol not in ("HTTP", "TERMINATED_HTTPS"):
            raise validation(
                f"L7 policies are only supported on HTTP and TERMINATED_HTTPS listeners, not {listener.protocol}."
            )
        for key in ("redirect_url", "redirect_prefix"):
            url = values.get(key)
            if (
                url
                and not (url.startswith("http://") or url.startswith("https://"))
                or (url and any(ch in url for ch in ' \r\n"'))
            ):
                raise invalid(key, url, "Value should be an http or https URL")
        if values.get("redirect_pool_id"):
            try:
                pool = self._pool_of(s, ctx, values["redirect_pool_id"])
            except NotFound:
                raise invalid_subresource("Pool", values["redirect_pool_id"]) from None
            if pool.loadbalancer_id != listener.loadbalancer_id:
                raise validation(f"Pool {pool.id} is on another load balancer.")
            check_listener_pool(listener.protocol, pool.protocol)

    def create_l7policy(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse("l7policy", unwrap(body, "l7policy"), L7POLICY, required=("listener_id", "action"))
        if values.get("rules"):
            raise unsupported_option(
                self.provider, "creating rules inline with a policy is not supported; create them on their own."
            )

        def work(s: Session) -> tuple[str, str, Any]:
            try:
                listener: ListenerRecord = get_visible(s, ctx, "listener", values["listener_id"])
            except NotFound:
                raise invalid_subresource("Listener", values["listener_id"]) from None
            check_not_deleting("listener", listener)
            _owner(ctx, values, listener.project_id)
            self._check_policy(s, ctx, values, listener)
            lock_loadbalancer(s, listener.loadbalancer_id)
            count = (
                s.scalar(
                    select(func.count()).select_from(L7PolicyRecord).where(L7PolicyRecord.listener_id == listener.id)
                )
                or 0
            )
            position = min(values.get("position") or count + 1, count + 1)
            self._shift(s, listener.id, position, +1)
            rec = L7PolicyRecord(
                project_id=listener.project_id,
                loadbalancer_id=listener.loadbalancer_id,
                listener_id=listener.id,
                name=values.get("name") or "",
                description=values.get("description") or "",
                admin_state_up=values.get("admin_state_up", True),
                tags=values.get("tags") or [],
                action=values["action"],
                position=position,
                redirect_url=values.get("redirect_url"),
                redirect_prefix=values.get("redirect_prefix"),
                redirect_pool_id=values.get("redirect_pool_id"),
                redirect_http_code=values.get("redirect_http_code")
                or (302 if values["action"] in ("REDIRECT_TO_URL", "REDIRECT_PREFIX") else None),
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            s.add(rec)
            self.svc.quotas.check(s, listener.project_id, "l7policy")
            return "l7policy", rec.id, listener.loadbalancer_id

        return self._commit(ctx, work)

    @staticmethod
    def _shift(s: Session, listener_id: str, start: int, step: int, exclude: str | None = None) -> None:
        for rec in s.scalars(
            select(L7PolicyRecord).where(L7PolicyRecord.listener_id == listener_id, L7PolicyRecord.position >= start)
        ):
            if rec.id != exclude:
                rec.position += step

    def update_l7policy(self, ctx: RequestContext, policy_id: str, body: Any) -> dict[str, Any]:
        values = _updates("l7policy", body, L7POLICY, L7POLICY_UPDATABLE)

        def work(s: Session) -> tuple[str, str, Any]:
            rec: L7PolicyRecord = get_visible(s, ctx, "l7policy", policy_id)
            check_not_deleting("l7policy", rec)
            listener = s.get_one(ListenerRecord, rec.listener_id)
            merged = {
                "action": rec.action, "redirect_url": rec.redirect_url, "redirect_prefix": rec.redirect_prefix,
                "redirect_pool_id": rec.redirect_pool_id, "redirect_http_code": rec.redirect_http_code,
            }  # fmt: skip
            if "action" in values and values["action"] != rec.action:
                merged.update(redirect_url=None, redirect_prefix=None, redirect_pool_id=None, redirect_http_code=None)
            merged.update({k: v for k, v in values.items() if k in merged})
            self._check_policy(s, ctx, merged, listener)
            self._mark(s, rec, c.PENDING_UPDATE)
            for key, value in merged.items():
                setattr(rec, key, value)
            if rec.action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX") and not rec.redirect_http_code:
                rec.redirect_http_code = 302
            for key in ("name", "description"):
                if key in values:
                    setattr(rec, key, values[key] or "")
            if values.get("admin_state_up") is not None:
                rec.admin_state_up = values["admin_state_up"]
            if "tags" in values:
                rec.tags = values["tags"] or []
            if values.get("position") is not None and values["position"] != rec.position:
                count = (
                    s.scalar(
                        select(func.count())
                        .select_from(L7PolicyRecord)
                        .where(L7PolicyRecord.listener_id == rec.listener_id)
                    )
                    or 1
                )
                old, new = rec.position, min(values["position"], count)
                self._shift(s, rec.listener_id, old + 1, -1, exclude=rec.id)
                self._shift(s, rec.listener_id, new, +1, exclude=rec.id)
                rec.position = new
            return "l7policy", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)

    def _check_rule(self, values: dict[str, Any]) -> None:
        kind = values.get("type")
        if kind not in c.SERVED_L7_RULE_TYPES:
            raise unsupported_option(self.provider, f"L7 rule type {kind} is not served (TLS is not terminated here).")
        if kind in ("HEADER", "COOKIE") and not values.get("key"):
            raise validation(f"key is required for {kind} rules.")
        if kind not in ("HEADER", "COOKIE") and values.get("key"):
            raise validation(f"key is only valid for HEADER and COOKIE rules, not {kind}.")
        value = values.get("value") or ""
        if any(ch in value for ch in '\r\n"') or (
            kind != "PATH" and values.get("compare_type") != "REGEX" and " " in value
        ):
            raise invalid("value", value, "Value contains characters that are not allowed")
        if values.get("compare_type") == "REGEX":
            import re

            try:
                re.compile(value)
            except re.error as exc:
                raise validation(f"Invalid regex {value}: {exc}") from None
        if kind == "FILE_TYPE" and values.get("compare_type") not in ("EQUAL_TO", "REGEX"):
            raise validation("FILE_TYPE rules take compare_type EQUAL_TO or REGEX.")

    def create_l7rule(self, ctx: RequestContext, policy_id: str, body: Any) -> dict[str, Any]:
        values = parse("rule", unwrap(body, "rule"), L7RULE, required=("type", "compare_type", "value"))
        self._check_rule(values)

        def work(s: Session) -> tuple[str, str, Any]:
            policy: L7PolicyRecord = get_visible(s, ctx, "l7policy", policy_id)
            check_not_deleting("l7policy", policy)
            _owner(ctx, values, policy.project_id)
            lock_loadbalancer(s, policy.loadbalancer_id)
            rec = L7RuleRecord(
                project_id=policy.project_id,
                loadbalancer_id=policy.loadbalancer_id,
                l7policy_id=policy.id,
                admin_state_up=values.get("admin_state_up", True),
                tags=values.get("tags") or [],
                type=values["type"],
                compare_type=values["compare_type"],
                key=values.get("key"),
                value=values["value"],
                invert=bool(values.get("invert")),
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            s.add(rec)
            self.svc.quotas.check(s, policy.project_id, "l7rule")
            return "l7rule", rec.id, policy.loadbalancer_id

        return self._commit(ctx, work)

    def _rule_of(self, s: Session, ctx: RequestContext, policy_id: str, rule_id: str) -> L7RuleRecord:
        get_visible(s, ctx, "l7policy", policy_id)
        rec: L7RuleRecord = get_visible(s, ctx, "l7rule", rule_id)
        if rec.l7policy_id != policy_id:
            raise not_found("l7rule", rule_id)
        return rec

    def get_l7rule(self, ctx: RequestContext, policy_id: str, rule_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return self.render(s, "l7rule", self._rule_of(s, ctx, policy_id, rule_id))

    def list_l7rules(self, ctx: RequestContext, policy_id: str) -> builtins.list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            get_visible(s, ctx, "l7policy", policy_id)
        return self.list(ctx, "l7rule", l7policy_id=policy_id)

    def update_l7rule(self, ctx: RequestContext, policy_id: str, rule_id: str, body: Any) -> dict[str, Any]:
        values = _updates("rule", body, L7RULE, L7RULE_UPDATABLE)

        def work(s: Session) -> tuple[str, str, Any]:
            rec = self._rule_of(s, ctx, policy_id, rule_id)
            check_not_deleting("l7rule", rec)
            merged = {"type": rec.type, "compare_type": rec.compare_type, "key": rec.key, "value": rec.value}
            merged.update({k: v for k, v in values.items() if k in merged and (v is not None or k == "key")})
            self._check_rule(merged)
            self._mark(s, rec, c.PENDING_UPDATE)
            for key, value in merged.items():
                setattr(rec, key, value)
            for key in ("admin_state_up", "invert"):
                if values.get(key) is not None:
                    setattr(rec, key, values[key])
            if "tags" in values:
                rec.tags = values["tags"] or []
            return "l7rule", rec.id, rec.loadbalancer_id

        return self._commit(ctx, work)

    def delete_l7rule(self, ctx: RequestContext, policy_id: str, rule_id: str) -> None:
        with self.runtime.db.session() as s:
            self._rule_of(s, ctx, policy_id, rule_id)
        self.delete(ctx, "l7rule", rule_id)


CHILD_MODELS = (L7RuleRecord, L7PolicyRecord, HealthMonitorRecord, MemberRecord, ListenerRecord, PoolRecord)

LISTENER_DEFAULTS = {
    "timeout_client_data": 50000,
    "timeout_member_connect": 5000,
    "timeout_member_data": 50000,
    "timeout_tcp_inspect": 0,
}

RENDER: dict[str, Callable[[Session, Any], dict[str, Any]]] = {
    "loadbalancer": views.loadbalancer_view,
    "listener": views.listener_view,
    "pool": views.pool_view,
    "member": views.member_view,
    "healthmonitor": views.healthmonitor_view,
    "l7policy": views.l7policy_view,
    "l7rule": views.l7rule_view,
}


def _parent_lb(s: Session, lb_id: str) -> LoadBalancerRecord:
    return s.get_one(LoadBalancerRecord, lb_id)


def _model(kind: str) -> Any:
    from overcast.loadbalancer.store import MODELS

    return MODELS[kind]


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _persistence(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {
        "type": value["type"],
        "cookie_name": value.get("cookie_name"),
        "persistence_timeout": value.get("persistence_timeout"),
        "persistence_granularity": None,
    }


def _valid_codes(codes: str) -> bool:
    parts = codes.split("-") if "-" in codes else codes.split(",")
    if "-" in codes and len(parts) != 2:
        return False
    return all(p.isdigit() and 100 <= int(p) <= 599 for p in parts)


def check_listener_pool(listener_protocol: str, pool_protocol: str) -> None:
    if pool_protocol not in c.LISTENER_POOL_PROTOCOLS.get(listener_protocol, ()):
        raise BadRequest(
            f"The listener protocol {listener_protocol} and pool protocol {pool_protocol} are not compatible.",
            code="ListenerPoolProtocolMismatch",
        )
