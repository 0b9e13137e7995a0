"""Host agents: what runs next to a host's drivers and answers the controller's RPCs.

One :class:`HostAgent` per configured host serves topic ``agent.<host>`` on the bus. It is
composed of one handler per service (compute, network, volume), each in its own module
listed in :data:`AGENT_HANDLERS`; handler methods are named ``<service>_<operation>`` so
they never collide. Agents never touch the database; the controller owns state.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

log = logging.getLogger(__name__)

#: service -> "module:Class"; each class is built with (runtime, host_name).
AGENT_HANDLERS: dict[str, str] = {
    "compute": "overcast.agent.compute:ComputeAgent",
    "network": "overcast.agent.network:NetworkAgent",
    "volume": "overcast.agent.volume:VolumeAgent",
}


#: the agents' RPC interface version, reported in ``compute_report``: a controller talks to
#: agents of this or an older version (new methods and arguments are optional for it;
#: arguments an agent does not know are dropped by :func:`overcast.bus.handle_request`).
AGENT_RPC_VERSION = "1.1"


def agent_topic(host: str) -> str:
    return f"agent.{host}"


def _load_handler_classes() -> list[type]:
    classes = []
    for spec in AGENT_HANDLERS.values():
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # that service has no host-side part yet
        classes.append(getattr(module, attr))
    return classes


class HostAgent:
    """The RPC surface of one host: the union of its service handlers' public methods."""

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.host_name = host_name
        self.handlers = [cls(runtime, host_name) for cls in _load_handler_classes()]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        for handler in self.handlers:
            if hasattr(handler, name):
                return getattr(handler, name)
        raise AttributeError(name)


def start_local_agents(runtime: Any, hosts: list[str] | None = None) -> list[HostAgent]:
    """Serve ``agent.<host>`` for each named (default: every configured) host in this process."""
    agents = []
    for name in hosts if hosts is not None else list(runtime.drivers.hosts):
        agent = HostAgent(runtime, name)
        for handler in agent.handlers:
            start = getattr(handler, "start", None)
            if start is not None:
                start()
        runtime.bus.serve(agent_topic(name), agent)
        agents.append(agent)
    return agents
