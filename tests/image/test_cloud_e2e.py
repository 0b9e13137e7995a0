"""Whole-cloud tests against a real ``overcast up`` process (fs image store): the
``openstack`` CLI's member commands through Keystone, and a server killed with SIGKILL in
the middle of an upload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from overcast.testing.cloud import start_running_cloud, stop_running_cloud

pytestmark = [pytest.mark.clients, pytest.mark.slow]

FS_STORE = {"image_store": {"driver": "fs", "path": "images"}}


@pytest.fixture(scope="module")
def running_cloud_config() -> dict[str, Any]:
    return FS_STORE


def _token(cloud: Any, user: str = "admin", password: str | None = None, project: str = "admin") -> str:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": password or cloud.admin_password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }
    r = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def test_openstack_cli_members_through_keystone(running_cloud, tmp_path):
    cloud = running_cloud
    src = tmp_path / "img.raw"
    src.write_bytes(os.urandom(256 * 1024))
    image = cloud.openstack(
        "image",
        "create",
        "--file",
        str(src),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--shared",
        "shared-img",
        "-f",
        "json",
    )
    assert image["status"] == "active"
    cloud.openstack("project", "create", "p2", "-f", "json")
    cloud.openstack("user", "create", "--password", "pw-u2", "u2", "-f", "json")
    cloud.openstack("role", "add", "--project", "p2", "--user", "u2", "member")
    u2 = {k: v for k, v in cloud.env.items() if k != "OS_CLOUD"}
    u2.update(
        OS_AUTH_URL=cloud.auth_url,
        OS_USERNAME="u2",
        OS_PASSWORD="pw-u2",
        OS_PROJECT_NAME="p2",
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
        OS_INTERFACE="public",
    )
    u2.pop("OS_CLIENT_CONFIG_FILE", None)
    listed = cloud.openstack("image", "list", "-f", "json", env=u2)
    assert image["id"] not in [i["ID"] for i in listed]
    cloud.openstack("image", "add", "project", "shared-img", "p2", "-f", "json")
    cloud.openstack("image", "set", "--accept", image["id"], env=u2)
    listed = cloud.openstack("image", "list", "-f", "json", env=u2)
    assert image["id"] in [i["ID"] for i in listed]
    out = tmp_path / "saved.raw"
    cloud.openstack("image", "save", "--file", str(out), image["id"], env=u2)
    assert out.read_bytes() == src.read_bytes()
    denied = cloud.openstack("image", "set", "--name", "mine", image["id"], env=u2, check=False)
    assert denied.returncode != 0


def _restart(cloud: Any) -> None:
    with open(cloud.log_path, "ab") as log:
        cloud.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from overcast.cli import main; main()",
                "up",
                "--config",
                str(cloud.config_path),
                "--fake-drivers",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=cloud.env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert cloud.process.poll() is None, cloud.log_tail()
        try:
            if httpx.get(cloud.auth_url, timeout=2).status_code == 300:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"overcast up did not come back:\n{cloud.log_tail()}")


def test_kill_during_upload_serves_no_partial_data(tmp_path):
    cloud = start_running_cloud(tmp_path / "cloud", FS_STORE)
    try:
        token = _token(cloud)
        images = f"{cloud.url}/image/v2/images"
        client = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
        image = client.post(images, json={"name": "big", "disk_format": "raw", "container_format": "bare"}).json()
        sent, hold = threading.Event(), threading.Event()

        def body():
            for _ in range(8):
                yield b"\x5a" * (1024 * 1024)
            sent.set()
            hold.wait(60)  # the server dies while it waits for the rest
            yield b"\x5a" * (1024 * 1024)

        errors: list[BaseException] = []

        def upload() -> None:
            try:
                httpx.put(
                    f"{images}/{image['id']}/file",
                    content=body(),
                    timeout=60,
                    headers={
                        "X-Auth-Token": token,
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(64 * 1024 * 1024),
                    },
                )
            except BaseException as exc:  # noqa: BLE001 - the connection dies with the server
                errors.append(exc)

        uploader = threading.Thread(target=upload, daemon=True)
        uploader.start()
        assert sent.wait(30)
        deadline = time.monotonic() + 30
        while client.get(f"{images}/{image['id']}").json()["status"] != "saving":
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.1)
        os.killpg(cloud.process.pid, signal.SIGKILL)
        cloud.process.wait(10)
        hold.set()
        uploader.join(30)

        _restart(cloud)
        client = httpx.Client(headers={"X-Auth-Token": _token(cloud)}, timeout=60)
        shown = client.get(f"{images}/{image['id']}").json()
        assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
        r = client.get(f"{images}/{image['id']}/file")
        assert r.status_code == 204 and r.content == b""
        store = cloud.data_dir / "image_store" / "images"
        assert not (store / image["id"]).exists()
        assert list((store / ".tmp").iterdir()) == [], "the dead upload left temp data in the store"
        assert image["id"] not in [i["id"] for i in client.get(images, params={"status": "active"}).json()["images"]]
        # the image can be uploaded again, whole this time
        data = os.urandom(3 * 1024 * 1024)
        r = client.put(
            f"{images}/{image['id']}/file", content=data, headers={"Content-Type": "application/octet-stream"}
        )
        assert r.status_code == 204, r.text
        assert client.get(f"{images}/{image['id']}").json()["status"] == "active"
        assert client.get(f"{images}/{image['id']}/file").content == data
    finally:
        stop_running_cloud(cloud)
