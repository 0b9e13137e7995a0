"""``overcast image upload`` / ``download`` against a live server (progress bars, checksums)."""

from __future__ import annotations

import hashlib
import json
import os

from click.testing import CliRunner

from overcast.cli.images import image_group

from .conftest import use_fs_store

overcast_pm, overcast_config = use_fs_store()


def test_upload_then_download_roundtrip(live_api, api, tmp_path):
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(5 * 1024 * 1024 + 7))
    auth = ["--token", api.a.token, "--image-url", live_api]
    runner = CliRunner()
    result = runner.invoke(
        image_group,
        ["upload", str(src), "--name", "cli-img", "--disk-format", "raw", "--property", "os_distro=debian", *auth],
    )
    assert result.exit_code == 0, result.output
    assert "upload cli-img" in result.output  # the progress bar's label
    line = [ln for ln in result.output.splitlines() if ln.startswith("{")][-1]
    shown = json.loads(line)
    assert shown["status"] == "active" and shown["size"] == src.stat().st_size
    assert shown["checksum"] == hashlib.md5(src.read_bytes()).hexdigest()
    out = tmp_path / "out.raw"
    result = runner.invoke(image_group, ["download", shown["id"], "-o", str(out), *auth])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == src.read_bytes()
    assert "checksum verified" in result.output


def test_password_login_from_the_environment(live_api, api, cloud, tmp_path):
    """Without --token the command logs in to Keystone with the OS_* variables."""
    src = tmp_path / "small.raw"
    src.write_bytes(b"\1" * 100_000)
    env = {
        "OS_AUTH_URL": live_api.replace("/image", "/identity"),
        "OS_USERNAME": "admin",
        "OS_PASSWORD": cloud.admin_password,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
    }
    runner = CliRunner(env=env)
    result = runner.invoke(
        image_group, ["upload", str(src), "--name", "env-img", "--disk-format", "raw", "--image-url", live_api]
    )
    assert result.exit_code == 0, result.output
    image_id = json.loads([ln for ln in result.output.splitlines() if ln.startswith("{")][-1])["id"]
    out = tmp_path / "out.raw"
    result = runner.invoke(image_group, ["download", image_id, "-o", str(out), "--image-url", live_api])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == src.read_bytes()
    assert "checksum verified" in result.output


def test_upload_refused_leaves_no_image(live_api, api, tmp_path):
    src = tmp_path / "notqcow.img"
    src.write_bytes(b"plain bytes" * 1000)
    result = CliRunner().invoke(
        image_group,
        [
            "upload",
            str(src),
            "--name",
            "bad",
            "--disk-format",
            "qcow2",
            "--token",
            api.a.token,
            "--image-url",
            live_api,
        ],
    )
    assert result.exit_code != 0 and "does not match" in result.output
    assert api.a.get("/image/v2/images").json()["images"] == []
