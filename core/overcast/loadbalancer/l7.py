"""L7 policies (ordered by position on their listener) and their rules: create, update, and for
rules show, list and delete under their policy."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.loadbalancer import L7PolicyRecord, L7RuleRecord, ListenerRecord
from overcast.errors import NotFound
from overcast.loadbalancer import constants as c
from overcast.loadbalancer.children import Changed, Editor, apply_common, check_listener_pool, render
from overcast.loadbalancer.errors import invalid, invalid_subresource, not_found, unsupported_option, validation
from overcast.loadbalancer.fields import parse, unwrap
from overcast.loadbalancer.specs import L7POLICY, L7POLICY_UPDATABLE, L7RULE, L7RULE_UPDATABLE, take_owner, updates
from overcast.loadbalancer.store import check_not_deleting, get_visible, lock_loadbalancer


class L7Policies(Editor):
    """``/lbaas/l7policies``: create and update (show, list and delete are ``Children``'s)."""

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

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        values = parse("l7policy", unwrap(body, "l7policy"), L7POLICY, required=("listener_id", "action"))
        if values.get("rules"):
            raise unsupported_option(
                self.provider, "creating rules inline with a policy is not supported; create them on their own."
            )

        def work(s: Session) -> Changed:
            try:
                listener: ListenerRecord = get_visible(s, ctx, "listener", values["listener_id"])
            except NotFound:
                raise invalid_subresource("Listener", values["listener_id"]) from None
            check_not_deleting("listener", listener)
            take_owner(values, listener.project_id)
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

    def update(self, ctx: RequestContext, policy_id: str, body: Any) -> dict[str, Any]:
        values = updates("l7policy", body, L7POLICY, L7POLICY_UPDATABLE)

        def work(s: Session) -> Changed:
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
            apply_common(rec, values)
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


class L7Rules(Editor):
    """``/lbaas/l7policies/{policy_id}/rules``."""

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

    def create(self, ctx: RequestContext, policy_id: str, body: Any) -> dict[str, Any]:
        values = parse("rule", unwrap(body, "rule"), L7RULE, required=("type", "compare_type", "value"))
        self._check_rule(values)

        def work(s: Session) -> Changed:
            policy: L7PolicyRecord = get_visible(s, ctx, "l7policy", policy_id)
            check_not_deleting("l7policy", policy)
            take_owner(values, policy.project_id)
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

    def get(self, ctx: RequestContext, policy_id: str, rule_id: str) -> dict[str, Any]:
        with self.runtime.db.session() as s:
            return render(s, "l7rule", self._rule_of(s, ctx, policy_id, rule_id))

    def list(self, ctx: RequestContext, policy_id: str) -> builtins.list[dict[str, Any]]:
        with self.runtime.db.session() as s:
            get_visible(s, ctx, "l7policy", policy_id)
        return self._list(ctx, "l7rule", l7policy_id=policy_id)

    def update(self, ctx: RequestContext, policy_id: str, rule_id: str, body: Any) -> dict[str, Any]:
        values = updates("rule", body, L7RULE, L7RULE_UPDATABLE)

        def work(s: Session) -> Changed:
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

    def delete(self, ctx: RequestContext, policy_id: str, rule_id: str) -> None:
        with self.runtime.db.session() as s:
            self._rule_of(s, ctx, policy_id, rule_id)
        self._delete(ctx, "l7rule", rule_id)
