"""addSecurityGroup / removeSecurityGroup and os-security-groups (issue 18): the change lands
on the server's ports through the network service (which re-applies the port's rules on its
host at once, ``net_setup_port``), with Nova's errors."""

from __future__ import annotations

from .conftest import IMAGE_ID, api_wait


def _net(api, who: str = "p1") -> str:
    def post(path: str, body: dict) -> dict:
        r = api.client.post(f"/networking/v2.0/{path}", json=body, headers={"X-Auth-Token": api.tokens[who]})
        assert r.status_code == 201, r.text
        return r.json()

    net = post("networks", {"network": {"name": "n"}})["network"]["id"]
    post("subnets", {"subnet": {"network_id": net, "cidr": "10.5.0.0/24", "ip_version": 4}})
    return net


def _group(api, name: str, who: str = "p1") -> str:
    r = api.client.post(
        "/networking/v2.0/security-groups",
        json={"security_group": {"name": name}},
        headers={"X-Auth-Token": api.tokens[who]},
    )
    assert r.status_code == 201, r.text
    return r.json()["security_group"]["id"]


def _ports(api, sid: str) -> list[dict]:
    r = api.client.get(f"/networking/v2.0/ports?device_id={sid}", headers={"X-Auth-Token": api.tokens["p1"]})
    return r.json()["ports"]


def test_add_and_remove_security_group(api, api_flavor, compute, fake_drivers):
    net = _net(api)
    web = _group(api, "web")
    other_project_group = _group(api, "theirs", "p2")
    body = {"server": {"name": "s", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": [{"uuid": net}]}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    before = [g["name"] for g in api("GET", f"/servers/{sid}/os-security-groups").json()["security_groups"]]
    assert before == ["default"]

    assert api("POST", f"/servers/{sid}/action", "p1", {"addSecurityGroup": {"name": "web"}}).status_code == 202
    (port,) = _ports(api, sid)
    assert web in port["security_groups"] and len(port["security_groups"]) == 2
    host = api("GET", f"/servers/{sid}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]
    plumbed = fake_drivers.network.state[host]["ports"][port["id"]]  # re-applied on the host at once
    assert web in {r.security_group_id for r in plumbed.security_group_rules}
    names = sorted(g["name"] for g in api("GET", f"/servers/{sid}/os-security-groups").json()["security_groups"])
    assert names == ["default", "web"]
    # the server's own view shows the groups on its ports (not a fixed answer)
    shown = api("GET", f"/servers/{sid}", "p1").json()["server"]["security_groups"]
    assert shown == [{"name": "default"}, {"name": "web"}]

    r = api("POST", f"/servers/{sid}/action", "p1", {"addSecurityGroup": {"name": "nope"}})
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["message"] == f"Security group nope not found for project {api.projects['p1']}."
    r = api("POST", f"/servers/{sid}/action", "p1", {"addSecurityGroup": {"name": other_project_group}})
    assert r.status_code == 404  # another project's group, even by id
    assert api("POST", f"/servers/{sid}/action", "p2", {"addSecurityGroup": {"name": "theirs"}}).status_code == 404

    assert api("POST", f"/servers/{sid}/action", "p1", {"removeSecurityGroup": {"name": web}}).status_code == 202
    assert web not in _ports(api, sid)[0]["security_groups"]
    plumbed = fake_drivers.network.state[host]["ports"][port["id"]]
    assert web not in {r.security_group_id for r in plumbed.security_group_rules}
    r = api("POST", f"/servers/{sid}/action", "p1", {"removeSecurityGroup": {"name": "web"}})
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == f"Security group web not associated with the instance {sid}"
    # with no group left, Nova's view leaves the field out
    assert api("POST", f"/servers/{sid}/action", "p1", {"removeSecurityGroup": {"name": "default"}}).status_code == 202
    assert "security_groups" not in api("GET", f"/servers/{sid}", "p1").json()["server"]
    assert api("POST", f"/servers/{sid}/action", "p1", {"addSecurityGroup": {}}).status_code == 400


def test_create_applies_the_requested_security_groups_to_the_ports_it_makes(api, api_flavor, compute, fake_drivers):
    net = _net(api)
    web = _group(api, "web")
    body = {
        "server": {
            "name": "s",
            "flavorRef": api_flavor["id"],
            "imageRef": IMAGE_ID,
            "networks": [{"uuid": net}],
            "security_groups": [{"name": "web"}],
        }
    }
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    (port,) = _ports(api, sid)
    assert port["security_groups"] == [web]  # the one asked for, not the default group
    names = [g["name"] for g in api("GET", f"/servers/{sid}/os-security-groups").json()["security_groups"]]
    assert names == ["web"]
    # an unknown group: Nova's 400, and no server is made
    before = len(api("GET", "/servers").json()["servers"])
    bad = {"server": {**body["server"], "security_groups": [{"name": "nope"}]}}
    r = api("POST", "/servers", "p1", bad)
    assert r.status_code == 400 and "nope" in r.json()["badRequest"]["message"]
    assert len(api("GET", "/servers").json()["servers"]) == before
