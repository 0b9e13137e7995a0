"""The hypervisor contract suite from ``overcast.testing`` against the ``esx`` driver, which talks
to govmomi's vcsim through the real pyvmomi over https on loopback."""

from __future__ import annotations

import os

import pytest

from overcast.testing.contract import HypervisorContract
from overcast.types import Flavor, ImageFile, ImageRef


pytestmark = pytest.mark.usefixtures("qemu_img")


class TestEsxContract(HypervisorContract):
    @pytest.fixture
    def driver(self, esx_driver):
        return esx_driver

    @pytest.fixture
    def target(self, vcsim, esx_host, tmp_path):
        return esx_host(vcsim, state_dir=str(tmp_path / "state"))

    @pytest.fixture
    def image_file(self, make_vmdk, tmp_path):
        path = make_vmdk(tmp_path / "tiny.vmdk")
        return ImageFile(
            ImageRef(id="img-1", name="tiny", disk_format="vmdk", size=os.path.getsize(path)), path, "vmdk"
        )

    @pytest.fixture
    def flavor(self):
        return Flavor(id="t", name="tiny", vcpus=1, memory_mb=256, root_gb=1)
