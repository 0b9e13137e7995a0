"""Integration: the driver boots the tiny guest on a real libvirtd (TCG) and drives it.

Everything is checked from the outside, through the driver: the guest's console markers
(read with ``hv_get_console_output``), libvirt's view of the domain, and the files on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest
from kvm_testlib import make_instance, wait_console
from overcast.errors import Conflict, NotFound
from overcast.plugins import DriverCaller
from overcast.testing.contract import HypervisorContract
from overcast.types import (
    ConnectionInfo,
    Host,
    ImageFile,
    ImageRef,
    Instance,
    PowerState,
    VifDetails,
)

pytestmark = [pytest.mark.libvirt, pytest.mark.slow]


@pytest.fixture
def guest(kvm: DriverCaller, qemu_host: Host, tiny_image: ImageFile) -> Iterator[Instance]:
    """A tiny guest spawned by the driver and booted to READY."""
    kvm.init_host(host=qemu_host)
    inst = make_instance(image=tiny_image.image, display_name="it <guest>")
    t0 = time.monotonic()
    info = kvm.spawn(host=qemu_host, instance=inst, image=tiny_image, network_info=[], block_devices=[])
    spawned = time.monotonic() - t0
    assert info.state == PowerState.RUNNING
    try:
        ready = wait_console(kvm, qemu_host, inst, "TINYGUEST-READY", 120)
        print(f"\nspawn() returned in {spawned:.2f} s; READY {time.monotonic() - t0:.2f} s after spawn(): {ready}")
        yield inst
    finally:
        kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True)


def test_boot_power_and_reboot(kvm: DriverCaller, qemu_host: Host, guest: Instance) -> None:
    disk = wait_console(kvm, qemu_host, guest, "TINYGUEST-DISK vda")
    assert disk.split()[2] == str(1024**3), disk  # root disk grown to the flavor's 1 GiB

    kvm.pause(host=qemu_host, instance=guest)
    assert kvm.get_info(host=qemu_host, instance=guest).state == PowerState.PAUSED
    kvm.unpause(host=qemu_host, instance=guest)
    assert kvm.get_info(host=qemu_host, instance=guest).state == PowerState.RUNNING

    # soft reboot: ACPI power button, the guest powers itself off, the driver starts it again
    kvm.reboot(host=qemu_host, instance=guest, hard=False)
    wait_console(kvm, qemu_host, guest, "TINYGUEST-ACPI-POWEROFF", 60)
    wait_console(kvm, qemu_host, guest, "TINYGUEST-READY", 120, count=2)

    kvm.reboot(host=qemu_host, instance=guest, hard=True)
    wait_console(kvm, qemu_host, guest, "TINYGUEST-READY", 120, count=3)

    # clean power off: the guest sees the ACPI event and stops before the timeout
    t0 = time.monotonic()
    kvm.power_off(host=qemu_host, instance=guest, timeout=60, retry_interval=5)
    assert time.monotonic() - t0 < 55, "the guest should have honoured ACPI"
    assert kvm.get_info(host=qemu_host, instance=guest).state == PowerState.SHUTDOWN
    wait_console(kvm, qemu_host, guest, "TINYGUEST-ACPI-POWEROFF", 5, count=2)

    kvm.power_on(host=qemu_host, instance=guest)
    wait_console(kvm, qemu_host, guest, "TINYGUEST-READY", 120, count=4)

    kvm.suspend(host=qemu_host, instance=guest)
    assert kvm.get_info(host=qemu_host, instance=guest).state == PowerState.SUSPENDED
    kvm.resume(host=qemu_host, instance=guest)
    assert kvm.get_info(host=qemu_host, instance=guest).state == PowerState.RUNNING
    # the restored guest is alive: its hot-plug watcher reports a new disk
    vol = Path(qemu_host.options["instances_dir"]) / "alive.raw"
    vol.write_bytes(b"\0" * 8 * 1024 * 1024)
    info = ConnectionInfo("file", {"path": str(vol), "format": "raw"})
    kvm.attach_volume(host=qemu_host, instance=guest, connection_info=info, mountpoint="/dev/vdb")
    wait_console(kvm, qemu_host, guest, "TINYGUEST-DISK-ADDED vdb", 60)


def test_snapshot_is_consistent_and_bootable(kvm: DriverCaller, qemu_host: Host, guest: Instance) -> None:
    t0 = time.monotonic()
    result = kvm.snapshot(host=qemu_host, instance=guest, image_name="snap")
    print(f"\nsnapshot took {time.monotonic() - t0:.2f} s")
    try:
        assert kvm.get_info(host=qemu_host, instance=guest).state == PowerState.RUNNING  # resumed
        out = json.loads(
            subprocess.run(["qemu-img", "info", "--output=json", result.path], capture_output=True, check=True).stdout
        )
        assert out["format"] == "qcow2" and "backing-filename" not in out
        check = subprocess.run(["qemu-img", "check", result.path], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        # boot a second guest from the snapshot, as the core would after uploading it
        public = Path(qemu_host.options["instances_dir"]) / "snap-image.qcow2"
        shutil.move(result.path, public)
        os.chmod(public, 0o644)
        image = ImageFile(ImageRef(id="snap", name="snap", disk_format="qcow2"), str(public), "qcow2")
        clone = make_instance(image=image.image)
        kvm.spawn(host=qemu_host, instance=clone, image=image, network_info=[], block_devices=[])
        try:
            wait_console(kvm, qemu_host, clone, "TINYGUEST-READY", 120)
        finally:
            kvm.destroy(host=qemu_host, instance=clone, destroy_disks=True)
    finally:
        if os.path.exists(result.path):
            os.unlink(result.path)


def test_hotplug_file_volume(kvm: DriverCaller, qemu_host: Host, guest: Instance, qemu_dir: str) -> None:
    vol = os.path.join(qemu_dir, "vol1.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", vol, "64M"], check=True)
    info = ConnectionInfo("file", {"path": vol, "format": "qcow2", "volume_id": "vol-1234"})
    t0 = time.monotonic()
    kvm.attach_volume(host=qemu_host, instance=guest, connection_info=info, mountpoint="/dev/vdb")
    added = wait_console(kvm, qemu_host, guest, "TINYGUEST-DISK-ADDED", 60)
    print(f"\nattach -> DISK-ADDED in {time.monotonic() - t0:.2f} s: {added}")
    assert added.split()[1:] == ["vdb", str(64 * 1024**2), "serial=vol-1234"]
    conn = libvirt.open("qemu:///system")
    persistent = conn.lookupByName(guest.name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert vol in persistent  # survives a restart of the guest

    kvm.extend_volume(host=qemu_host, instance=guest, connection_info=info, new_size_gb=1)
    kvm.detach_volume(host=qemu_host, instance=guest, connection_info=info, mountpoint="/dev/vdb")
    wait_console(kvm, qemu_host, guest, "TINYGUEST-DISK-REMOVED vdb", 60)
    assert vol not in conn.lookupByName(guest.name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    with pytest.raises(NotFound):
        kvm.detach_volume(host=qemu_host, instance=guest, connection_info=info, mountpoint="/dev/vdb")


@pytest.mark.root
def test_hotplug_block_volume(kvm: DriverCaller, qemu_host: Host, guest: Instance, qemu_dir: str) -> None:
    backing = os.path.join(qemu_dir, "blockvol.img")
    with open(backing, "wb") as f:
        f.truncate(32 * 1024**2)
    loop = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device: {loop.stderr.strip()}")
    dev = loop.stdout.strip()
    try:
        info = ConnectionInfo("block", {"device_path": dev, "volume_id": "blk-1"})
        kvm.attach_volume(host=qemu_host, instance=guest, connection_info=info, mountpoint="/dev/vdc")
        added = wait_console(kvm, qemu_host, guest, "TINYGUEST-DISK-ADDED", 60)
        # Linux names disks in probe order (vdb here), whatever libvirt's target says
        name, size, serial = added.split()[1:]
        assert (size, serial) == (str(32 * 1024**2), "serial=blk-1")
        kvm.detach_volume(host=qemu_host, instance=guest, connection_info=info, mountpoint="/dev/vdc")
        wait_console(kvm, qemu_host, guest, f"TINYGUEST-DISK-REMOVED {name}", 60)
    finally:
        subprocess.run(["losetup", "-d", dev], check=False)


@pytest.mark.root
def test_bridge_vif_hotplug(kvm: DriverCaller, qemu_host: Host, guest: Instance) -> None:
    bridge = f"ocbr{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        tap = f"tap{uuid.uuid4().hex[:8]}"
        vif = VifDetails(
            vif_type="bridge",
            port_id="port-1",
            mac_address="52:54:00:12:34:56",
            details={"bridge": bridge, "devname": tap},
        )
        kvm.plug_vifs(host=qemu_host, instance=guest, network_info=[vif])
        wait_console(kvm, qemu_host, guest, "TINYGUEST-NIC-ADDED eth0", 60)
        master = json.loads(subprocess.run(["ip", "-j", "link", "show", tap], capture_output=True, check=True).stdout)
        assert master[0]["master"] == bridge
        kvm.plug_vifs(host=qemu_host, instance=guest, network_info=[vif])  # idempotent
        kvm.unplug_vifs(host=qemu_host, instance=guest, network_info=[vif])
        conn = libvirt.open("qemu:///system")
        assert "52:54:00:12:34:56" not in conn.lookupByName(guest.name).XMLDesc(0)
    finally:
        subprocess.run(["ip", "link", "del", bridge], check=False)


def test_destroy_removes_domain_and_disks(kvm: DriverCaller, qemu_host: Host, tiny_image: ImageFile) -> None:
    kvm.init_host(host=qemu_host)
    inst = make_instance(image=tiny_image.image)
    kvm.spawn(host=qemu_host, instance=inst, image=tiny_image, network_info=[], block_devices=[])
    inst_dir = Path(qemu_host.options["instances_dir"], inst.name)
    assert (inst_dir / "disk").exists()
    wait_console(kvm, qemu_host, inst, "TINYGUEST-BOOTED", 120)
    assert kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True) is True
    conn = libvirt.open("qemu:///system")
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName(inst.name)
    assert not inst_dir.exists()
    assert inst.name not in kvm.list_instances(host=qemu_host)
    # the shared base image is untouched and still readable
    assert subprocess.run(["qemu-img", "check", tiny_image.path], capture_output=True).returncode == 0


class TestContractOnQemu(HypervisorContract):
    """The core's hypervisor contract suite, booting the tiny guest on qemu:///system."""

    @pytest.fixture
    def driver(self, kvm: DriverCaller) -> DriverCaller:
        return kvm

    @pytest.fixture
    def target(self, qemu_host: Host) -> Host:
        return qemu_host

    @pytest.fixture
    def image_file(self, tiny_image: ImageFile) -> ImageFile:
        return tiny_image


