"""The ``xen`` driver under Overcast's real compute service (scheduler, host agents, task
runner, migrations) with two xen hosts of one simulated pool: what ``openstack server ...`` does,
one level below the API."""
from __future__ import annotations

import io
import os
import shutil
import time
import uuid

import pytest

from overcast.compute.states import status_of
from overcast.config import parse_config
from overcast.context import RequestContext
from overcast.errors import NotFound
from overcast.plugins import PluginManager
from overcast.testing.fakes import FakeDriversPlugin
from overcast.testing.fixtures import fake_config_data
from overcast.types import ImageFile, ImageRef

from overcast_hv_xen import plugin, vhd
from overcast_hv_xen.testing.xapi_sim import XapiSimulator


class Images:
    """A minimal image-service peer (interface of ``overcast.compute.peers``) holding VHDs."""

    def __init__(self, root):
        self.root = root
        self.images: dict[str, dict] = {}

    def add(self, disk_format="vhd", **properties) -> str:
        image_id = str(uuid.uuid4())
        path = os.path.join(self.root, image_id)
        data = bytearray(4 << 20)
        data[:9] = b"TINYGUEST"
        with open(path, "wb") as f:
            vhd.write_dynamic_vhd(io.BytesIO(bytes(data)), len(data), f)
        self.images[image_id] = {"ref": ImageRef(id=image_id, name="tiny", disk_format=disk_format,
                                                 properties=properties), "path": path, "status": "active"}
        return image_id

    def image_ref(self, ctx, image_id):
        if image_id not in self.images:
            raise NotFound("Image %s could not be found." % image_id)
        return self.images[image_id]["ref"]

    def fetch_to_cache(self, image, cache_dir, formats):
        path = os.path.join(cache_dir, image.id)
        shutil.copyfile(self.images[image.id]["path"], path)
        return ImageFile(image=image, path=path, disk_format=image.disk_format)

    def create_snapshot_record(self, ctx, name, properties):
        image_id = str(uuid.uuid4())
        self.images[image_id] = {"ref": ImageRef(id=image_id, name=name, disk_format="raw",
                                                 properties=dict(properties)), "path": None, "status": "queued"}
        return image_id

    def upload_file(self, image_id, path, disk_format):
        dst = os.path.join(self.root, image_id)
        shutil.copyfile(path, dst)
        img = self.images[image_id]
        img.update(path=dst, status="active")
        img["ref"] = ImageRef(id=image_id, name=img["ref"].name, disk_format=disk_format)

    def discard_image(self, image_id):
        self.images.pop(image_id, None)


def ctx(admin=False):
    roles = frozenset({"admin", "member", "reader"} if admin else {"member", "reader"})
    return RequestContext(user_id="admin" if admin else "u1", project_id="admin" if admin else "p1", roles=roles,
                          request_id="req-%s" % uuid.uuid4())


def wait(compute, c, server_id, status, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        compute.runner.wait_idle(timeout=timeout)
        rec = compute.get_server(c, server_id)
        current = status_of(rec.vm_state, rec.task_state)
        if current == status:
            return rec
        if time.monotonic() > deadline:
            fault = compute.faults([server_id]).get(server_id)
            raise AssertionError("server is %s, wanted %s (%s)" % (current, status, fault and fault.message))
        time.sleep(0.02)


@pytest.fixture
def cloud(tmp_path):
    with XapiSimulator(users={"root": "secret"}) as sim:
        pm = PluginManager()
        pm.register_plugin(FakeDriversPlugin(), name="fake")
        pm.register_plugin(plugin, name="hv_xen")
        pm.check_pending()
        data = fake_config_data(tmp_path, hosts=1)
        data["hosts"] = {
            name: {"driver": "xen", "url": sim.url, "username": "root", "password": "secret", "xen_host": xh,
                   "timeout": 10.0, "task_timeout": 30.0}
            for name, xh in (("xen1", "xs-host-1"), ("xen2", "xs-host-2"))}
        data["compute"] = {"scheduler_cache_seconds": 0}
        data["bus"] = {"heartbeat_interval": 3600}
        config = parse_config(data, tmp_path / "overcast.toml")
        from overcast.runtime import build_runtime
        runtime = build_runtime(config, pm=pm)
        images = Images(str(tmp_path))
        runtime._services["image"] = images
        runtime.compute.start()
        try:
            yield runtime.compute, images, sim
        finally:
            runtime.close()
            plugin.DRIVER.close()


def test_server_lifecycle_and_migration_under_the_compute_service(cloud):
    compute, images, sim = cloud
    admin, user = ctx(admin=True), ctx()
    flavor = compute.flavors.create(admin, {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})
    image = images.add(hypervisor_type="xen")
    rec = compute.create_server(user, {"name": "web'; drop", "flavorRef": flavor.id, "imageRef": image,
                                       "networks": "none"})
    rec = wait(compute, user, rec.uuid, "ACTIVE")
    assert rec.host in ("xen1", "xen2")
    compute.power_action(user, rec.uuid, "stop")
    wait(compute, user, rec.uuid, "SHUTOFF")
    compute.power_action(user, rec.uuid, "start")
    wait(compute, user, rec.uuid, "ACTIVE")
    compute.reboot(user, rec.uuid, "SOFT")
    wait(compute, user, rec.uuid, "ACTIVE")
    snap_id = compute.create_image(user, rec.uuid, "snap")
    wait(compute, user, rec.uuid, "ACTIVE")
    snap = images.images[snap_id]
    assert snap["status"] == "active" and snap["ref"].disk_format == "vhd"
    with open(snap["path"], "rb") as f:
        size, extents = vhd.read_vhd(f.read())
    assert next(iter(extents))[1][:9] == b"TINYGUEST"
    # cold migration to the other pool member, confirmed
    compute.migrate(admin, rec.uuid)
    moved = wait(compute, user, rec.uuid, "VERIFY_RESIZE")
    assert moved.host != rec.host
    compute.confirm_resize(user, rec.uuid)
    wait(compute, user, rec.uuid, "ACTIVE")
    # live migration back
    compute.live_migrate(admin, rec.uuid)
    back = wait(compute, user, rec.uuid, "ACTIVE")
    assert back.host == rec.host
    compute.delete_server(user, rec.uuid)
    compute.runner.wait_idle(timeout=30)
    assert [r for r in sim.store.t["VM"].values() if r["name_label"].startswith("oc-")] == []


def test_image_for_another_hypervisor_is_not_placed_here(cloud):
    compute, images, _ = cloud
    admin, user = ctx(admin=True), ctx()
    flavor = compute.flavors.create(admin, {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})
    for image in (images.add(hypervisor_type="kvm"), images.add(disk_format="qcow2")):
        rec = compute.create_server(user, {"name": "nope", "flavorRef": flavor.id, "imageRef": image,
                                           "networks": "none"})
        rec = wait(compute, user, rec.uuid, "ERROR")
        assert "Filter" in compute.faults([rec.uuid])[rec.uuid].message


def test_dead_endpoint_puts_the_server_in_error(cloud):
    compute, images, sim = cloud
    admin, user = ctx(admin=True), ctx()
    flavor = compute.flavors.create(admin, {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})
    rec = compute.create_server(user, {"name": "a", "flavorRef": flavor.id, "imageRef": images.add(),
                                       "networks": "none"})
    rec = wait(compute, user, rec.uuid, "ACTIVE")
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
    rec = wait(compute, user, rec.uuid, "ERROR")
    assert "cannot reach XAPI" in compute.faults([rec.uuid])[rec.uuid].message
