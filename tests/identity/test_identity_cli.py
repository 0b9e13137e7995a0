"""``overcast init``, ``overcast keys`` and ``overcast up --detach`` / ``overcast down``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner

from overcast.cli import build_cli
from overcast.config import load_config
from overcast.testing.cloud import free_port


def run(args: list[str], env: dict[str, str] | None = None):
    result = CliRunner().invoke(build_cli(load_plugins=False), args, env=env, catch_exceptions=False)
    return result


@pytest.fixture
def initialised(tmp_path: Path) -> tuple[Path, str]:
    result = run(
        ["init", "--data-dir", str(tmp_path / "oc"), "--fake-drivers", "--port", "16999", "--admin-password", "pw-init"]
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "oc", result.output


def test_init_writes_config_keys_database_and_clouds_yaml(initialised) -> None:
    directory, output = initialised
    assert "admin password: pw-init" in output
    config = load_config(directory / "overcast.toml")
    assert config.api.port == 16999 and config.hosts["fake1"].driver == "fake"
    assert config.api.workers == min(os.cpu_count() or 1, 4)  # API processes: one per CPU, at most 4
    assert sorted(p.name for p in (directory / "fernet-keys").iterdir()) == ["0", "1"]
    clouds = yaml.safe_load((directory / "clouds.yaml").read_text())["clouds"]["overcast"]
    assert clouds["auth"]["auth_url"] == "http://127.0.0.1:16999/identity"
    assert clouds["auth"]["password"] == "pw-init" and clouds["auth"]["project_name"] == "admin"
    for name in ("clouds.yaml", "overcast.toml"):
        assert (directory / name).stat().st_mode & 0o077 == 0  # secrets inside


def test_init_serves_a_real_object_store_from_worker_processes(tmp_path: Path) -> None:
    """An all-in-one config with the ``fs`` object store gets ``[objectstore]`` workers on the
    next port (one process is CPU-bound below the object API's targets); the fake store none."""
    import os

    from overcast.cli.server import _objectstore_table, to_toml

    table = _objectstore_table({"object_store": {"driver": "fs", "path": "objects"}}, 16999)
    assert table == {"objectstore": {"workers": os.cpu_count() or 1, "port": 17000}}
    assert _objectstore_table({"object_store": {"driver": "fake"}}, 16999) == {}
    assert _objectstore_table({}, 16999) == {}
    path = tmp_path / "overcast.toml"
    path.write_text(to_toml({"api": {"port": 16999}, "object_store": {"driver": "fs", "path": "objects"}, **table}))
    config = load_config(path)
    assert config.objectstore.workers >= 2 and config.object_store_url().startswith("http://127.0.0.1:17000")


def test_init_refuses_to_run_twice_unless_forced(initialised) -> None:
    directory, _ = initialised
    again = run(["init", "--data-dir", str(directory), "--fake-drivers"])
    assert again.exit_code != 0 and "initialised" in again.output
    forced = run(["init", "--data-dir", str(directory), "--fake-drivers", "--force", "--admin-password", "pw-new"])
    assert forced.exit_code == 0 and "admin password: pw-new" in forced.output
    assert yaml.safe_load((directory / "clouds.yaml").read_text())["clouds"]["overcast"]["auth"]["password"] == "pw-new"


def test_keys_rotate_and_list_with_overcast_config(initialised) -> None:
    directory, _ = initialised
    env = {"OVERCAST_CONFIG": str(directory / "overcast.toml")}
    first = run(["keys", "rotate"], env=env)
    assert first.exit_code == 0 and "primary key 2" in first.output
    run(["keys", "rotate"], env=env)
    listing = run(["keys", "list"], env=env).output.split()
    assert listing == ["3", "primary", "2", "secondary", "0", "staged"]


@pytest.mark.slow
def test_up_detach_and_down(tmp_path: Path) -> None:
    port = free_port()
    directory = tmp_path / "oc"
    assert (
        run(
            ["init", "--data-dir", str(directory), "--fake-drivers", "--port", str(port), "--admin-password", "pw"]
        ).exit_code
        == 0
    )
    env = dict(os.environ, OVERCAST_CONFIG=str(directory / "overcast.toml"))
    cli = [sys.executable, "-c", "from overcast.cli import main; main()"]
    up = subprocess.run([*cli, "up", "--detach"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        pid = int((directory / "overcast.pid").read_text())
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": "pw"}},
                }
            }
        }
        r = httpx.post(f"http://127.0.0.1:{port}/identity/v3/auth/tokens", json=body, timeout=10)
        assert r.status_code == 201 and r.headers["x-openstack-request-id"].startswith("req-")
        second = subprocess.run([*cli, "up", "--detach"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "already running" in second.stderr
    finally:
        down = subprocess.run([*cli, "down"], env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and f"stopped pid {pid}" in down.stdout
    assert not (directory / "overcast.pid").exists()
    log = (directory / "overcast.log").read_text()
    assert '"msg": "stopped"' in log and '"msg": "request"' in log  # structured lines
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/identity", timeout=2)


def test_up_refuses_an_uninitialised_cloud(tmp_path: Path) -> None:
    (tmp_path / "overcast.toml").write_text('[api]\nport = 0\n[hosts.fake1]\ndriver = "fake"\n')
    result = run(["up", "--config", str(tmp_path / "overcast.toml")])
    assert result.exit_code != 0 and "not initialised" in result.output
