"""The driver against libvirt's in-process ``test:///default`` driver.

The test driver keeps domains in memory and runs no QEMU, so these tests check the driver's
own logic: XML it defines, state mapping, state checks, disks it creates and removes, error
translation. What the test driver cannot do (device hot-plug, migration) is covered by the
integration tests on a real daemon.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import os
import subprocess
from pathlib import Path

import libvirt
import pytest
from kvm_testlib import make_instance, needs_qemu_img
from overcast.config import validate_driver_options
from overcast.errors import (
    ConfigError,
    Conflict,
    DriverError,
    NotFound,
    UnsupportedOperation,
)
from overcast.plugins import DriverCaller, PluginManager
from overcast.testing.contract import HypervisorContract
from overcast.types import (
    ConnectionInfo,
    DriverKind,
    Flavor,
    Host,
    ImageFile,
    ImageRef,
    PowerState,
)
from overcast_hv_kvm import domxml
from overcast_hv_kvm.options import OPTIONS, KvmHostConfig

pytestmark = needs_qemu_img


def domain_xml(host: Host, name: str) -> str:
    return libvirt.open(host.options["uri"]).lookupByName(name).XMLDesc(0)


def test_registered_with_its_options(kvm_pm: PluginManager) -> None:
    info = kvm_pm.registry.get("hypervisor", "kvm")
    assert info.kind == DriverKind.HYPERVISOR
    names = {o.name for o in kvm_pm.config_options() if o.driver == "kvm"}
    assert {"uri", "virt_type", "instances_dir", "migration_uri"} <= names


def test_config_defaults_and_validation(tmp_path: Path) -> None:
    opts = validate_driver_options(DriverKind.HYPERVISOR, "kvm", {}, OPTIONS, "[hosts.n1]")
    cfg = KvmHostConfig.from_host(Host("n1", "kvm", opts, state_dir=str(tmp_path / "n1")))
    assert (cfg.uri, cfg.virt_type, cfg.migration_uri) == ("qemu:///system", "qemu", "qemu:///system")
    assert cfg.instances_dir == str(tmp_path / "n1" / "instances")
    with pytest.raises(ConfigError, match="virt_type"):
        validate_driver_options(DriverKind.HYPERVISOR, "kvm", {"virt_type": "xen"}, OPTIONS, "[hosts.n1]")
    with pytest.raises(ValueError):
        cfg.instance_dir("../etc")


def test_capabilities(kvm: DriverCaller, unit_host: Host) -> None:
    caps = kvm.get_capabilities(host=unit_host)
    assert caps.hypervisor_type == "qemu"
    assert caps.image_types == {"qcow2", "raw"}
    assert caps.volume_connection_types == {"file", "block"}
    assert caps.vif_types == {"bridge"}
    assert caps.live_migration


def test_resources(kvm: DriverCaller, unit_host: Host) -> None:
    kvm.init_host(host=unit_host)
    res = kvm.get_available_resource(host=unit_host)
    assert res.vcpus == 16 and res.memory_mb == 3072  # the test driver's fake node
    assert res.local_gb > 0


def test_resources_skip_a_domain_destroyed_while_they_are_read(
    kvm: DriverCaller, unit_host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Servers come and go while the heartbeat reads: a domain listed and gone before its
    ``info()`` is not counted, and the report does not fail (the host would go down)."""

    class Gone(libvirt.libvirtError):
        def get_error_code(self) -> int:
            return libvirt.VIR_ERR_NO_DOMAIN

    class Vanished:
        def info(self) -> list[int]:
            raise Gone("Domain not found: no domain with matching uuid")

    listed = libvirt.virConnect.listAllDomains
    monkeypatch.setattr(libvirt.virConnect, "listAllDomains", lambda self, flags=0: [*listed(self, flags), Vanished()])
    kvm.init_host(host=unit_host)
    res = kvm.get_available_resource(host=unit_host)
    assert res.vcpus == 16 and res.running_vms == len(listed(libvirt.open(unit_host.options["uri"]), 1))


