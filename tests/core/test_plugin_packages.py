"""The seven plugin distributions: layout, dependencies, and installing each one alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the core distribution's own entry points (its built-in drivers), always listed
BUILT_IN = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["overcast"])
PLUGINS = ["hv_kvm", "hv_xen", "hv_hyperv", "hv_esx", "storage_lvm", "storage_fs", "net_linuxbridge"]
CLIENT_LIBRARIES = {"libvirt-python", "xenapi", "pywinrm", "pyvmomi"}
OWN_LIBRARIES = {
    "hv_kvm": {"libvirt-python"},
    "hv_xen": {"xenapi"},
    "hv_hyperv": {"pywinrm"},
    "hv_esx": {"pyvmomi"},
    "storage_lvm": set(),
    "storage_fs": set(),
    "net_linuxbridge": set(),
}


def project(name: str) -> dict:
    return tomllib.loads((ROOT / "plugins" / name / "pyproject.toml").read_text())["project"]


def requirement_names(name: str) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0].lower() for dep in project(name).get("dependencies", [])}


@pytest.mark.parametrize("name", PLUGINS)
def test_layout_and_naming(name: str) -> None:
    base = ROOT / "plugins" / name
    meta = project(name)
    assert meta["name"] == "overcast-" + name.replace("_", "-")
    assert (base / f"overcast_{name}").is_dir() and (base / "README.md").is_file() and (base / "tests").is_dir()
    entry_points = meta["entry-points"]["overcast"]
    assert list(entry_points.values()) == [f"overcast_{name}.plugin"]


@pytest.mark.parametrize("name", PLUGINS)
def test_declares_its_own_client_library_and_no_other(name: str) -> None:
    deps = requirement_names(name)
    assert "overcast" in deps
    assert OWN_LIBRARIES[name] <= deps
    assert not (deps & (CLIENT_LIBRARIES - OWN_LIBRARIES[name])), f"{name} must not depend on other drivers' libraries"


@pytest.mark.slow
def test_each_plugin_installs_alone(tmp_path: Path) -> None:
    """A fresh venv with only the core; then each plugin is installed, listed as ok, removed."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["-e", str(ROOT)], check=True, capture_output=True)
    overcast = str(venv / "bin" / "overcast")
    for name in PLUGINS:
        dist = project(name)["name"]
        subprocess.run(pip + ["-e", str(ROOT / "plugins" / name)], check=True, capture_output=True)
        out = subprocess.run([overcast, "plugins", "list", "--json"], check=True, capture_output=True, text=True)
        listed = {p["name"]: p for p in json.loads(out.stdout)}
        assert set(listed) == {name} | BUILT_IN, f"only {name} should be installed, got {sorted(listed)}"
        assert listed[name]["status"] == "ok", listed[name]["error"]
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", dist], check=True)


#: the drivers tested over the wire against a simulator, and the simulator's main module
SIMULATED = {"hv_xen": "xapi_sim", "hv_hyperv": "wsman_sim", "hv_esx": "vcsim"}


@pytest.mark.parametrize("name", sorted(SIMULATED))
def test_simulators_are_a_distribution_of_their_own(name: str) -> None:
    """The driver's wheel carries no simulator; its ``testing`` extra brings the one its tests use."""
    assert not (ROOT / "plugins" / name / f"overcast_{name}" / "testing").exists()
    assert (ROOT / "plugins" / f"{name}_sim" / f"overcast_{name}_sim" / f"{SIMULATED[name]}.py").is_file()
    sim = project(f"{name}_sim")
    assert sim["name"] == f"overcast-{name.replace('_', '-')}-sim" and sim["dependencies"] == []
    assert project(name)["optional-dependencies"]["testing"] == [sim["name"]]
