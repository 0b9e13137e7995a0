"""The real ``openstack`` CLI on aggregates, migrations and usage (issue 18): ``aggregate``
commands, ``hypervisor show`` (which asks for the host's aggregates: it failed before),
``server migration list`` and ``usage list``/``usage show``."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.clients, pytest.mark.slow]


def test_aggregate_commands_and_hypervisor_show(running_cloud: Any) -> None:
    os_ = running_cloud.openstack
    agg = os_("aggregate", "create", "--zone", "nova", "--property", "disk=ssd", "fast", "-f", "json")
    assert agg["name"] == "fast" and agg["availability_zone"] == "nova"
    os_("aggregate", "add", "host", "fast", "fake1")
    shown = os_("aggregate", "show", "fast", "-f", "json")
    assert shown["hosts"] == ["fake1"] and shown["properties"] == {"disk": "ssd"}
    hyp = os_("hypervisor", "show", "fake1", "-f", "json")
    assert hyp["aggregates"] == ["fast"]
    refused = os_("aggregate", "add", "host", "fast", "nowhere", check=False)
    assert refused.returncode != 0 and "Compute host nowhere could not be found" in refused.stderr
    assert [a["Name"] for a in os_("aggregate", "list", "-f", "json")] == ["fast"]
    assert os_("server", "migration", "list", "-f", "json") == []
    os_("aggregate", "remove", "host", "fast", "fake1")
    os_("aggregate", "delete", "fast")
    assert os_("aggregate", "list", "-f", "json") == []


def test_usage_commands(running_cloud: Any) -> None:
    os_ = running_cloud.openstack
    assert os_("usage", "list", "-f", "json") == []
    shown = os_("usage", "show", "-f", "json")  # Nova's {} for a project with no servers in the period
    assert shown["Servers"] is None and shown["CPU Hours"] is None
