"""Host agents: what runs next to a host's drivers and answers the controller's RPCs.

One :class:`HostAgent` per configured host serves topic ``agent.<host>`` on the bus. It is
composed of one handler per service (compute, network, volume), each in its own module
listed in :data:`AGENT_HANDLERS`. Each handler class declares its RPC interface with
:func:`overcast.bus.rpc.rpc` methods, served as ``<service>_<method>`` so they never collide;
besides, every hypervisor operation of ``HypervisorHooks`` is served as ``hv_<name>`` from that
declaration (:mod:`overcast.agent.hypervisor`). The controller calls them through
:class:`Agents` (typed stubs built from the same declarations).
Agents never touch the database; the controller owns state.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from overcast.bus.rpc import Method, client, declared

if TYPE_CHECKING:
    from overcast.agent.compute import AgentProcessCompute, ComputeAgent
    from overcast.agent.loadbalancer import LoadBalancerAgent
    from overcast.agent.network import NetworkAgent
    from overcast.agent.volume import VolumeAgent
    from overcast.bus import Bus
    from overcast.hookspecs import HypervisorHooks

log = logging.getLogger(__name__)

#: service -> "module:Class"; each class is built with (runtime, host_name).
AGENT_HANDLERS: dict[str, str] = {
    "compute": "overcast.agent.compute:ComputeAgent",
    "network": "overcast.agent.network:NetworkAgent",
    "volume": "overcast.agent.volume:VolumeAgent",
    "loadbalancer": "overcast.agent.loadbalancer:LoadBalancerAgent",
}


#: the agents' RPC interface version, reported in ``compute_report``. Within a major version a
#: controller talks to agents of this or an older minor version (new methods and arguments are
#: optional for it; arguments an agent does not know are left out and logged by
#: :func:`overcast.bus.handle_request`).
#: 1.2: values are decoded from the declared types (:mod:`overcast.bus.rpc`), not from the
#: ``__type__`` markers, which are still written for 1.1 agents.
#: 2.0: the hypervisor operations are served as ``hv_<name>`` straight from
#: ``HypervisorHooks`` (:mod:`overcast.agent.hypervisor`) instead of ``compute_<name>``
#: forwarders. A 2.0 controller still registers an older agent (its heartbeat and
#: ``compute_list_instances`` are unchanged) but refuses to send it hypervisor operations, with
#: an error that says to upgrade that host; network, volume and load-balancer calls are as in 1.2.
#: 2.1: an agent process serving several hosts also answers ``compute_report_all`` for all of
#: them on its own topic (:func:`process_topic`, named in each report's ``agent.topic``; every
#: host of one process reports the same ``agent.id``), so a heartbeat round asks each process
#: once; a controller asks a 2.0 agent, which names no topic, host by host as before.
AGENT_RPC_VERSION = "2.1"


def agent_topic(host: str) -> str:
    return f"agent.{host}"


def process_topic(hosts: Sequence[str]) -> str | None:
    """The topic on which the agent process serving ``hosts`` answers for all of them
    (``compute_report_all``), or None for a single host (its own topic is as cheap).

    Named after the set of hosts, not the process: the amqp bus keeps a durable queue per
    topic, so a name per process start would leave a queue behind at every restart."""
    if len(hosts) < 2:
        return None
    digest = hashlib.sha1("\n".join(sorted(hosts)).encode(), usedforsecurity=False).hexdigest()[:12]
    return f"agents.{min(hosts)}.{digest}"


def _load_handler_classes() -> dict[str, type]:
    classes = {}
    for service, spec in AGENT_HANDLERS.items():
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that service has no host-side part yet
        classes[service] = getattr(module, attr)
    return classes


class HostAgent:
    """The RPC surface of one host: its service handlers' declared methods, by wire name."""

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.host_name = host_name
        self.services: dict[str, Any] = {name: cls(runtime, host_name) for name, cls in _load_handler_classes().items()}
        self._methods: dict[str, tuple[Callable[..., Any], Method]] = {}
        for handler in self.services.values():
            for wire, spec in declared(type(handler)).items():
                self._methods[wire] = (getattr(handler, spec.name), spec)
        if "compute" in self.services:  # every HypervisorHooks operation, as hv_<name>
            from overcast.agent.hypervisor import served

            self._methods.update(served(self.compute))

    @property
    def handlers(self) -> list[Any]:
        return list(self.services.values())

    @property
    def compute(self) -> ComputeAgent:
        handler: ComputeAgent = self.services["compute"]
        return handler

    @property
    def network(self) -> NetworkAgent:
        handler: NetworkAgent = self.services["network"]
        return handler

    @property
    def volume(self) -> VolumeAgent:
        handler: VolumeAgent = self.services["volume"]
        return handler

    def rpc_lookup(self, wire: str) -> tuple[Callable[..., Any], Method] | None:
        """What answers ``wire`` (``compute_spawn``); see :func:`overcast.bus.rpc.method_of`."""
        return self._methods.get(wire)


