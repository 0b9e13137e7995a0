"""The real ``openstack`` CLI against ``overcast up`` with a real ``fs`` volume backend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("overcast.testing.cloud")
pytest.importorskip("overcast_storage_fs")

pytestmark = [pytest.mark.clients, pytest.mark.slow]


@pytest.fixture(scope="module")
def running_cloud_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path: Path = tmp_path_factory.mktemp("cli-volumes")
    return {"volume_backends": {"files": {"driver": "fs", "path": str(path), "format": "qcow2"}}}


def wait_status(cloud: Any, kind: list[str], ref: str, want: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = cloud.openstack(*kind, "show", ref, "-f", "json")
        if shown["status"] == want:
            return shown
        assert shown["status"] not in ("error", "error_deleting", "error_extending"), shown
        assert time.monotonic() < deadline, f"{ref} stayed {shown['status']}"
        time.sleep(0.3)


def wait_gone(cloud: Any, kind: list[str], ref: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while cloud.openstack(*kind, "show", ref, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"{ref} was not deleted"
        time.sleep(0.3)


def test_volume_commands(running_cloud: Any) -> None:
    os_ = running_cloud.openstack
    os_("volume", "type", "create", "--property", "volume_backend_name=files", "files")
    vol = os_("volume", "create", "--size", "1", "--type", "files", "cli-vol1", "-f", "json")
    assert vol["name"] == "cli-vol1" and vol["size"] == 1
    shown = wait_status(running_cloud, ["volume"], "cli-vol1", "available")
    assert shown["type"] == "files"
    assert [v["Name"] for v in os_("volume", "list", "-f", "json")] == ["cli-vol1"]

    os_("volume", "set", "--size", "2", "cli-vol1")
    deadline = time.monotonic() + 60
    while os_("volume", "show", "cli-vol1", "-f", "json")["size"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.3)

    snap = os_("volume", "snapshot", "create", "--volume", "cli-vol1", "cli-snap1", "-f", "json")
    assert snap["name"] == "cli-snap1"
    wait_status(running_cloud, ["volume", "snapshot"], "cli-snap1", "available")
    assert [s["Name"] for s in os_("volume", "snapshot", "list", "-f", "json")] == ["cli-snap1"]

    os_("volume", "create", "--snapshot", "cli-snap1", "cli-from-snap", "-f", "json")
    from_snap = wait_status(running_cloud, ["volume"], "cli-from-snap", "available")
    assert from_snap["size"] == 2
    os_("volume", "create", "--source", "cli-vol1", "--size", "3", "cli-clone", "-f", "json")
    assert wait_status(running_cloud, ["volume"], "cli-clone", "available")["size"] == 3

    image_file = running_cloud.data_dir / "cli-image.raw"
    image_file.write_bytes(b"\x01" * (1024 * 1024))
    os_("image", "create", "--file", str(image_file), "--disk-format", "raw", "--container-format", "bare", "cli-image")
    os_("volume", "create", "--image", "cli-image", "--size", "1", "--type", "files", "cli-from-image", "-f", "json")
    from_image = wait_status(running_cloud, ["volume"], "cli-from-image", "available")
    assert from_image["bootable"] in (True, "true")

    # bad input: extending to a smaller size is refused and changes nothing
    bad = os_("volume", "set", "--size", "1", "cli-clone", check=False)
    assert bad.returncode != 0
    assert os_("volume", "show", "cli-clone", "-f", "json")["size"] == 3

    os_("volume", "snapshot", "delete", "cli-snap1")
    wait_gone(running_cloud, ["volume", "snapshot"], "cli-snap1")
    os_("volume", "delete", "cli-from-snap", "cli-clone", "cli-vol1", "cli-from-image")
    deadline = time.monotonic() + 60
    while os_("volume", "list", "-f", "json"):
        assert time.monotonic() < deadline, "volumes were not deleted"
        time.sleep(0.5)
