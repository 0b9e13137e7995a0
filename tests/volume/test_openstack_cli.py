"""The real ``openstack`` CLI against ``overcast up`` with a real ``fs`` volume backend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("overcast.testing.cloud")
pytest.importorskip("overcast_storage_fs")

pytestmark = [pytest.mark.clients, pytest.mark.slow]

NOVA = ("--os-compute-api-version", "2.37")


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

    # bad input: extending to a smaller size is refused and changes nothing (the CLI refuses
    # it before calling; the API's own 400 is checked in test_api.py)
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


def test_volume_isolation_in_use_quota_and_bad_type(running_cloud: Any) -> None:
    """The "Done when" refusals, through the CLI: another project can neither see nor attach
    the volume; deleting an in-use volume, an online extend the (fake) hypervisor cannot do,
    going over quota and an unknown type are refused with the API's 4xx, changing nothing."""
    cloud = running_cloud
    os_ = cloud.openstack
    os_("volume", "type", "create", "--property", "volume_backend_name=files", "iso-files")
    vol = os_("volume", "create", "--size", "1", "--type", "iso-files", "iso-vol", "-f", "json")
    wait_status(cloud, ["volume"], vol["id"], "available")
    image_file = cloud.data_dir / "iso-image.raw"
    image_file.write_bytes(b"\x00" * (1024 * 1024))
    os_(
        "image",
        "create",
        "--file",
        str(image_file),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--public",
        "iso-image",
    )
    os_("flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "iso-t1")

    os_("project", "create", "iso-p2")
    os_("user", "create", "--password", "pw-iso-u2", "iso-u2")
    os_("role", "add", "--project", "iso-p2", "--user", "iso-u2", "member")
    u2 = {k: v for k, v in cloud.env.items() if k not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")}
    u2.update(
        OS_AUTH_URL=cloud.auth_url,
        OS_USERNAME="iso-u2",
        OS_PASSWORD="pw-iso-u2",
        OS_PROJECT_NAME="iso-p2",
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
        OS_INTERFACE="public",
    )

    # another project: the volume is invisible, and it cannot attach it to its own server
    assert vol["id"] not in [v["ID"] for v in os_("volume", "list", "-f", "json", env=u2)]
    hidden = os_("volume", "show", vol["id"], check=False, env=u2)
    assert hidden.returncode != 0 and "No Volume found" in hidden.stderr, hidden.stderr
    theirs = os_(
        *NOVA,
        "server",
        "create",
        "--image",
        "iso-image",
        "--flavor",
        "iso-t1",
        "--nic",
        "none",
        "--wait",
        "their-vm",
        "-f",
        "json",
        env=u2,
    )
    # (the CLI looks the volume up in Cinder first and gets a 404; Nova's own 404 for a
    # volume of another project is checked over HTTP in test_compute_attach.py)
    stolen = os_(*NOVA, "server", "add", "volume", theirs["id"], vol["id"], check=False, env=u2)
    assert stolen.returncode != 0 and "No Volume found" in stolen.stderr, stolen.stderr
    assert os_(*NOVA, "server", "volume", "list", theirs["id"], "-f", "json", env=u2) == []
    assert os_("volume", "show", vol["id"], "-f", "json")["status"] == "available"

    # over quota (gigabytes) and an unknown type: refused, nothing created
    os_("quota", "set", "--gigabytes", "2", "iso-p2")
    over = os_("volume", "create", "--size", "3", "too-big", check=False, env=u2)
    assert over.returncode != 0 and "413" in over.stderr and "gigabytes" in over.stderr, over.stderr
    unknown = os_("volume", "create", "--size", "1", "--type", "no-such-type", "typo", check=False, env=u2)
    assert unknown.returncode != 0 and "404" in unknown.stderr and "no-such-type" in unknown.stderr, unknown.stderr
    assert os_("volume", "list", "-f", "json", env=u2) == []

    # in use: delete is refused (400); so is an online extend the fake hypervisor cannot do
    mine = os_(
        *NOVA,
        "server",
        "create",
        "--image",
        "iso-image",
        "--flavor",
        "iso-t1",
        "--nic",
        "none",
        "--wait",
        "my-vm",
        "-f",
        "json",
    )
    os_(*NOVA, "server", "add", "volume", mine["id"], vol["id"])
    assert os_("volume", "show", vol["id"], "-f", "json")["status"] == "in-use"
    busy = os_("volume", "delete", vol["id"], check=False)
    assert busy.returncode != 0 and "400" in busy.stderr, busy.stderr
    grow = os_("--os-volume-api-version", "3.42", "volume", "set", "--size", "2", vol["id"], check=False)
    assert grow.returncode != 0 and "does not support 'extend_volume'" in grow.stderr, grow.stderr
    shown = os_("volume", "show", vol["id"], "-f", "json")
    assert shown["status"] == "in-use" and shown["size"] == 1
    os_(*NOVA, "server", "remove", "volume", mine["id"], vol["id"])
    wait_status(cloud, ["volume"], vol["id"], "available")
    os_(*NOVA, "server", "delete", "--wait", mine["id"])
    os_(*NOVA, "server", "delete", "--wait", theirs["id"], env=u2)
    os_("volume", "delete", vol["id"])
    wait_gone(cloud, ["volume"], vol["id"])
