"""Fixtures for the kvm driver's tests.

Unit tests run against libvirt's in-process ``test:///default`` driver (no daemon); the
integration tests (markers ``libvirt``/``slow``) boot the project's tiny guest on the real
``qemu:///system`` daemon.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import overcast_hv_kvm.plugin
import pytest
from kvm_testlib import public_tmpdir, qemu_img
from overcast.plugins import DriverCaller, PluginManager
from overcast.types import Host, ImageFile, ImageRef

REPO = Path(__file__).resolve().parents[3]
GUEST_BUILDER = REPO / "scripts" / "build-tiny-guest.sh"


@pytest.fixture(scope="session")
def kvm_pm() -> PluginManager:
    """A plugin manager with only this plugin loaded (as its entry point would load it)."""
    pm = PluginManager()
    record = pm.register_plugin(overcast_hv_kvm.plugin, name="hv_kvm")
    assert record.status == "ok", record.error
    pm.check_pending()
    return pm


@pytest.fixture
def kvm(kvm_pm: PluginManager) -> DriverCaller:
    return kvm_pm.driver("hypervisor", "kvm")


@pytest.fixture
def unit_host(tmp_path: Path) -> Host:
    """A host on libvirt's in-process test driver."""
    return Host(
        name="unit1", driver="kvm", options={"uri": "test:///default", "instances_dir": str(tmp_path / "instances")}
    )


@pytest.fixture
def small_image(tmp_path: Path) -> ImageFile:
    """A 64 MiB qcow2 base image (blank)."""
    path = tmp_path / "base.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(path), "64M")
    return ImageFile(image=ImageRef(id="img-1", name="blank", disk_format="qcow2"), path=str(path), disk_format="qcow2")


# --- real libvirt --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_guest_dir() -> Path:
    """The tiny guest, built by scripts/build-tiny-guest.sh (or prebuilt in
    $OVERCAST_GUEST_DIR)."""
    out = Path(os.environ.get("OVERCAST_GUEST_DIR") or "/var/lib/overcast/tinyguest")
    if GUEST_BUILDER.exists():
        proc = subprocess.run([str(GUEST_BUILDER), str(out)], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"build-tiny-guest.sh failed:\n{proc.stderr[-3000:]}"
    elif not (out / "tinyguest.qcow2").exists():
        pytest.skip(f"no tiny guest in {out} and no builder at {GUEST_BUILDER}")
    return out


@pytest.fixture(scope="session")
def tiny_image(tiny_guest_dir: Path) -> ImageFile:
    ref = ImageRef(id="tinyguest", name="tinyguest", disk_format="qcow2")
    return ImageFile(image=ref, path=str(tiny_guest_dir / "tinyguest.qcow2"), disk_format="qcow2")


@pytest.fixture
def qemu_dir() -> Iterator[str]:
    path = public_tmpdir("oc-hvkvm-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def qemu_host(qemu_dir: str) -> Host:
    """A host on the system libvirtd, TCG guests, instances in a scratch directory."""
    return Host(
        name="kvm-it1",
        driver="kvm",
        options={"uri": "qemu:///system", "virt_type": "qemu", "instances_dir": os.path.join(qemu_dir, "instances")},
    )
