"""The ``xen`` driver end to end against the XAPI simulator (real XenAPI client, loopback)."""

from __future__ import annotations

import dataclasses

import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import XenAPI

from overcast.errors import BackendUnavailable, Conflict, DriverError, NotFound, UnsupportedOperation
from overcast.plugins import load_plugin_manager
from overcast.types import ConnectionInfo, DriverKind, Flavor, ImageFile, ImageRef, Instance, PowerState, VifDetails

from overcast_hv_xen import vhd
from overcast_hv_xen_sim.xapi_sim import XapiSimulator

HOSTILE = "web'; Remove-Item -Recurse C:\\ $(reboot) `whoami` <b>&amp;</b> \u2019\"\n--"


@pytest.fixture
def driver(xen_pm):
    return xen_pm.driver(DriverKind.HYPERVISOR, "xen")


@pytest.fixture
def raw_api(xapi_sim):
    s = XenAPI.Session(xapi_sim.url)
    s.login_with_password("root", "secret")
    yield s.xenapi
    s.xenapi.session.logout()


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
def image(make_vhd, tmp_path):
    path = tmp_path / "guest.vhd"
    content = make_vhd(path, size=6 << 20, marker=b"TINYGUEST")
    ref = ImageRef(id="i1", name="guest", disk_format="vhd", size=os.path.getsize(path))
    return ImageFile(ref, str(path), "vhd"), content


def test_entry_point_is_discovered():
    pm = load_plugin_manager()
    rec = pm.records["hv_xen"]
    assert rec.status == "ok", rec.error
    assert (DriverKind.HYPERVISOR, "xen") in rec.drivers
    opts = {o.name: o for o in pm.config_options() if o.driver == "xen"}
    assert opts["url"].required and opts["password"].secret


def test_spawn_writes_image_and_keeps_display_name_as_data(driver, xen_host, xapi_sim, raw_api, image):
    host = xen_host(xapi_sim)
    img, content = image
    inst = new_instance(display_name=HOSTILE, memory_mb=512, vcpus=2, root_gb=0)
    info = driver.spawn(host=host, instance=inst, image=img, network_info=[], block_devices=[])
    assert info.state == PowerState.RUNNING and info.num_cpu == 2 and info.max_mem_kb == 512 * 1024
    vm = raw_api.VM.get_by_name_label(inst.name)[0]
    rec = raw_api.VM.get_record(vm)
    assert rec["name_description"] == HOSTILE  # data, byte for byte
    assert rec["other_config"]["overcast_instance"] == inst.uuid
    assert rec["resident_on"] == raw_api.host.get_by_name_label("xs-host-1")[0]
    root = raw_api.VBD.get_VDI(rec["VBDs"][0])
    assert int(raw_api.VDI.get_virtual_size(root)) == 6 << 20  # root_gb 0: the image's virtual size
    from overcast_hv_xen.session import XenSession

    s = XenSession(xapi_sim.url, "root", "secret")
    buf = io.BytesIO()
    s.export_vdi(root, buf, "raw")
    assert buf.getvalue()[: len(content)] == content
    assert inst.name in driver.list_instances(host=host)
    res = driver.get_available_resource(host=host)
    assert res.vcpus == 8 and res.vcpus_used == 2 and res.running_vms == 1
    assert res.memory_mb_used >= 1024 + 512 and res.hypervisor_type == "xen"
    assert "BOOTED" in driver.get_console_output(host=host, instance=inst, length=5)
    driver.destroy(host=host, instance=inst, destroy_disks=True)
    assert raw_api.VM.get_by_name_label(inst.name) == []
    assert root not in raw_api.VDI.get_all()


def test_raw_image_and_unsupported_format(driver, xen_host, xapi_sim, tmp_path):
    host = xen_host(xapi_sim)
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"RAWBOOT" + bytes(1 << 20))
    inst = new_instance()
    driver.spawn(
        host=host,
        instance=inst,
        image=ImageFile(ImageRef("r", "r", "raw"), str(raw), "raw"),
        network_info=[],
        block_devices=[],
    )
    driver.destroy(host=host, instance=inst, destroy_disks=True)
    qcow = ImageFile(ImageRef("q", "q", "qcow2"), str(raw), "qcow2")
    with pytest.raises(UnsupportedOperation, match="qcow2"):
        driver.spawn(host=host, instance=new_instance(), image=qcow, network_info=[], block_devices=[])


