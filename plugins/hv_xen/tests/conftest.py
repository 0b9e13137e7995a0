import pytest

from overcast_hv_xen.session import XenSession
from overcast_hv_xen.testing.xapi_sim import XapiSimulator


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
