"""The ``esx`` driver against govmomi's vcsim through the real pyvmomi (https, loopback)."""

from __future__ import annotations

import dataclasses

import io
import os
import socket
import ssl
import subprocess
import uuid

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

from overcast.errors import BackendUnavailable, Conflict, NotFound, UnsupportedOperation
from overcast.plugins import load_plugin_manager
from overcast.types import ConnectionInfo, DriverKind, Flavor, ImageFile, ImageRef, Instance, PowerState, VifDetails

from overcast_hv_esx_sim.vcsim import Vcsim
from overcast_hv_esx.vim import VimSession


pytestmark = pytest.mark.usefixtures("qemu_img")
HOSTILE = "web'; $(rm -rf /) <script>\u2019\"\n"


def new_instance(display_name="demo", memory_mb=256, vcpus=1, root_gb=1) -> Instance:
    u = str(uuid.uuid4())
    return Instance(
        uuid=u,
        name="oc-" + u,
        display_name=display_name,
        project_id="p1",
        flavor=Flavor(id="f", name="tiny", vcpus=vcpus, memory_mb=memory_mb, root_gb=root_gb),
    )


@pytest.fixture
def api(vcsim):
    si = SmartConnect(
        host=vcsim.host, port=vcsim.port, user="user", pwd="pass", sslContext=ssl._create_unverified_context()
    )
    yield si.RetrieveContent()
    Disconnect(si)


def vm_named(content, name):
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        for vm in view.view:
            try:
                if vm.name == name:
                    return vm
            except Exception:  # noqa: BLE001 - stale refs in vcsim views
                continue
    finally:
        view.Destroy()


@pytest.fixture
def image(make_vmdk, tmp_path):
    path = make_vmdk(tmp_path / "guest.vmdk")
    return ImageFile(ImageRef(id="img", name="guest", disk_format="vmdk"), path, "vmdk")


def test_entry_point_is_discovered():
    pm = load_plugin_manager()
    rec = pm.records["hv_esx"]
    assert rec.status == "ok", rec.error
    assert (DriverKind.HYPERVISOR, "esx") in rec.drivers


def test_spawn_uploads_the_image_and_keeps_display_name_as_data(esx_driver, vcsim, esx_host, api, image):
    host = esx_host(vcsim)
    inst = new_instance(display_name=HOSTILE, memory_mb=512, vcpus=2, root_gb=2)
    info = esx_driver.spawn(host=host, instance=inst, image=image, network_info=[], block_devices=[])
    assert info.state == PowerState.RUNNING and info.num_cpu == 2 and info.max_mem_kb == 512 * 1024
    vm = vm_named(api, inst.name)
    assert vm.config.annotation == HOSTILE and vm.runtime.host.name == "DC0_C0_H0"
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    assert disk.backing.fileName == "[LocalDS_0] %s/%s.vmdk" % (inst.name, inst.name)
    assert disk.capacityInKB == 2 * 1024 * 1024  # grown to the flavor's root_gb
    s = VimSession(vcsim.url, "user", "pass", verify_tls=False)
    buf = io.BytesIO()
    s.download("DC0", "LocalDS_0", "%s/%s-flat.vmdk" % (inst.name, inst.name), buf)
    assert buf.getvalue()[:14] == b"TINYGUEST-VMDK"  # the image's blocks, on the datastore
    s.close()
    assert inst.name in esx_driver.list_instances(host=host)
    res = esx_driver.get_available_resource(host=host)
    assert res.vcpus > 0 and res.running_vms >= 1 and res.hypervisor_type == "vmware"
    esx_driver.destroy(host=host, instance=inst, destroy_disks=True)
    assert vm_named(api, inst.name) is None


def test_snapshot_is_a_standalone_stream_optimized_vmdk(esx_driver, vcsim, esx_host, image, tmp_path):
    host = esx_host(vcsim, state_dir=str(tmp_path / "st"))
    inst = new_instance()
    esx_driver.spawn(host=host, instance=inst, image=image, network_info=[], block_devices=[])
    result = esx_driver.snapshot(host=host, instance=inst, image_name="snap")
    try:
        info = subprocess.run(["qemu-img", "info", result.path], capture_output=True, text=True).stdout
        assert "streamOptimized" in info and "backing file" not in info
        raw = str(tmp_path / "back.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", result.path, raw], check=True)
        with open(raw, "rb") as f:
            assert f.read(14) == b"TINYGUEST-VMDK"
    finally:
        os.unlink(result.path)
    esx_driver.destroy(host=host, instance=inst, destroy_disks=True)


