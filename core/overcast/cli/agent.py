"""``overcast agent --host NAME [--host NAME2 ...]``: run hypervisor hosts' agent (multi-host set-ups)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from overcast.cli.output import config_option
from overcast.config import load_config
from overcast.datadir import PRIVATE_UMASK
from overcast.errors import OvercastError

FAKE_HELP = "Also load the in-memory fake drivers (named 'fake'): for tests and demos."


@click.command("agent")
@config_option
@click.option(
    "--host",
    "hosts",
    required=True,
    multiple=True,
    help="The [hosts.NAME] table this agent runs (serves bus topic agent.NAME). Repeat it, or give a "
    "pattern such as 'esx-*', for one process serving several hosts.",
)
@click.option("--pid-file", type=click.Path(dir_okay=False), default=None, help="Write the pid here while running.")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
@click.option("--fake-drivers", is_flag=True, help=FAKE_HELP)
def agent_command(
    config_path: str | None, hosts: tuple[str, ...], pid_file: str | None, log_level: str, fake_drivers: bool
) -> None:
    """Run the agent of host NAME (or of every host named) in the foreground until SIGTERM/SIGINT.

    It loads only that host's drivers from the config file, connects to the [bus] (an
    amqp:// url) and answers the controller ('overcast up --role controller'). It never
    opens the database."""
    from overcast import malloc
    from overcast.agent.process import run_agent
    from overcast.logs import setup_logging

    setup_logging(log_level)
    os.umask(PRIVATE_UMASK)  # instance disks and cached images it writes are private
    malloc.tune()  # before the agent's threads
    try:
        config = load_config(config_path)
        run_agent(config, hosts, pid_file=Path(pid_file).absolute() if pid_file else None, fake_drivers=fake_drivers)
    except OvercastError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [agent_command]
