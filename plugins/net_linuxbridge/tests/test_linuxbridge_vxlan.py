"""VXLAN segments: the device carries the network's VNI, this host's VTEP address, and one
unicast flood entry per other host (no multicast), kept in line with the ``vteps`` option."""

from __future__ import annotations

import dataclasses
import subprocess
from typing import Any

import pytest

from overcast.testing.contract.network import sample_network
from overcast.types import Backend

from overcast_net_linuxbridge import names
from overcast_net_linuxbridge.driver import fdb_entries

pytestmark = [pytest.mark.root, pytest.mark.netns]


def with_vteps(target: Backend, vteps: list[str]) -> Backend:
    return dataclasses.replace(target, options={**target.options, "vteps": vteps})


def test_vxlan_device_and_unicast_flood_entries(driver: Any, target: Backend) -> None:
    net = sample_network(segmentation_id=4777)
    three = with_vteps(target, ["h1=192.0.2.1", "h2=192.0.2.2", "h3=192.0.2.3"])
    try:
        driver.setup_network(backend=three, host="h1", network=net)
        details = subprocess.run(
            ["ip", "-d", "link", "show", names.vxlan(net.id)], capture_output=True, text=True
        ).stdout
        assert (
            "vxlan id 4777" in details and "local 192.0.2.1" in details and f"master {names.bridge(net.id)}" in details
        )
        assert sorted(line.split()[line.split().index("dst") + 1] for line in fdb_entries(names.vxlan(net.id))) == [
            "192.0.2.2",
            "192.0.2.3",
        ]
        driver.setup_network(backend=with_vteps(target, ["h1=192.0.2.1", "h2=192.0.2.2"]), host="h1", network=net)
        assert [line.split()[line.split().index("dst") + 1] for line in fdb_entries(names.vxlan(net.id))] == [
            "192.0.2.2"
        ]
    finally:
        driver.teardown_network(backend=three, host="h1", network=net)
    assert names.vxlan(net.id) not in driver.list_resources(backend=target, host="h1")["vxlan"]


def test_bad_vteps_option_is_a_clear_error(driver: Any, target: Backend) -> None:
    from overcast.errors import ConfigError

    before = driver.list_resources(backend=target, host="h1")
    with pytest.raises(ConfigError, match="vteps"):
        driver.setup_network(backend=with_vteps(target, ["no-equals-sign"]), host="h1", network=sample_network(4778))
    assert driver.list_resources(backend=target, host="h1") == before


def test_a_vni_held_by_another_clouds_device_is_a_clear_error(driver: Any, target: Backend) -> None:
    """Two clouds on one host (or a stopped cloud's leftovers) with the same VNI: the error
    names the device that holds it and what it is, not the kernel's bare refusal."""
    from overcast.errors import DriverError

    theirs, ours = sample_network(segmentation_id=4779), sample_network(segmentation_id=4779)
    try:
        driver.setup_network(backend=target, host="h1", network=theirs)
        with pytest.raises(DriverError) as exc:
            driver.setup_network(backend=target, host="h1", network=ours)
        message = str(exc.value)
        assert f"VNI 4779 is already held on this host by device {names.vxlan(theirs.id)}" in message
        assert "Overcast network whose id starts" in message and "vni_min" in message
    finally:
        driver.teardown_network(backend=target, host="h1", network=ours)
        driver.teardown_network(backend=target, host="h1", network=theirs)
    assert names.vxlan(theirs.id) not in driver.list_resources(backend=target, host="h1")["vxlan"]
