"""The ``xen`` driver under Overcast's real compute service (scheduler, host agents, task
runner, migrations) with two xen hosts of one simulated pool: what ``openstack server ...`` does,
one level below the API."""

from __future__ import annotations

import io

import pytest

from overcast.testing.compute import (
    DiskImages,
    compute_runtime,
    dead_endpoint,
    foreign_images_are_not_placed,
    lifecycle_and_migration,
)

from overcast_hv_xen import plugin, vhd
from overcast_hv_xen_sim.xapi_sim import XapiSimulator


def write_vhd(path: str, content: bytes) -> None:
    """Images as the Xen driver expects them: dynamic VHDs from the plugin's own writer."""
    with open(path, "wb") as f:
        vhd.write_dynamic_vhd(io.BytesIO(content), len(content), f)


@pytest.fixture
def cloud(tmp_path):
    with XapiSimulator(users={"root": "secret"}) as sim:
        hosts = {
            name: {
                "driver": "xen",
                "url": sim.url,
                "username": "root",
                "password": "secret",
                "xen_host": xh,
                "timeout": 10.0,
                "task_timeout": 30.0,
            }
            for name, xh in (("xen1", "xs-host-1"), ("xen2", "xs-host-2"))
        }
        images = DiskImages(tmp_path, "vhd", write_disk=write_vhd)
        with compute_runtime(tmp_path, {"hv_xen": plugin}, hosts, images) as compute:
            try:
                yield compute, images, sim
            finally:
                plugin.DRIVER.close()


def vhd_head(path: str) -> bytes:
    with open(path, "rb") as f:
        _size, extents = vhd.read_vhd(f.read())
    return next(iter(extents))[1]


def test_server_lifecycle_and_migration_under_the_compute_service(cloud):
    compute, images, sim = cloud
    rec = lifecycle_and_migration(compute, images, "xen", vhd_head)
    assert rec.host in ("xen1", "xen2")
    assert [r for r in sim.store.t["VM"].values() if r["name_label"].startswith("oc-")] == []


def test_image_for_another_hypervisor_is_not_placed_here(cloud):
    compute, images, _ = cloud
    foreign_images_are_not_placed(compute, images)


def test_dead_endpoint_puts_the_server_in_error(cloud):
    compute, images, sim = cloud

    def kill():
        sim.server.shutdown()
        sim.server.server_close()
        plugin.DRIVER.close()

    dead_endpoint(compute, images, kill, "xen host", "cannot reach XAPI")
