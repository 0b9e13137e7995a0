"""The ``hyperv`` driver under Overcast's real compute service (scheduler, host agents, task
runner, migrations) with two simulated Hyper-V hosts: what ``openstack server ...`` does, one
level below the API."""
from __future__ import annotations

import pytest

from overcast.testing.compute import compute_runtime, DiskImages, member_context, qemu_img, wait_for_status

from overcast_hv_hyperv import plugin
from overcast_hv_hyperv.testing.wsman_sim import HyperVSimulator

pytestmark = pytest.mark.usefixtures("qemu_img")


@pytest.fixture
def cloud(tmp_path):
    with HyperVSimulator(["hv1", "hv2"], auth="ntlm", root=str(tmp_path / "sim")) as sim:
        hosts = {
            name: {"driver": "hyperv", "url": sim.url(name), "username": "Administrator", "password": "Passw0rd!",
                   "share_path": sim.share_dir, "share_unc": sim.share_unc, "switch": "External", "timeout": 60.0}
            for name in ("hv1", "hv2")}
        images = DiskImages(tmp_path, "vhdx")
        with compute_runtime(tmp_path, {"hv_hyperv": plugin}, hosts, images) as compute:
            try:
                yield compute, images, sim
            finally:
                plugin.DRIVER.close()


def test_server_lifecycle_and_migration_under_the_compute_service(cloud):
    compute, images, sim = cloud
    admin, user = member_context(admin=True), member_context()
    flavor = compute.flavors.create(admin, {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})
    image = images.add(hypervisor_type="hyperv")
    rec = compute.create_server(user, {"name": "web'; drop", "flavorRef": flavor.id, "imageRef": image,
                                       "networks": "none"})
    rec = wait_for_status(compute, user, rec.uuid, "ACTIVE")
    assert rec.host in ("hv1", "hv2")
    compute.power_action(user, rec.uuid, "stop")
    wait_for_status(compute, user, rec.uuid, "SHUTOFF")
    compute.power_action(user, rec.uuid, "start")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    compute.reboot(user, rec.uuid, "SOFT")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    snap_id = compute.create_image(user, rec.uuid, "snap")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    snap = images.images[snap_id]
    assert snap["status"] == "active" and snap["ref"].disk_format == "vhdx"
    qemu_img("convert", "-O", "raw", snap["path"], snap["path"] + ".raw")
    with open(snap["path"] + ".raw", "rb") as f:
        assert f.read(9) == b"TINYGUEST"
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
    assert sim.host("hv1").vms == [] and sim.host("hv2").vms == []


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
    for lst in sim.listeners.values():
        lst.server.shutdown()
        lst.server.server_close()
    plugin.DRIVER.close()
    compute.power_action(user, rec.uuid, "stop")
    compute.runner.wait_idle(timeout=30)
    rec = compute.get_server(user, rec.uuid)
    fault = compute.faults([rec.uuid]).get(rec.uuid)
    assert fault is not None and "hyperv host" in fault.message and "did not answer" in fault.message
    # a server built while the endpoint is down goes to ERROR with a readable fault
    rec = compute.create_server(user, {"name": "b", "flavorRef": flavor.id, "imageRef": images.add(),
                                       "networks": "none"})
    rec = wait_for_status(compute, user, rec.uuid, "ERROR")
    assert "did not answer" in compute.faults([rec.uuid])[rec.uuid].message
