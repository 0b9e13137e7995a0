import io

import pytest

from overcast.plugins import PluginManager
from overcast.types import Host

from overcast_hv_xen import plugin, vhd

from overcast_hv_xen.session import XenSession
from overcast_hv_xen_sim.xapi_sim import XapiSimulator


@pytest.fixture
def xapi_sim():
    """A fresh two-host XAPI pool simulator on a free loopback port."""
    with XapiSimulator(users={"root": "secret"}) as sim:
        yield sim


@pytest.fixture
def xen(xapi_sim):
    s = XenSession(xapi_sim.url, "root", "secret", timeout=10)
    s.login()
    yield s
    s.close()


@pytest.fixture
def xen_pm():
    pm = PluginManager()
    pm.register_plugin(plugin, name="hv_xen")
    pm.check_pending()
    yield pm
    plugin.DRIVER.close()


def _xen_host(sim, name="xen1", xen_host="xs-host-1", state_dir="", **extra) -> Host:
    opts = {
        "url": sim.url,
        "username": "root",
        "password": "secret",
        "xen_host": xen_host,
        "timeout": 10.0,
        "task_timeout": 30.0,
        **extra,
    }
    return Host(name=name, driver="xen", options=opts, state_dir=state_dir)


def _make_vhd(path, size=4 << 20, marker=b"BOOTED"):
    data = bytearray(size)
    data[: len(marker)] = marker
    with open(path, "wb") as f:
        vhd.write_dynamic_vhd(io.BytesIO(bytes(data)), size, f)
    return bytes(data)


@pytest.fixture
def xen_host():
    """Factory: ``xen_host(sim, name="xen1", xen_host="xs-host-1", **options)`` -> Host."""
    return _xen_host


@pytest.fixture
def make_vhd():
    """Factory: ``make_vhd(path, size, marker)`` writes a dynamic VHD, returns its raw content."""
    return _make_vhd
