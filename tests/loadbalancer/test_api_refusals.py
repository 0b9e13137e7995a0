"""Bad input gets Octavia's error and changes nothing; another project sees nothing."""

from __future__ import annotations

from typing import Any

from .conftest import LB, NET, LbApi, octavia_error


def _lb_with_listener(lbapi: LbApi) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    _, sub = lbapi.network(lbapi.alice)
    lb = lbapi.loadbalancer(lbapi.alice, sub["id"])
    listener = lbapi.make(
        lbapi.alice, "listeners", "listener", {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}
    )
    return sub, lb, listener


def _snapshot(lbapi: LbApi) -> dict[str, Any]:
    return {
        k: lbapi.alice.get(f"{LB}/{k}").json()[k]
        for k in ("loadbalancers", "listeners", "pools", "healthmonitors", "l7policies")
    }


def test_listener_port_already_used_on_the_vip(lbapi: LbApi) -> None:
    _, lb, _ = _lb_with_listener(lbapi)
    before = _snapshot(lbapi)
    r = lbapi.alice.post(
        f"{LB}/listeners", json={"listener": {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 80}}
    )
    assert (
        octavia_error(r, 409)
        == "Another Listener on this Load Balancer is already using protocol TCP and protocol_port 80"
    )
    assert _snapshot(lbapi) == before


