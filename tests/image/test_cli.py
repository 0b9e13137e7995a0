"""``overcast image upload`` / ``download`` against a live server (progress bars, checksums)."""

from __future__ import annotations

import hashlib
import os

from click.testing import CliRunner

from overcast.cli.images import image_group


def test_upload_then_download_roundtrip(live_api, tmp_path):
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(5 * 1024 * 1024 + 7))
    auth = ["--token", "token-a", "--image-url", live_api]
    runner = CliRunner()
    result = runner.invoke(
        image_group,
        ["upload", str(src), "--name", "cli-img", "--disk-format", "raw", "--property", "os_distro=debian", *auth],
    )
    assert result.exit_code == 0, result.output
    assert "upload cli-img" in result.output  # the progress bar's label
    line = [ln for ln in result.output.splitlines() if ln.startswith("{")][-1]
    import json

    shown = json.loads(line)
    assert shown["status"] == "active" and shown["size"] == src.stat().st_size
    assert shown["checksum"] == hashlib.md5(src.read_bytes()).hexdigest()
    out = tmp_path / "out.raw"
    result = runner.invoke(image_group, ["download", shown["id"], "-o", str(out), *auth])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == src.read_bytes()
    assert "checksum verified" in result.output


def test_upload_refused_leaves_no_image(live_api, tmp_path, api):
    src = tmp_path / "notqcow.img"
    src.write_bytes(b"plain bytes" * 1000)
    result = CliRunner().invoke(
        image_group, ["upload", str(src), "--name", "bad", "--disk-format", "qcow2",
                      "--token", "token-a", "--image-url", live_api],
    )
    assert result.exit_code != 0 and "does not match" in result.output
    assert api.a.get("/image/v2/images").json()["images"] == []
