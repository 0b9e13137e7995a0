"""The ``hyperv`` driver end to end: real pywinrm (NTLM + encryption) against simulated hosts."""

from __future__ import annotations

import dataclasses

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

from overcast.errors import BackendUnavailable, Conflict, NotFound, UnsupportedOperation
from overcast.plugins import load_plugin_manager
from overcast.types import ConnectionInfo, DriverKind, Flavor, ImageFile, ImageRef, Instance, PowerState, VifDetails


pytestmark = pytest.mark.usefixtures("qemu_img")


def new_instance(display_name="demo", memory_mb=256, vcpus=1, root_gb=1) -> Instance:
    u = str(uuid.uuid4())
    return Instance(
        uuid=u,
        name="oc-" + u,
        display_name=display_name,
        project_id="p1",
        flavor=Flavor(id="f", name="tiny", vcpus=vcpus, memory_mb=memory_mb, root_gb=root_gb),
    )


def raw_of(path, n):
    """The first n bytes of a VHD/VHDX's virtual disk (read back with qemu-img)."""
    out = path + ".check.raw"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "raw", path, out], check=True)
    try:
        with open(out, "rb") as f:
            return f.read(n)
    finally:
        os.unlink(out)


@pytest.fixture
def vhd_image(hv_sim, make_image, tmp_path):
    path = make_image(hv_sim, tmp_path / "guest.vhd", fmt="vhd", marker=b"TINYGUEST-VHD")
    return ImageFile(ImageRef(id="img-vhd", name="guest", disk_format="vhd"), path, "vhd")


def test_entry_point_is_discovered():
    pm = load_plugin_manager()
    rec = pm.records["hv_hyperv"]
    assert rec.status == "ok", rec.error
    assert (DriverKind.HYPERVISOR, "hyperv") in rec.drivers
    opts = {o.name: o for o in pm.config_options() if o.driver == "hyperv"}
    assert opts["password"].secret and opts["transport"].default == "ntlm"


def test_spawn_converts_vhd_image_and_reports(hv_driver, hv_sim, hv_host, vhd_image):
    host = hv_host(hv_sim, "hv1")
    inst = new_instance(memory_mb=512, vcpus=2)
    info = hv_driver.spawn(host=host, instance=inst, image=vhd_image, network_info=[], block_devices=[])
    assert info.state == PowerState.RUNNING and info.num_cpu == 2 and info.max_mem_kb == 512 * 1024
    h = hv_sim.host("hv1")
    vm = next(v for v in h.vms if v.name == inst.name)
    assert vm.disks[0].path.endswith("\\%s.vhdx" % inst.name) and vm.generation == 2
    local = h.local(vm.disks[0].path)
    assert raw_of(local, 13) == b"TINYGUEST-VHD"
    size = int(
        subprocess.run(["qemu-img", "info", "--output=json", local], capture_output=True, text=True, check=True)
        .stdout.split('"virtual-size": ')[1]
        .split(",")[0]
    )
    assert size == 1 << 30  # grown to the flavor's root_gb
    assert inst.name in hv_driver.list_instances(host=host)
    res = hv_driver.get_available_resource(host=host)
    assert res.vcpus == 8 and res.vcpus_used == 2 and res.running_vms == 1 and res.memory_mb_used == 512
    assert res.hypervisor_hostname == "hv1"
    hv_driver.destroy(host=host, instance=inst, destroy_disks=True)
    assert not os.path.exists(local) and h.vms == []


def test_snapshot_exports_a_standalone_vhdx(hv_driver, hv_sim, hv_host, vhd_image):
    host = hv_host(hv_sim, "hv1")
    inst = new_instance()
    hv_driver.spawn(host=host, instance=inst, image=vhd_image, network_info=[], block_devices=[])
    result = hv_driver.snapshot(host=host, instance=inst, image_name="snap")
    assert result.disk_format == "vhdx" and result.path.startswith(hv_sim.share_dir)
    assert raw_of(result.path, 13) == b"TINYGUEST-VHD"
    vm = next(v for v in hv_sim.host("hv1").vms if v.name == inst.name)
    assert vm.checkpoints == [] and vm.disks[0].path.endswith(".vhdx")  # merged back
    assert hv_driver.get_info(host=host, instance=inst).state == PowerState.RUNNING
    os.unlink(result.path)


