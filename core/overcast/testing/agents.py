"""Host agents as real processes, for multi-host tests (``overcast agent --host NAME``).

::

    cloud = start_running_cloud(tmp, {"bus": {"url": AMQP, "prefix": unique}}, role="controller")
    agent = start_agent_process(cloud.config_path, "fake1", env=cloud.env)
    ...
    assert stop_agent_process(agent) == 0    # SIGTERM: a clean exit

``command`` lets a test wrap the command line (``["ip", "netns", "exec", "ns1"]``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class AgentProcess:
    host: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def agent_command(
    config_path: Path, host: str | Sequence[str], fake_drivers: bool = True, log_level: str = "INFO"
) -> list[str]:
    """The argv of ``overcast agent`` for ``host`` (a name or pattern, or several: one process
    serving them all) with this interpreter."""
    hosts = [host] if isinstance(host, str) else list(host)
    args = [sys.executable, "-c", "from overcast.cli import main; main()", "agent", "--config", str(config_path)]
    for name in hosts:
        args += ["--host", name]
    args += ["--log-level", log_level]
    return args + (["--fake-drivers"] if fake_drivers else [])


def start_agent_process(
    config_path: Path,
    host: str | Sequence[str],
    env: dict[str, str] | None = None,
    fake_drivers: bool = True,
    log_path: Path | None = None,
    wrapper: list[str] | None = None,
    log_level: str = "INFO",
) -> AgentProcess:
    """Start ``overcast agent --host HOST`` (``--host`` once per name or pattern of a list)
    in the background (its own session), logging to ``log_path`` (default ``<config
    dir>/agent-HOST.log``, named after the first host)."""
    first = host if isinstance(host, str) else host[0]
    log_path = log_path or config_path.parent / f"agent-{first.replace('*', '_')}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*(wrapper or []), *agent_command(config_path, host, fake_drivers, log_level)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env or dict(os.environ),
            start_new_session=True,
        )
    return AgentProcess(first, process, log_path)


def stop_agent_process(agent: AgentProcess, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    """Signal the agent (SIGTERM: a clean stop; SIGKILL: a crash) and return its exit status;
    a process that does not exit in ``timeout`` is killed with its whole session."""
    proc = agent.process
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def cloud_topics(hosts: list[str], processes: Sequence[Sequence[str]] = ()) -> list[str]:
    """The durable bus topics of a cloud with these hosts: each agent's, the controller's, and
    the topic of each agent process serving several hosts (``processes``: the hosts of each)."""
    from overcast.agent import agent_topic, process_topic

    served = [t for group in processes if (t := process_topic(list(group))) is not None]
    return [agent_topic(h) for h in hosts] + served + ["image", "network"]


def delete_amqp_names(url: str, prefix: str, topics: list[str]) -> None:
    """Remove the durable queues and the exchanges a test or benchmark made under ``[bus]
    prefix`` on a shared broker (reply and event queues go away with their connections)."""
    from kombu import Connection

    prefix = prefix.rstrip(".") + "."
    with Connection(url) as conn:
        channel = conn.channel()
        for name in [*(prefix + t for t in topics)]:
            try:
                channel.queue_delete(name)
            except Exception:  # noqa: BLE001 - never declared: the channel is closed by the broker
                channel = conn.channel()
        for exchange in ("overcast", "overcast.events"):
            try:
                channel.exchange_delete(prefix + exchange)
            except Exception:  # noqa: BLE001
                channel = conn.channel()
