"""``overcast agent --host NAME``: one host's agent as its own process.

It reads the same config file as the controller, loads only what this host runs (its
hypervisor driver, the ``[network]`` driver, the image store it fetches from and the volume
backends ``[volume] backend_hosts`` puts on it: see :func:`overcast.config.resolve_drivers`),
connects to the ``[bus]``, serves ``agent.<NAME>`` and answers the controller's RPCs until
SIGTERM or SIGINT. It never opens the database. Remote-endpoint drivers (ESX, Xen pool,
Hyper-V) reach their endpoint from the options in the host table, so their agent can run on
any machine that reaches the endpoint and the broker.

One process may serve several hosts (``--host`` repeated, or a pattern such as ``esx-*``
matched against the configured ``[hosts.*]`` tables): each keeps its own topic and handlers,
over one broker connection, and the process answers the heartbeats of all of them at once on
:func:`overcast.agent.process_topic`. That is what remote-endpoint hosts need (one agent
for a whole vCenter's hosts) and what ``bench/scale.py`` runs a thousand fake hosts with.
"""

from __future__ import annotations

import fnmatch
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overcast.agent import agent_topic, process_topic, start_local_agents
from overcast.config import Config
from overcast.errors import ConfigError
from overcast.runtime import Runtime, build_agent_runtime

log = logging.getLogger(__name__)


class AgentProcess:
    """A running agent: :meth:`start` serves its hosts' topics, :meth:`stop` withdraws them."""

    def __init__(self, runtime: Runtime, hosts: Sequence[str]) -> None:
        self.runtime = runtime
        self.hosts = list(hosts)
        self.agents: list[Any] = []

    def start(self) -> None:
        self.agents = start_local_agents(self.runtime, self.hosts)
        wait_ready = getattr(self.runtime.bus, "wait_ready", None)
        if wait_ready is not None and not wait_ready(timeout=30):
            log.warning("agent %s: not consuming from the message broker yet; it keeps retrying", self._name())
        log.info("agent serving", extra={"hosts": self._name(), "topics": len(self.hosts)})

    def stop(self) -> None:
        try:
            topic = process_topic(self.hosts)
            if topic is not None:
                self.runtime.bus.stop_serving(topic)
            for host in self.hosts:
                self.runtime.bus.stop_serving(agent_topic(host))
        finally:
            self.runtime.close()
        log.info("agent stopped", extra={"hosts": self._name()})

    def _name(self) -> str:
        first = self.hosts[0] if self.hosts else "-"
        return first if len(self.hosts) == 1 else f"{first} and {len(self.hosts) - 1} more"


def select_hosts(config: Config, patterns: Sequence[str]) -> list[str]:
    """The configured hosts named by ``patterns`` (names, or shell patterns such as ``esx-*``),
    in config order. A name or pattern that matches no ``[hosts.NAME]`` table is an error."""
    if not patterns:
        raise ConfigError(f"{config.path}: an agent needs at least one host (--host NAME)")
    chosen: dict[str, None] = {}
    for pattern in patterns:
        matched = [name for name in config.hosts if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            known = ", ".join(sorted(config.hosts)) or "none"
            raise ConfigError(f"{config.path}: no [hosts.{pattern}] table (configured hosts: {known})")
        chosen.update(dict.fromkeys(matched))
    return list(chosen)


def make_agent(config: Config, hosts: str | Sequence[str], fake_drivers: bool = False, pm: Any = None) -> AgentProcess:
    """Build (not start) the agent of ``hosts`` (a name, or names and patterns) from ``config``."""
    from overcast.plugins import load_plugin_manager
    from overcast.server import uses_fake_drivers

    names = select_hosts(config, [hosts] if isinstance(hosts, str) else hosts)
    if pm is None:
        extra: list[tuple[str, object]] = []
        if fake_drivers or uses_fake_drivers(config):
            from overcast.testing.fakes import FakeDriversPlugin

            extra.append(("fake", FakeDriversPlugin()))
        pm = load_plugin_manager(extra_plugins=extra)
    return AgentProcess(build_agent_runtime(config, names, pm=pm), names)


def run_agent(
    config: Config,
    hosts: str | Sequence[str],
    pid_file: Path | None = None,
    fake_drivers: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Serve ``agent.<host>`` of each host in the foreground until SIGTERM/SIGINT (or ``stop`` is set)."""
    from overcast.server import remove_pid_file, write_pid_file

    if config.bus.url.startswith("memory://"):
        raise ConfigError(
            f"{config.path}: [bus] url: an agent process talks to its controller through a message "
            "broker; set an amqp:// url (with memory:// the all-in-one 'overcast up' runs the agents)"
        )
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    agent = make_agent(config, hosts, fake_drivers=fake_drivers)
    try:
        agent.start()
        if pid_file is not None:
            write_pid_file(pid_file)
        stop.wait()
    finally:
        agent.stop()
        if pid_file is not None:
            remove_pid_file(pid_file)
