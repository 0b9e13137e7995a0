"""Listeners: create and update under Octavia's rules (protocols served, inserted headers,
allowed CIDRs, one default pool per listener; TLS termination is refused by this provider)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import ListenerRecord
from overcast.errors import Conflict, NotFound
from overcast.loadbalancer import constants as c
from overcast.loadbalancer.children import Changed, Editor, check_listener_pool, or_default
from overcast.loadbalancer.errors import invalid, invalid_subresource, unsupported_option, validation
from overcast.loadbalancer.fields import parse, unwrap
from overcast.loadbalancer.specs import LISTENER, LISTENER_DEFAULTS, LISTENER_UPDATABLE, take_owner, updates
from overcast.loadbalancer.store import check_not_deleting, get_visible, lock_loadbalancer


class Listeners(Editor):
    """``/lbaas/listeners``: create and update (show, list and delete are ``Children``'s)."""

    def _check_values(self, values: dict[str, Any], protocol: str) -> None:
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

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
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
        self._check_values(values, protocol)
        dup = Conflict(
            f"Another Listener on this Load Balancer is already using protocol {protocol} and protocol_port {values['protocol_port']}",
            code="DuplicateListenerEntry",
        )

        def work(s: Session) -> Changed:
            lb = self._lb(s, ctx, values["loadbalancer_id"])
            take_owner(values, lb.project_id)
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
                connection_limit=or_default(values.get("connection_limit"), -1),
                default_pool_id=values.get("default_pool_id"),
                timeout_client_data=or_default(values.get("timeout_client_data"), 50000),
                timeout_member_connect=or_default(values.get("timeout_member_connect"), 5000),
                timeout_member_data=or_default(values.get("timeout_member_data"), 50000),
                timeout_tcp_inspect=or_default(values.get("timeout_tcp_inspect"), 0),
                insert_headers={k: str(v) for k, v in (values.get("insert_headers") or {}).items()},
                allowed_cidrs=values.get("allowed_cidrs") or [],
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            s.add(rec)
            self.svc.quotas.check(s, lb.project_id, "listener")
            return "listener", rec.id, lb.id

        return self._commit(ctx, work, dup)

    def update(self, ctx: RequestContext, listener_id: str, body: Any) -> dict[str, Any]:
        values = updates("listener", body, LISTENER, LISTENER_UPDATABLE)

        def work(s: Session) -> Changed:
            rec: ListenerRecord = get_visible(s, ctx, "listener", listener_id)
            check_not_deleting("listener", rec)
            self._check_values(values, rec.protocol)
            if values.get("default_pool_id"):
                self._check_default_pool(s, ctx, values["default_pool_id"], rec.loadbalancer_id, rec.protocol, rec.id)
            self._mark(s, rec, c.PENDING_UPDATE)
            for key, value in values.items():
                if key in ("connection_limit",):
                    value = or_default(value, -1)
                elif key.startswith("timeout_"):
                    value = or_default(value, LISTENER_DEFAULTS[key])
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