def test_live_and_cold_migration_between_hosts(hv_driver, hv_sim, hv_host, vhd_image):
    a, b = hv_host(hv_sim, "hv1"), hv_host(hv_sim, "hv2")
    inst = new_instance()
    hv_driver.spawn(host=a, instance=inst, image=vhd_image, network_info=[], block_devices=[])
    data = hv_driver.check_can_live_migrate_destination(host=b, instance=inst, source=a)
    data = hv_driver.pre_live_migration(host=b, instance=inst, migration=data, network_info=[], block_devices=[])
    assert hv_driver.live_migration(host=a, instance=inst, dest=b, migration=data)
    assert hv_driver.post_live_migration(host=a, instance=inst, migration=data)
    assert inst.name in hv_driver.list_instances(host=b) and inst.name not in hv_driver.list_instances(host=a)
    assert hv_driver.get_info(host=b, instance=inst).state == PowerState.RUNNING
    vm = hv_sim.host("hv2").vms[0]
    assert os.path.exists(hv_sim.host("hv2").local(vm.disks[0].path))  # storage moved with it
    with pytest.raises(NotFound):
        hv_driver.get_info(host=a, instance=inst)
    # cold: migrate + revert (the core destroys the destination's copy, powers the source on) ...
    bigger = dataclasses.replace(inst.flavor, id="big", name="big", vcpus=inst.flavor.vcpus + 1)
    with pytest.raises(UnsupportedOperation, match="cannot resize"):
        hv_driver.migrate_disk_and_power_off(host=b, instance=inst, dest=a, flavor=bigger)
    assert hv_driver.get_info(host=b, instance=inst).state == PowerState.RUNNING
    mig = hv_driver.migrate_disk_and_power_off(host=b, instance=inst, dest=a, flavor=inst.flavor)
    assert hv_driver.get_info(host=b, instance=inst).state == PowerState.SHUTDOWN
    info = hv_driver.finish_migration(
        host=a, instance=inst, migration=mig, image=None, network_info=[], block_devices=[], power_on=True
    )
    assert info.state == PowerState.RUNNING
    hv_driver.destroy(host=a, instance=inst, destroy_disks=True)
    hv_driver.finish_revert_migration(
        host=b, instance=inst, migration=mig, network_info=[], block_devices=[], power_on=True
    )
    assert hv_driver.get_info(host=b, instance=inst).state == PowerState.RUNNING
    # ... and migrate + confirm: only the destination's VM remains, with the guest's disk
    mig = hv_driver.migrate_disk_and_power_off(host=b, instance=inst, dest=a, flavor=inst.flavor)
    info = hv_driver.finish_migration(
        host=a, instance=inst, migration=mig, image=None, network_info=[], block_devices=[], power_on=True
    )
    assert info.state == PowerState.RUNNING
    assert hv_driver.confirm_migration(host=b, instance=inst, migration=mig)
    assert hv_sim.host("hv2").vms == [] and [v.name for v in hv_sim.host("hv1").vms] == [inst.name]
    vm = hv_sim.host("hv1").vms[0]
    assert raw_of(hv_sim.host("hv1").local(vm.disks[0].path), 13) == b"TINYGUEST-VHD"
    assert os.listdir(os.path.join(hv_sim.share_dir, "migrations")) == []
    with pytest.raises(Conflict, match="same Hyper-V host"):
        hv_driver.check_can_live_migrate_destination(host=a, instance=inst, source=a)


def test_power_ops_and_fallbacks(hv_driver, hv_sim, hv_host):
    host = hv_host(hv_sim, "hv1")
    inst = new_instance(root_gb=0)
    hv_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    next(v for v in hv_sim.host("hv1").vms if v.name == inst.name).integration_shutdown = False
    assert hv_driver.reboot(host=host, instance=inst, hard=False)  # no IC: falls back to a reset
    assert hv_driver.power_off(host=host, instance=inst, timeout=30, retry_interval=1)  # falls back to TurnOff
    assert hv_driver.get_info(host=host, instance=inst).state == PowerState.SHUTDOWN
    with pytest.raises(Conflict, match="InvalidState"):
        hv_driver.pause(host=host, instance=inst)
    with pytest.raises(Conflict, match="reboot needs it running"):
        hv_driver.reboot(host=host, instance=inst, hard=True)
    hv_driver.power_on(host=host, instance=inst)
    hv_driver.suspend(host=host, instance=inst)
    assert hv_driver.get_info(host=host, instance=inst).state == PowerState.SUSPENDED
    hv_driver.resume(host=host, instance=inst)
    assert hv_driver.get_info(host=host, instance=inst).state == PowerState.RUNNING


