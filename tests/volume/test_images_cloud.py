"""Volumes from images and uploads to images, through the real image service (fake store)
and the real ``fs`` volume driver, over HTTP: Glance in, Cinder across, Glance out."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from overcast.config import Config, parse_config
from overcast.context import system_context
from overcast.plugins import PluginManager
from overcast.testing.fixtures import fake_config_data

from .conftest import Api

storage_fs = pytest.importorskip("overcast_storage_fs.plugin")
MiB = 1024 * 1024


@pytest.fixture
def overcast_config(tmp_path: Path) -> Config:
    data = fake_config_data(tmp_path)
    data["volume_backends"] = {"files": {"driver": "fs", "path": str(tmp_path / "vols"), "format": "qcow2"}}
    return parse_config(data, tmp_path / "overcast.toml")


@pytest.fixture
def overcast_pm(overcast_pm: PluginManager) -> PluginManager:
    overcast_pm.register_plugin(storage_fs, name="storage_fs")
    return overcast_pm


def has_pattern(path: Path) -> bool:
    check = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "read -P 0x6b 1M 1M", str(path)], capture_output=True, text=True
    )
    return check.returncode == 0 and "Pattern verification failed" not in check.stdout


def wait_status(api: Api, vid: str, want: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        vol = api.get(f"volumes/{vid}").json()["volume"]
        if vol["status"] == want:
            return vol
        assert vol["status"] != "error" and time.monotonic() < deadline, vol
        time.sleep(0.1)


def test_volume_from_glance_image_and_upload_back(
    cloud: Any, api: Api, api_b: Api, tmp_path: Path, settle: Any
) -> None:
    raw = tmp_path / "disk.raw"
    with open(raw, "wb") as f:
        f.truncate(4 * MiB)
    subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x6b 1M 1M", str(raw)], check=True, capture_output=True)
    r = cloud.request(
        "POST",
        "/image/v2/images",
        token=api.token,
        json={"name": "disk", "disk_format": "raw", "container_format": "bare"},
    )
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    r = cloud.request(
        "PUT",
        f"/image/v2/images/{image_id}/file",
        token=api.token,
        content=raw.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 204, r.text

    # another project cannot build a volume from this private image
    assert api_b.post("volumes", {"volume": {"size": 1, "imageRef": image_id}}).status_code == 404

    r = api.post("volumes", {"volume": {"size": 1, "imageRef": image_id, "name": "from-image"}})
    assert r.status_code == 202, r.text
    vol = wait_status(api, r.json()["volume"]["id"], "available")
    assert vol["bootable"] == "true" and vol["volume_image_metadata"]["image_id"] == image_id
    location = cloud.runtime.service("volume").volumes.get(system_context(), vol["id"]).location
    assert has_pattern(tmp_path / "vols" / location)

    r = api.post(
        f"volumes/{vol['id']}/action",
        {
            "os-volume_upload_image": {
                "image_name": "from-volume",
                "disk_format": "qcow2",
                "container_format": "bare",
                "force": False,
            }
        },
    )
    assert r.status_code == 202, r.text
    new_image = r.json()["os-volume_upload_image"]["image_id"]
    settle()
    assert wait_status(api, vol["id"], "available")
    shown = cloud.request("GET", f"/image/v2/images/{new_image}", token=api.token).json()
    assert shown["status"] == "active" and shown["disk_format"] == "qcow2"
    downloaded = tmp_path / "downloaded.qcow2"
    downloaded.write_bytes(cloud.request("GET", f"/image/v2/images/{new_image}/file", token=api.token).content)
    assert has_pattern(downloaded)
