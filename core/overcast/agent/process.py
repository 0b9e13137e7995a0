"""``overcast agent --host NAME``: one host's agent as its own process.

It reads the same config file as the controller, loads only what this host runs (its
hypervisor driver, the ``[network]`` driver, the image store it fetches from and the volume
backends ``[volume] backend_hosts`` puts on it: see :func:`overcast.config.resolve_drivers`),
connects to the ``[bus]``, serves ``agent.<NAME>`` and answers the controller's RPCs until
SIGTERM or SIGINT. It never opens the database. Remote-endpoint drivers (ESX, Xen pool,
Hyper-V) reach their endpoint from the options in the host table, so their agent can run on
any machine that reaches the endpoint and the broker.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from overcast.agent import agent_topic, start_local_agents
from overcast.config import Config
from overcast.errors import ConfigError
from overcast.runtime import Runtime, build_agent_runtime

log = logging.getLogger(__name__)


class AgentProcess:
    """A running agent: :meth:`start` serves the host's topic, :meth:`stop` withdraws it."""

    def __init__(self, runtime: Runtime, host: str) -> None:
        self.runtime = runtime
        self.host = host
        self.agents: list[Any] = []

    def start(self) -> None:
        self.agents = start_local_agents(self.runtime, [self.host])
        wait_ready = getattr(self.runtime.bus, "wait_ready", None)
        if wait_ready is not None and not wait_ready(timeout=30):
            log.warning("agent %s: not consuming from the message broker yet; it keeps retrying", self.host)
        log.info("agent serving", extra={"host": self.host, "topic": agent_topic(self.host)})

    def stop(self) -> None:
        try:
            self.runtime.bus.stop_serving(agent_topic(self.host))
        finally:
            self.runtime.close()
        log.info("agent stopped", extra={"host": self.host})


def make_agent(config: Config, host: str, fake_drivers: bool = False, pm: Any = None) -> AgentProcess:
    """Build (not start) the agent of ``host`` from ``config``."""
    from overcast.plugins import load_plugin_manager
    from overcast.server import uses_fake_drivers

    if host not in config.hosts:
        known = ", ".join(sorted(config.hosts)) or "none"
        raise ConfigError(f"{config.path}: no [hosts.{host}] table (configured hosts: {known})")
    if pm is None:
        extra: list[tuple[str, object]] = []
        if fake_drivers or uses_fake_drivers(config):
            from overcast.testing.fakes import FakeDriversPlugin

            extra.append(("fake", FakeDriversPlugin()))
        pm = load_plugin_manager(extra_plugins=extra)
    return AgentProcess(build_agent_runtime(config, host, pm=pm), host)


def run_agent(
    config: Config,
    host: str,
    pid_file: Path | None = None,
    fake_drivers: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Serve ``agent.<host>`` in the foreground until SIGTERM/SIGINT (or ``stop`` is set)."""
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
    agent = make_agent(config, host, fake_drivers=fake_drivers)
    try:
        agent.start()
        if pid_file is not None:
            write_pid_file(pid_file)
        stop.wait()
    finally:
        agent.stop()
        if pid_file is not None:
            remove_pid_file(pid_file)
