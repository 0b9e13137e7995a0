"""The XAPI simulator driven by the real, unmodified XenAPI client over loopback."""

import io
import threading
import time
import xmlrpc.client

import pytest
import XenAPI

from overcast_hv_xen import vhd
from overcast_hv_xen.session import XenError, XenSession, XenUnreachable

NULL = "OpaqueRef:NULL"
MiB = 1 << 20


def vm_record(name, mem=256 * MiB, vcpus=1):
    return dict(
        name_label=name,
        name_description="",
        user_version="1",
        is_a_template=False,
        affinity=NULL,
        memory_static_max=str(mem),
        memory_dynamic_max=str(mem),
        memory_dynamic_min=str(mem),
        memory_static_min=str(mem),
        VCPUs_params={},
        VCPUs_max=str(vcpus),
        VCPUs_at_startup=str(vcpus),
        actions_after_shutdown="destroy",
        actions_after_reboot="restart",
        actions_after_crash="restart",
        PV_bootloader="",
        PV_kernel="",
        PV_ramdisk="",
        PV_args="",
        PV_bootloader_args="",
        PV_legacy_args="",
        HVM_boot_policy="BIOS order",
        HVM_boot_params={"order": "dc"},
        platform={},
        PCI_bus="",
        other_config={},
        recommendations="",
    )


def new_vm_with_disk(x, name="vm1", size=8 * MiB, sr=None):
    sr = sr or x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create(
        {
            "name_label": name + "-root",
            "name_description": "",
            "SR": sr,
            "virtual_size": str(size),
            "type": "user",
            "sharable": False,
            "read_only": False,
            "other_config": {},
        }
    )
    vm = x.VM.create(vm_record(name))
    vbd = x.VBD.create(
        dict(
            VM=vm,
            VDI=vdi,
            userdevice="0",
            bootable=True,
            mode="RW",
            type="Disk",
            empty=False,
            other_config={},
            qos_algorithm_type="",
            qos_algorithm_params={},
        )
    )
    return vm, vdi, vbd


@pytest.fixture
def x(xapi_sim):
    s = XenAPI.Session(xapi_sim.url)
    s.login_with_password("root", "secret", "2.21", "overcast-tests")
    yield s.xenapi
    s.xenapi.session.logout()


def test_login_and_wire_types(xapi_sim):
    s = XenAPI.Session(xapi_sim.url)
    with pytest.raises(XenAPI.Failure) as e:
        s.login_with_password("root", "wrong", "2.21", "t")
    assert e.value.details == ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]
    s.login_with_password("root", "secret", "2.21", "t")
    assert s.handle.startswith("OpaqueRef:")
    assert s.API_version == "2.21"
    host = s.xenapi.host.get_all()[0]
    rec = s.xenapi.host.get_record(host)
    assert rec["API_version_major"] == "2"  # int64 on the wire: a string
    m = s.xenapi.host_metrics.get_record(rec["metrics"])
    assert int(m["memory_total"]) == 16 << 30 and isinstance(m["memory_total"], str)
    assert isinstance(m["last_updated"], xmlrpc.client.DateTime)
    assert m["last_updated"].value.endswith("Z")
    # /RPC2 (URL without a path) works the same
    s2 = XenAPI.Session(xapi_sim.url.rstrip("/"))
    s2.login_with_password("root", "secret")
    assert s2.xenapi.pool.get_all() == s.xenapi.pool.get_all()


