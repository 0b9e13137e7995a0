"""The dashboard's load-balancer page: a load balancer, listener, pool, member and monitor
made through its forms, the member's health shown (and refreshed by htmx), an API refusal
shown as Octavia's text, and the cascade delete."""

from __future__ import annotations

from typing import Any

from tests.dashboard.conftest import csrf_of, login

from .conftest import NET


def test_load_balancer_page(cloud: Any, fake_drivers: Any) -> None:
    browser = login(cloud, "admin", cloud.admin_password, "admin")
    h = cloud.admin_headers
    net = cloud.client.post(f"{NET}/networks", json={"network": {"name": "web"}}, headers=h).json()["network"]
    sub = cloud.client.post(
        f"{NET}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.5.0.0/24", "ip_version": 4}}, headers=h
    ).json()["subnet"]
    runner = cloud.runtime.loadbalancer.runner

    def submit(**form: str) -> Any:
        token = csrf_of(browser.get("/loadbalancers").text)
        r = browser.post("/loadbalancers", data={"csrf_token": token, **form}, follow_redirects=True)
        assert runner.wait_idle(30)
        return r

    assert "Load balancers" in submit(action="create", name="front", subnet_id=sub["id"]).text
    lb = cloud.client.get("/load-balancer/v2/lbaas/loadbalancers", headers=h).json()["loadbalancers"][0]
    submit(action="listener", name="web", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port="80")
    listener = cloud.client.get("/load-balancer/v2/lbaas/listeners", headers=h).json()["listeners"][0]
    submit(action="pool", name="p", listener_id=listener["id"], protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    pool = cloud.client.get("/load-balancer/v2/lbaas/pools", headers=h).json()["pools"][0]
    submit(action="member", name="m1", pool_id=pool["id"], address="10.5.0.20", protocol_port="80")
    submit(
        action="monitor",
        name="hm",
        pool_id=pool["id"],
        type="HTTP",
        delay="2",
        timeout="1",
        max_retries="2",
        url_path="/",
    )
    fake_drivers.loadbalancer.down.add("10.5.0.20")
    cloud.runtime.loadbalancer.health.refresh(lb["id"])
    fragment = browser.get("/loadbalancers", headers={"HX-Request": "true"}).text
    assert fragment.startswith('<div id="lb-trees"') and 'data-health="ERROR"' in fragment
    refused = submit(action="listener", name="dup", loadbalancer_id=lb["id"], protocol="TCP", protocol_port="80")
    assert "already using protocol TCP and protocol_port 80" in refused.text
    submit(action="delete", loadbalancer_id=lb["id"])
    assert "No load balancers yet." in browser.get("/loadbalancers").text