def test_snapshot_is_a_standalone_vhd_and_leaves_nothing_behind(driver, xen_host, xapi_sim, raw_api, image, tmp_path):
    host = xen_host(xapi_sim, state_dir=str(tmp_path / "st"))
    img, content = image
    inst = new_instance()
    driver.spawn(host=host, instance=inst, image=img, network_info=[], block_devices=[])
    vm = raw_api.VM.get_by_name_label(inst.name)[0]
    root = raw_api.VBD.get_VDI(raw_api.VM.get_VBDs(vm)[0])
    assert int(raw_api.VDI.get_virtual_size(root)) == 1 << 30  # grown to the flavor's root_gb
    vdis_before = set(raw_api.VDI.get_all())
    result = driver.snapshot(host=host, instance=inst, image_name="snap")
    assert result.disk_format == "vhd" and result.path.startswith(str(tmp_path / "st"))
    with open(result.path, "rb") as f:
        size, extents = vhd.read_vhd(f.read())
    assert size == 1 << 30
    data = bytearray(len(content))
    for off, chunk in extents:
        if off < len(content):
            data[off : off + len(chunk)] = chunk[: len(content) - off]
    assert bytes(data) == content
    assert not [r for r in raw_api.VM.get_all_records().values() if r["is_a_snapshot"]]
    assert set(raw_api.VDI.get_all()) == vdis_before
    os.unlink(result.path)


def test_live_migration_between_pool_hosts(driver, xen_host, xapi_sim, raw_api):
    a, b = xen_host(xapi_sim, "xen1", "xs-host-1"), xen_host(xapi_sim, "xen2", "xs-host-2")
    inst = new_instance()
    driver.spawn(host=a, instance=inst, image=None, network_info=[], block_devices=[])
    data = driver.check_can_live_migrate_destination(host=b, instance=inst, source=a)
    data = driver.pre_live_migration(host=b, instance=inst, migration=data, network_info=[], block_devices=[])
    assert driver.live_migration(host=a, instance=inst, dest=b, migration=data) is True
    assert driver.post_live_migration(host=a, instance=inst, migration=data)
    vm = raw_api.VM.get_by_name_label(inst.name)[0]
    assert raw_api.VM.get_resident_on(vm) == raw_api.host.get_by_name_label("xs-host-2")[0]
    assert inst.name in driver.list_instances(host=b) and inst.name not in driver.list_instances(host=a)
    assert driver.get_info(host=b, instance=inst).state == PowerState.RUNNING
    with pytest.raises(Conflict, match="already runs"):
        driver.check_can_live_migrate_destination(host=b, instance=inst, source=a)


def test_cold_migration_confirm_revert_and_cross_pool_refusal(driver, xen_host, xapi_sim, raw_api, image):
    a, b = xen_host(xapi_sim, "xen1", "xs-host-1"), xen_host(xapi_sim, "xen2", "xs-host-2")
    img, content = image
    vif = VifDetails(vif_type="xenapi", port_id="port-1", mac_address="fa:16:3e:00:00:09")
    inst = new_instance(root_gb=0)
    driver.spawn(host=a, instance=inst, image=img, network_info=[vif], block_devices=[])
    h2 = raw_api.host.get_by_name_label("xs-host-2")[0]
    # migrate, then revert: the copy on xen2 goes, the original on xen1 runs again
    bigger = dataclasses.replace(inst.flavor, id="big", name="big", vcpus=inst.flavor.vcpus + 1)
    with pytest.raises(UnsupportedOperation, match="cannot resize"):
        driver.migrate_disk_and_power_off(host=a, instance=inst, dest=b, flavor=bigger)
    assert driver.get_info(host=a, instance=inst).state == PowerState.RUNNING
    mig = driver.migrate_disk_and_power_off(host=a, instance=inst, dest=b, flavor=inst.flavor)
    assert driver.get_info(host=a, instance=inst).state == PowerState.SHUTDOWN
    assert len(raw_api.VM.get_by_name_label(inst.name)) == 2
    info = driver.finish_migration(
        host=b, instance=inst, migration=mig, image=None, network_info=[vif], block_devices=[], power_on=True
    )
    assert info.state == PowerState.RUNNING
    assert inst.name in driver.list_instances(host=b) and inst.name in driver.list_instances(host=a)
    driver.destroy(host=b, instance=inst, destroy_disks=True)  # the core's revert
    info = driver.finish_revert_migration(
        host=a, instance=inst, migration=mig, network_info=[vif], block_devices=[], power_on=True
    )
    assert info.state == PowerState.RUNNING
    [vm] = raw_api.VM.get_by_name_label(inst.name)
    assert raw_api.VM.get_resident_on(vm) == raw_api.host.get_by_name_label("xs-host-1")[0]
    assert "overcast_migration" not in raw_api.VM.get_other_config(vm)
    # migrate and confirm: only the copy on xen2 remains, with the disk content and the MAC
    mig = driver.migrate_disk_and_power_off(host=a, instance=inst, dest=b, flavor=inst.flavor)
    driver.finish_migration(
        host=b, instance=inst, migration=mig, image=None, network_info=[vif], block_devices=[], power_on=True
    )
    assert driver.confirm_migration(host=a, instance=inst, migration=mig)
    [vm] = raw_api.VM.get_by_name_label(inst.name)
    assert raw_api.VM.get_resident_on(vm) == h2
    assert raw_api.VIF.get_MAC(raw_api.VM.get_VIFs(vm)[0]) == "fa:16:3e:00:00:09"
    root = raw_api.VBD.get_VDI(raw_api.VM.get_VBDs(vm)[0])
    from overcast_hv_xen.session import XenSession

    buf = io.BytesIO()
    XenSession(xapi_sim.url, "root", "secret").export_vdi(root, buf, "raw")
    assert buf.getvalue()[: len(content)] == content
    assert inst.name not in driver.list_instances(host=a)
    assert (
        len(
            [
                v
                for v in raw_api.VDI.get_all_records().values()
                if not v["is_a_snapshot"] and v["other_config"].get("overcast_instance") == inst.uuid
            ]
        )
        == 1
    )  # no leftovers
    with XapiSimulator(users={"root": "secret"}) as other_pool:
        c = xen_host(other_pool, "xen3")
        with pytest.raises(Conflict, match="different pools"):
            driver.migrate_disk_and_power_off(host=b, instance=inst, dest=c, flavor=inst.flavor)


