"""A real ``overcast up`` with one KVM host (QEMU TCG through libvirt) and the fs image store,
for end-to-end tests that drive the unmodified ``openstack`` CLI against real guests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.testing.cloud import RunningCloud, start_running_cloud, stop_running_cloud
from overcast.testing.waiting import wait_until  # noqa: F401 - the e2e tests import it from here

GUEST_DIR = Path(os.environ.get("OVERCAST_GUEST_DIR") or "/var/lib/overcast/tinyguest")
COMPUTE_VERSION = ("--os-compute-api-version", "2.37")


@pytest.fixture
def kvm_network_config() -> dict:
    """Extra config for ``kvm_cloud`` (a test module overrides it, e.g. real networking)."""
    return {}


@pytest.fixture
def kvm_extra_hosts() -> dict:
    """More ``[hosts.*]`` tables for ``kvm_cloud`` besides ``kvm1`` (a test module overrides it)."""
    return {}


@pytest.fixture
def kvm_cloud(kvm_network_config: dict, kvm_extra_hosts: dict) -> Iterator[RunningCloud]:
    pytest.importorskip("overcast_hv_kvm", reason="the kvm driver plugin is not installed")
    if not (GUEST_DIR / "tinyguest.qcow2").exists():
        pytest.skip(f"no tiny guest in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")
    data_dir = kvm_data_dir()
    extra = {
        "image_store": {"driver": "fs", "path": "images"},
        "hosts": {"kvm1": {"driver": "kvm", "virt_type": "qemu", "instances_dir": str(data_dir / "instances")},
                  **kvm_extra_hosts},
        **kvm_network_config,
    }
    cloud = start_running_cloud(data_dir / "cloud", extra)
    os.chmod(data_dir / "cloud", 0o755)
    try:
        yield cloud
    finally:
        tear_down(cloud)
        shutil.rmtree(data_dir, ignore_errors=True)


def kvm_data_dir() -> Path:
    """A data dir QEMU (running as libvirt-qemu) can traverse: image cache, instances."""
    data_dir = Path(tempfile.mkdtemp(prefix="oc-e2e-kvm-", dir="/var/tmp"))
    os.chmod(data_dir, 0o755)
    return data_dir


def tear_down(cloud: RunningCloud) -> None:
    """Delete every server, then the networks (their bridges, DHCP namespaces and dnsmasq go
    with them), and stop the cloud."""
    try:
        for server in cloud.openstack("server", "list", "-f", "json", check=True) or []:
            cloud.openstack("server", "delete", "--wait", server["ID"], check=False)
        for router in cloud.openstack("router", "list", "-f", "json", check=True) or []:
            cloud.openstack("router", "delete", router["ID"], check=False)
        for port in cloud.openstack("floating", "ip", "list", "-f", "json", check=True) or []:
            cloud.openstack("floating", "ip", "delete", port["ID"], check=False)
        for network in cloud.openstack("network", "list", "-f", "json", check=True) or []:
            cloud.openstack("network", "delete", network["ID"], check=False)
    finally:
        stop_running_cloud(cloud)


