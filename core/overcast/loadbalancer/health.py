"""Member health, read back from the data plane, and Octavia's operating-status cascade.

Every ``[loadbalancing] health_interval`` seconds (and right after each deploy) the
controller asks the network host's agent for each active load balancer's ``LbHealth``
(``lb_get_health``) and writes each member's ``operating_status``; pools, listeners and
the load balancer follow: a pool whose members all fail is ``ERROR``, some ``DEGRADED``; the
load balancer is ``DEGRADED`` when any pool is not ``ONLINE``; disabled objects are
``OFFLINE``. Counters are kept in memory for ``/stats``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import select

from overcast.db.models.loadbalancer import ListenerRecord, LoadBalancerRecord, MemberRecord, PoolRecord
from overcast.errors import OvercastError
from overcast.loadbalancer import constants as c
from overcast.types import LbHealth, LbListenerStats

log = logging.getLogger(__name__)


def pool_status(pool: PoolRecord, members: list[str]) -> str:
    if not pool.admin_state_up:
        return c.OFFLINE
    checked = [m for m in members if m not in (c.OFFLINE, c.NO_MONITOR)]
    if checked and all(m == c.ERROR for m in checked):
        return c.ERROR
    if any(m == c.ERROR for m in checked):
        return c.DEGRADED
    return c.ONLINE


class Health:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime
        self.stats: dict[str, LbListenerStats] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="lb-health", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.runtime.config.loadbalancing.health_interval):
            try:
                with self.runtime.db.session() as s:
                    ids = list(
                        s.scalars(
                            select(LoadBalancerRecord.id).where(
                                LoadBalancerRecord.provisioning_status == c.ACTIVE, LoadBalancerRecord.host != ""
                            )
                        )
                    )
                for lb_id in ids:
                    self.refresh(lb_id)
            except Exception:  # noqa: BLE001 - the poller must outlive one bad round
                log.exception("load-balancer health round failed")

    def refresh(self, lb_id: str) -> None:
        built = self.svc.provisioner.build(lb_id)
        if built is None:
            return
        lb, status = built
        with self.runtime.db.session() as s:
            host = s.get(LoadBalancerRecord, lb_id).host
        if not host or status != c.ACTIVE:
            return
        try:
            health = self.runtime.agents.loadbalancer(host, timeout=self.runtime.config.bus.probe_timeout).get_health(
                loadbalancer=lb
            )
        except OvercastError as exc:
            log.warning("load balancer %s: reading health on %s failed: %s", lb_id, host, exc)
            return
        self.apply(health)

    def apply(self, health: LbHealth) -> None:
        for stat in health.listeners:
            self.stats[stat.listener_id] = stat
        seen = {h.member_id: h.operating_status for h in health.members}
        with self.runtime.db.session() as s:
            lb = s.get(LoadBalancerRecord, health.loadbalancer_id)
            if lb is None:
                return
            pools = {p.id: p for p in s.scalars(select(PoolRecord).where(PoolRecord.loadbalancer_id == lb.id))}
            by_pool: dict[str, list[str]] = {pid: [] for pid in pools}
            for m in s.scalars(select(MemberRecord).where(MemberRecord.loadbalancer_id == lb.id)):
                if m.provisioning_status == c.PENDING_DELETE:
                    continue
                status = seen.get(m.id, c.OFFLINE if not health.running else m.operating_status)
                if not m.admin_state_up:
                    status = c.OFFLINE
                m.operating_status = status
                by_pool[m.pool_id].append(status)
            for pid, pool in pools.items():
                pool.operating_status = pool_status(pool, by_pool[pid]) if health.running else c.OFFLINE
            degraded = False
            for li in s.scalars(select(ListenerRecord).where(ListenerRecord.loadbalancer_id == lb.id)):
                li.operating_status = c.ONLINE if (li.admin_state_up and health.running) else c.OFFLINE
            degraded = any(p.operating_status in (c.ERROR, c.DEGRADED) for p in pools.values())
            if not lb.admin_state_up or not health.running:
                lb.operating_status = c.OFFLINE
            else:
                lb.operating_status = c.DEGRADED if degraded else c.ONLINE
