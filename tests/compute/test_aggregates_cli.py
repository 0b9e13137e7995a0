"""The real ``openstack`` CLI on aggregates and migrations (issue 18): ``aggregate`` commands,
and ``hypervisor show``, which asks for the host's aggregates (it failed before)."""

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
