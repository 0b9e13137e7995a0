"""Strict input (issue 22, part 2): wrong types are 400s (never 500s), control characters in
names and descriptions are refused by every service, and what an API accepts is honoured or
refused, never stored and dropped."""

from __future__ import annotations

import json
from typing import Any

import pytest

BAD_TEXT = ["nul\x00byte", "bell\x07", "esc\x1b[31mred", "del\x7f", "c1\x85", "lone \ud800 surrogate"]


def post_json(client: Any, path: str, body: Any, headers: dict[str, str]) -> Any:
    """POST ``body`` as ASCII JSON (escapes such as \\ud800 pass as a client could send them)."""
    return client.post(path, content=json.dumps(body), headers={**headers, "Content-Type": "application/json"})


def counts(cloud: Any, h: dict[str, str]) -> dict[str, int]:
    c = cloud.client
    pid = cloud.admin_project_id
    return {
        "flavors": len(c.get("/compute/v2.1/flavors", headers=h).json()["flavors"]),
        "keypairs": len(c.get("/compute/v2.1/os-keypairs", headers=h).json()["keypairs"]),
        "groups": len(c.get("/compute/v2.1/os-server-groups", headers=h).json()["server_groups"]),
        "networks": len(c.get("/networking/v2.0/networks", headers=h).json()["networks"]),
        "routers": len(c.get("/networking/v2.0/routers", headers=h).json()["routers"]),
        "volumes": len(c.get(f"/volume/v3/{pid}/volumes", headers=h).json()["volumes"]),
        "images": len(c.get("/image/v2/images", headers=h).json()["images"]),
        "projects": len(c.get("/identity/v3/projects", headers=h).json()["projects"]),
        "users": len(c.get("/identity/v3/users", headers=h).json()["users"]),
    }


