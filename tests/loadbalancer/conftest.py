"""The in-process cloud seen by two projects' members and an admin, with helpers to make
a network, a load balancer and wait for the provisioner."""

from __future__ import annotations

from typing import Any

import pytest

from tests.network.conftest import Caller

LB = "/load-balancer/v2/lbaas"
NET = "/networking/v2.0"


class LbApi:
    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.runtime = cloud.runtime
        self.svc = cloud.runtime.loadbalancer
        self.boss = Caller(cloud.client, cloud.admin_token)
        self.alice_project, _, token = cloud.new_project_user(role="member")
        self.alice = Caller(cloud.client, token)
        self.bob_project, _, token = cloud.new_project_user(role="member")
        self.bob = Caller(cloud.client, token)

    def settle(self) -> None:
        assert self.svc.runner.wait_idle(30)

    def network(self, who: Caller, cidr: str = "10.0.0.0/24", name: str = "n") -> tuple[dict[str, Any], dict[str, Any]]:
        net = who.post(f"{NET}/networks", json={"network": {"name": name}}).json()["network"]
        sub = who.post(
            f"{NET}/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}}
        ).json()["subnet"]
        return net, sub

    def loadbalancer(self, who: Caller, subnet_id: str, **extra: Any) -> dict[str, Any]:
        r = who.post(f"{LB}/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet_id, "name": "lb1", **extra}})
        assert r.status_code == 201, r.text
        lb = r.json()["loadbalancer"]
        self.settle()
        return lb

    def make(self, who: Caller, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        r = who.post(f"{LB}/{path}", json={key: body})
        assert r.status_code == 201, r.text
        self.settle()
        return r.json()[key]


@pytest.fixture
def lbapi(cloud: Any) -> LbApi:
    cloud.runtime.network.plumbing.strict = True
    return LbApi(cloud)


def octavia_error(response: Any, status: int) -> str:
    """Assert Octavia's fault body and return its faultstring."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    assert body["faultcode"] == ("Client" if status < 500 else "Server")
    assert body["debuginfo"] is None
    return str(body["faultstring"])