def test_live_and_cold_migration_between_cluster_hosts(esx_driver, vcsim, esx_host, api, vcsim_binary):
    a, b = esx_host(vcsim, "esx1", "DC0_C0_H0"), esx_host(vcsim, "esx2", "DC0_C0_H1")
    inst = new_instance()
    esx_driver.spawn(host=a, instance=inst, image=None, network_info=[], block_devices=[])
    data = esx_driver.check_can_live_migrate_destination(host=b, instance=inst, source=a)
    data = esx_driver.pre_live_migration(host=b, instance=inst, migration=data, network_info=[], block_devices=[])
    assert esx_driver.live_migration(host=a, instance=inst, dest=b, migration=data)
    assert esx_driver.post_live_migration(host=a, instance=inst, migration=data)
    assert vm_named(api, inst.name).runtime.host.name == "DC0_C0_H1"
    assert inst.name in esx_driver.list_instances(host=b) and inst.name not in esx_driver.list_instances(host=a)
    with pytest.raises(Conflict, match="already runs"):
        esx_driver.check_can_live_migrate_destination(host=b, instance=inst, source=a)
    # cold: migrate + revert (the core destroys the destination's clone and powers the source on)
    bigger = dataclasses.replace(inst.flavor, id="big", name="big", vcpus=inst.flavor.vcpus + 1)
    with pytest.raises(UnsupportedOperation, match="cannot resize"):
        esx_driver.migrate_disk_and_power_off(host=b, instance=inst, dest=a, flavor=bigger)
    assert esx_driver.get_info(host=b, instance=inst).state == PowerState.RUNNING
    mig = esx_driver.migrate_disk_and_power_off(host=b, instance=inst, dest=a, flavor=inst.flavor)
    assert esx_driver.get_info(host=b, instance=inst).state == PowerState.SHUTDOWN
    info = esx_driver.finish_migration(
        host=a, instance=inst, migration=mig, image=None, network_info=[], block_devices=[], power_on=True
    )
    assert info.state == PowerState.RUNNING
    assert esx_driver.destroy(host=a, instance=inst, destroy_disks=True)
    assert (
        esx_driver.finish_revert_migration(
            host=b, instance=inst, migration=mig, network_info=[], block_devices=[], power_on=True
        ).state
        == PowerState.RUNNING
    )
    assert esx_driver.get_info(host=b, instance=inst).state == PowerState.RUNNING
    # migrate + confirm: only the clone on the destination remains
    mig = esx_driver.migrate_disk_and_power_off(host=b, instance=inst, dest=a, flavor=inst.flavor)
    info = esx_driver.finish_migration(
        host=a, instance=inst, migration=mig, image=None, network_info=[], block_devices=[], power_on=True
    )
    assert esx_driver.confirm_migration(host=b, instance=inst, migration=mig)
    assert info.state == PowerState.RUNNING and vm_named(api, inst.name).runtime.host.name == "DC0_C0_H0"
    assert inst.name not in esx_driver.list_instances(host=b) and inst.name in esx_driver.list_instances(host=a)
    with Vcsim(vcsim_binary) as other:
        c = esx_host(other, "esx3")
        with pytest.raises(Conflict, match="different endpoints"):
            esx_driver.migrate_disk_and_power_off(host=a, instance=inst, dest=c, flavor=inst.flavor)
    esx_driver.destroy(host=a, instance=inst, destroy_disks=True)


def test_power_operations(esx_driver, vcsim, esx_host):
    host = esx_host(vcsim)
    inst = new_instance()
    esx_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    assert esx_driver.power_off(host=host, instance=inst, timeout=10, retry_interval=0)  # ShutdownGuest
    assert esx_driver.get_info(host=host, instance=inst).state == PowerState.SHUTDOWN
    with pytest.raises(Conflict, match="reboot needs it running"):
        esx_driver.reboot(host=host, instance=inst, hard=True)
    with pytest.raises(Conflict, match="not suspended"):
        esx_driver.resume(host=host, instance=inst)
    esx_driver.power_on(host=host, instance=inst)
    esx_driver.suspend(host=host, instance=inst)
    assert esx_driver.get_info(host=host, instance=inst).state == PowerState.SUSPENDED
    esx_driver.resume(host=host, instance=inst)
    assert esx_driver.reboot(host=host, instance=inst, hard=True)
    esx_driver.destroy(host=host, instance=inst, destroy_disks=True)


def test_soft_reboot_fault_is_clear(esx_driver, vcsim, esx_host):
    """vcsim 0.24.2 lacks VirtualMachine.RebootGuest (real vCenter has it): the soft reboot's
    MethodNotFound fault must come back as a clear UnsupportedOperation naming the call; the
    driver does not fall back on it (it resets only when VMware Tools are unavailable)."""
    host = esx_host(vcsim)
    inst = new_instance()
    esx_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    with pytest.raises(UnsupportedOperation, match="MethodNotFound.*RebootGuest"):
        esx_driver.reboot(host=host, instance=inst, hard=False)
    assert esx_driver.get_info(host=host, instance=inst).state == PowerState.RUNNING
    esx_driver.destroy(host=host, instance=inst, destroy_disks=True)


