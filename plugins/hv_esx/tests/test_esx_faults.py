"""Fault paths vcsim cannot produce by itself, injected on the wire by a proxy in front of it
(the real pyvmomi parses the SOAP faults): the driver's fall-backs and error mapping."""

from __future__ import annotations

import uuid

import pytest

from overcast.errors import Conflict, DriverError
from overcast.types import Flavor, Instance, PowerState

from overcast_hv_esx_sim.faultproxy import FaultProxy
from overcast_hv_esx_sim.vcsim import Vcsim


@pytest.fixture(scope="module")
def proxied(vcsim_binary):
    with Vcsim(vcsim_binary, tls=False) as sim, FaultProxy(sim.url) as proxy:
        yield proxy


def new_instance() -> Instance:
    u = str(uuid.uuid4())
    return Instance(
        uuid=u,
        name="oc-" + u,
        display_name="f",
        project_id="p",
        flavor=Flavor(id="f", name="f", vcpus=1, memory_mb=128, root_gb=1),
    )


@pytest.fixture
def guest(esx_driver, esx_host, proxied):
    host = esx_host(type("S", (), {"url": proxied.url})())
    inst = new_instance()
    esx_driver.spawn(host=host, instance=inst, image=None, network_info=[], block_devices=[])
    yield host, inst
    proxied.clear()
    esx_driver.destroy(host=host, instance=inst, destroy_disks=True)


def test_power_off_falls_back_when_tools_are_missing(esx_driver, proxied, guest):
    host, inst = guest
    proxied.inject(
        "ShutdownGuest",
        "ToolsUnavailable",
        "Cannot complete operation because VMware Tools is not running in this virtual machine.",
    )
    assert esx_driver.power_off(host=host, instance=inst, timeout=30, retry_interval=1)
    assert proxied.hits["ShutdownGuest"] == 1
    assert esx_driver.get_info(host=host, instance=inst).state == PowerState.SHUTDOWN


def test_soft_reboot_resets_when_tools_are_missing(esx_driver, proxied, guest):
    host, inst = guest
    proxied.inject("RebootGuest", "ToolsUnavailable", "VMware Tools is not running")
    assert esx_driver.reboot(host=host, instance=inst, hard=False)
    assert proxied.hits["RebootGuest"] == 1
    assert esx_driver.get_info(host=host, instance=inst).state == PowerState.RUNNING


def test_faults_map_to_overcast_errors(esx_driver, proxied, guest):
    host, inst = guest
    proxied.inject("SuspendVM_Task", "TaskInProgress", "The operation is not allowed in the current state.")
    with pytest.raises(Conflict, match="TaskInProgress"):
        esx_driver.suspend(host=host, instance=inst)
    proxied.inject("CreateSnapshot_Task", "FileFault", "Unable to access file")
    with pytest.raises(DriverError, match="FileFault"):
        esx_driver.snapshot(host=host, instance=inst, image_name="x")
