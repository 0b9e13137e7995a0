"""Issue 6's end-to-end run: the unmodified ``openstack`` CLI against ``overcast up`` with one
KVM host (TCG) and a ``fs`` volume backend (qcow2 files). ``server add volume`` hot-plugs a
file volume into the RUNNING tiny guest, whose console shows it appear; the volume is in-use
with the attachment and cannot be deleted; an online extend (Cinder 3.42) grows it on the
backend and in the guest (libvirt blockResize; the console shows the new size); ``server
remove volume`` unplugs it (the console shows it go) and the volume is available again."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]

pytest.importorskip("overcast_storage_fs", reason="the fs volume driver plugin is not installed")

GiB = 1 << 30
ONLINE_EXTEND = ("--os-volume-api-version", "3.42")


@pytest.fixture
def kvm_network_config() -> Iterator[dict]:
    """kvm_cloud's extra config: a ``files`` volume backend in a directory QEMU can reach."""
    path = Path(tempfile.mkdtemp(prefix="oc-e2e-vol-", dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield {"volume_backends": {"files": {"driver": "fs", "path": str(path), "format": "qcow2"}}}
    shutil.rmtree(path, ignore_errors=True)


def guest_recipe() -> int:
    stamp = (GUEST_DIR / "build.stamp").read_text() if (GUEST_DIR / "build.stamp").exists() else ""
    m = re.search(r"recipe=(\d+)", stamp)
    return int(m.group(1)) if m else 0


def test_volume_hotplug_extend_and_unplug_on_a_running_kvm_guest(kvm_cloud) -> None:
    if guest_recipe() < 4:
        pytest.fail(
            f"the tiny guest in {GUEST_DIR} predates recipe 4 (no TINYGUEST-DISK-RESIZED marker): "
            "run scripts/build-tiny-guest.sh"
        )
    cloud = kvm_cloud
    os_ = cloud.openstack

    def nova(*args: str, **kw):
        return os_(*COMPUTE_VERSION, *args, **kw)

    def console() -> str:
        return os_("console", "log", "show", "vm1")

    instances = Path(cloud.data_dir).parent / "instances"

    def marker(pattern: str, what: str, timeout: float = 60) -> re.Match:
        """Wait for ``pattern`` on the guest's serial console. It is polled from the console
        file (a CLI call per poll costs seconds on a loaded host); the CLI's ``console log
        show`` is checked for every marker at the end."""

        def seen() -> re.Match | None:
            for log in instances.glob("*/console.log"):
                m = re.search(pattern, log.read_text(errors="replace"))
                if m:
                    return m
            return None

        return wait_until(seen, what, timeout=timeout, every=0.2)

    def volume() -> dict:
        return os_("volume", "show", "data1", "-f", "json")

    api = Observer(cloud)  # waits poll the API over HTTP; the CLI reads what is asserted

    os_(
        "image",
        "create",
        "--file",
        str(GUEST_DIR / "tinyguest.qcow2"),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--property",
        "hypervisor_type=qemu",
        "tinyguest",
    )
    os_("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1")
    os_("volume", "type", "create", "--property", "volume_backend_name=files", "files")
    vol = os_("volume", "create", "--size", "1", "--type", "files", "data1", "-f", "json")
    server = nova(
        "server",
        "create",
        "--image",
        "tinyguest",
        "--flavor",
        "t1",
        "--nic",
        "none",
        "--wait",
        "vm1",
        "-f",
        "json",
        timeout=300,
    )
    assert server["status"] == "ACTIVE"
    wait_until(
        lambda: api.volume(vol["id"])["status"] == "available", "the volume to become available", timeout=60, every=0.2
    )
    assert volume()["status"] == "available"
    marker(r"TINYGUEST-READY", "the guest's READY marker", timeout=90)
    assert "TINYGUEST-DISK-ADDED" not in console()

    # attach: the running guest sees a 1 GiB disk appear
    nova("server", "add", "volume", "vm1", "data1")
    added = marker(r"TINYGUEST-DISK-ADDED (vd[b-z]) (\d+)", "the DISK-ADDED marker")
    dev, size = added.group(1), int(added.group(2))
    assert size == 1 * GiB
    shown = volume()
    assert shown["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in shown["attachments"]] == [(server["id"], f"/dev/{dev}")]
    # deleting it while attached is refused by the API (400) and changes nothing
    refused = os_("volume", "delete", "data1", check=False)
    assert refused.returncode != 0 and "400" in refused.stderr, refused.stderr
    assert volume()["status"] == "in-use"

    # online extend (3.42): the backend grows it, the hypervisor tells the running guest
    os_(*ONLINE_EXTEND, "volume", "set", "--size", "2", "data1")
    resized = marker(rf"TINYGUEST-DISK-RESIZED {dev} (\d+)", "the DISK-RESIZED marker")
    assert int(resized.group(1)) == 2 * GiB
    wait_until(
        lambda: (lambda v: v["status"] == "in-use" and v["size"] == 2)(api.volume(vol["id"])),
        "the volume to be in-use at 2 GiB",
        timeout=30,
        every=0.2,
    )
    assert (lambda v: (v["status"], v["size"]))(volume()) == ("in-use", 2)

    # detach: the guest sees it go, the volume is available again and can be deleted
    nova("server", "remove", "volume", "vm1", "data1")
    # A guest slow to take the ACPI unplug event is asked again every 20 s (Nova's retries).
    marker(rf"TINYGUEST-DISK-REMOVED {dev}", "the DISK-REMOVED marker", timeout=180)
    wait_until(
        lambda: api.volume(vol["id"])["status"] == "available",
        "the volume to become available after remove",
        timeout=30,
        every=0.2,
    )
    shown = volume()
    assert shown["status"] == "available"
    assert shown["attachments"] == [] and shown["size"] == 2
    # what the console showed, through the CLI: the disk appeared, grew, and went
    log = console()
    for line in (
        f"TINYGUEST-DISK-ADDED {dev} {GiB}",
        f"TINYGUEST-DISK-RESIZED {dev} {2 * GiB}",
        f"TINYGUEST-DISK-REMOVED {dev}",
    ):
        assert line in log, f"{line!r} is not in the console log"
    os_("volume", "delete", "data1")
    wait_until(lambda: api.volume(vol["id"]) is None, "the volume to be deleted", timeout=30, every=0.2)
    assert os_("volume", "show", vol["id"], check=False).returncode != 0
