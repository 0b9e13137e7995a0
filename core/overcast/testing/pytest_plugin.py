"""``overcast.testing`` as a pytest plugin (auto-loaded through the ``pytest11`` entry point).

It gives driver authors (ours and vendors'): the facility markers with skip-with-reason,
fixtures for a plugin manager and a config, and the fake drivers. Contract suites are
classes in ``overcast.testing.contract`` that a driver's tests subclass.
"""

from __future__ import annotations

import pytest

from overcast.testing.facilities import FACILITY_MARKERS, missing, required
from overcast.testing.fixtures import *  # noqa: F401,F403 - fixtures are found by name


def pytest_configure(config: pytest.Config) -> None:
    for name, text in (
        ("root", "needs root"),
        ("libvirt", "needs a running libvirtd and QEMU"),
        ("netns", "needs network namespaces, bridges and iptables (root)"),
        ("lvm", "needs lvm2 tools and a loop device (root)"),
        ("postgres", "needs a PostgreSQL server on 127.0.0.1:5432"),
        ("rabbitmq", "needs a RabbitMQ server on 127.0.0.1:5672"),
        ("clients", "drives the real OpenStack client programs"),
        ("slow", "takes more than a few seconds"),
    ):
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    needed = required()
    for name in FACILITY_MARKERS:
        if item.get_closest_marker(name) is None:
            continue
        reason = missing(name)
        if reason is None:
            continue
        if name in needed:
            pytest.fail(f"required facility '{name}' is missing: {reason}", pytrace=False)
        pytest.skip(f"{name}: {reason}")
