"""Making a load balancer's data plane match the database, then settling its statuses.

``submit(lb_id)`` runs :meth:`Provisioner.sync` on the task runner. A sync builds the
:class:`~overcast.types.LoadBalancer` contract from the rows (leaving out what is
``PENDING_DELETE``), makes sure the VIP port is bound and plugged into the load balancer's
namespace on the network host (``net_plug_namespace`` through its network agent), opens the
VIP's security group for the listeners, and deploys it through the host's load-balancer
agent. Then rows pending deletion are removed and every pending row becomes ``ACTIVE``
(``ERROR`` if the host refused). A load balancer pending deletion is undeployed, unplugged
and removed with its port and group.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from overcast.context import system_context
from overcast.db.models.loadbalancer import (
    HealthMonitorRecord,
    L7PolicyRecord,
    L7RuleRecord,
    ListenerRecord,
    LoadBalancerRecord,
    MemberRecord,
    PoolRecord,
)
from overcast.errors import NotFound, OvercastError
from overcast.loadbalancer import constants as c
from overcast.types import (
    LbHealthMonitor,
    LbL7Policy,
    LbL7Rule,
    LbListener,
    LbMember,
    LbPool,
    LbSessionPersistence,
    LoadBalancer,
)

log = logging.getLogger(__name__)

CHILDREN = (L7RuleRecord, L7PolicyRecord, HealthMonitorRecord, MemberRecord, ListenerRecord, PoolRecord)


def namespace_of(lb_id: str) -> str:
    return f"oclb-{lb_id}"


def _live(rows: Any) -> list[Any]:
    return [r for r in rows if r.provisioning_status != c.PENDING_DELETE]


def contract(session: Session, lb: LoadBalancerRecord, port: Any, network: Any) -> LoadBalancer:
    """The load balancer as its data plane is to serve it now."""

    def rows(model: Any) -> list[Any]:
        return _live(session.scalars(select(model).where(model.loadbalancer_id == lb.id).order_by(model.created_at)))

    monitors = {m.pool_id: m for m in rows(HealthMonitorRecord)}
    members: dict[str, list[MemberRecord]] = {}
    for m in rows(MemberRecord):
        members.setdefault(m.pool_id, []).append(m)
    pools = []
    for p in rows(PoolRecord):
        hm = monitors.get(p.id)
        sp = p.session_persistence
        pools.append(
            LbPool(
                id=p.id,
                protocol=p.protocol,
                lb_algorithm=p.lb_algorithm,
                admin_state_up=p.admin_state_up,
                session_persistence=LbSessionPersistence(
                    sp["type"], sp.get("cookie_name"), sp.get("persistence_timeout")
                )
                if sp
                else None,
                members=tuple(
                    LbMember(
                        m.id,
                        m.address,
                        m.protocol_port,
                        m.weight,
                        m.admin_state_up,
                        m.backup,
                        m.monitor_address,
                        m.monitor_port,
                    )
                    for m in members.get(p.id, [])
                ),
                health_monitor=LbHealthMonitor(
                    id=hm.id,
                    type=hm.type,
                    delay=hm.delay,
                    timeout=hm.timeout,
                    max_retries=hm.max_retries,
                    max_retries_down=hm.max_retries_down,
                    http_method=hm.http_method or "GET",
                    url_path=hm.url_path or "/",
                    expected_codes=hm.expected_codes or "200",
                    http_version=hm.http_version,
                    domain_name=hm.domain_name,
                    admin_state_up=hm.admin_state_up,
                )
                if hm
                else None,
            )
        )
    pool_ids = {p.id for p in pools}
    rules: dict[str, list[L7RuleRecord]] = {}
    for r in rows(L7RuleRecord):
        rules.setdefault(r.l7policy_id, []).append(r)
    policies: dict[str, list[L7PolicyRecord]] = {}
    for pol in sorted(rows(L7PolicyRecord), key=lambda p: p.position):
        policies.setdefault(pol.listener_id, []).append(pol)
    listeners = tuple(
        LbListener(
            id=li.id,
            protocol=li.protocol,
            protocol_port=li.protocol_port,
            default_pool_id=li.default_pool_id if li.default_pool_id in pool_ids else None,
            admin_state_up=li.admin_state_up,
            connection_limit=li.connection_limit,
            timeout_client_data=li.timeout_client_data,
            timeout_member_connect=li.timeout_member_connect,
            timeout_member_data=li.timeout_member_data,
            timeout_tcp_inspect=li.timeout_tcp_inspect,
            insert_headers=dict(li.insert_headers or {}),
            allowed_cidrs=tuple(li.allowed_cidrs or ()),
            l7policies=tuple(
                LbL7Policy(
                    id=pol.id,
                    action=pol.action,
                    position=pol.position,
                    rules=tuple(
                        LbL7Rule(r.id, r.type, r.compare_type, r.value, r.key, r.invert, r.admin_state_up)
                        for r in rules.get(pol.id, [])
                    ),
                    redirect_url=pol.redirect_url,
                    redirect_prefix=pol.redirect_prefix,
                    redirect_pool_id=pol.redirect_pool_id,
                    redirect_http_code=pol.redirect_http_code,
                    admin_state_up=pol.admin_state_up,
                )
                for pol in policies.get(li.id, [])
                if pol.redirect_pool_id is None or pol.redirect_pool_id in pool_ids
            ),
        )
        for li in rows(ListenerRecord)
    )
    return LoadBalancer(
        id=lb.id,
        project_id=lb.project_id,
        vip_address=lb.vip_address,
        vip_port=port,
        network=network,
        namespace=namespace_of(lb.id),
        admin_state_up=lb.admin_state_up,
        listeners=listeners,
        pools=tuple(pools),
    )


class Provisioner:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime

    def submit(self, lb_id: str) -> None:
        self.svc.runner.submit(f"loadbalancer sync {lb_id}", self.sync, lb_id)

    def host(self) -> str:
        host = self.runtime.network.plumbing.network_host()
        if host is None:
            raise OvercastError("no host serves networks: configure [hosts] and [networking] network_host")
        return str(host)

    def build(self, lb_id: str) -> tuple[LoadBalancer, str] | None:
        with self.runtime.db.session() as s:
            lb = s.get(LoadBalancerRecord, lb_id)
            if lb is None:
                return None
            try:
                port, network = self.runtime.network.port_and_network(lb.vip_port_id)
            except NotFound:
                port, network = None, None
            if port is None:
                return None
            return contract(s, lb, port, network), lb.provisioning_status

    def sync(self, lb_id: str) -> None:
        built = self.build(lb_id)
        if built is None:
            self._forget(lb_id)
            return
        lb, status = built
        if status == c.PENDING_DELETE:
            self._teardown(lb)
            return
        try:
            host = self.host()
            self._plumb(lb, host)
            rebuilt = self.build(lb_id)  # the port now bound, with its rules
            if rebuilt is None:
                return
            lb = rebuilt[0]
            self.runtime.agents.loadbalancer(host).deploy(loadbalancer=lb)
        except OvercastError as exc:
            log.error("load balancer %s: provisioning failed: %s", lb_id, exc)
            self._settle(lb_id, ok=False, host=self.runtime.network.plumbing.network_host())
            return
        self._settle(lb_id, ok=True, host=host)
        self.svc.health.refresh(lb_id)

    def _plumb(self, lb: LoadBalancer, host: str) -> None:
        ctx = system_context()
        self.svc.vip.sync_security_group(lb)
        with self.runtime.db.session() as s:
            rec = s.get(LoadBalancerRecord, lb.id)
            bound = rec.host == host and lb.vip_port.binding_host == host
        if not bound:
            self.runtime.network.bind_port(ctx, lb.vip_port.id, host)
        port, network = self.runtime.network.port_and_network(lb.vip_port.id)
        self.runtime.agents.network(host).plug_namespace(network=network, port=port, namespace=lb.namespace)

    def _settle(self, lb_id: str, ok: bool, host: str | None = None) -> None:
        with self.runtime.db.session() as s:
            lb = s.get(LoadBalancerRecord, lb_id)
            if lb is None:
                return
            if ok:
                for model in CHILDREN:
                    s.execute(
                        delete(model).where(
                            model.loadbalancer_id == lb_id, model.provisioning_status == c.PENDING_DELETE
                        )
                    )
                s.flush()
                # a default pool that is gone is no longer anybody's default
                live_pools = set(s.scalars(select(PoolRecord.id).where(PoolRecord.loadbalancer_id == lb_id)))
                for li in s.scalars(select(ListenerRecord).where(ListenerRecord.loadbalancer_id == lb_id)):
                    if li.default_pool_id and li.default_pool_id not in live_pools:
                        li.default_pool_id = None
            status = c.ACTIVE if ok else c.ERROR
            for model in CHILDREN:
                for rec in s.scalars(
                    select(model).where(model.loadbalancer_id == lb_id, model.provisioning_status.in_(c.PENDING))
                ):
                    rec.provisioning_status = status
            lb.provisioning_status = status
            if host is not None:
                lb.host = host
            if not ok:
                lb.operating_status = c.ERROR

    def _teardown(self, lb: LoadBalancer) -> None:
        with self.runtime.db.session() as s:
            rec = s.get(LoadBalancerRecord, lb.id)
            # never deployed (or failed half-way): the network host may still hold a namespace
            host, sg_id = rec.host or self.runtime.network.plumbing.network_host(), rec.vip_sg_id
        try:
            if host:
                self.runtime.agents.loadbalancer(host).undeploy(loadbalancer=lb)
                self.runtime.agents.network(host).unplug_namespace(port=lb.vip_port, namespace=lb.namespace)
        except OvercastError as exc:
            log.error("load balancer %s: tearing down on %s failed: %s", lb.id, host, exc)
            with self.runtime.db.session() as s:
                rec = s.get(LoadBalancerRecord, lb.id)
                rec.provisioning_status = c.ERROR
            return
        self.svc.vip.release(lb.vip_port.id, sg_id)
        self._forget(lb.id)

    def _forget(self, lb_id: str) -> None:
        with self.runtime.db.session() as s:
            for model in CHILDREN:
                s.execute(delete(model).where(model.loadbalancer_id == lb_id))
            s.execute(
                delete(LoadBalancerRecord).where(
                    LoadBalancerRecord.id == lb_id, LoadBalancerRecord.provisioning_status == c.PENDING_DELETE
                )
            )