def test_vmdk_volume_attach_detach(esx_driver, vcsim, esx_host, api):
    host = esx_host(vcsim)
    inst = new_instance()
    esx_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    dc = api.rootFolder.childEntity[0]
    api.fileManager.MakeDirectory(name="[LocalDS_0] volumes", datacenter=dc, createParentDirectories=True)
    spec = vim.VirtualDiskManager.FileBackedVirtualDiskSpec(
        diskType="thin", adapterType="lsiLogic", capacityKb=1024 * 1024
    )
    task = api.virtualDiskManager.CreateVirtualDisk_Task(
        name="[LocalDS_0] volumes/vol-1.vmdk", datacenter=dc, spec=spec
    )
    vs = VimSession(vcsim.url, "user", "pass", verify_tls=False)
    assert vs.wait(task, "CreateVirtualDisk_Task", 30) == "[LocalDS_0] volumes/vol-1.vmdk"
    vs.close()
    info = ConnectionInfo("vmdk", {"path": "[LocalDS_0] volumes/vol-1.vmdk"})
    assert "vmdk" in esx_driver.get_volume_connector(host=host).connection_types
    assert esx_driver.attach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/sdb")
    vm = vm_named(api, inst.name)
    files = [d.backing.fileName for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    assert "[LocalDS_0] volumes/vol-1.vmdk" in files and len(files) == 2
    assert esx_driver.detach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/sdb")
    vm = vm_named(api, inst.name)
    assert len([d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]) == 1
    esx_driver.attach_volume(host=host, instance=inst, connection_info=info, mountpoint="/dev/sdb")
    esx_driver.destroy(host=host, instance=inst, destroy_disks=True)  # the volume is detached first
    s = VimSession(vcsim.url, "user", "pass", verify_tls=False)
    buf = io.BytesIO()
    s.download("DC0", "LocalDS_0", "volumes/vol-1-flat.vmdk", buf)  # and survives
    s.close()
    with pytest.raises(UnsupportedOperation, match="'file'"):
        esx_driver.attach_volume(
            host=host, instance=new_instance(), connection_info=ConnectionInfo("file", {}), mountpoint="/dev/sdb"
        )


def test_vifs(esx_driver, vcsim, esx_host, api):
    host = esx_host(vcsim, network="VM Network")
    inst = new_instance()
    vif = VifDetails("vmware", "port-1", "00:50:56:00:00:01")
    dvs = VifDetails("vmware", "port-2", "00:50:56:00:00:02", details={"portgroup": "DC0_DVPG0"})
    esx_driver.spawn(host=host, instance=inst, image=None, network_info=[vif], block_devices=[])
    esx_driver.plug_vifs(host=host, instance=inst, network_info=[vif, dvs])
    vm = vm_named(api, inst.name)
    nics = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    assert sorted(n.macAddress for n in nics) == ["00:50:56:00:00:01", "00:50:56:00:00:02"]
    assert any(isinstance(n.backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo) for n in nics)
    esx_driver.unplug_vifs(host=host, instance=inst, network_info=[vif])
    vm = vm_named(api, inst.name)
    assert [d.macAddress for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)] == [
        "00:50:56:00:00:02"
    ]
    with pytest.raises(UnsupportedOperation, match="bridge"):
        esx_driver.plug_vifs(host=host, instance=inst, network_info=[VifDetails("bridge", "p", "00:50:56:00:00:03")])
    esx_driver.destroy(host=host, instance=inst, destroy_disks=True)


def test_faults_become_overcast_errors(esx_driver, vcsim, esx_host):
    with pytest.raises(BackendUnavailable, match="refused the credentials"):
        esx_driver.init_host(host=esx_host(vcsim, password="wrong"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(BackendUnavailable, match="esx host 'esx1'"):
        esx_driver.init_host(host=esx_host(vcsim, url="https://127.0.0.1:%d/sdk" % port))
    with pytest.raises(NotFound):
        esx_driver.get_info(host=esx_host(vcsim), instance=new_instance())
    with pytest.raises(UnsupportedOperation, match="qcow2"):
        esx_driver.spawn(
            host=esx_host(vcsim),
            instance=new_instance(),
            image=ImageFile(ImageRef("q", "q", "qcow2"), "/x", "qcow2"),
            network_info=[],
            block_devices=[],
        )


def test_simulator_killed_mid_operation(esx_driver, vcsim_binary, esx_host, image):
    sim = Vcsim(vcsim_binary).start()
    try:
        host = esx_host(sim)
        inst = new_instance()
        esx_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
        sim.kill()
        with pytest.raises(BackendUnavailable, match="esx host 'esx1'"):
            esx_driver.power_off(host=host, instance=inst, timeout=0, retry_interval=1)
    finally:
        sim.kill()
