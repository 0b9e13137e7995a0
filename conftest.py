"""Test-run wiring shared by ``tests/`` and ``plugins/*/tests``.

``scripts/test.sh`` runs pytest on two pytest-xdist workers with ``--dist loadgroup``. Tests
that use the machine itself (marked ``root``, ``netns``, ``libvirt``, ``lvm`` or ``rabbitmq``:
the shared libvirtd and its guests, fixed namespace subnets, bridges, loop devices, the shared
broker, host services) are put in one xdist group, so they run one after another on one
worker, as in a serial run; the in-process tests (fake drivers, simulators on free loopback
ports, temporary directories, databases with unique names) run on the other worker meanwhile.
Without ``-n`` this changes nothing.

Several checkouts may run their tests on one machine at once (worktrees, a CI run beside a
session). The machine-level tests of all of them share the same libvirtd, namespace names and
subnets, so the first machine-level test of a run takes an exclusive lock on
``$OVERCAST_MACHINE_LOCK`` (default ``/run/lock/overcast-machine-tests.lock``) and keeps it to the
end of that pytest process: another run's machine-level tests wait for it instead of colliding.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Generator
from typing import IO

import pytest

#: markers of the tests that must not overlap one another
MACHINE_MARKERS = ("root", "netns", "libvirt", "lvm", "rabbitmq")
GROUP = "machine"
_machine_lock: list[IO[bytes]] = []


def _is_machine_level(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in MACHINE_MARKERS)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Hold the machine lock from this process's first machine-level test to its exit.

    Outermost wrapper, so that pytest-timeout's clock starts only once the lock is held."""
    if not _machine_lock and _is_machine_level(item):
        _take_machine_lock()
    return (yield)


def _take_machine_lock() -> None:
    path = os.environ.get("OVERCAST_MACHINE_LOCK", "/run/lock/overcast-machine-tests.lock")
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")  # the same for every xdist worker of one run
    handle = open(path, "a+b")  # closed (and so released) when the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        if run and handle.read().decode(errors="replace") == run:
            return  # a sibling worker of this run holds it (-n without --dist loadgroup): waiting would deadlock
        print(f"\nwaiting for {path}: another test run is using the machine", flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.truncate(0)
    handle.write(run.encode())
    handle.flush()
    _machine_lock.append(handle)


@pytest.fixture(autouse=True)
def _keep_the_umask() -> Generator[None, None, None]:
    """``overcast init``/``up`` set a private umask for their process; a test that runs them in
    process must not leave it to the tests after it on the same worker."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield
    os.umask(saved)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None, None, None]:
    grouped = [item for item in items if _is_machine_level(item)]
    if config.pluginmanager.hasplugin("xdist"):
        for item in grouped:
            item.add_marker(pytest.mark.xdist_group(GROUP))
    result = yield  # xdist's worker hook turns the mark into a node-id suffix its scheduler reads
    if config.getoption("loadgroup", False):
        lost = [item.nodeid for item in grouped if not item.nodeid.endswith("@" + GROUP)]
        if lost:
            # pytest-xdist 3.8 on pytest 9.2 drops the suffix (pytest-xdist issue 1386): the
            # machine-level tests would then run two at a time and collide
            raise pytest.UsageError(
                f"pytest-xdist did not group {len(lost)} machine-level tests (first: {lost[0]}); "
                "run without -n (OVERCAST_TEST_WORKERS=0) or with pytest<9.2"
            )
    return result
