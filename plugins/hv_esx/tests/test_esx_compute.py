"""The ``esx`` driver under Overcast's real compute service (scheduler, host agents, task
runner, migrations) with two cluster hosts of one vcsim: what ``openstack server ...`` does, one
level below the API."""

from __future__ import annotations

import pytest

from overcast.testing.compute import (
    DiskImages,
    compute_runtime,
    dead_endpoint,
    foreign_images_are_not_placed,
    lifecycle_and_migration,
    raw_head,
)

from overcast_hv_esx import plugin
from overcast_hv_esx_sim.vcsim import Vcsim

pytestmark = pytest.mark.usefixtures("qemu_img")


@pytest.fixture
def cloud(tmp_path, vcsim_binary):
    with Vcsim(vcsim_binary) as sim:
        hosts = {
            name: {
                "driver": "esx",
                "url": sim.url,
                "username": "user",
                "password": "pass",
                "esx_host": eh,
                "verify_tls": False,
                "timeout": 60.0,
            }
            for name, eh in (("esx1", "DC0_C0_H0"), ("esx2", "DC0_C0_H1"))
        }
        images = DiskImages(tmp_path, "vmdk")
        with compute_runtime(tmp_path, {"hv_esx": plugin}, hosts, images) as compute:
            try:
                yield compute, images, sim
            finally:
                plugin.DRIVER.close()


def test_server_lifecycle_and_migration_under_the_compute_service(cloud):
    compute, images, sim = cloud
    rec = lifecycle_and_migration(compute, images, "vmware", raw_head)
    assert rec.host in ("esx1", "esx2")
    assert plugin.DRIVER.session(compute.runtime.drivers.hosts["esx1"]).vms_named(rec.hv_name) == []


def test_image_for_another_hypervisor_is_not_placed_here(cloud):
    compute, images, _ = cloud
    foreign_images_are_not_placed(compute, images)


def test_dead_endpoint_puts_the_server_in_error(cloud):
    compute, images, sim = cloud

    def kill():
        sim.kill()
        plugin.DRIVER.close()

    dead_endpoint(compute, images, kill, "esx host", "vSphere")