def test_config_drive_runs_user_data(kvm: DriverCaller, qemu_host: Host, tiny_image: ImageFile) -> None:
    """The guest finds the config drive by its serial, reads the uuid from meta_data.json and
    runs the user-data script."""
    import base64
    import dataclasses

    kvm.init_host(host=qemu_host)
    script = '#!/bin/sh\necho "hello from $(hostname)"\n'
    inst = dataclasses.replace(
        make_instance(image=tiny_image.image), user_data=base64.b64encode(script.encode()).decode(), config_drive=True
    )
    kvm.spawn(host=qemu_host, instance=inst, image=tiny_image, network_info=[], block_devices=[])
    try:
        assert (
            wait_console(kvm, qemu_host, inst, "TINYGUEST-CONFIGDRIVE", 120)
            == f"TINYGUEST-CONFIGDRIVE uuid={inst.uuid}"
        )
        assert wait_console(kvm, qemu_host, inst, "TINYGUEST-USERDATA", 30) == "TINYGUEST-USERDATA hello from tinyguest"
        disk = wait_console(kvm, qemu_host, inst, "TINYGUEST-DISK vdb")
        assert disk.endswith("serial=config-2")
    finally:
        kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True)


def test_resize_in_place_revert_and_confirm(kvm: DriverCaller, qemu_host: Host, tiny_image: ImageFile) -> None:
    """A resize on the same host: the guest comes back with the new vCPUs, memory and root
    disk; a revert restores the old definition and disk; a confirm keeps the new one. The
    guest asked for a config drive without user data, and gets one each time."""
    import dataclasses

    from overcast.types import Flavor

    kvm.init_host(host=qemu_host)
    inst = dataclasses.replace(make_instance(image=tiny_image.image), config_drive=True)
    bigger = Flavor(id="f2", name="m1.bigger", vcpus=2, memory_mb=384, root_gb=2)
    resized = dataclasses.replace(inst, flavor=bigger)
    inst_dir = Path(qemu_host.options["instances_dir"], inst.name)
    conn = libvirt.open(qemu_host.options["uri"])

    def shape() -> tuple[int, int]:
        dom = conn.lookupByName(inst.name)
        return dom.maxMemory() // 1024, dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG)

    def resize() -> object:
        data = kvm.migrate_disk_and_power_off(host=qemu_host, instance=inst, dest=qemu_host, flavor=bigger)
        assert kvm.get_info(host=qemu_host, instance=inst).state == PowerState.SHUTDOWN
        assert (inst_dir / "disk.resize-orig").exists()
        info = kvm.finish_migration(
            host=qemu_host,
            instance=resized,
            migration=data,
            image=None,
            network_info=[],
            block_devices=[],
            power_on=True,
        )
        assert info.state == PowerState.RUNNING and shape() == (384, 2)
        return data

    kvm.spawn(host=qemu_host, instance=inst, image=tiny_image, network_info=[], block_devices=[])
    try:
        assert (
            wait_console(kvm, qemu_host, inst, "TINYGUEST-CONFIGDRIVE", 120)
            == f"TINYGUEST-CONFIGDRIVE uuid={inst.uuid}"
        )
        wait_console(kvm, qemu_host, inst, "TINYGUEST-READY", 120)
        assert shape() == (256, 1)

        t0 = time.monotonic()
        data = resize()
        wait_console(kvm, qemu_host, inst, f"TINYGUEST-DISK vda {2 * 1024**3}", 120)  # grown to the new flavor
        wait_console(kvm, qemu_host, inst, "TINYGUEST-READY", 120, count=2)
        print(f"\nresize on the same host: READY again after {time.monotonic() - t0:.2f} s")

        info = kvm.finish_revert_migration(
            host=qemu_host, instance=inst, migration=data, network_info=[], block_devices=[], power_on=True
        )
        assert info.state == PowerState.RUNNING and shape() == (256, 1)
        wait_console(kvm, qemu_host, inst, f"TINYGUEST-DISK vda {1024**3}", 120, count=2)  # the old disk
        wait_console(kvm, qemu_host, inst, "TINYGUEST-READY", 120, count=3)
        assert not {"disk.resize-orig", "domain.resize-orig.xml"} & {p.name for p in inst_dir.iterdir()}

        data = resize()
        assert kvm.confirm_migration(host=qemu_host, instance=inst, migration=data) is True
        assert kvm.get_info(host=qemu_host, instance=inst).state == PowerState.RUNNING and shape() == (384, 2)
        assert not {"disk.resize-orig", "domain.resize-orig.xml"} & {p.name for p in inst_dir.iterdir()}
        wait_console(kvm, qemu_host, inst, "TINYGUEST-CONFIGDRIVE", 120, count=4)
    finally:
        kvm.destroy(host=qemu_host, instance=inst, destroy_disks=True)


