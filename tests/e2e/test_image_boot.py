"""A real guest boots from an image uploaded with the ``openstack`` CLI: ``overcast up`` with
the kvm driver (QEMU TCG through libvirt) and the fs image store. The image's
``hypervisor_type`` property sends it to the kvm host; the host fetches it into its image
cache, verified, and the guest prints its console markers."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import GUEST_DIR

pytestmark = [pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]


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
