"""An HTTP load balancer made, changed and deleted through the API over the fake data plane."""

from __future__ import annotations

from typing import Any

from .conftest import LB, NET, LbApi, octavia_error


def test_create_to_active_and_status_tree(lbapi: LbApi, fake_drivers: Any) -> None:
    net, sub = lbapi.network(lbapi.alice)
    lb = lbapi.loadbalancer(lbapi.alice, sub["id"])
    assert lb["provisioning_status"] == "PENDING_CREATE" and lb["vip_subnet_id"] == sub["id"]
    assert lb["vip_network_id"] == net["id"] and lb["vip_address"].startswith("10.0.0.")
    port = lbapi.alice.get(f"{NET}/ports/{lb['vip_port_id']}").json()["port"]
    assert port["device_owner"] == "Octavia" and port["fixed_ips"][0]["ip_address"] == lb["vip_address"]
    shown = lbapi.alice.get(f"{LB}/loadbalancers/{lb['id']}").json()["loadbalancer"]
    assert shown["provisioning_status"] == "ACTIVE" and shown["operating_status"] == "ONLINE"
    host = lbapi.runtime.network.plumbing.network_host()
    assert lb["id"] in fake_drivers.loadbalancer.deployed[host]
    namespace = f"oclb-{lb['id']}"
    assert namespace in fake_drivers.network.state[host]["namespaces"]

    listener = lbapi.make(
        lbapi.alice,
        "listeners",
        "listener",
        {
            "loadbalancer_id": lb["id"],
            "protocol": "HTTP",
            "protocol_port": 80,
            "insert_headers": {"X-Forwarded-For": "true"},
            "connection_limit": 100,
        },
    )
    assert listener["provisioning_status"] == "PENDING_CREATE"
    pool = lbapi.make(
        lbapi.alice,
        "pools",
        "pool",
        {
            "listener_id": listener["id"],
            "protocol": "HTTP",
            "lb_algorithm": "ROUND_ROBIN",
            "session_persistence": {"type": "SOURCE_IP"},
        },
    )
    m1 = lbapi.make(
        lbapi.alice,
        f"pools/{pool['id']}/members",
        "member",
        {"address": "10.0.0.50", "protocol_port": 80, "subnet_id": sub["id"]},
    )
    m2 = lbapi.make(
        lbapi.alice,
        f"pools/{pool['id']}/members",
        "member",
        {"address": "10.0.0.51", "protocol_port": 80, "weight": 3, "backup": True},
    )
    hm = lbapi.make(
        lbapi.alice,
        "healthmonitors",
        "healthmonitor",
        {
            "pool_id": pool["id"],
            "type": "HTTP",
            "delay": 2,
            "timeout": 1,
            "max_retries": 2,
            "url_path": "/",
            "expected_codes": "200-204",
        },
    )
    assert hm["http_method"] == "GET" and hm["max_retries_down"] == 3
    policy = lbapi.make(
        lbapi.alice,
        "l7policies",
        "l7policy",
        {"listener_id": listener["id"], "action": "REDIRECT_TO_URL", "redirect_url": "http://example.com/"},
    )
    assert policy["redirect_http_code"] == 302 and policy["position"] == 1
    rule = lbapi.make(
        lbapi.alice,
        f"l7policies/{policy['id']}/rules",
        "rule",
        {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"},
    )
    assert rule["provisioning_status"] == "PENDING_CREATE"

    deployed = fake_drivers.loadbalancer.deployed[host][lb["id"]]
    (served,) = deployed.listeners
    assert served.default_pool_id == pool["id"] and served.insert_headers == {"X-Forwarded-For": "true"}
    assert served.l7policies[0].rules[0].value == "/old"
    assert {m.address for m in deployed.pools[0].members} == {"10.0.0.50", "10.0.0.51"}
    assert deployed.pools[0].health_monitor is not None and deployed.pools[0].health_monitor.expected_codes == "200-204"
    # the VIP's group admits the listener's port
    group = lbapi.alice.get(f"{NET}/security-groups", params={"name": f"lb-{lb['id']}"}).json()["security_groups"][0]
    assert any(r["port_range_min"] == 80 and r["direction"] == "ingress" for r in group["security_group_rules"])

    # health: one member fails its checks
    fake_drivers.loadbalancer.down.add("10.0.0.51")
    lbapi.svc.health.refresh(lb["id"])
    tree = lbapi.alice.get(f"{LB}/loadbalancers/{lb['id']}/status").json()["statuses"]["loadbalancer"]
    assert tree["provisioning_status"] == "ACTIVE" and tree["operating_status"] == "DEGRADED"
    (tl,) = tree["listeners"]
    (tp,) = tl["pools"]
    assert tp["operating_status"] == "DEGRADED" and tp["health_monitor"]["type"] == "HTTP"
    statuses = {m["id"]: m["operating_status"] for m in tp["members"]}
    assert statuses == {m1["id"]: "ONLINE", m2["id"]: "ERROR"}
    member = lbapi.alice.get(f"{LB}/pools/{pool['id']}/members/{m2['id']}").json()["member"]
    assert member["operating_status"] == "ERROR" and member["provisioning_status"] == "ACTIVE"
    stats = lbapi.alice.get(f"{LB}/loadbalancers/{lb['id']}/stats").json()["stats"]
    assert set(stats) == {"bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors"}

    # updates, then a cascade delete leaves nothing
    r = lbapi.alice.put(f"{LB}/pools/{pool['id']}/members/{m1['id']}", json={"member": {"weight": 0}})
    assert r.status_code == 200 and r.json()["member"]["provisioning_status"] == "PENDING_UPDATE"
    lbapi.settle()
    r = lbapi.alice.delete(f"{LB}/loadbalancers/{lb['id']}")
    assert "it has children" in octavia_error(r, 400)
    assert lbapi.alice.delete(f"{LB}/loadbalancers/{lb['id']}", params={"cascade": "true"}).status_code == 204
    lbapi.settle()
    octavia_error(lbapi.alice.get(f"{LB}/loadbalancers/{lb['id']}"), 404)
    assert lbapi.alice.get(f"{LB}/listeners").json()["listeners"] == []
    assert lbapi.alice.get(f"{NET}/ports/{lb['vip_port_id']}").status_code == 404
    assert lb["id"] not in fake_drivers.loadbalancer.deployed[host]
    assert namespace not in fake_drivers.network.state[host]["namespaces"]
    assert lbapi.alice.get(f"{NET}/security-groups", params={"name": f"lb-{lb['id']}"}).json()["security_groups"] == []
