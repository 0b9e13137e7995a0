import subprocess

import pytest

from overcast.plugins import PluginManager
from overcast.testing.facilities import missing_facility
from overcast.types import DriverKind, Host

from overcast_hv_esx import plugin
from overcast_hv_esx_sim.vcsim import Vcsim, VcsimUnavailable, build


@pytest.fixture(scope="session")
def vcsim_binary():
    """Overcast's vcsim launcher, built from Debian's govmomi (apt-installs golang-go and
    golang-github-vmware-govmomi-dev when missing; cached by package version)."""
    try:
        return build()
    except VcsimUnavailable as e:
        missing_facility("vcsim", "vcsim is unavailable: %s" % e)


@pytest.fixture(scope="module")
def vcsim(vcsim_binary):
    """One vCenter simulator per test module: 1 datacenter, a 3-host cluster + 1 standalone host."""
    with Vcsim(vcsim_binary, username="user", password="pass") as sim:
        yield sim


@pytest.fixture
def esx_pm():
    pm = PluginManager()
    pm.register_plugin(plugin, name="hv_esx")
    pm.check_pending()
    yield pm
    plugin.DRIVER.close()


@pytest.fixture
def esx_driver(esx_pm):
    return esx_pm.driver(DriverKind.HYPERVISOR, "esx")


def _esx_host(sim, name="esx1", esx_host="DC0_C0_H0", state_dir="", **extra) -> Host:
    opts = {
        "url": sim.url,
        "username": "user",
        "password": "pass",
        "esx_host": esx_host,
        "verify_tls": False,
        "timeout": 60.0,
        **extra,
    }
    return Host(name=name, driver="esx", options=opts, state_dir=state_dir)


@pytest.fixture
def esx_host():
    return _esx_host


def _make_vmdk(path, size=8 << 20, marker=b"TINYGUEST-VMDK"):
    raw = str(path) + ".raw"
    with open(raw, "wb") as f:
        f.write(marker)
        f.truncate(size)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", raw, str(path)], check=True)
    import os

    os.unlink(raw)
    return str(path)


@pytest.fixture
def make_vmdk():
    return _make_vmdk
