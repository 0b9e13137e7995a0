"""``examples/web.yaml`` (with its nested ``web_server.yaml``) in process over the fake
drivers: the whole web tier, scaling the server group 2 -> 3, and delete leaving nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import Heat
from .test_api_stacks import _image_and_flavors

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def public_network(cloud: Any) -> str:
    h = cloud.admin_headers
    r = cloud.client.post(
        "/networking/v2.0/networks",
        headers=h,
        json={"network": {"name": "public", "router:external": True, "shared": False}},
    )
    assert r.status_code == 201, r.text
    net = r.json()["network"]["id"]
    r = cloud.client.post(
        "/networking/v2.0/subnets",
        headers=h,
        json={"subnet": {"network_id": net, "cidr": "172.24.4.0/24", "ip_version": 4, "name": "public-subnet"}},
    )
    assert r.status_code == 201, r.text
    return str(net)


def test_web_example(heat: Heat) -> None:
    cloud = heat.cloud
    _image_and_flavors(cloud)
    public_network(cloud)
    cloud.client.post(
        "/compute/v2.1/flavors",
        headers=cloud.admin_headers,
        json={"flavor": {"name": "m1.tiny", "ram": 64, "vcpus": 1, "disk": 1}},
    )
    r = cloud.request("POST", "/compute/v2.1/os-keypairs", token=heat.token, json={"keypair": {"name": "k1"}})
    assert r.status_code == 200, r.text
    body = {
        "template": (EXAMPLES / "web.yaml").read_text(),
        "files": {"web_server.yaml": (EXAMPLES / "web_server.yaml").read_text()},
        "parameters": {"key_name": "k1"},
    }
    r = heat.request("POST", "/stacks", json={"stack_name": "web", **body})
    assert r.status_code == 201, r.text
    sid = r.json()["stack"]["id"]
    st = heat.wait("web", sid)
    assert st["stack_status"] == "CREATE_COMPLETE", st["stack_status_reason"]
    outs = {o["output_key"]: o["output_value"] for o in st["outputs"]}
    assert outs["url"].startswith("http://172.24.4.") and len(outs["server_ips"]) == 2
    servers = cloud.request("GET", "/compute/v2.1/servers/detail", token=heat.token).json()["servers"]
    assert sorted(s["name"] for s in servers) == ["web-web-0", "web-web-1"]
    assert all(s["key_name"] == "k1" and s["status"] == "ACTIVE" for s in servers)
    vol = cloud.request("GET", f"/volume/v3/{heat.project_id}/volumes/{outs['volume']}", token=heat.token).json()[
        "volume"
    ]
    assert vol["status"] == "in-use"
    fips = cloud.request("GET", "/networking/v2.0/floatingips", token=heat.token).json()["floatingips"]
    assert len(fips) == 1 and fips[0]["fixed_ip_address"] in outs["server_ips"]

    r = heat.request("PATCH", f"/stacks/web/{sid}", json={"parameters": {"count": 3}})
    assert r.status_code == 202, r.text
    st = heat.wait("web", sid)
    assert st["stack_status"] == "UPDATE_COMPLETE", st["stack_status_reason"]
    outs2 = {o["output_key"]: o["output_value"] for o in st["outputs"]}
    assert (
        len(outs2["server_ips"]) == 3 and outs2["server_ips"][:2] == outs["server_ips"] and outs2["url"] == outs["url"]
    )
    assert len(cloud.request("GET", "/compute/v2.1/servers", token=heat.token).json()["servers"]) == 3

    heat.request("DELETE", f"/stacks/web/{sid}")
    assert heat.wait("web", sid)["stack_status"] == "DELETE_COMPLETE"
    for path, key in (
        ("/compute/v2.1/servers", "servers"),
        ("/networking/v2.0/floatingips", "floatingips"),
        ("/networking/v2.0/routers", "routers"),
        ("/networking/v2.0/ports", "ports"),
        (f"/volume/v3/{heat.project_id}/volumes", "volumes"),
    ):
        assert cloud.request("GET", path, token=heat.token).json()[key] == [], path
    nets = cloud.request("GET", "/networking/v2.0/networks", token=heat.token).json()["networks"]
    assert [n["name"] for n in nets] == ["public"]
    # the nested stacks went with it
    assert heat.request("GET", "/stacks?show_nested=true").json()["stacks"] == []


def test_web_example_with_a_load_balancer(heat: Heat, monkeypatch: Any) -> None:
    """The Octavia parts against an in-memory load-balancer API (the real one is another
    branch's): two members, a third after scaling, the floating IP on the VIP, all gone after."""
    from overcast.orchestration.service import OrchestrationService

    from .fake_octavia import FakeOctavia, WithOctavia

    cloud = heat.cloud
    _image_and_flavors(cloud)
    public_network(cloud)
    cloud.client.post(
        "/compute/v2.1/flavors",
        headers=cloud.admin_headers,
        json={"flavor": {"name": "m1.tiny", "ram": 64, "vcpus": 1, "disk": 1}},
    )
    cloud.request("POST", "/compute/v2.1/os-keypairs", token=heat.token, json={"keypair": {"name": "k1"}})
    fake = FakeOctavia()
    svc = cloud.runtime.orchestration
    real_api_for = OrchestrationService.api_for
    monkeypatch.setattr(svc, "api_for", lambda user, project: WithOctavia(real_api_for(svc, user, project), fake))
    body = {
        "template": (EXAMPLES / "web.yaml").read_text(),
        "files": {"web_server.yaml": (EXAMPLES / "web_server.yaml").read_text()},
        "parameters": {"key_name": "k1", "load_balancer": True},
    }
    r = heat.request("POST", "/stacks", json={"stack_name": "lbweb", **body})
    assert r.status_code == 201, r.text
    sid = r.json()["stack"]["id"]
    st = heat.wait("lbweb", sid)
    assert st["stack_status"] == "CREATE_COMPLETE", st["stack_status_reason"]
    res = heat.resources("lbweb", sid)
    pool_id = res["pool"]["physical_resource_id"]
    outs = {o["output_key"]: o["output_value"] for o in st["outputs"]}
    assert sorted(m["address"] for m in fake.members(pool_id)) == sorted(outs["server_ips"])
    lb = fake.objects[res["lb"]["physical_resource_id"]]
    fip = cloud.request(
        "GET", f"/networking/v2.0/floatingips/{res['floating_ip']['physical_resource_id']}", token=heat.token
    ).json()
    assert fip["floatingip"]["port_id"] == lb["vip_port_id"]  # the floating IP is on the VIP
    assert any(o["_kind"] == "healthmonitor" for o in fake.objects.values())
    assert ("POST", "/v2/lbaas/listeners") in fake.calls

    r = heat.request("PATCH", f"/stacks/lbweb/{sid}", json={"parameters": {"count": 3}})
    st = heat.wait("lbweb", sid)
    assert st["stack_status"] == "UPDATE_COMPLETE", st["stack_status_reason"]
    assert len(fake.members(pool_id)) == 3  # scaling the group added one member to the pool

    heat.request("DELETE", f"/stacks/lbweb/{sid}")
    assert heat.wait("lbweb", sid)["stack_status"] == "DELETE_COMPLETE"
    assert fake.objects == {}
    assert cloud.request("GET", "/networking/v2.0/ports", token=heat.token).json()["ports"] == []
