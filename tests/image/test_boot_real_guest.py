"""A real guest boots from an image uploaded with the ``openstack`` CLI: ``overcast up`` with
the kvm driver (QEMU TCG through libvirt) and the fs image store. The image's
``hypervisor_type`` property sends it to the kvm host; the host fetches it into its image
cache, verified, and the guest prints its console markers."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.testing.cloud import RunningCloud, start_running_cloud, stop_running_cloud

pytestmark = [pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]

GUEST_DIR = Path(os.environ.get("OVERCAST_GUEST_DIR") or "/var/lib/overcast/tinyguest")


@pytest.fixture
def kvm_cloud() -> Iterator[RunningCloud]:
    pytest.importorskip("overcast_hv_kvm", reason="the kvm driver plugin is not installed")
    if not (GUEST_DIR / "tinyguest.qcow2").exists():
        pytest.skip(f"no tiny guest in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")
    # QEMU runs as libvirt-qemu: the data dir (image cache, instances) must be traversable
    data_dir = Path(tempfile.mkdtemp(prefix="oc-image-kvm-", dir="/var/tmp"))
    os.chmod(data_dir, 0o755)
    extra = {
        "image_store": {"driver": "fs", "path": "images"},
        "hosts": {"kvm1": {"driver": "kvm", "virt_type": "qemu", "instances_dir": str(data_dir / "instances")}},
    }
    cloud = start_running_cloud(data_dir / "cloud", extra)
    os.chmod(data_dir / "cloud", 0o755)
    try:
        yield cloud
    finally:
        for server in cloud.openstack("server", "list", "-f", "json", check=True) or []:
            cloud.openstack("server", "delete", "--wait", server["ID"], check=False)
        stop_running_cloud(cloud)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_tiny_guest_boots_from_uploaded_image(kvm_cloud):
    cloud = kvm_cloud
    image = cloud.openstack("image", "create", "--file", str(GUEST_DIR / "tinyguest.qcow2"), "--disk-format", "qcow2",
                            "--container-format", "bare", "--property", "hypervisor_type=qemu", "tinyguest",
                            "-f", "json")
    assert image["status"] == "active"
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")
    server = cloud.openstack("--os-compute-api-version", "2.37", "server", "create", "--image", "tinyguest", "--flavor", "t1", "--nic", "none",
                             "--wait", "vm1", "-f", "json", timeout=300)
    assert server["status"] == "ACTIVE"
    deadline = time.monotonic() + 120
    console = ""
    while "TINYGUEST-READY" not in console:
        assert time.monotonic() < deadline, f"no READY marker; console:\n{console}"
        time.sleep(2)
        console = cloud.openstack("console", "log", "show", "vm1")
    assert "TINYGUEST-BOOTED" in console
    cached = list((cloud.data_dir / "image-cache").rglob(f"{image['id']}.*"))
    assert len(cached) == 1 and cached[0].read_bytes() == (GUEST_DIR / "tinyguest.qcow2").read_bytes()
