"""The unmodified ``openstack`` CLI with python-octaviaclient against a running cloud (fake
data plane): the whole object tree made with ``--wait``, shown, listed by name, and deleted."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.clients, pytest.mark.slow]


def test_loadbalancer_commands(running_cloud: Any) -> None:
    def j(*args: str) -> Any:
        return running_cloud.openstack(*args, "-f", "json")

    j("network", "create", "n1")
    sub = j("subnet", "create", "--network", "n1", "--subnet-range", "10.7.0.0/24", "s1")
    lb = j("loadbalancer", "create", "--name", "lb1", "--vip-subnet-id", sub["id"], "--wait")
    assert lb["provisioning_status"] == "ACTIVE" and lb["operating_status"] == "ONLINE"
    assert lb["vip_address"].startswith("10.7.0.") and lb["provider"] == "fake"
    listener = j("loadbalancer", "listener", "create", "--name", "l1", "--protocol", "HTTP", "--protocol-port", "80",
                 "--connection-limit", "500", "--insert-headers", "X-Forwarded-For=true", "--wait", "lb1")  # fmt: skip
    assert listener["connection_limit"] == 500 and listener["provisioning_status"] == "ACTIVE"
    pool = j("loadbalancer", "pool", "create", "--name", "p1", "--listener", "l1", "--protocol", "HTTP",
             "--lb-algorithm", "LEAST_CONNECTIONS", "--session-persistence", "type=SOURCE_IP", "--wait")  # fmt: skip
    assert pool["lb_algorithm"] == "LEAST_CONNECTIONS"
    member = j("loadbalancer", "member", "create", "--name", "m1", "--address", "10.7.0.20", "--protocol-port", "8080",
               "--weight", "5", "--subnet-id", sub["id"], "--wait", "p1")  # fmt: skip
    assert member["weight"] == 5 and member["provisioning_status"] == "ACTIVE"
    hm = j("loadbalancer", "healthmonitor", "create", "--name", "hm1", "--type", "HTTP", "--delay", "3", "--timeout", "2",
           "--max-retries", "2", "--url-path", "/health", "--http-method", "HEAD", "--expected-codes", "200,204", "--wait", "p1")  # fmt: skip
    assert hm["http_method"] == "HEAD" and hm["expected_codes"] == "200,204"
    policy = j("loadbalancer", "l7policy", "create", "--name", "r", "--action", "REJECT", "--wait", "l1")
    rule = j("loadbalancer", "l7rule", "create", "--type", "HEADER", "--key", "X-Bad", "--compare-type", "EQUAL_TO",
             "--value", "yes", "--wait", policy["id"])  # fmt: skip
    assert rule["key"] == "X-Bad"
    assert [m["name"] for m in j("loadbalancer", "member", "list", "p1")] == ["m1"]
    assert j("loadbalancer", "member", "show", "p1", "m1")["operating_status"] == "ONLINE"
    assert j("loadbalancer", "show", "lb1")["listeners"]
    status = running_cloud.openstack("loadbalancer", "status", "show", "lb1")
    assert "m1" in status or member["id"] in status
    assert j("loadbalancer", "stats", "show", "lb1")
    running_cloud.openstack("loadbalancer", "listener", "set", "--timeout-client-data", "1000", "--wait", "l1")
    assert j("loadbalancer", "listener", "show", "l1")["timeout_client_data"] == 1000
    assert [p["name"] for p in j("loadbalancer", "provider", "list")] == ["fake"]
    running_cloud.openstack("loadbalancer", "delete", "--cascade", "--wait", "lb1")
    assert j("loadbalancer", "list") == []
