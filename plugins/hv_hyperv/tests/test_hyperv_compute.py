"""The ``hyperv`` driver under Overcast's real compute service (scheduler, host agents, task
runner, migrations) with two simulated Hyper-V hosts: what ``openstack server ...`` does, one
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

from overcast_hv_hyperv import plugin
from overcast_hv_hyperv_sim.wsman_sim import HyperVSimulator

pytestmark = pytest.mark.usefixtures("qemu_img")


@pytest.fixture
def cloud(tmp_path):
    with HyperVSimulator(["hv1", "hv2"], auth="ntlm", root=str(tmp_path / "sim")) as sim:
        hosts = {
            name: {
                "driver": "hyperv",
                "url": sim.url(name),
                "username": "Administrator",
                "password": "Passw0rd!",
                "share_path": sim.share_dir,
                "share_unc": sim.share_unc,
                "switch": "External",
                "timeout": 60.0,
            }
            for name in ("hv1", "hv2")
        }
        images = DiskImages(tmp_path, "vhdx")
        with compute_runtime(tmp_path, {"hv_hyperv": plugin}, hosts, images) as compute:
            try:
                yield compute, images, sim
            finally:
                plugin.DRIVER.close()


def test_server_lifecycle_and_migration_under_the_compute_service(cloud):
    compute, images, sim = cloud
    rec = lifecycle_and_migration(compute, images, "hyperv", raw_head)
    assert rec.host in ("hv1", "hv2")
    assert sim.host("hv1").vms == [] and sim.host("hv2").vms == []


def test_image_for_another_hypervisor_is_not_placed_here(cloud):
    compute, images, _ = cloud
    foreign_images_are_not_placed(compute, images)


def test_dead_endpoint_puts_the_server_in_error(cloud):
    compute, images, sim = cloud

    def kill():
        for lst in sim.listeners.values():
            lst.server.shutdown()
            lst.server.server_close()
        plugin.DRIVER.close()

    dead_endpoint(compute, images, kill, "hyperv host", "did not answer")