@pytest.mark.root
def test_interface_hot_plug_and_unplug(kvm: DriverCaller, qemu_host: Host, guest: Instance) -> None:
    """``hv_attach_interface`` puts the NIC in the running guest and in its persistent
    definition; ``hv_detach_interface`` takes it out of both once the guest released it."""
    bridge = f"ocbr{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        tap = f"tap{uuid.uuid4().hex[:8]}"
        mac = "52:54:00:12:34:57"
        vif = VifDetails(
            vif_type="bridge", port_id="port-2", mac_address=mac, details={"bridge": bridge, "devname": tap}
        )
        assert kvm.attach_interface(host=qemu_host, instance=guest, vif=vif) is True
        wait_console(kvm, qemu_host, guest, "TINYGUEST-NIC-ADDED eth0", 60)
        dom = libvirt.open("qemu:///system").lookupByName(guest.name)
        assert mac in dom.XMLDesc(0) and mac in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        master = json.loads(subprocess.run(["ip", "-j", "link", "show", tap], capture_output=True, check=True).stdout)
        assert master[0]["master"] == bridge
        with pytest.raises(Conflict):
            kvm.attach_interface(host=qemu_host, instance=guest, vif=vif)
        assert kvm.detach_interface(host=qemu_host, instance=guest, vif=vif) is True
        wait_console(kvm, qemu_host, guest, "TINYGUEST-NIC-REMOVED eth0", 60)
        assert mac not in dom.XMLDesc(0) and mac not in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        assert kvm.detach_interface(host=qemu_host, instance=guest, vif=vif) is True  # already gone
    finally:
        subprocess.run(["ip", "link", "del", bridge], check=False)
