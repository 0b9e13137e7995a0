"""``LoadBalancerService``: the load-balancer service's interface, for the API.

The API calls ``service.loadbalancers`` (load balancers, status tree, stats, failover),
``service.objects`` (show, list and delete of any child object by kind), one editor per kind
(``listeners``, ``pools``, ``members``, ``healthmonitors``, ``l7policies``, ``l7rules``) and
``service.quotas``; they answer Octavia resource dicts and raise ``overcast.errors`` types with
Octavia's texts. Data-plane work runs on the task runner (``provisioner``); member health is
read back by ``health``.
"""

from __future__ import annotations

from typing import Any

from overcast.compute.tasks import TaskRunner
from overcast.loadbalancer.health import Health
from overcast.loadbalancer.loadbalancers import LoadBalancers
from overcast.loadbalancer.children import Children
from overcast.loadbalancer.l7 import L7Policies, L7Rules
from overcast.loadbalancer.listeners import Listeners
from overcast.loadbalancer.members import Members
from overcast.loadbalancer.monitors import HealthMonitors
from overcast.loadbalancer.pools import Pools
from overcast.loadbalancer.provisioning import Provisioner
from overcast.loadbalancer.quotas import Quotas
from overcast.loadbalancer.vip import Vip


class LoadBalancerService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.runner = TaskRunner(workers=4)
        self.quotas = Quotas(runtime)
        self.vip = Vip(self)
        self.provisioner = Provisioner(self)
        self.health = Health(self)
        self.loadbalancers = LoadBalancers(self)
        self.objects = Children(self)
        self.listeners = Listeners(self)
        self.pools = Pools(self)
        self.members = Members(self)
        self.healthmonitors = HealthMonitors(self)
        self.l7policies = L7Policies(self)
        self.l7rules = L7Rules(self)

    @property
    def provider(self) -> str | None:
        """The provider name clients see: the ``[loadbalancer]`` driver's name."""
        backend = self.runtime.drivers.loadbalancer
        return None if backend is None else str(backend.driver)

    def providers(self) -> list[dict[str, str]]:
        name = self.provider
        if name is None:
            return []
        return [{"name": name, "description": f"Overcast's '{name}' data plane on the network host"}]

    def start(self) -> None:
        if self.provider is not None:
            self.health.start()

    def close(self) -> None:
        self.health.stop()
        self.runner.close()
