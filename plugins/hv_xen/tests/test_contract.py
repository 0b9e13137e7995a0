"""The hypervisor contract suite from ``overcast.testing``, run against the ``xen`` driver
talking to the XAPI simulator through the real XenAPI client."""
from __future__ import annotations

import io
import os

import pytest

from overcast.plugins import PluginManager
from overcast.testing.contract import HypervisorContract
from overcast.types import DriverKind, Flavor, Host, ImageFile, ImageRef

from overcast_hv_xen import plugin, vhd


@pytest.fixture
def xen_pm():
    pm = PluginManager()
    pm.register_plugin(plugin, name="hv_xen")
    pm.check_pending()
    yield pm
    plugin.DRIVER.close()


def xen_host(sim, name="xen1", xen_host="xs-host-1", state_dir="", **extra) -> Host:
    opts = {"url": sim.url, "username": "root", "password": "secret", "xen_host": xen_host,
            "timeout": 10.0, "task_timeout": 30.0, **extra}
    return Host(name=name, driver="xen", options=opts, state_dir=state_dir)


def make_vhd(path, size=4 << 20, marker=b"BOOTED"):
    data = bytearray(size)
    data[:len(marker)] = marker
    with open(path, "wb") as f:
        vhd.write_dynamic_vhd(io.BytesIO(bytes(data)), size, f)
    return bytes(data)


class TestXenContract(HypervisorContract):
    @pytest.fixture
    def driver(self, xen_pm):
        return xen_pm.driver(DriverKind.HYPERVISOR, "xen")

    @pytest.fixture
    def target(self, xapi_sim, tmp_path):
        return xen_host(xapi_sim, state_dir=str(tmp_path / "state"))

    @pytest.fixture
    def image_file(self, tmp_path):
        path = tmp_path / "tiny.vhd"
        make_vhd(path)
        ref = ImageRef(id="img-1", name="tiny", disk_format="vhd", size=os.path.getsize(path))
        return ImageFile(image=ref, path=str(path), disk_format="vhd")

    @pytest.fixture
    def flavor(self):
        return Flavor(id="t", name="tiny", vcpus=1, memory_mb=256, root_gb=1)
