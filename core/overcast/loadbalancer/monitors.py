"""Health monitors: create and update under Octavia's rules (one per pool; HTTP options only
for HTTP monitors)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import HealthMonitorRecord
from overcast.errors import Conflict, NotFound
from overcast.loadbalancer import constants as c
from overcast.loadbalancer.children import Changed, Editor, or_default
from overcast.loadbalancer.errors import invalid, invalid_subresource, unsupported_option, validation
from overcast.loadbalancer.fields import parse, unwrap
from overcast.loadbalancer.specs import MONITOR, MONITOR_UPDATABLE, take_owner, updates
from overcast.loadbalancer.store import check_not_deleting, get_visible, lock_loadbalancer


class HealthMonitors(Editor):
    """``/lbaas/healthmonitors``: create and update (show, list and delete are ``Children``'s)."""

    def _check_values(self, values: dict[str, Any], kind: str) -> None:
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
        if codes is not None and not valid_codes(codes):
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

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse(
            "healthmonitor",
            unwrap(body, "healthmonitor"),
            MONITOR,
            required=("pool_id", "type", "delay", "timeout", "max_retries"),
        )
        kind = values["type"]
        self._check_values(values, kind)
        dup = Conflict(f"Pool {values['pool_id']} already has a health monitor", code="DuplicateHealthMonitor")

        def work(s: Session) -> Changed:
            try:
                pool = self._pool_of(s, ctx, values["pool_id"])
            except NotFound:
                raise invalid_subresource("Pool", values["pool_id"]) from None
            check_not_deleting("pool", pool)
            take_owner(values, pool.project_id)
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
                max_retries_down=or_default(values.get("max_retries_down"), 3),
                http_method=or_default(values.get("http_method"), "GET") if http else None,
                url_path=or_default(values.get("url_path"), "/") if http else None,
                expected_codes=or_default(values.get("expected_codes"), "200") if http else None,
                http_version=values.get("http_version"),
                domain_name=values.get("domain_name"),
                provisioning_status=c.PENDING_CREATE,
                operating_status=c.OFFLINE,
            )
            s.add(rec)
            self.svc.quotas.check(s, pool.project_id, "healthmonitor")
            return "healthmonitor", rec.id, pool.loadbalancer_id

        return self._commit(ctx, work, dup)

    def update(self, ctx: RequestContext, monitor_id: str, body: Any) -> dict[str, Any]:
        values = updates("healthmonitor", body, MONITOR, MONITOR_UPDATABLE)

        def work(s: Session) -> Changed:
            rec: HealthMonitorRecord = get_visible(s, ctx, "healthmonitor", monitor_id)
            check_not_deleting("healthmonitor", rec)
            merged = {"delay": rec.delay, "timeout": rec.timeout, **{k: v for k, v in values.items() if v is not None}}
            self._check_values({**values, "delay": merged["delay"], "timeout": merged["timeout"]}, rec.type)
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


def valid_codes(codes: str) -> bool:
    """``expected_codes``: one status code, a list (``200,202``) or a range (``200-204``)."""
    parts = codes.split("-") if "-" in codes else codes.split(",")
    if "-" in codes and len(parts) != 2:
        return False
    return all(p.isdigit() and 100 <= int(p) <= 599 for p in parts)
