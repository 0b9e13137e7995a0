import os

import pytest

from overcast.plugins import PluginManager
from overcast.types import DriverKind, Host

from overcast_hv_hyperv import plugin
from overcast_hv_hyperv_sim.wsman_sim import HyperVSimulator


@pytest.fixture(params=["ntlm"])
def hv_sim(request, tmp_path):
    """Two simulated Hyper-V hosts (hv1, hv2) behind WinRM listeners on free loopback ports."""
    with HyperVSimulator(["hv1", "hv2"], auth=request.param, root=str(tmp_path / "sim")) as sim:
        yield sim


@pytest.fixture
def hv_pm():
    pm = PluginManager()
    pm.register_plugin(plugin, name="hv_hyperv")
    pm.check_pending()
    yield pm
    plugin.DRIVER.close()


@pytest.fixture
def hv_driver(hv_pm):
    return hv_pm.driver(DriverKind.HYPERVISOR, "hyperv")


def _hv_host(sim, name="hv1", state_dir="", **extra) -> Host:
    opts = {
        "url": sim.url(name),
        "username": "Administrator",
        "password": "Passw0rd!",
        "transport": sim.auth,
        "share_path": sim.share_dir,
        "share_unc": sim.share_unc,
        "switch": "External",
        "timeout": 60.0,
        **extra,
    }
    return Host(name=name, driver="hyperv", options=opts, state_dir=state_dir)


@pytest.fixture
def hv_host():
    """Factory: ``hv_host(sim, "hv1", **options)`` -> the Overcast Host for that simulated host."""
    return _hv_host


def _make_image(sim, path, fmt="vhdx", size=8 << 20, marker=b"TINYGUEST"):
    """A VHD/VHDX image whose first bytes are ``marker`` (built with qemu-img)."""
    import subprocess

    raw = str(path) + ".raw"
    with open(raw, "wb") as f:
        f.write(marker)
        f.truncate(size)
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "vpc" if fmt == "vhd" else "vhdx", raw, str(path)], check=True
    )
    os.unlink(raw)
    return str(path)


@pytest.fixture
def make_image():
    return _make_image