def test_pool_protocol_that_does_not_fit_the_listener(lbapi: LbApi) -> None:
    _, _, listener = _lb_with_listener(lbapi)
    before = _snapshot(lbapi)
    r = lbapi.alice.post(
        f"{LB}/pools", json={"pool": {"listener_id": listener["id"], "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}
    )
    assert octavia_error(r, 400) == "The listener protocol HTTP and pool protocol TCP are not compatible."
    assert _snapshot(lbapi) == before


def test_member_on_a_subnet_with_no_route(lbapi: LbApi) -> None:
    _, lb, listener = _lb_with_listener(lbapi)
    pool = lbapi.make(
        lbapi.alice, "pools", "pool", {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    )
    _, other = lbapi.network(lbapi.alice, cidr="10.9.0.0/24", name="island")  # no router joins it to the VIP's
    r = lbapi.alice.post(
        f"{LB}/pools/{pool['id']}/members",
        json={"member": {"address": "10.9.0.5", "protocol_port": 80, "subnet_id": other["id"]}},
    )
    assert "is not reachable from load balancer" in octavia_error(r, 400)
    r = lbapi.alice.post(
        f"{LB}/pools/{pool['id']}/members", json={"member": {"address": "192.168.77.5", "protocol_port": 80}}
    )
    assert octavia_error(r, 400).startswith("Validation failure: Member address 192.168.77.5 is not reachable")
    assert lbapi.alice.get(f"{LB}/pools/{pool['id']}/members").json()["members"] == []
    # once a router joins the two subnets, the member is accepted
    router = lbapi.alice.post(f"{NET}/routers", json={"router": {"name": "r"}}).json()["router"]
    for subnet_id in (lb["vip_subnet_id"], other["id"]):
        assert (
            lbapi.alice.put(
                f"{NET}/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet_id}
            ).status_code
            == 200
        )
    member = lbapi.make(
        lbapi.alice,
        f"pools/{pool['id']}/members",
        "member",
        {"address": "10.9.0.5", "protocol_port": 80, "subnet_id": other["id"]},
    )
    assert member["subnet_id"] == other["id"]


def test_change_while_pending_update_is_immutable(lbapi: LbApi, fake_drivers: Any) -> None:
    _, lb, listener = _lb_with_listener(lbapi)
    held: list[str] = []
    lbapi.svc.provisioner.submit = held.append  # the sync is not run: the load balancer stays pending
    r = lbapi.alice.put(f"{LB}/listeners/{listener['id']}", json={"listener": {"connection_limit": 10}})
    assert r.status_code == 200 and held == [lb["id"]]
    assert (
        lbapi.alice.get(f"{LB}/loadbalancers/{lb['id']}").json()["loadbalancer"]["provisioning_status"]
        == "PENDING_UPDATE"
    )
    before = _snapshot(lbapi)
    for method, path, body in (
        ("PUT", f"listeners/{listener['id']}", {"listener": {"connection_limit": 20}}),
        ("POST", "pools", {"pool": {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
        ("PUT", f"loadbalancers/{lb['id']}", {"loadbalancer": {"name": "x"}}),
        ("DELETE", f"listeners/{listener['id']}", None),
    ):
        r = lbapi.alice.request(method, f"{LB}/{path}", json=body)
        assert octavia_error(r, 409) == f"Load Balancer {lb['id']} is immutable and cannot be updated."
    assert _snapshot(lbapi) == before


def test_invalid_values_are_refused_in_wsme_terms(lbapi: LbApi) -> None:
    _, lb, listener = _lb_with_listener(lbapi)
    cases = [
        (
            "listeners",
            {"listener": {"loadbalancer_id": lb["id"], "protocol": "GOPHER", "protocol_port": 81}},
            400,
            "Invalid input for field/attribute protocol.",
        ),
        (
            "listeners",
            {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 70000}},
            400,
            "Value should be lower or equal to 65535",
        ),
        ("listeners", {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP"}}, 400, "Mandatory field missing."),
        (
            "listeners",
            {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 82, "bogus": 1}},
            400,
            "Unknown attribute for argument listener: bogus",
        ),
        (
            "listeners",
            {"listener": {"loadbalancer_id": lb["id"], "protocol": "TERMINATED_HTTPS", "protocol_port": 443}},
            501,
            "does not support a requested option",
        ),
        (
            "pools",
            {"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "lb_algorithm": "SOURCE_IP_PORT"}},
            501,
            "does not support a requested option",
        ),
        (
            "healthmonitors",
            {"healthmonitor": {"pool_id": lb["id"], "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1}},
            400,
            f"Pool {lb['id']} not found.",
        ),
        (
            "l7policies",
            {"l7policy": {"listener_id": listener["id"], "action": "REDIRECT_TO_URL"}},
            400,
            "redirect_url is required",
        ),
        ("loadbalancers", {"loadbalancer": {"vip_subnet_id": lb["id"]}}, 400, f"Subnet {lb['id']} not found."),
        (
            "loadbalancers",
            {"loadbalancer": {"vip_subnet_id": lb["vip_subnet_id"], "provider": "amphora"}},
            400,
            "Provider 'amphora' is not enabled.",
        ),
    ]
    for path, body, status, text in cases:
        assert text in octavia_error(lbapi.alice.post(f"{LB}/{path}", json=body), status), body
    r = lbapi.alice.put(f"{LB}/loadbalancers/{lb['id']}/failover")
    assert octavia_error(r, 403)  # admin only, as Octavia's policy
    assert "does not support a requested action" in octavia_error(
        lbapi.boss.put(f"{LB}/loadbalancers/{lb['id']}/failover"), 501
    )


def test_another_project_cannot_see_or_change_the_load_balancer(lbapi: LbApi) -> None:
    _, lb, listener = _lb_with_listener(lbapi)
    assert lbapi.bob.get(f"{LB}/loadbalancers").json()["loadbalancers"] == []
    assert lbapi.bob.get(f"{LB}/listeners").json()["listeners"] == []
    for method, path, body in (
        ("GET", f"loadbalancers/{lb['id']}", None),
        ("GET", f"loadbalancers/{lb['id']}/status", None),
        ("GET", f"loadbalancers/{lb['id']}/stats", None),
        ("PUT", f"loadbalancers/{lb['id']}", {"loadbalancer": {"name": "mine"}}),
        ("DELETE", f"loadbalancers/{lb['id']}", None),
        ("GET", f"listeners/{listener['id']}", None),
        ("PUT", f"listeners/{listener['id']}", {"listener": {"name": "mine"}}),
        ("DELETE", f"listeners/{listener['id']}", None),
    ):
        octavia_error(lbapi.bob.request(method, f"{LB}/{path}", json=body), 404)
    r = lbapi.bob.post(
        f"{LB}/listeners", json={"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 81}}
    )
    assert octavia_error(r, 400) == f"Load Balancer {lb['id']} not found."
    # bob cannot put his load balancer's VIP on alice's subnet either
    r = lbapi.bob.post(f"{LB}/loadbalancers", json={"loadbalancer": {"vip_subnet_id": lb["vip_subnet_id"]}})
    assert octavia_error(r, 400) == f"Subnet {lb['vip_subnet_id']} not found."
    assert lbapi.alice.get(f"{LB}/loadbalancers/{lb['id']}").json()["loadbalancer"]["name"] == "lb1"
    assert len(lbapi.boss.get(f"{LB}/loadbalancers").json()["loadbalancers"]) == 1


def test_quota_and_listing_filters(lbapi: LbApi) -> None:
    _, sub = lbapi.network(lbapi.alice)
    r = lbapi.boss.put(f"{LB}/quotas/{lbapi.alice_project}", json={"quota": {"loadbalancer": 1}})
    assert r.status_code == 202 and r.json()["quota"]["load_balancer"] == 1
    assert lbapi.alice.get(f"{LB}/quotas/{lbapi.alice_project}").json()["quota"]["load_balancer"] == 1
    octavia_error(lbapi.alice.put(f"{LB}/quotas/{lbapi.alice_project}", json={"quota": {"loadbalancer": 5}}), 403)
    lbapi.loadbalancer(lbapi.alice, sub["id"], name="first")
    ports_before = lbapi.alice.get(f"{NET}/ports").json()["ports"]
    r = lbapi.alice.post(f"{LB}/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sub["id"], "name": "second"}})
    assert octavia_error(r, 403) == "Quota has been met for resources: load_balancer"
    assert lbapi.alice.get(f"{NET}/ports").json()["ports"] == ports_before  # no VIP port left behind
    listed = lbapi.alice.get(f"{LB}/loadbalancers", params={"name": "first"}).json()
    assert [lb["name"] for lb in listed["loadbalancers"]] == ["first"] and listed["loadbalancers_links"] == []
    assert lbapi.alice.get(f"{LB}/loadbalancers", params={"name": "nope"}).json()["loadbalancers"] == []
    assert lbapi.alice.get(f"{LB}/providers").json()["providers"][0]["name"] == "fake"
    assert lbapi.alice.get(f"{LB}/flavors").json()["flavors"] == []
    octavia_error(lbapi.alice.get(f"{LB}/flavorprofiles"), 403)
    versions = lbapi.alice.get("/load-balancer/").json()["versions"]
    assert {v["id"] for v in versions} == {"v2.0", "v2"}
