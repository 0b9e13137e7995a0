"""The hypervisor contract suite from ``overcast.testing``, run against the ``xen`` driver
talking to the XAPI simulator through the real XenAPI client."""

from __future__ import annotations

import os

import pytest

from overcast.testing.contract import HypervisorContract
from overcast.types import DriverKind, Flavor, ImageFile, ImageRef


class TestXenContract(HypervisorContract):
    @pytest.fixture
    def driver(self, xen_pm):
        return xen_pm.driver(DriverKind.HYPERVISOR, "xen")

    @pytest.fixture
    def target(self, xapi_sim, xen_host, tmp_path):
        return xen_host(xapi_sim, state_dir=str(tmp_path / "state"))

    @pytest.fixture
    def image_file(self, make_vhd, tmp_path):
        path = tmp_path / "tiny.vhd"
        make_vhd(path)
        ref = ImageRef(id="img-1", name="tiny", disk_format="vhd", size=os.path.getsize(path))
        return ImageFile(image=ref, path=str(path), disk_format="vhd")

    @pytest.fixture
    def flavor(self):
        return Flavor(id="t", name="tiny", vcpus=1, memory_mb=256, root_gb=1)