def test_spawn_makes_an_overlay_on_the_base_image(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    inst = make_instance(Flavor(id="f", name="f", vcpus=2, memory_mb=512, root_gb=2), small_image.image, "web <1>")
    info = kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        assert info.state == PowerState.RUNNING and info.num_cpu == 2 and info.max_mem_kb == 512 * 1024
        disk = Path(unit_host.options["instances_dir"], inst.name, "disk")
        out = json.loads(
            subprocess.run(["qemu-img", "info", "--output=json", str(disk)], capture_output=True, check=True).stdout
        )
        assert out["format"] == "qcow2"
        assert out["backing-filename"] == small_image.path and out["backing-filename-format"] == "qcow2"
        assert out["virtual-size"] == 2 * 1024**3  # grown to the flavor's root disk
        xml = domain_xml(unit_host, inst.name)
        assert domxml.metadata(xml)["display_name"] == "web <1>"
        assert domxml.console_path(xml) == str(disk.parent / "console.log")
        usb = [c.get("model") for c in ET.fromstring(xml).iter("controller") if c.get("type") == "usb"]
        assert usb == ["none"]  # headless: no USB controller for the guest to probe
        assert inst.name in kvm.list_instances(host=unit_host)
        with pytest.raises(Conflict):
            kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)
    assert not disk.parent.exists()
    assert inst.name not in kvm.list_instances(host=unit_host)


def test_list_instances_only_lists_ours(kvm: DriverCaller, unit_host: Host) -> None:
    # test:///default comes with a domain named "test" that Overcast did not make
    assert "test" in [d.name() for d in libvirt.open("test:///default").listAllDomains(0)]
    assert "test" not in kvm.list_instances(host=unit_host)


def test_list_instances_is_per_instances_dir(
    kvm: DriverCaller, unit_host: Host, small_image: ImageFile, tmp_path: Path
) -> None:
    # two Overcast hosts (or two clouds) on one daemon: each lists only its own guests
    other = Host("unit2", "kvm", {"uri": "test:///default", "instances_dir": str(tmp_path / "other")})
    mine, theirs = make_instance(image=small_image.image), make_instance(image=small_image.image)
    kvm.spawn(host=unit_host, instance=mine, image=small_image, network_info=[], block_devices=[])
    kvm.spawn(host=other, instance=theirs, image=small_image, network_info=[], block_devices=[])
    try:
        assert mine.name in kvm.list_instances(host=unit_host)
        assert theirs.name not in kvm.list_instances(host=unit_host)
        assert theirs.name in kvm.list_instances(host=other)
    finally:
        kvm.destroy(host=unit_host, instance=mine, destroy_disks=True)
        kvm.destroy(host=other, instance=theirs, destroy_disks=True)


def test_flavor_smaller_than_image_is_refused(kvm: DriverCaller, unit_host: Host, tmp_path: Path) -> None:
    big = tmp_path / "big.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(big), "3G"], check=True)
    image = ImageFile(ImageRef(id="big", name="big", disk_format="qcow2"), str(big), "qcow2")
    inst = make_instance(Flavor(id="f", name="small", vcpus=1, memory_mb=128, root_gb=1), image.image)
    with pytest.raises(DriverError, match="smaller than image"):
        kvm.spawn(host=unit_host, instance=inst, image=image, network_info=[], block_devices=[])
    assert not Path(unit_host.options["instances_dir"], inst.name).exists()  # cleaned up
    with pytest.raises(NotFound):
        kvm.get_info(host=unit_host, instance=inst)


