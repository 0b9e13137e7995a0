"""The hypervisor contract suite from ``overcast.testing`` against the ``hyperv`` driver, which
talks NTLM-encrypted WinRM (real pywinrm) to the simulated Hyper-V host."""

from __future__ import annotations

import os

import pytest

from overcast.testing.contract import HypervisorContract
from overcast.types import Flavor, ImageFile, ImageRef


pytestmark = pytest.mark.usefixtures("qemu_img")


class TestHyperVContract(HypervisorContract):
    @pytest.fixture
    def driver(self, hv_driver):
        return hv_driver

    @pytest.fixture
    def target(self, hv_sim, hv_host, tmp_path):
        return hv_host(hv_sim, "hv1", state_dir=str(tmp_path / "state"))

    @pytest.fixture
    def image_file(self, hv_sim, make_image, tmp_path):
        path = make_image(hv_sim, tmp_path / "tiny.vhdx")
        return ImageFile(
            ImageRef(id="img-1", name="tiny", disk_format="vhdx", size=os.path.getsize(path)), path, "vhdx"
        )

    @pytest.fixture
    def flavor(self):
        return Flavor(id="t", name="tiny", vcpus=1, memory_mb=256, root_gb=1)
