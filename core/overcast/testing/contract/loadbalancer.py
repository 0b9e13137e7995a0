"""The load-balancer driver contract (``lb_*``).

Provide ``driver``, ``target`` (the ``[loadbalancer]`` :class:`Backend`), optionally
``host_name``, and ``namespace_factory``: a callable that, given a namespace name, plugs
a VIP there (as ``net_plug_namespace`` would) and returns the :class:`LoadBalancer`'s
``(vip_address, vip_port, network)``; the default one makes nothing (for drivers that need
no kernel plumbing, such as the fake). ``member_addresses`` are addresses members may have
(reachable from the namespace or not: health is only required to be reported).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator

import pytest

from overcast.hookspecs import LoadBalancerHooks
from overcast.testing.contract._common import check_refuses_unimplemented, needs
from overcast.testing.contract.network import sample_network, sample_port
from overcast.types import (
    Backend,
    LbHealthMonitor,
    LbL7Policy,
    LbL7Rule,
    LbListener,
    LbMember,
    LbPool,
    LoadBalancer,
    Network,
    Port,
)

MEMBER_STATUSES = {"ONLINE", "ERROR", "NO_MONITOR", "OFFLINE", "DRAINING"}

Plugger = Callable[[str], tuple[str, Port, Network]]


def sample_loadbalancer(
    vip_address: str, vip_port: Port, network: Network, namespace: str, http_port: int = 8080
) -> LoadBalancer:
    """One HTTP listener on ``http_port`` with an HTTP-monitored pool of two members (one
    disabled), a TCP listener on ``http_port + 1`` with an unmonitored pool, and a
    REDIRECT_TO_URL policy."""
    monitored = LbPool(
        id=str(uuid.uuid4()),
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=(
            LbMember(id=str(uuid.uuid4()), address="10.231.0.50", protocol_port=80),
            LbMember(id=str(uuid.uuid4()), address="10.231.0.51", protocol_port=80, admin_state_up=False),
        ),
        health_monitor=LbHealthMonitor(id=str(uuid.uuid4()), type="HTTP", delay=1, timeout=1, max_retries=1),
    )
    plain = LbPool(
        id=str(uuid.uuid4()),
        protocol="TCP",
        lb_algorithm="LEAST_CONNECTIONS",
        members=(LbMember(id=str(uuid.uuid4()), address="10.231.0.52", protocol_port=22, weight=5),),
    )
    redirect = LbL7Policy(
        id=str(uuid.uuid4()),
        action="REDIRECT_TO_URL",
        position=1,
        redirect_url="http://example.com/",
        rules=(LbL7Rule(id=str(uuid.uuid4()), type="PATH", compare_type="STARTS_WITH", value="/old"),),
    )
    http = LbListener(
        id=str(uuid.uuid4()),
        protocol="HTTP",
        protocol_port=http_port,
        default_pool_id=monitored.id,
        insert_headers={"X-Forwarded-For": "true"},
        l7policies=(redirect,),
    )
    tcp = LbListener(id=str(uuid.uuid4()), protocol="TCP", protocol_port=http_port + 1, default_pool_id=plain.id)
    return LoadBalancer(
        id=str(uuid.uuid4()),
        project_id=network.project_id,
        vip_address=vip_address,
        vip_port=vip_port,
        network=network,
        namespace=namespace,
        listeners=(http, tcp),
        pools=(monitored, plain),
    )


class LoadBalancerContract:
    @pytest.fixture
    def host_name(self) -> str:
        return "contract-host"

    @pytest.fixture
    def namespace_factory(self) -> Iterator[Plugger]:
        def plug(namespace: str) -> tuple[str, Port, Network]:
            network = sample_network()
            port = sample_port(network, "10.231.0.10")
            return "10.231.0.10", port, network

        yield plug

    @pytest.fixture
    def loadbalancer(self, namespace_factory: Plugger) -> LoadBalancer:
        namespace = f"oclb-contract-{uuid.uuid4().hex[:8]}"
        vip, port, network = namespace_factory(namespace)
        return sample_loadbalancer(vip, port, network, namespace)

    def test_unimplemented_operations_are_refused_before_the_call(self, driver: LoadBalancerHooks) -> None:
        check_refuses_unimplemented(driver)

    def test_deploy_serves_reports_health_and_undeploy_leaves_nothing(
        self, driver: LoadBalancerHooks, target: Backend, host_name: str, loadbalancer: LoadBalancer
    ) -> None:
        needs(driver, "deploy", "undeploy", "get_health", "list_resources")
        before = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items() if v}
        assert driver.get_health(backend=target, host=host_name, loadbalancer=loadbalancer).running is False
        try:
            assert driver.deploy(backend=target, host=host_name, loadbalancer=loadbalancer) is True
            assert driver.deploy(backend=target, host=host_name, loadbalancer=loadbalancer) is True  # a reload
            health = driver.get_health(backend=target, host=host_name, loadbalancer=loadbalancer)
            assert health.running is True and health.loadbalancer_id == loadbalancer.id
            by_member = {h.member_id: h for h in health.members}
            monitored, plain = loadbalancer.pools
            assert set(by_member) == {m.id for p in loadbalancer.pools for m in p.members}
            assert {h.operating_status for h in health.members} <= MEMBER_STATUSES
            assert by_member[monitored.members[1].id].operating_status == "OFFLINE"  # disabled
            assert by_member[plain.members[0].id].operating_status == "NO_MONITOR"
            assert {s.listener_id for s in health.listeners} == {li.id for li in loadbalancer.listeners}
            during = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items() if v}
            assert during != before, "a deployed load balancer must show in list_resources"
        finally:
            assert driver.undeploy(backend=target, host=host_name, loadbalancer=loadbalancer) is True
        after = {k: set(v) for k, v in driver.list_resources(backend=target, host=host_name).items() if v}
        assert after == before, "undeploy must leave nothing behind"
        assert driver.get_health(backend=target, host=host_name, loadbalancer=loadbalancer).running is False

    def test_update_replaces_the_configuration(
        self, driver: LoadBalancerHooks, target: Backend, host_name: str, loadbalancer: LoadBalancer
    ) -> None:
        needs(driver, "deploy", "undeploy", "get_health")
        try:
            driver.deploy(backend=target, host=host_name, loadbalancer=loadbalancer)
            smaller = dataclasses.replace(
                loadbalancer, listeners=loadbalancer.listeners[1:], pools=loadbalancer.pools[1:]
            )
            assert driver.deploy(backend=target, host=host_name, loadbalancer=smaller) is True
            health = driver.get_health(backend=target, host=host_name, loadbalancer=smaller)
            assert {h.member_id for h in health.members} == {m.id for m in smaller.pools[0].members}
        finally:
            driver.undeploy(backend=target, host=host_name, loadbalancer=loadbalancer)

    def test_a_load_balancer_without_listeners_runs(
        self, driver: LoadBalancerHooks, target: Backend, host_name: str, loadbalancer: LoadBalancer
    ) -> None:
        """A new load balancer has no listeners yet: it is deployed and running all the same."""
        needs(driver, "deploy", "undeploy", "get_health")
        empty = dataclasses.replace(loadbalancer, listeners=(), pools=())
        try:
            assert driver.deploy(backend=target, host=host_name, loadbalancer=empty) is True
            health = driver.get_health(backend=target, host=host_name, loadbalancer=empty)
            assert health.running is True and health.members == () and health.listeners == ()
            assert driver.deploy(backend=target, host=host_name, loadbalancer=loadbalancer) is True
            assert driver.get_health(backend=target, host=host_name, loadbalancer=loadbalancer).running is True
        finally:
            driver.undeploy(backend=target, host=host_name, loadbalancer=loadbalancer)

    def test_undeploy_of_what_was_never_deployed_succeeds(
        self, driver: LoadBalancerHooks, target: Backend, host_name: str, loadbalancer: LoadBalancer
    ) -> None:
        needs(driver, "undeploy")
        assert driver.undeploy(backend=target, host=host_name, loadbalancer=loadbalancer) is True