def test_unbootable_format_is_refused(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    vmdk = ImageFile(ImageRef(id="v", name="v", disk_format="vmdk"), small_image.path, "vmdk")
    with pytest.raises(UnsupportedOperation, match="vmdk"):
        kvm.spawn(host=unit_host, instance=make_instance(), image=vmdk, network_info=[], block_devices=[])


def test_power_state_rules(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    inst = make_instance(image=small_image.image)
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        with pytest.raises(Conflict, match="unpause"):
            kvm.unpause(host=unit_host, instance=inst)
        with pytest.raises(Conflict, match="not suspended"):
            kvm.resume(host=unit_host, instance=inst)
        with pytest.raises(Conflict, match="power on"):
            kvm.power_on(host=unit_host, instance=inst)
        kvm.suspend(host=unit_host, instance=inst)
        assert kvm.get_info(host=unit_host, instance=inst).state == PowerState.SUSPENDED
        with pytest.raises(Conflict, match="suspended"):
            kvm.pause(host=unit_host, instance=inst)
        kvm.resume(host=unit_host, instance=inst)
        assert kvm.get_info(host=unit_host, instance=inst).state == PowerState.RUNNING
        kvm.power_off(host=unit_host, instance=inst, timeout=0, retry_interval=1)
        assert kvm.power_off(host=unit_host, instance=inst, timeout=0, retry_interval=1) is True  # idempotent
        with pytest.raises(Conflict, match="soft-reboot"):
            kvm.reboot(host=unit_host, instance=inst, hard=False)
        kvm.reboot(host=unit_host, instance=inst, hard=True)  # a hard reboot starts a stopped guest
        assert kvm.get_info(host=unit_host, instance=inst).state == PowerState.RUNNING
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_console_output_tail(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    inst = make_instance(image=small_image.image)
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        assert kvm.get_console_output(host=unit_host, instance=inst, length=None) == ""
        # the test driver runs no QEMU: write what a guest would have printed
        log = Path(unit_host.options["instances_dir"], inst.name, "console.log")
        log.write_bytes(b"one\r\ntwo\r\n\x00three\n")
        assert kvm.get_console_output(host=unit_host, instance=inst, length=None) == "one\ntwo\nthree\n"
        assert kvm.get_console_output(host=unit_host, instance=inst, length=2) == "two\nthree\n"
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_snapshot_is_standalone(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    inst = make_instance(image=small_image.image)
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        result = kvm.snapshot(host=unit_host, instance=inst, image_name="snap1")
        out = json.loads(
            subprocess.run(["qemu-img", "info", "--output=json", result.path], capture_output=True, check=True).stdout
        )
        assert result.disk_format == "qcow2" == out["format"]
        assert "backing-filename" not in out
        assert result.size == os.path.getsize(result.path)
        assert kvm.get_info(host=unit_host, instance=inst).state == PowerState.RUNNING  # resumed
        os.unlink(result.path)
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_hotplug_unsupported_by_the_backend_is_an_overcast_error(
    kvm: DriverCaller, unit_host: Host, small_image: ImageFile, tmp_path: Path
) -> None:
    inst = make_instance(image=small_image.image)
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        vol = tmp_path / "vol.raw"
        vol.write_bytes(b"\0" * 1024 * 1024)
        with pytest.raises(UnsupportedOperation, match="attaching"):  # test:///default has no attach
            kvm.attach_volume(
                host=unit_host,
                instance=inst,
                connection_info=ConnectionInfo("file", {"path": str(vol)}),
                mountpoint="/dev/vdb",
            )
        with pytest.raises(NotFound):
            kvm.detach_volume(
                host=unit_host,
                instance=inst,
                connection_info=ConnectionInfo("file", {"path": str(vol)}),
                mountpoint="/dev/vdb",
            )
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_unreachable_daemon_is_backend_unavailable(kvm: DriverCaller, tmp_path: Path) -> None:
    from overcast.errors import BackendUnavailable

    host = Host("gone", "kvm", {"uri": f"qemu+unix:///system?socket={tmp_path}/nothing.sock"})
    with pytest.raises(BackendUnavailable, match="cannot connect"):
        kvm.get_available_resource(host=host)


def test_volume_connector(kvm: DriverCaller, unit_host: Host) -> None:
    connector = kvm.get_volume_connector(host=unit_host)
    assert connector.host == "unit1"
    assert connector.connection_types == {"file", "block"}


class TestContractOnTestDriver(HypervisorContract):
    """The core's hypervisor contract suite, on libvirt's test driver (blank root disks)."""

    @pytest.fixture
    def driver(self, kvm: DriverCaller) -> DriverCaller:
        return kvm

    @pytest.fixture
    def target(self, unit_host: Host) -> Host:
        return unit_host


def _mtools(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True).stdout


def test_config_drive_carries_novas_tree(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    import base64
    import dataclasses

    script = b"#!/bin/sh\necho hello \xc3\xa9\n"
    inst = dataclasses.replace(
        make_instance(image=small_image.image, display_name="Web Server_1"),
        user_data=base64.b64encode(script).decode(),
        key_data="ssh-ed25519 AAAAC3Nza test@x",
        metadata={"role": "db"},
        config_drive=True,
    )
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    drive = Path(unit_host.options["instances_dir"], inst.name, "disk.config")
    try:
        disks = {d.target_dev: d for d in domxml.disks(domain_xml(unit_host, inst.name))}
        assert disks["vdz"].path == str(drive) and disks["vdz"].fmt == "raw"
        assert "<serial>config-2</serial>" in disks["vdz"].xml and "<readonly" in disks["vdz"].xml
        img = str(drive)
        assert "config-2" in _mtools("mlabel", "-i", img, "-s", "::").lower()
        listing = _mtools("mdir", "-i", img, "-b", "::/openstack/latest")
        assert sorted(os.path.basename(p) for p in listing.split()) == [
            "meta_data.json",
            "network_data.json",
            "user_data",
            "vendor_data.json",
            "vendor_data2.json",
        ]
        assert "2012-08-10" in _mtools("mdir", "-i", img, "-b", "::/openstack")
        ec2 = json.loads(_mtools("mtype", "-i", img, "::/ec2/latest/meta-data.json"))
        assert ec2["instance-id"] == "i-" + inst.uuid.replace("-", "")[:8]
        assert ec2["public-keys"]["0"]["openssh-key"] == inst.key_data + "\n"
        meta = json.loads(_mtools("mtype", "-i", img, "::/openstack/latest/meta_data.json"))
        assert meta["uuid"] == inst.uuid and meta["name"] == "Web Server_1"
        assert meta["hostname"] == "web-server-1" and meta["availability_zone"] == "nova"
        assert meta["meta"] == {"role": "db"} and meta["public_keys"] == {"default": inst.key_data}
        raw = subprocess.run(
            ["mtype", "-i", img, "::/openstack/latest/user_data"], capture_output=True, check=True
        ).stdout
        assert raw == script
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)
    assert not drive.exists()


def test_no_config_drive_unless_the_core_says(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    """User data alone gets no drive here: the core decides (``config_drive``), so that
    ``server show`` tells the truth."""
    import base64
    import dataclasses

    inst = dataclasses.replace(make_instance(image=small_image.image), user_data=base64.b64encode(b"x").decode())
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        assert [d.target_dev for d in domxml.disks(domain_xml(unit_host, inst.name))] == ["vda"]
        assert not Path(unit_host.options["instances_dir"], inst.name, "disk.config").exists()
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_config_drive_flag_alone_gets_a_config_drive(
    kvm: DriverCaller, unit_host: Host, small_image: ImageFile
) -> None:
    import dataclasses

    inst = dataclasses.replace(make_instance(image=small_image.image), config_drive=True)
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    drive = Path(unit_host.options["instances_dir"], inst.name, "disk.config")
    try:
        assert [d.target_dev for d in domxml.disks(domain_xml(unit_host, inst.name))] == ["vda", "vdz"]
        meta = json.loads(_mtools("mtype", "-i", str(drive), "::/openstack/latest/meta_data.json"))
        assert meta["uuid"] == inst.uuid
        names = _mtools("mdir", "-i", str(drive), "-b", "::/openstack/latest").split()
        assert not any(n.endswith("/user_data") for n in names)  # Nova writes none without user data
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_resize_on_the_same_host(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    """migrate_disk_and_power_off to the host itself keeps the disk and definition; finish
    applies the new flavor; revert puts the old back; confirm drops the copies."""
    import dataclasses

    from overcast.errors import Conflict
    from overcast.types import Flavor
    from overcast_hv_kvm import images

    inst = make_instance(
        image=small_image.image, flavor=Flavor(id="f1", name="m1.small", vcpus=1, memory_mb=256, root_gb=2)
    )
    bigger = Flavor(id="f2", name="m1.bigger", vcpus=2, memory_mb=512, root_gb=3)
    shrunk = Flavor(id="f3", name="m1.shrunk", vcpus=2, memory_mb=512, root_gb=1)
    inst_dir = Path(unit_host.options["instances_dir"], inst.name)
    disk = str(inst_dir / "disk")

    def shape() -> tuple[str, str, int]:
        xml = domain_xml(unit_host, inst.name)
        memory = xml.split("<memory unit='KiB'>")[1].split("<")[0]
        vcpus = xml.split("<vcpu placement='static'>")[1].split("<")[0]
        return memory, vcpus, images.virtual_size(disk) // 1024**3

    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        with pytest.raises(Conflict, match="Unable to resize disk down"):
            kvm.migrate_disk_and_power_off(host=unit_host, instance=inst, dest=unit_host, flavor=shrunk)
        assert kvm.get_info(host=unit_host, instance=inst).state == PowerState.RUNNING  # refused before stopping
        assert shape() == ("262144", "1", 2)
        for outcome in ("revert", "confirm"):
            data = kvm.migrate_disk_and_power_off(host=unit_host, instance=inst, dest=unit_host, flavor=bigger)
            assert data.data["kind"] == "same-host" and (inst_dir / "disk.resize-orig").exists()
            info = kvm.finish_migration(
                host=unit_host,
                instance=dataclasses.replace(inst, flavor=bigger),
                migration=data,
                image=None,
                network_info=[],
                block_devices=[],
                power_on=True,
            )
            assert info.state == PowerState.RUNNING and shape() == ("524288", "2", 3)
            if outcome == "revert":
                info = kvm.finish_revert_migration(
                    host=unit_host, instance=inst, migration=data, network_info=[], block_devices=[], power_on=False
                )
                assert info.state == PowerState.SHUTDOWN and shape() == ("262144", "1", 2)
                kvm.power_on(host=unit_host, instance=inst)
            else:
                assert kvm.confirm_migration(host=unit_host, instance=inst, migration=data) is True
                assert shape() == ("524288", "2", 3)
            assert not {"disk.resize-orig", "domain.resize-orig.xml"} & {p.name for p in inst_dir.iterdir()}
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_base_virtual_size_matches_qemu_img(tmp_path: Path) -> None:
    from overcast_hv_kvm import images

    qcow = tmp_path / "b.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(qcow), "3G"], check=True)
    raw = tmp_path / "b.raw"
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(raw), "5M"], check=True)
    for path, fmt, size in ((qcow, "qcow2", 3 * 1024**3), (raw, "raw", 5 * 1024**2)):
        assert images.base_virtual_size(str(path), fmt) == images.virtual_size(str(path)) == size
    # not a qcow2 after all: qemu-img decides, as before
    assert images.base_virtual_size(str(raw), "qcow2") == 5 * 1024**2


def test_diagnostics_read_libvirts_counters(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    inst = make_instance(image=small_image.image)
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        diag = kvm.get_diagnostics(host=unit_host, instance=inst)
        info = kvm.get_info(host=unit_host, instance=inst)
        assert (diag.driver, diag.hypervisor, diag.state) == ("libvirt", "qemu", PowerState.RUNNING)
        assert diag.max_mem_kb == info.max_mem_kb and diag.mem_kb == info.mem_kb
        assert len(diag.cpus) == info.num_cpu and all(c.time_ns is not None for c in diag.cpus)
        assert [d.device for d in diag.disks] == ["vda"] and diag.disks[0].read_requests is not None
        assert diag.config_drive is False and all(isinstance(v, int) for v in diag.memory_stats.values())
        kvm.power_off(host=unit_host, instance=inst, timeout=0, retry_interval=1)
        with pytest.raises(Conflict, match="shutdown"):
            kvm.get_diagnostics(host=unit_host, instance=inst)
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)


def test_host_uptime_is_the_uptime_commands(kvm: DriverCaller, unit_host: Host) -> None:
    assert " up " in kvm.get_host_uptime(host=unit_host)
    remote = Host(
        unit_host.name,
        "kvm",
        {**unit_host.options, "uri": "qemu+ssh://elsewhere/system"},
        state_dir=unit_host.state_dir,
    )
    with pytest.raises(UnsupportedOperation):
        kvm.get_host_uptime(host=remote)


def test_a_paused_guest_is_powered_off_hard(kvm: DriverCaller, unit_host: Host, small_image: ImageFile) -> None:
    """Shelving a paused server powers it off: no ACPI shutdown (libvirt refuses it), a hard stop."""
    inst = make_instance(image=small_image.image)
    kvm.spawn(host=unit_host, instance=inst, image=small_image, network_info=[], block_devices=[])
    try:
        kvm.pause(host=unit_host, instance=inst)
        assert kvm.power_off(host=unit_host, instance=inst, timeout=60, retry_interval=1) is True
        assert kvm.get_info(host=unit_host, instance=inst).state == PowerState.SHUTDOWN
    finally:
        kvm.destroy(host=unit_host, instance=inst, destroy_disks=True)
