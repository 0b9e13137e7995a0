"""A load-balancer data plane in memory: it keeps what it was asked to serve, checks it the
way a real one would refuse it, and reports member health from a set of addresses a test
marks as down (``fake.down``), so the core's status machine and health cascade are tested
without haproxy."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from overcast.errors import DriverError
from overcast.hookspecs import hookimpl
from overcast.types import Backend, LbHealth, LbListenerStats, LbMemberHealth, LoadBalancer

LISTENER_PROTOCOLS = {"HTTP", "HTTPS", "TCP"}


class FakeLoadBalancerDriver:
    def __init__(self) -> None:
        self.deployed: dict[str, dict[str, LoadBalancer]] = defaultdict(dict)  # host -> lb id -> lb
        self.deploys: list[str] = []  # lb ids, in the order deployed (every reload counts)
        self.down: set[str] = set()  # member addresses whose checks fail
        self.fail_deploy: set[str] = set()  # lb ids whose deploy raises (a refused config)

    @hookimpl
    def lb_init_host(self, backend: Backend, host: str) -> bool:
        self.deployed[host]
        return True

    @hookimpl
    def lb_deploy(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> bool:
        if loadbalancer.id in self.fail_deploy:
            raise DriverError(f"fake: the data plane refused load balancer {loadbalancer.id}")
        pools = {p.id for p in loadbalancer.pools}
        ports = [li.protocol_port for li in loadbalancer.listeners]
        if len(ports) != len(set(ports)):
            raise DriverError("fake: two listeners on one port")
        for listener in loadbalancer.listeners:
            if listener.protocol not in LISTENER_PROTOCOLS:
                raise DriverError(f"fake: listener protocol {listener.protocol} is not served")
            if listener.default_pool_id is not None and listener.default_pool_id not in pools:
                raise DriverError(f"fake: listener {listener.id} names an unknown pool")
            for policy in listener.l7policies:
                if policy.redirect_pool_id is not None and policy.redirect_pool_id not in pools:
                    raise DriverError(f"fake: L7 policy {policy.id} names an unknown pool")
        self.deployed[host][loadbalancer.id] = loadbalancer
        self.deploys.append(loadbalancer.id)
        return True

    @hookimpl
    def lb_undeploy(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> bool:
        self.deployed[host].pop(loadbalancer.id, None)
        return True

    @hookimpl
    def lb_get_health(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> LbHealth:
        running = self.deployed[host].get(loadbalancer.id)
        if running is None:
            return LbHealth(loadbalancer.id, running=False)
        members = []
        for pool in running.pools:
            for m in pool.members:
                if not (m.admin_state_up and pool.admin_state_up and running.admin_state_up):
                    status = "OFFLINE"
                elif pool.health_monitor is None or not pool.health_monitor.admin_state_up:
                    status = "NO_MONITOR"
                elif (m.monitor_address or m.address) in self.down:
                    status = "ERROR"
                elif m.weight == 0:
                    status = "DRAINING"
                else:
                    status = "ONLINE"
                members.append(LbMemberHealth(pool.id, m.id, status))
        listeners = tuple(LbListenerStats(li.id) for li in running.listeners)
        return LbHealth(loadbalancer.id, running=True, members=tuple(members), listeners=listeners)

    @hookimpl
    def lb_list_resources(self, backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
        ids = sorted(self.deployed[host])
        return {"loadbalancers": ids} if ids else {}
