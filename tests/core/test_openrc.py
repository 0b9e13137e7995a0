"""``overcast init`` writes DevStack's ``openrc`` so clients that read only ``OS_*`` variables
(the ``swift`` CLI) work after ``source DIR/openrc`` (issue 22, part 9)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from overcast.cli.server import init_command, openrc
from overcast.testing.cloud import start_running_cloud, stop_running_cloud


def sourced(path: Path) -> dict[str, str]:
    out = subprocess.run(["bash", "-c", f"set -e; source {path}; env -0"], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if item.startswith("OS_"))


def test_init_writes_a_private_openrc(tmp_path: Path) -> None:
    directory = tmp_path / "cloud"
    result = CliRunner().invoke(
        init_command,
        ["--data-dir", str(directory), "--fake-drivers", "--port", "6099", "--admin-password", "it's $ecret"],
    )
    assert result.exit_code == 0, result.output
    path = directory / "openrc"
    assert path.stat().st_mode & 0o077 == 0
    env = sourced(path)
    assert env["OS_AUTH_URL"] == "http://127.0.0.1:6099/identity" and env["OS_PASSWORD"] == "it's $ecret"
    assert env["OS_USERNAME"] == "admin" and env["OS_PROJECT_NAME"] == "admin" and env["OS_IDENTITY_API_VERSION"] == "3"


@pytest.mark.clients
@pytest.mark.slow
def test_swift_cli_works_from_openrc(tmp_path: Path) -> None:
    swift = shutil.which("swift") or str(Path(sys.executable).with_name("swift"))
    if not os.path.exists(swift):
        pytest.skip("the swift CLI is not installed (pip install .[clients])")
    cloud = start_running_cloud(tmp_path / "cloud")
    try:
        path = tmp_path / "openrc"
        path.write_text(openrc(cloud.auth_url, cloud.admin_password, "RegionOne"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "ST_"))}
        env.update(sourced(path))
        upload = tmp_path / "hello.txt"
        upload.write_text("hello")
        done = subprocess.run(
            [swift, "upload", "c1", "hello.txt"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        listed = subprocess.run([swift, "list", "c1"], env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and listed.stdout.split() == ["hello.txt"], listed.stderr
    finally:
        stop_running_cloud(cloud)
