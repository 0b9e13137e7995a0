"""Plugins outside the repo are found through their entry points, with no core change.

Three stub distributions are really installed with pip into a temporary directory (a good
vendor driver, one that fails to import, one whose dependency is missing) and the real
``overcast`` CLI is run against them in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vendor_plugins import install, make_distribution

GOOD = '''
"""A vendor's hypervisor driver, published without touching Overcast."""
from overcast.hookspecs import hookimpl
from overcast.types import ConfigOption, DriverKind, HvCapabilities


class AcmeHypervisor:
    @hookimpl
    def hv_get_capabilities(self, host):
        return HvCapabilities(hypervisor_type="acme", image_types=frozenset({"raw"}))


@hookimpl
def overcast_register_drivers(registry):
    registry.add(DriverKind.HYPERVISOR, "acme", AcmeHypervisor(), "Acme Hypervisor")


@hookimpl
def overcast_register_commands(cli):
    import click

    @cli.command("acme-status")
    def acme_status():
        """Acme's own operator command."""
        click.echo("acme: all quiet")


@hookimpl
def overcast_add_config_options():
    return [ConfigOption(DriverKind.HYPERVISOR, "acme", "endpoint", str, required=True)]
'''

BROKEN = """
raise RuntimeError("acme-broken cannot start: licence file missing")
"""

MISSING_DEP = """
import acme_sdk_that_is_not_installed  # noqa: F401
"""


@pytest.fixture(scope="module")
def vendor_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vendor")
    site = root / "site"
    return install(
        site,
        make_distribution(root, "acme-overcast-hv", "acme", "acme_overcast_hv", GOOD),
        make_distribution(root, "acme-broken", "acme_broken", "acme_broken", BROKEN),
        make_distribution(root, "acme-needs-sdk", "acme_needs_sdk", "acme_needs_sdk", MISSING_DEP),
    )


def _overcast(site: Path, *args: str, strict: bool = False, config: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(site) + os.pathsep + env.get("PYTHONPATH", "")
    env["OVERCAST_STRICT_PLUGINS"] = "1" if strict else "0"
    if config is not None:
        env["OVERCAST_CONFIG"] = str(config)
    code = "import sys; from overcast.cli import main; sys.argv[0] = 'overcast'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)


def test_vendor_plugin_is_found_through_its_entry_point(vendor_site: Path) -> None:
    out = _overcast(vendor_site, "plugins", "list", "--json")
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    acme = plugins["acme"]
    assert (acme["package"], acme["version"], acme["status"]) == ("acme-overcast-hv", "1.2.3", "ok")
    assert acme["drivers"] == ["hypervisor:acme"]


def test_broken_plugins_are_recorded_with_their_error(vendor_site: Path) -> None:
    plugins = {p["name"]: p for p in json.loads(_overcast(vendor_site, "plugins", "list", "--json").stdout)}
    assert plugins["acme_broken"]["status"] == "import error"
    assert plugins["acme_broken"]["error"] == "RuntimeError: acme-broken cannot start: licence file missing"
    assert plugins["acme_needs_sdk"]["status"] == "missing dependency"
    assert "acme_sdk_that_is_not_installed" in plugins["acme_needs_sdk"]["error"]
    assert plugins["acme"]["status"] == "ok"  # one broken plugin does not stop the others


def test_vendor_driver_is_listed_with_its_operations(vendor_site: Path) -> None:
    drivers = json.loads(_overcast(vendor_site, "drivers", "list", "--json").stdout)
    acme = [d for d in drivers if d["name"] == "acme"]
    assert acme == [
        {"kind": "hypervisor", "name": "acme", "package": "acme-overcast-hv", "operations": ["get_capabilities"]}
    ]


def test_strict_mode_makes_a_broken_plugin_fatal_in_one_line(vendor_site: Path) -> None:
    out = _overcast(vendor_site, "drivers", "list", strict=True)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == [
        "error: plugin 'acme_broken' (acme-broken) failed to load: "
        "RuntimeError: acme-broken cannot start: licence file missing"
    ]


def test_vendor_driver_options_are_validated_from_config(vendor_site: Path, tmp_path: Path) -> None:
    config = tmp_path / "overcast.toml"
    config.write_text('[hosts.lab1]\ndriver = "acme"\nendpoint = "https://acme.example"\n')
    ok = _overcast(vendor_site, "config", "check", config=config)
    assert ok.returncode == 0, ok.stderr
    assert "host lab1: hypervisor driver 'acme'" in ok.stdout
    config.write_text('[hosts.lab1]\ndriver = "acme"\n')
    bad = _overcast(vendor_site, "config", "check", config=config)
    assert bad.returncode == 2
    assert (
        bad.stderr.strip().splitlines()[-1]
        == f"error: {config}: [hosts.lab1] endpoint: is required by hypervisor driver 'acme'"
    )


def test_vendor_plugin_adds_cli_commands(vendor_site: Path) -> None:
    out = _overcast(vendor_site, "acme-status")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "acme: all quiet\n"