class Agents:
    """The controller's typed clients of the host agents, over the runtime's bus:
    ``agents.hypervisor().spawn(host=host, instance=...)``, ``agents.network(host).setup_port(...)``.
    ``timeout`` defaults to ``[bus] rpc_timeout``."""

    def __init__(self, bus: Bus, versions: dict[str, str] | None = None) -> None:
        self.bus = bus
        #: host -> the agent RPC version its agent last reported (the heartbeat records it;
        #: the runtime passes its own, so that it outlives this client)
        self.versions: dict[str, str] = {} if versions is None else versions

    def hypervisor(self, timeout: float | None = None) -> HypervisorHooks:
        """Every ``HypervisorHooks`` operation, run by the agent of the call's ``host``."""
        from overcast.agent.hypervisor import client as hypervisor_client

        return hypervisor_client(self.bus, timeout, self.versions)

    def compute(self, host: str, timeout: float | None = None) -> ComputeAgent:
        from overcast.agent.compute import ComputeAgent

        return client(self.bus, agent_topic(host), ComputeAgent, timeout)

    def process(self, topic: str, timeout: float | None = None) -> AgentProcessCompute:
        """The agent process that answers on ``topic`` (a report's ``agent.topic``), for all its hosts."""
        from overcast.agent.compute import AgentProcessCompute

        return client(self.bus, topic, AgentProcessCompute, timeout)

    def network(self, host: str, timeout: float | None = None) -> NetworkAgent:
        from overcast.agent.network import NetworkAgent

        return client(self.bus, agent_topic(host), NetworkAgent, timeout)

    def volume(self, host: str, timeout: float | None = None) -> VolumeAgent:
        from overcast.agent.volume import VolumeAgent

        return client(self.bus, agent_topic(host), VolumeAgent, timeout)

    def loadbalancer(self, host: str, timeout: float | None = None) -> LoadBalancerAgent:
        from overcast.agent.loadbalancer import LoadBalancerAgent

        return client(self.bus, agent_topic(host), LoadBalancerAgent, timeout)


def start_local_agents(runtime: Any, hosts: list[str] | None = None) -> list[HostAgent]:
    """Serve ``agent.<host>`` for each named (default: every configured) host in this process,
    as one agent process: one agent id for all of them (a new one at each call, as at a
    restart) and, for several hosts, :func:`process_topic` answering for them all."""
    from overcast.agent.compute import AgentProcessCompute

    names = list(hosts if hosts is not None else runtime.drivers.hosts)
    agent_id = uuid.uuid4().hex
    topic = process_topic(names)
    agents = []
    for name in names:
        agent = HostAgent(runtime, name)
        if "compute" in agent.services:
            agent.compute.agent_id = agent_id
            agent.compute.process_topic = topic
        for handler in agent.handlers:
            start = getattr(handler, "start", None)
            if start is not None:
                start()
        runtime.bus.serve(agent_topic(name), agent)
        agents.append(agent)
    if topic is not None:
        served = {a.host_name: a for a in agents if "compute" in a.services}
        runtime.bus.serve(topic, AgentProcessCompute(runtime.bus, served))
    return agents
