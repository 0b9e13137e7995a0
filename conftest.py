"""Test-run wiring shared by ``tests/`` and ``plugins/*/tests``.

``scripts/test.sh`` runs pytest on two pytest-xdist workers with ``--dist loadgroup``. Tests
that use the machine itself (marked ``root``, ``netns``, ``libvirt``, ``lvm`` or ``rabbitmq``:
the shared libvirtd and its guests, fixed namespace subnets, bridges, loop devices, the shared
broker, host services) are put in one xdist group, so they run one after another on one
worker, as in a serial run; the in-process tests (fake drivers, simulators on free loopback
ports, temporary directories, databases with unique names) run on the other worker meanwhile.
Without ``-n`` this changes nothing.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

#: markers of the tests that must not overlap one another
MACHINE_MARKERS = ("root", "netns", "libvirt", "lvm", "rabbitmq")
GROUP = "machine"


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None, None, None]:
    grouped = [item for item in items if any(item.get_closest_marker(name) for name in MACHINE_MARKERS)]
    if config.pluginmanager.hasplugin("xdist"):
        for item in grouped:
            item.add_marker(pytest.mark.xdist_group(GROUP))
    result = yield  # xdist's worker hook turns the mark into a node-id suffix its scheduler reads
    if config.getoption("loadgroup", False):
        lost = [item.nodeid for item in grouped if not item.nodeid.endswith("@" + GROUP)]
        if lost:
            # pytest-xdist 3.8 on pytest 9.2 drops the suffix (pytest-xdist issue 1386): the
            # machine-level tests would then run two at a time and collide
            raise pytest.UsageError(f"pytest-xdist did not group {len(lost)} machine-level tests (first: {lost[0]}); "
                                    "run without -n (OVERCAST_TEST_WORKERS=0) or with pytest<9.2")
    return result
