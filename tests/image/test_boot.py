"""A server boots from an uploaded image, and a server snapshot becomes an image: the whole
in-process cloud (compute with fake hosts, image service on the fs store)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from overcast.config import parse_config
from overcast.plugins import PluginManager
from overcast.testing.fixtures import fake_config_data

from .conftest import qemu_img

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
COMPUTE = {"OpenStack-API-Version": "compute 2.37"}


@pytest.fixture
def overcast_pm(overcast_pm: PluginManager) -> PluginManager:
    from overcast_storage_fs import plugin as fs_plugin

    overcast_pm.register_plugin(fs_plugin, name="storage_fs")
    return overcast_pm


@pytest.fixture
def overcast_config(tmp_path: Path) -> Any:
    """fs image store and one fake host (qcow2 and raw)."""
    data = fake_config_data(tmp_path)
    data["image_store"] = {"driver": "fs", "path": str(tmp_path / "images")}
    return parse_config(data, tmp_path / "overcast.toml")


def _wait(api: Any, url: str, key: str, field: str, want: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.a.get(url, headers=COMPUTE).json()
        body = body[key] if key else body
        if body.get(field) == want:
            return body
        assert body.get(field) not in ("ERROR", "killed"), body
        assert time.monotonic() < deadline, f"{url} stuck at {body.get(field)}"
        time.sleep(0.1)


def test_boot_from_uploaded_qcow2_and_snapshot(api, tmp_path):
    src = tmp_path / "guest.qcow2"
    qemu_img("create", "-f", "qcow2", str(src), "16M")
    subprocess.run(["qemu-io", "-c", "write -P 0x42 0 512k", str(src)], check=True, capture_output=True)
    r = api.a.post("/image/v2/images", json={"name": "guest", "disk_format": "qcow2", "container_format": "bare"})
    image_id = r.json()["id"]
    assert (
        api.a.put(
            f"/image/v2/images/{image_id}/file",
            content=src.read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        ).status_code
        == 204
    )
    flavor = api.admin.post(
        "/compute/v2.1/flavors", headers=COMPUTE, json={"flavor": {"name": "m1.tiny", "vcpus": 1, "ram": 64, "disk": 1}}
    ).json()["flavor"]
    r = api.a.post(
        "/compute/v2.1/servers",
        headers=COMPUTE,
        json={"server": {"name": "vm1", "imageRef": image_id, "flavorRef": flavor["id"], "networks": "none"}},
    )
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    server = _wait(api, f"/compute/v2.1/servers/{server_id}", "server", "status", "ACTIVE")
    assert server["image"]["id"] == image_id
    cached = list((Path(api.runtime.config.data_dir) / "image-cache").rglob(f"{image_id}.*"))
    assert [p.read_bytes() for p in cached] == [src.read_bytes()]  # fetched once, verified

    r = api.a.post(
        f"/compute/v2.1/servers/{server_id}/action", headers=COMPUTE, json={"createImage": {"name": "snap1"}}
    )
    assert r.status_code == 202, r.text
    snap_id = r.headers["Location"].rsplit("/", 1)[-1]  # below 2.45 the id comes in Location
    snap = _wait(api, f"/image/v2/images/{snap_id}", "", "status", "active")
    assert snap["visibility"] == "private" and snap["image_type"] == "snapshot"
    assert snap["instance_uuid"] == server_id and snap["disk_format"] == "raw"
    assert api.a.get(f"/image/v2/images/{snap_id}/file").content.startswith(b"snapshot of ")
    assert api.b.get(f"/image/v2/images/{snap_id}").status_code == 404
