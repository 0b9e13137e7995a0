"""The ``xen`` driver under Overcast's real compute service (scheduler, host agents, task
runner, migrations) with two xen hosts of one simulated pool: what ``openstack server ...`` does,
one level below the API."""
from __future__ import annotations

import io

import pytest

from overcast.testing.compute import compute_runtime, DiskImages, member_context, wait_for_status

from overcast_hv_xen import plugin, vhd
from overcast_hv_xen.testing.xapi_sim import XapiSimulator



def write_vhd(path: str, content: bytes) -> None:
    """Images as the Xen driver expects them: dynamic VHDs from the plugin's own writer."""
    with open(path, "wb") as f:
        vhd.write_dynamic_vhd(io.BytesIO(content), len(content), f)


@pytest.fixture
def cloud(tmp_path):
    with XapiSimulator(users={"root": "secret"}) as sim:
        hosts = {
            name: {"driver": "xen", "url": sim.url, "username": "root", "password": "secret", "xen_host": xh,
                   "timeout": 10.0, "task_timeout": 30.0}
            for name, xh in (("xen1", "xs-host-1"), ("xen2", "xs-host-2"))}
        images = DiskImages(tmp_path, "vhd", write_disk=write_vhd)
        with compute_runtime(tmp_path, {"hv_xen": plugin}, hosts, images) as compute:
            try:
                yield compute, images, sim
            finally:
                plugin.DRIVER.close()


def test_server_lifecycle_and_migration_under_the_compute_service(cloud):
    compute, images, sim = cloud
    admin, user = member_context(admin=True), member_context()
    flavor = compute.flavors.create(admin, {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})
    image = images.add(hypervisor_type="xen")
    rec = compute.create_server(user, {"name": "web'; drop", "flavorRef": flavor.id, "imageRef": image,
                                       "networks": "none"})
    rec = wait_for_status(compute, user, rec.uuid, "ACTIVE")
    assert rec.host in ("xen1", "xen2")
    compute.power_action(user, rec.uuid, "stop")
    wait_for_status(compute, user, rec.uuid, "SHUTOFF")
    compute.power_action(user, rec.uuid, "start")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    compute.reboot(user, rec.uuid, "SOFT")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    snap_id = compute.create_image(user, rec.uuid, "snap")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    snap = images.images[snap_id]
    assert snap["status"] == "active" and snap["ref"].disk_format == "vhd"
    with open(snap["path"], "rb") as f:
        size, extents = vhd.read_vhd(f.read())
    assert next(iter(extents))[1][:9] == b"TINYGUEST"
    # cold migration to the other pool member, confirmed
    compute.migrate(admin, rec.uuid)
    moved = wait_for_status(compute, user, rec.uuid, "VERIFY_RESIZE")
    assert moved.host != rec.host
    compute.confirm_resize(user, rec.uuid)
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    # live migration back
    compute.live_migrate(admin, rec.uuid)
    back = wait_for_status(compute, user, rec.uuid, "ACTIVE")
    assert back.host == rec.host
    compute.delete_server(user, rec.uuid)
    compute.runner.wait_idle(timeout=30)
    assert [r for r in sim.store.t["VM"].values() if r["name_label"].startswith("oc-")] == []


def test_image_for_another_hypervisor_is_not_placed_here(cloud):
    compute, images, _ = cloud
    admin, user = member_context(admin=True), member_context()
    flavor = compute.flavors.create(admin, {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})
    for image in (images.add(hypervisor_type="kvm"), images.add(disk_format="qcow2")):
        rec = compute.create_server(user, {"name": "nope", "flavorRef": flavor.id, "imageRef": image,
                                           "networks": "none"})
        rec = wait_for_status(compute, user, rec.uuid, "ERROR")
        assert "Filter" in compute.faults([rec.uuid])[rec.uuid].message


def test_dead_endpoint_puts_the_server_in_error(cloud):
    compute, images, sim = cloud
    admin, user = member_context(admin=True), member_context()
    flavor = compute.flavors.create(admin, {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})
    rec = compute.create_server(user, {"name": "a", "flavorRef": flavor.id, "imageRef": images.add(),
                                       "networks": "none"})
    rec = wait_for_status(compute, user, rec.uuid, "ACTIVE")
    sim.server.shutdown()
    sim.server.server_close()
    plugin.DRIVER.close()
    compute.power_action(user, rec.uuid, "stop")
    compute.runner.wait_idle(timeout=30)
    rec = compute.get_server(user, rec.uuid)
    fault = compute.faults([rec.uuid]).get(rec.uuid)
    assert fault is not None and "xen host" in fault.message and "cannot reach XAPI" in fault.message
    # a server built while the endpoint is down goes to ERROR with a readable fault
    rec = compute.create_server(user, {"name": "b", "flavorRef": flavor.id, "imageRef": images.add(),
                                       "networks": "none"})
    rec = wait_for_status(compute, user, rec.uuid, "ERROR")
    assert "cannot reach XAPI" in compute.faults([rec.uuid])[rec.uuid].message
