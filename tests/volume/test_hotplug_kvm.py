"""A file volume hot-plugged into the running tiny guest over the attach handshake, at the
driver level: ``hv_get_volume_connector`` (kvm) -> ``vol_initialize_connection`` (fs) ->
``hv_attach_volume`` (kvm); the guest prints TINYGUEST-DISK-ADDED, and -REMOVED after
``hv_detach_volume``. (The same calls the compute service makes for ``server add volume``.)"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.plugins import DriverCaller, PluginManager
from overcast.types import Backend, DriverKind, Flavor, Host, ImageFile, ImageRef, Instance, VolumeRef

pytestmark = [pytest.mark.libvirt, pytest.mark.slow]

hv_kvm = pytest.importorskip("overcast_hv_kvm.plugin")
storage_fs = pytest.importorskip("overcast_storage_fs.plugin")


@pytest.fixture
def drivers() -> tuple[DriverCaller, DriverCaller]:
    pm = PluginManager()
    pm.register_plugin(hv_kvm, name="hv_kvm")
    pm.register_plugin(storage_fs, name="storage_fs")
    return pm.driver("hypervisor", "kvm"), pm.driver("volume", "fs")


@pytest.fixture
def public_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oc-volhp-"))
    os.chmod(path, 0o755)  # QEMU runs as libvirt-qemu
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_console(kvm: DriverCaller, host: Host, inst: Instance, marker: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = kvm.get_console_output(host=host, instance=inst, length=None)
        if marker in out:
            return out
        assert time.monotonic() < deadline, f"no {marker} on the console:\n{out[-2000:]}"
        time.sleep(0.5)


def test_file_volume_hotplug_into_running_tiny_guest(
    drivers: tuple[DriverCaller, DriverCaller], public_dir: Path
) -> None:
    kvm, fs = drivers
    guest = Path(os.environ.get("OVERCAST_GUEST_DIR") or "/var/lib/overcast/tinyguest")
    if not (guest / "tinyguest.qcow2").exists():
        pytest.skip(f"libvirt: no tiny guest in {guest} (run scripts/build-tiny-guest.sh)")
    host = Host(
        name="oc-volhp",
        driver="kvm",
        options={"uri": "qemu:///system", "virt_type": "qemu", "instances_dir": str(public_dir / "instances")},
    )
    backend = Backend(
        DriverKind.VOLUME, "files", "fs", {"path": str(public_dir / "vols"), "format": "qcow2", "full_copy": True}
    )
    fs.init_backend(backend=backend)
    vid = str(uuid.uuid4())
    inst_id = str(uuid.uuid4())
    inst = Instance(
        uuid=inst_id,
        name=f"oc-{inst_id}",
        display_name="hotplug",
        project_id="p",
        flavor=Flavor(id="t", name="t", vcpus=1, memory_mb=256, root_gb=1),
    )
    image = ImageFile(
        ImageRef(id="tinyguest", name="tinyguest", disk_format="qcow2"), str(guest / "tinyguest.qcow2"), "qcow2"
    )
    kvm.spawn(host=host, instance=inst, image=image, network_info=[], block_devices=[])
    try:
        wait_console(kvm, host, inst, "TINYGUEST-READY")
        loc = fs.create(backend=backend, volume=VolumeRef(vid, "hp", 1))
        vol = VolumeRef(vid, "hp", 1, location=loc.location)
        connector = kvm.get_volume_connector(host=host)
        info = fs.initialize_connection(backend=backend, volume=vol, connector=connector)
        assert info.driver_volume_type == "file"
        kvm.attach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/vdb")
        wait_console(kvm, host, inst, "TINYGUEST-DISK-ADDED")
        kvm.detach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/vdb")
        wait_console(kvm, host, inst, "TINYGUEST-DISK-REMOVED")
        fs.terminate_connection(backend=backend, volume=vol, connector=connector)
        fs.delete(backend=backend, volume=vol)
    finally:
        kvm.destroy(host=host, instance=inst, destroy_disks=True)
