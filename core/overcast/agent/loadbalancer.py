"""The host side of the load-balancer service: runs the ``lb_*`` hooks of the
``[loadbalancer]`` driver on the host that serves the VIP's network (the network host, as
DHCP and routers), as the controller asks. Agents never read the database: every call
carries the whole :class:`~overcast.types.LoadBalancer`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from overcast.bus.rpc import rpc
from overcast.errors import DriverError
from overcast.hookspecs import LoadBalancerHooks
from overcast.types import Backend, LbHealth, LoadBalancer

log = logging.getLogger(__name__)


class LoadBalancerAgent:
    """The load-balancer RPC interface of one host (``loadbalancer_<method>`` on ``agent.<host>``)."""

    RPC_PREFIX = "loadbalancer_"

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.runtime = runtime
        self.host_name = host_name

    def _driver(self) -> tuple[LoadBalancerHooks, Backend]:
        backend: Backend | None = self.runtime.drivers.loadbalancer
        if backend is None:
            raise DriverError(f"host {self.host_name} has no [loadbalancer] driver configured")
        return self.runtime.plugins.driver("loadbalancer", backend.driver), backend

    def start(self) -> None:
        if self.runtime.drivers.loadbalancer is None:
            return
        driver, backend = self._driver()
        if driver.supports("init_host"):
            driver.init_host(backend=backend, host=self.host_name)

    @rpc
    def deploy(self, loadbalancer: LoadBalancer) -> bool:
        driver, backend = self._driver()
        return driver.deploy(backend=backend, host=self.host_name, loadbalancer=loadbalancer)

    @rpc
    def undeploy(self, loadbalancer: LoadBalancer) -> bool:
        driver, backend = self._driver()
        return driver.undeploy(backend=backend, host=self.host_name, loadbalancer=loadbalancer)

    @rpc
    def get_health(self, loadbalancer: LoadBalancer) -> LbHealth:
        driver, backend = self._driver()
        return driver.get_health(backend=backend, host=self.host_name, loadbalancer=loadbalancer)

    @rpc
    def list_resources(self) -> Mapping[str, Sequence[str]]:
        if self.runtime.drivers.loadbalancer is None:
            return {}
        driver, backend = self._driver()
        return driver.list_resources(backend=backend, host=self.host_name)
