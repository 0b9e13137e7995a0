"""The ``overcast`` command line (click). Plugins add commands via ``overcast_register_commands``."""

from __future__ import annotations

import sys

import click

from overcast import __version__
from overcast.cli import admin
from overcast.errors import OvercastError


def build_cli(load_plugins: bool = True) -> click.Group:
    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="overcast")
    def cli() -> None:
        """Overcast: an OpenStack-compatible cloud. See `overcast COMMAND --help`."""

    for command in admin.COMMANDS:
        cli.add_command(command)
    for module in _optional_command_modules():
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)
    if load_plugins:
        from overcast.plugins import process_plugin_manager

        try:
            pm = process_plugin_manager()
        except OvercastError:
            pm = None  # strict mode: the failure is reported by the command that needs plugins
        if pm is not None:
            pm.broadcast("overcast_register_commands", cli=cli)
    return cli


def _optional_command_modules() -> list:
    """Command modules of the services (server, keys, images, objects, ...), as they exist."""
    import importlib

    modules = []
    for name in ("server", "keys", "images", "objects", "agent", "tls"):
        try:
            modules.append(importlib.import_module(f"overcast.cli.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"overcast.cli.{name}":
                raise
    return modules


def main(argv: list[str] | None = None) -> None:
    cli = build_cli()
    try:
        cli.main(args=argv, prog_name="overcast", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OvercastError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