def test_smbfs_volume_attach_detach(hv_driver, hv_sim, hv_host, make_image):
    host = hv_host(hv_sim, "hv1")
    inst = new_instance(root_gb=0)
    hv_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    os.makedirs(os.path.join(hv_sim.share_dir, "volumes"), exist_ok=True)
    make_image(hv_sim, os.path.join(hv_sim.share_dir, "volumes", "volume-1.vhdx"), marker=b"VOL")
    info = ConnectionInfo(
        "smbfs", {"export": "//fileserver/overcast/volumes", "name": "volume-1.vhdx", "format": "vhdx"}
    )
    conn = hv_driver.get_volume_connector(host=host)
    assert "smbfs" in conn.connection_types
    assert hv_driver.attach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/sdb")
    vm = next(v for v in hv_sim.host("hv1").vms if v.name == inst.name)
    assert [d.controller_type for d in vm.disks] == ["SCSI", "SCSI"]
    assert vm.disks[1].path == "\\\\fileserver\\overcast\\volumes\\volume-1.vhdx"
    with pytest.raises(Conflict):  # the same file cannot be attached twice
        hv_driver.attach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/sdc")
    assert hv_driver.detach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/sdb")
    assert len(vm.disks) == 1
    with pytest.raises(UnsupportedOperation, match="'file'"):
        hv_driver.attach_volume(
            host=host, instance=inst, connection_info=ConnectionInfo("file", {"path": "/x"}), mountpoint="/dev/sdb"
        )
    hv_driver.destroy(host=host, instance=inst, destroy_disks=True)
    assert os.path.exists(os.path.join(hv_sim.share_dir, "volumes", "volume-1.vhdx"))  # volumes survive


def test_vifs(hv_driver, hv_sim, hv_host):
    host = hv_host(hv_sim, "hv1")
    inst = new_instance(root_gb=0)
    vif = VifDetails("hyperv", "port-1", "fa:16:3e:00:00:01", details={"switch": "Internal"})
    hv_driver.spawn(host=host, instance=inst, image=None, network_info=[vif], block_devices=[])
    vm = next(v for v in hv_sim.host("hv1").vms if v.name == inst.name)
    assert [(n.name, n.switch, n.mac) for n in vm.nics] == [("port-1", "Internal", "FA163E000001")]
    second = VifDetails("hyperv", "port-2", "fa:16:3e:00:00:02")
    hv_driver.plug_vifs(host=host, instance=inst, network_info=[vif, second])
    assert [(n.name, n.switch) for n in vm.nics] == [("port-1", "Internal"), ("port-2", "External")]
    hv_driver.unplug_vifs(host=host, instance=inst, network_info=[vif])
    assert [n.name for n in vm.nics] == ["port-2"]
    with pytest.raises(UnsupportedOperation, match="bridge"):
        hv_driver.plug_vifs(host=host, instance=inst, network_info=[VifDetails("bridge", "p", "fa:16:3e:00:00:03")])
    with pytest.raises(UnsupportedOperation, match="qcow2"):
        hv_driver.spawn(
            host=host,
            instance=new_instance(),
            image=ImageFile(ImageRef("q", "q", "qcow2"), "/x", "qcow2"),
            network_info=[],
            block_devices=[],
        )


def test_bad_credentials_and_unreachable(hv_driver, hv_sim, hv_host):
    with pytest.raises(BackendUnavailable, match="refused the credentials"):
        hv_driver.init_host(host=hv_host(hv_sim, "hv1", password="wrong"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    dead = hv_host(hv_sim, "hv1", url="http://127.0.0.1:%d/wsman" % port)
    with pytest.raises(BackendUnavailable, match="hyperv host 'hv1'.*did not answer"):
        hv_driver.init_host(host=dead)


def test_simulator_killed_mid_operation(hv_driver, hv_host, tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "overcast_hv_hyperv_sim.wsman_sim",
            "--hosts",
            "hv1",
            "--root",
            str(tmp_path / "sim"),
            "--command-delay",
            "0.3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        name, url = proc.stdout.readline().split()
        _share, unc, share_dir = proc.stdout.readline().split()
        sim = type("S", (), {"url": lambda self, n: url, "auth": "ntlm", "share_dir": share_dir, "share_unc": unc})()
        host = hv_host(sim, "hv1", timeout=30.0)
        hv_driver.init_host(host=host)
        inst = new_instance(root_gb=0)
        hv_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
        errors = []

        def stop():
            try:
                hv_driver.power_off(host=host, instance=inst, timeout=0, retry_interval=1)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=stop)
        t.start()
        time.sleep(0.45)  # the Get-VM / Stop-VM commands are in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        t.join(30)
        assert not t.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], BackendUnavailable), errors
    finally:
        proc.kill()
        proc.wait()