def test_power_off_falls_back_to_hard_without_pv_drivers(driver, xen_host, xapi_sim, raw_api):
    host = xen_host(xapi_sim)
    inst = new_instance()
    driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    raw_api.debug.set_guest_agent(raw_api.VM.get_by_name_label(inst.name)[0], False)
    assert driver.power_off(host=host, instance=inst, timeout=30, retry_interval=1)
    assert driver.get_info(host=host, instance=inst).state == PowerState.SHUTDOWN
    with pytest.raises(Conflict, match="VM_BAD_POWER_STATE"):
        driver.pause(host=host, instance=inst)
    with pytest.raises(Conflict, match="reboot needs it running"):
        driver.reboot(host=host, instance=inst, hard=False)
    driver.power_on(host=host, instance=inst)
    assert driver.reboot(host=host, instance=inst, hard=False)  # clean reboot falls back to hard


def test_vifs(driver, xen_host, xapi_sim, raw_api):
    host = xen_host(xapi_sim)
    inst = new_instance()
    vif = VifDetails(vif_type="xenapi", port_id="port-1", mac_address="fa:16:3e:00:00:01", mtu=1450)
    driver.spawn(host=host, instance=inst, image=None, network_info=[vif], block_devices=[])
    vm = raw_api.VM.get_by_name_label(inst.name)[0]
    [ref] = raw_api.VM.get_VIFs(vm)
    rec = raw_api.VIF.get_record(ref)
    assert rec["MAC"] == "fa:16:3e:00:00:01" and rec["MTU"] == "1450" and rec["currently_attached"]
    assert raw_api.network.get_bridge(rec["network"]) == "xenbr0"
    second = VifDetails(vif_type="xenapi", port_id="port-2", mac_address="fa:16:3e:00:00:02")
    driver.plug_vifs(host=host, instance=inst, network_info=[vif, second])
    assert len(raw_api.VM.get_VIFs(vm)) == 2
    driver.unplug_vifs(host=host, instance=inst, network_info=[second])
    assert len(raw_api.VM.get_VIFs(vm)) == 1
    with pytest.raises(UnsupportedOperation, match="bridge"):
        driver.plug_vifs(host=host, instance=inst, network_info=[VifDetails("bridge", "p3", "fa:16:3e:00:00:03")])


def test_session_expiry_is_transparent(driver, xen_host, xapi_sim, raw_api):
    host = xen_host(xapi_sim)
    inst = new_instance()
    driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    raw_api.debug.expire_sessions()
    assert driver.get_info(host=host, instance=inst).state == PowerState.RUNNING


def test_bad_credentials_and_unreachable_endpoint(driver, xen_host, xapi_sim):
    bad = xen_host(xapi_sim, password="wrong")
    with pytest.raises(BackendUnavailable, match="rejected the credentials"):
        driver.init_host(host=bad)
    from overcast_hv_xen.plugin import DRIVER
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    dead = xen_host(xapi_sim, name="dead", url="http://127.0.0.1:%d/" % port)
    with pytest.raises(BackendUnavailable, match="dead"):
        driver.init_host(host=dead)
    with pytest.raises(NotFound):
        driver.get_info(host=xen_host(xapi_sim), instance=new_instance())
    assert DRIVER is not None