@pytest.mark.parametrize("text", BAD_TEXT)
def test_control_characters_in_names_and_descriptions_are_400_everywhere(cloud, text: str) -> None:
    h = cloud.admin_headers
    c = cloud.client
    pid = cloud.admin_project_id
    before = counts(cloud, h)
    cases = [
        ("/compute/v2.1/flavors", {"flavor": {"name": text, "ram": 64, "vcpus": 1, "disk": 1}}, "badRequest"),
        ("/compute/v2.1/os-keypairs", {"keypair": {"name": text}}, "badRequest"),
        ("/compute/v2.1/os-server-groups", {"server_group": {"name": text, "policies": ["affinity"]}}, "badRequest"),
        ("/networking/v2.0/networks", {"network": {"name": text}}, "NeutronError"),
        ("/networking/v2.0/networks", {"network": {"name": "n", "description": text}}, "NeutronError"),
        ("/networking/v2.0/routers", {"router": {"name": text}}, "NeutronError"),
        (f"/volume/v3/{pid}/volumes", {"volume": {"size": 1, "name": text}}, "badRequest"),
        (f"/volume/v3/{pid}/volumes", {"volume": {"size": 1, "description": text}}, "badRequest"),
        ("/identity/v3/projects", {"project": {"name": text}}, "error"),
        ("/identity/v3/users", {"user": {"name": "u", "description": text}}, "error"),
    ]
    for path, body, key in cases:
        r = post_json(c, path, body, h)
        assert r.status_code == 400, (path, body, r.status_code, r.text)
        assert key in r.json(), r.text
    r = post_json(
        c,
        "/image/v2/images",
        {"name": text, "disk_format": "raw", "container_format": "bare"},
        {**h, "Accept": "application/json"},
    )
    assert r.status_code == 400, r.text
    image = c.post(
        "/image/v2/images", json={"name": "ok", "disk_format": "raw", "container_format": "bare"}, headers=h
    ).json()
    r = c.patch(
        f"/image/v2/images/{image['id']}",
        content=json.dumps([{"op": "replace", "path": "/name", "value": text}]),
        headers={**h, "Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert r.status_code == 400, r.text
    assert c.get(f"/image/v2/images/{image['id']}", headers=h).json()["name"] == "ok"
    after = counts(cloud, h)
    assert after == {**before, "images": before["images"] + 1}


def test_descriptions_may_span_lines(cloud) -> None:
    r = cloud.client.post(
        "/networking/v2.0/networks",
        json={"network": {"name": "n", "description": "line 1\nline 2\ttab"}},
        headers=cloud.admin_headers,
    )
    assert r.status_code == 201 and r.json()["network"]["description"] == "line 1\nline 2\ttab"


@pytest.mark.parametrize("volume_type", [{}, [], ["a", "b"], 7])
def test_volume_type_of_the_wrong_type_is_400(cloud, volume_type: Any) -> None:
    pid = cloud.admin_project_id
    r = cloud.client.post(
        f"/volume/v3/{pid}/volumes",
        json={"volume": {"size": 1, "volume_type": volume_type}},
        headers=cloud.admin_headers,
    )
    assert r.status_code == 400 and "volume_type" in r.json()["badRequest"]["message"], r.text
    assert cloud.client.get(f"/volume/v3/{pid}/volumes", headers=cloud.admin_headers).json()["volumes"] == []


def test_os_attach_with_a_list_for_instance_uuid_is_400(cloud) -> None:
    pid = cloud.admin_project_id
    h = cloud.admin_headers
    vol = cloud.client.post(f"/volume/v3/{pid}/volumes", json={"volume": {"size": 1}}, headers=h).json()["volume"]
    for bad in ([None, None], {"a": 1}, ["srv"]):
        r = cloud.client.post(
            f"/volume/v3/{pid}/volumes/{vol['id']}/action", json={"os-attach": {"instance_uuid": bad}}, headers=h
        )
        assert r.status_code == 400 and "instance_uuid" in r.json()["badRequest"]["message"], r.text
    r = cloud.client.post(
        f"/volume/v3/{pid}/volumes/{vol['id']}/action",
        json={"os-attach": {"instance_uuid": "srv-1", "mountpoint": ["/dev/vdb"]}},
        headers=h,
    )
    assert r.status_code == 400
    assert cloud.client.get(f"/volume/v3/{pid}/volumes/{vol['id']}", headers=h).json()["volume"]["attachments"] == []


@pytest.mark.parametrize(
    "resource,body",
    [
        ("networks", {"network": {"name": "n", "dns_domain": "example.org."}}),
        ("ports", None),
        ("floatingips", None),
    ],
)
def test_dns_attributes_are_refused_not_dropped(cloud, resource: str, body: Any) -> None:
    h = cloud.admin_headers
    c = cloud.client
    if body is None:
        net = c.post("/networking/v2.0/networks", json={"network": {"name": f"for-{resource}"}}, headers=h).json()[
            "network"
        ]
        body = (
            {"port": {"network_id": net["id"], "dns_name": "vm1"}}
            if resource == "ports"
            else {"floatingip": {"floating_network_id": net["id"], "dns_name": "vm1", "dns_domain": "example.org."}}
        )
    before = len(c.get(f"/networking/v2.0/{resource}", headers=h).json()[resource])
    r = c.post(f"/networking/v2.0/{resource}", json=body, headers=h)
    assert r.status_code == 400, r.text
    err = r.json()["NeutronError"]
    assert err["type"] == "HTTPBadRequest" and "Unrecognized attribute(s) 'dns_" in err["message"]
    assert len(c.get(f"/networking/v2.0/{resource}", headers=h).json()[resource]) == before


def test_network_update_with_dns_domain_is_refused(cloud) -> None:
    h = cloud.admin_headers
    net = cloud.client.post("/networking/v2.0/networks", json={"network": {"name": "n"}}, headers=h).json()["network"]
    r = cloud.client.put(
        f"/networking/v2.0/networks/{net['id']}", json={"network": {"dns_domain": "x.org."}}, headers=h
    )
    assert r.status_code == 400 and "dns_domain" in r.json()["NeutronError"]["message"]


@pytest.mark.parametrize("routes", [{}, {"destination": "10.0.0.0/8"}, "10.0.0.0/8"])
def test_router_routes_must_be_a_list(cloud, routes: Any) -> None:
    h = cloud.admin_headers
    c = cloud.client
    before = len(c.get("/networking/v2.0/routers", headers=h).json()["routers"])
    r = c.post("/networking/v2.0/routers", json={"router": {"name": "r", "routes": routes}}, headers=h)
    assert r.status_code == 400 and "routes" in r.json()["NeutronError"]["message"], r.text
    assert len(c.get("/networking/v2.0/routers", headers=h).json()["routers"]) == before
    router = c.post("/networking/v2.0/routers", json={"router": {"name": "r2"}}, headers=h).json()["router"]
    r = c.put(f"/networking/v2.0/routers/{router['id']}", json={"router": {"routes": routes}}, headers=h)
    assert r.status_code == 400, r.text
    r = c.put(f"/networking/v2.0/routers/{router['id']}", json={"router": {"routes": None}}, headers=h)
    assert r.status_code == 200 and r.json()["router"]["routes"] == []
