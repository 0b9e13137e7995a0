"""The operator CLI of the core, run in-process through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from overcast import __version__
from overcast.cli import build_cli


@pytest.fixture
def run():
    cli = build_cli()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_version(run) -> None:
    assert run("--version").output.strip() == f"overcast, version {__version__}"


def test_plugins_and_drivers_list_as_json(run) -> None:
    plugins = json.loads(run("plugins", "list", "--json").output)
    assert all({"name", "package", "version", "drivers", "status", "error"} <= set(p) for p in plugins)
    drivers = json.loads(run("drivers", "list", "--json").output)
    assert all({"kind", "name", "package", "operations"} <= set(d) for d in drivers)


def test_db_upgrade_and_hosts_list(run, tmp_path: Path) -> None:
    config = tmp_path / "overcast.toml"
    config.write_text("")
    out = run("db", "upgrade", "--config", str(config))
    assert out.exit_code == 0 and out.output.startswith("database at revision ")
    hosts = json.loads(run("hosts", "list", "--config", str(config), "--json").output)
    assert hosts == []


def test_config_check_reports_targets(run, tmp_path: Path) -> None:
    config = tmp_path / "overcast.toml"
    config.write_text("[api]\nport = 6081\n")
    out = run("config", "check", "--config", str(config))
    assert out.exit_code == 0 and out.output.startswith(f"{config}: ok")