def test_simulator_killed_mid_operation(driver, xen_host, tmp_path):
    (tmp_path / "sim").mkdir()  # SIGKILL leaves no chance to clean up: keep the disks in tmp_path
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "overcast_hv_xen_sim.xapi_sim",
            "--port",
            "0",
            "--delay",
            "0",
            "--data-dir",
            str(tmp_path / "sim"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        host = xen_host(type("S", (), {"url": url})(), task_timeout=30.0)
        driver.init_host(host=host)
        inst = new_instance()
        driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
        api = XenAPI.Session(url)
        api.login_with_password("root", "secret")
        api.xenapi.debug.set_delay(5)
        errors = []

        def stop():
            try:
                driver.power_off(host=host, instance=inst, timeout=0, retry_interval=1)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=stop)
        t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        t.join(20)
        assert not t.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], BackendUnavailable), errors
        assert "xen1" in str(errors[0])
    finally:
        proc.kill()
        proc.wait()


def test_iscsi_volume_attach_detach(driver, xen_host, xapi_sim, raw_api):
    host_a, host_b = xen_host(xapi_sim, "xen1", "xs-host-1"), xen_host(xapi_sim, "xen2", "xs-host-2")
    lun_path = raw_api.debug.add_iscsi_lun("192.0.2.10", "iqn.2026-01.org.example:vol1", "0", str(64 << 20))
    info = ConnectionInfo(
        "iscsi",
        {
            "target_portal": "192.0.2.10:3260",
            "target_iqn": "iqn.2026-01.org.example:vol1",
            "target_lun": 0,
            "volume_id": "vol-1",
        },
    )
    conn = driver.get_volume_connector(host=host_a)
    assert "iscsi" in conn.connection_types and conn.extra["initiator"].startswith("iqn.")
    inst = new_instance(root_gb=0)
    driver.spawn(host=host_a, instance=inst, image=None, network_info=[], block_devices=[])
    assert driver.attach_volume(host=host_a, instance=inst, connection_info=info, mountpoint="/dev/xvdb")
    vm = raw_api.VM.get_by_name_label(inst.name)[0]
    vbds = [raw_api.VBD.get_record(b) for b in raw_api.VM.get_VBDs(vm)]
    vol = next(b for b in vbds if b["other_config"].get("overcast_volume") == "vol-1")
    assert vol["currently_attached"] and vol["device"] == "xvdb" and vol["userdevice"] == "1"
    sr = raw_api.VDI.get_SR(vol["VDI"])
    assert raw_api.SR.get_type(sr) == "iscsi" and int(raw_api.SR.get_physical_size(sr)) == 64 << 20
    assert all(raw_api.PBD.get_currently_attached(p) for p in raw_api.SR.get_PBDs(sr))
    assert len(raw_api.SR.get_PBDs(sr)) == 2  # plugged on every pool member
    # the guest writes to the volume (the simulated array keeps the bytes)
    with open(lun_path, "r+b") as f:
        f.write(b"VOLUME-DATA")
    # live migration keeps the volume attached
    data = driver.check_can_live_migrate_destination(host=host_b, instance=inst, source=host_a)
    driver.live_migration(host=host_a, instance=inst, dest=host_b, migration=data)
    with pytest.raises(Conflict, match="detach the volumes"):
        driver.migrate_disk_and_power_off(host=host_b, instance=inst, dest=host_a, flavor=inst.flavor)
    snap = driver.snapshot(host=host_b, instance=inst, image_name="s")  # volumes are not in the image
    os.unlink(snap.path)
    assert driver.detach_volume(host=host_b, instance=inst, connection_info=info, mountpoint="/dev/xvdb")
    assert sr not in raw_api.SR.get_all()  # released: unplugged and forgotten
    assert len(raw_api.VM.get_VBDs(vm)) == 1
    driver.attach_volume(host=host_b, instance=inst, connection_info=info, mountpoint="/dev/xvdc")
    with open(lun_path, "rb") as f:
        assert f.read(11) == b"VOLUME-DATA"  # same LUN, same data
    driver.destroy(host=host_b, instance=inst, destroy_disks=True)
    assert not [r for r in raw_api.SR.get_all_records().values() if r["type"] == "iscsi"]
    assert os.path.exists(lun_path)  # the volume outlives the guest
    bad = ConnectionInfo("iscsi", {"target_portal": "192.0.2.99:3260", "target_iqn": "iqn.x:none", "target_lun": 3})
    inst2 = new_instance(root_gb=0)
    driver.spawn(host=host_a, instance=inst2, image=None, network_info=[], block_devices=[])
    with pytest.raises(DriverError, match="ISCSILogin"):
        driver.attach_volume(host=host_a, instance=inst2, connection_info=bad, mountpoint="/dev/xvdb")
    assert not [r for r in raw_api.SR.get_all_records().values() if r["type"] == "iscsi"]  # nothing left behind
    with pytest.raises(UnsupportedOperation, match="'file'"):
        driver.attach_volume(
            host=host_a, instance=inst2, connection_info=ConnectionInfo("file", {"path": "/x"}), mountpoint="/dev/xvdb"
        )