def test_dispatch_errors(x):
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_record("OpaqueRef:nope")
    assert e.value.details == ["HANDLE_INVALID", "VM", "OpaqueRef:nope"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.no_such_call("OpaqueRef:nope")
    assert e.value.details == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_call"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.get_by_uuid("not-a-uuid")
    assert e.value.details == ["UUID_INVALID", "VM", "not-a-uuid"]
    vm = x.VM.create(vm_record("a"))
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.start(vm)
    assert e.value.details[0] == "MESSAGE_PARAMETER_COUNT_MISMATCH"
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.set_memory_static_max(vm, "lots")
    assert e.value.details == ["FIELD_TYPE_ERROR", "memory_static_max"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.set_power_state(vm, "Running")  # RO field: no setter
    assert e.value.details[0] == "MESSAGE_METHOD_UNKNOWN"
    rec = vm_record("b")
    del rec["memory_static_max"]
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.create(rec)
    assert e.value.details == ["FIELD_TYPE_ERROR", "memory_static_max"]


def test_generic_messages_and_backrefs(x):
    vm, vdi, vbd = new_vm_with_disk(x, "gen")
    assert x.VM.get_by_name_label("gen") == [vm]
    assert x.VM.get_VBDs(vm) == [vbd] and x.VDI.get_VBDs(vdi) == [vbd]
    x.VM.add_to_other_config(vm, "overcast_id", "i-1")
    with pytest.raises(XenAPI.Failure) as e:
        x.VM.add_to_other_config(vm, "overcast_id", "i-2")
    assert e.value.details[0] == "MAP_DUPLICATE_KEY"
    assert x.VM.get_other_config(vm) == {"overcast_id": "i-1"}
    x.VM.remove_from_other_config(vm, "overcast_id")
    x.VM.set_name_description(vm, "described")
    assert x.VM.get_record(vm)["name_description"] == "described"
    assert vm in x.VM.get_all_records()
    uuid = x.VM.get_uuid(vm)
    assert x.VM.get_by_uuid(uuid) == vm


def test_power_state_machine(x):
    vm, _vdi, vbd = new_vm_with_disk(x, "p")
    bad = lambda fn, *a: pytest.raises(XenAPI.Failure, fn, vm, *a).value.details  # noqa: E731
    assert bad(x.VM.clean_shutdown) == ["VM_BAD_POWER_STATE", vm, "running", "halted"]
    assert bad(x.VM.unpause) == ["VM_BAD_POWER_STATE", vm, "paused", "halted"]
    x.VM.start(vm, False, False)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Running" and rec["resident_on"] != NULL and int(rec["domid"]) > 0
    assert "clean_shutdown" in rec["allowed_operations"] and "start" not in rec["allowed_operations"]
    assert x.VBD.get_currently_attached(vbd) and x.VBD.get_device(vbd) == "xvda"
    assert bad(x.VM.start, False, False) == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    assert bad(x.VM.destroy) == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    x.VM.pause(vm)
    assert bad(x.VM.clean_shutdown) == ["VM_BAD_POWER_STATE", vm, "running", "paused"]
    x.VM.unpause(vm)
    x.VM.suspend(vm)
    rec = x.VM.get_record(vm)
    assert rec["power_state"] == "Suspended" and rec["suspend_VDI"] != NULL
    x.VM.resume(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running" and x.VM.get_suspend_VDI(vm) == NULL
    x.VM.clean_reboot(vm)
    x.debug.set_guest_agent(vm, False)
    assert bad(x.VM.clean_shutdown) == ["VM_MISSING_PV_DRIVERS", vm]
    x.VM.hard_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted" and not x.VBD.get_currently_attached(vbd)
    x.VM.destroy(vm)
    assert pytest.raises(XenAPI.Failure, x.VM.get_record, vm).value.details == ["HANDLE_INVALID", "VM", vm]
    tmpl = x.VM.get_by_name_label("Other install media")[0]
    assert pytest.raises(XenAPI.Failure, x.VM.start, tmpl, False, False).value.details == [
        "VM_IS_TEMPLATE",
        tmpl,
        "start",
    ]


def test_memory_accounting(x):
    vm = x.VM.create(vm_record("huge", mem=64 << 30))
    details = pytest.raises(XenAPI.Failure, x.VM.start, vm, False, False).value.details
    assert details[0] == "HOST_NOT_ENOUGH_FREE_MEMORY" and details[1] == str(64 << 30)
    host = x.host.get_all()[0]
    before = int(x.host.compute_free_memory(host))
    small, _, _ = new_vm_with_disk(x, "small")
    x.VM.start_on(small, host, False, False)
    assert int(x.host_metrics.get_memory_free(x.host.get_metrics(host))) == before - 256 * MiB


def test_async_tasks(xapi_sim, x):
    vm, _, _ = new_vm_with_disk(x, "t")
    x.debug.set_delay(0.3)
    task = x.Async.VM.start(vm, False, False)
    assert x.task.get_status(task) == "pending"  # answered before the work is done
    deadline = time.time() + 5
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.02)
    assert x.task.get_status(task) == "success" and x.task.get_result(task) == ""
    snap_task = x.Async.VM.snapshot(vm, "snap")
    while x.task.get_status(snap_task) == "pending":
        time.sleep(0.02)
    result = x.task.get_result(snap_task)
    assert result.startswith("<value>OpaqueRef:")  # XML-RPC-encoded, as xapi does
    x.debug.set_delay(0)
    failing = x.Async.VM.start(vm, False, False)
    while x.task.get_status(failing) == "pending":
        time.sleep(0.02)
    assert x.task.get_status(failing) == "failure"
    assert x.task.get_error_info(failing) == ["VM_BAD_POWER_STATE", vm, "halted", "running"]
    x.task.destroy(failing)


def test_event_from_blocks_until_change(xapi_sim, x):
    batch = getattr(x.event, "from")(["vm"], "", 0.0)
    assert all(e["operation"] == "add" and e["class"] == "vm" for e in batch["events"])
    token = batch["token"]
    t0 = time.monotonic()
    empty = getattr(x.event, "from")(["vm"], token, 0.3)
    assert empty["events"] == [] and time.monotonic() - t0 >= 0.25
    vm, _, _ = new_vm_with_disk(x, "ev")
    seen = {}

    def wait():
        seen["batch"] = getattr(x.event, "from")(["vm/" + vm], seen["token"], 5.0)

    seen["token"] = getattr(x.event, "from")(["vm"], token, 0.0)["token"]
    th = threading.Thread(target=wait)
    th.start()
    time.sleep(0.1)
    x2 = XenAPI.Session(xapi_sim.url)
    x2.login_with_password("root", "secret")
    x2.xenapi.VM.start(vm, False, False)
    th.join(5)
    evs = seen["batch"]["events"]
    assert evs and all(e["ref"] == vm for e in evs)
    assert evs[-1]["snapshot"]["power_state"] == "Running"
    xapi_sim.store.event_window = 5  # retain only 5 events
    for i in range(10):
        x.VM.set_name_description(vm, str(i))
    with pytest.raises(XenAPI.Failure) as e:
        getattr(x.event, "from")(["vm"], token, 0.0)
    assert e.value.details == ["EVENTS_LOST"]


def test_session_invalid_relogin(x):
    before = len(x.VM.get_all())
    x.debug.expire_sessions()
    assert len(x.VM.get_all()) == before  # the client re-logged in


def test_pool_migrate_and_shared_storage(x):
    hosts = x.host.get_all()
    vm, _, _ = new_vm_with_disk(x, "mig")
    x.VM.start_on(vm, hosts[0], False, False)
    x.VM.pool_migrate(vm, hosts[1], {"live": "true"})
    assert x.VM.get_resident_on(vm) == hosts[1]
    assert vm in x.host.get_resident_VMs(hosts[1])
    # a VM with a disk on host 1's local SR cannot move to host 2
    local = [
        sr
        for sr, r in x.SR.get_all_records().items()
        if r["name_label"] == "Local storage" and hosts[0] in [x.PBD.get_host(p) for p in r["PBDs"]]
    ][0]
    vm2, _, _ = new_vm_with_disk(x, "local", sr=local)
    x.VM.start_on(vm2, hosts[0], False, False)
    details = pytest.raises(XenAPI.Failure, x.VM.pool_migrate, vm2, hosts[1], {}).value.details
    assert details == ["VM_REQUIRES_SR", vm2, local]


def test_snapshot_copies_disks_and_vbd_hotplug(x):
    vm, vdi, _ = new_vm_with_disk(x, "snap")
    snap = x.VM.snapshot(vm, "snap-1")
    srec = x.VM.get_record(snap)
    assert srec["is_a_snapshot"] and srec["is_a_template"] and srec["snapshot_of"] == vm
    svdi = x.VBD.get_VDI(srec["VBDs"][0])
    assert svdi != vdi and x.VDI.get_snapshot_of(svdi) == vdi and x.VM.get_snapshots(vm) == [snap]
    # hot plug a data disk
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    data = x.VDI.create(
        {
            "name_label": "vol",
            "name_description": "",
            "SR": sr,
            "virtual_size": str(MiB),
            "type": "user",
            "sharable": False,
            "read_only": False,
            "other_config": {},
        }
    )
    vbd = x.VBD.create(
        dict(
            VM=vm,
            VDI=data,
            userdevice="1",
            bootable=False,
            mode="RW",
            type="Disk",
            empty=False,
            other_config={},
            qos_algorithm_type="",
            qos_algorithm_params={},
        )
    )
    assert pytest.raises(XenAPI.Failure, x.VBD.plug, vbd).value.details == [
        "VM_BAD_POWER_STATE",
        vm,
        "running",
        "halted",
    ]
    x.VM.start(vm, False, False)
    assert x.VBD.get_currently_attached(vbd)
    assert pytest.raises(XenAPI.Failure, x.VBD.plug, vbd).value.details == ["DEVICE_ALREADY_ATTACHED", vbd]
    assert pytest.raises(XenAPI.Failure, x.VDI.destroy, data).value.details == ["VDI_IN_USE", data, "destroy"]
    x.VBD.unplug(vbd)
    x.VBD.destroy(vbd)
    x.VDI.destroy(data)
    assert data not in x.SR.get_VDIs(sr)


def test_vdi_import_export_http(xapi_sim, x):
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    size = 5 * MiB
    vdi = x.VDI.create(
        {
            "name_label": "img",
            "name_description": "",
            "SR": sr,
            "virtual_size": str(size),
            "type": "user",
            "sharable": False,
            "read_only": False,
            "other_config": {},
        }
    )
    payload = bytearray(size)
    payload[0:6] = b"BOOTED"
    payload[3 * MiB : 3 * MiB + 4] = b"DISK"
    image = io.BytesIO()
    vhd.write_dynamic_vhd(io.BytesIO(bytes(payload)), size, image)
    assert len(image.getvalue()) < size  # sparse: zero blocks skipped
    s = XenSession(xapi_sim.url, "root", "secret")
    s.import_vdi(vdi, io.BytesIO(image.getvalue()), len(image.getvalue()), "vhd")
    raw = io.BytesIO()
    assert s.export_vdi(vdi, raw, "raw") == size
    assert raw.getvalue() == bytes(payload)
    back = io.BytesIO()
    s.export_vdi(vdi, back, "vhd")
    got_size, extents = vhd.read_vhd(back.getvalue())
    assert got_size == size
    rebuilt = bytearray(size)
    for off, chunk in extents:
        rebuilt[off : off + len(chunk)] = chunk
    assert rebuilt == payload
    with pytest.raises(XenError) as e:
        s.import_vdi(vdi, io.BytesIO(b"x" * (size + 1)), size + 1, "raw")
    assert e.value.code == "VDI_IO_ERROR"
    s.close()


def test_console_plugin(x):
    import base64
    import zlib

    vm, _, _ = new_vm_with_disk(x, "con")
    x.VM.start(vm, False, False)
    host = x.VM.get_resident_on(vm)
    log = zlib.decompress(
        base64.b64decode(x.host.call_plugin(host, "console", "get_console_log", {"dom_id": x.VM.get_domid(vm)}))
    ).decode()
    assert "BOOTED" in log


def test_session_layer_errors(xapi_sim, xen):
    assert xen.call("pool.get_all")
    with pytest.raises(XenError) as e:
        xen.call("VM.get_record", "OpaqueRef:gone")
    assert e.value.code == "HANDLE_INVALID" and "does not exist" in str(e.value)
    bad = XenSession(xapi_sim.url, "root", "nope")
    with pytest.raises(XenError) as e:
        bad.login()
    assert e.value.code == "SESSION_AUTHENTICATION_FAILED"
    dead = XenSession("http://127.0.0.1:9/", "root", "secret", timeout=2)
    with pytest.raises(XenUnreachable):
        dead.login()
    tmpl = xen.call("VM.get_by_name_label", "Other install media")[0]
    with pytest.raises(XenError) as e:
        xen.async_call("VM.start", tmpl, False, False)
    assert e.value.code == "VM_IS_TEMPLATE" and "Async" not in str(e.value)
