"""Nova's network proxy APIs (until 2.35): security groups and rules, floating IPs and their
pools, tenant networks, in Nova's shapes and with Nova's errors, over the network service;
404 from 2.36."""

from __future__ import annotations

import uuid

from .conftest import Api

V = "2.1"


def call(api: Api, method: str, path: str, who: str = "p1", body: object = None) -> object:
    return api(method, path, who, body, version=V)


def test_security_groups_and_rules(api: Api) -> None:
    r = call(api, "POST", "/os-security-groups", body={"security_group": {"name": "web", "description": "w"}})
    assert r.status_code == 200, r.text
    group = r.json()["security_group"]
    assert set(group) == {"id", "name", "description", "tenant_id", "rules"} and group["rules"] == []
    assert group["tenant_id"] == api.projects["p1"]
    gid = group["id"]
    names = [g["name"] for g in call(api, "GET", "/os-security-groups").json()["security_groups"]]
    assert sorted(names) == ["default", "web"]
    assert call(api, "GET", "/os-security-groups", who="p2").json()["security_groups"][0]["name"] == "default"
    assert call(api, "GET", f"/os-security-groups/{gid}", who="p2").status_code == 404

    rule = {"parent_group_id": gid, "ip_protocol": "TCP", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}
    r = call(api, "POST", "/os-security-group-rules", body={"security_group_rule": rule})
    assert r.status_code == 200, r.text
    made = r.json()["security_group_rule"]
    assert made == {
        "id": made["id"],
        "parent_group_id": gid,
        "ip_protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "group": {},
        "ip_range": {"cidr": "10.0.0.0/8"},
    }
    icmp = {"parent_group_id": gid, "ip_protocol": "icmp", "from_port": -1, "to_port": -1}
    r = call(api, "POST", "/os-security-group-rules", body={"security_group_rule": icmp})
    assert r.json()["security_group_rule"]["ip_range"] == {"cidr": "0.0.0.0/0"}
    shown = call(api, "GET", f"/os-security-groups/{gid}").json()["security_group"]
    assert {(x["ip_protocol"], x["from_port"], x["to_port"]) for x in shown["rules"]} == {
        ("tcp", 22, 22),
        ("icmp", -1, -1),
    }

    # Nova's refusals: 400 for bad input and duplicates, 404 for what does not exist
    for bad in (
        {**rule, "ip_protocol": "gre"},
        {**rule, "from_port": 0},
        {**rule, "from_port": 30, "to_port": 20},
        {**rule, "to_port": 70000},
        {**rule, "parent_group_id": "not-a-uuid"},
        rule,  # the same again
    ):
        r = call(api, "POST", "/os-security-group-rules", body={"security_group_rule": bad})
        assert r.status_code == 400 and r.json()["badRequest"]["message"], (bad, r.text)
    r = call(
        api,
        "POST",
        "/os-security-group-rules",
        body={"security_group_rule": {**rule, "parent_group_id": str(uuid.uuid4())}},
    )
    assert r.status_code == 404
    assert call(api, "DELETE", f"/os-security-group-rules/{uuid.uuid4()}").status_code == 404
    assert len(call(api, "GET", f"/os-security-groups/{gid}").json()["security_group"]["rules"]) == 2

    r = call(api, "PUT", f"/os-security-groups/{gid}", body={"security_group": {"name": "web2", "description": "x"}})
    assert r.status_code == 200 and r.json()["security_group"]["name"] == "web2"
    assert call(api, "DELETE", f"/os-security-group-rules/{made['id']}").status_code == 202
    default = [g for g in call(api, "GET", "/os-security-groups").json()["security_groups"] if g["name"] == "default"]
    r = call(api, "DELETE", f"/os-security-groups/{default[0]['id']}")
    assert r.status_code == 400 and "default" in r.json()["badRequest"]["message"]
    assert call(api, "DELETE", f"/os-security-groups/{gid}").status_code == 202
    assert call(api, "GET", f"/os-security-groups/{gid}").status_code == 404
    bad_name = call(api, "POST", "/os-security-groups", body={"security_group": {"name": "", "description": "d"}})
    assert bad_name.status_code == 400


def test_rule_cidr_kept_as_given_and_a_peer_group_deleted_with_its_rules(api: Api) -> None:
    def group(name: str) -> str:
        body = {"security_group": {"name": name, "description": name}}
        return call(api, "POST", "/os-security-groups", body=body).json()["security_group"]["id"]

    sg1, sg2 = group("one"), group("two")
    rule = {"parent_group_id": sg1, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.2.3.124/24"}
    made = call(api, "POST", "/os-security-group-rules", body={"security_group_rule": rule}).json()
    assert made["security_group_rule"]["ip_range"] == {"cidr": "10.2.3.124/24"}  # as Nova and Neutron keep it
    neutron = api.client.get(
        f"/networking/v2.0/security-group-rules/{made['security_group_rule']['id']}",
        headers={"X-Auth-Token": api.tokens["p1"]},
    ).json()["security_group_rule"]
    assert neutron["remote_ip_prefix"] == "10.2.3.124/24" and neutron["normalized_cidr"] == "10.2.3.0/24"
    peer = {**rule, "cidr": None, "group_id": sg2, "from_port": 80, "to_port": 80}
    del peer["cidr"]
    assert call(api, "POST", "/os-security-group-rules", body={"security_group_rule": peer}).status_code == 200
    assert call(api, "DELETE", f"/os-security-groups/{sg2}").status_code == 202
    rules = call(api, "GET", f"/os-security-groups/{sg1}").json()["security_group"]["rules"]
    assert [r["ip_range"] for r in rules] == [{"cidr": "10.2.3.124/24"}]  # the peer's rule went with it


def test_floating_ips_pools_and_tenant_networks(api: Api) -> None:
    def neutron(method: str, path: str, who: str, body: object = None) -> dict:
        r = api.client.request(method, f"/networking/v2.0/{path}", json=body, headers={"X-Auth-Token": api.tokens[who]})
        assert r.status_code in (200, 201), r.text
        return r.json()

    ext = neutron("POST", "networks", "admin", {"network": {"name": "public", "router:external": True}})["network"]
    neutron("POST", "subnets", "admin", {"subnet": {"network_id": ext["id"], "cidr": "172.30.9.0/24", "ip_version": 4}})
    assert call(api, "GET", "/os-floating-ip-pools").json() == {"floating_ip_pools": [{"name": "public"}]}
    r = call(api, "POST", "/os-floating-ips", body={"pool": "public"})
    assert r.status_code == 200, r.text
    fip = r.json()["floating_ip"]
    assert set(fip) == {"id", "ip", "fixed_ip", "instance_id", "pool"}
    assert fip["pool"] == "public" and fip["instance_id"] is None and fip["ip"].startswith("172.30.9.")
    assert [f["id"] for f in call(api, "GET", "/os-floating-ips").json()["floating_ips"]] == [fip["id"]]
    assert call(api, "GET", "/os-floating-ips", who="p2").json()["floating_ips"] == []
    assert call(api, "GET", f"/os-floating-ips/{fip['id']}").json()["floating_ip"]["ip"] == fip["ip"]
    assert call(api, "POST", "/os-floating-ips", body={"pool": "nope"}).status_code == 404
    assert call(api, "DELETE", f"/os-floating-ips/{fip['id']}").status_code == 202
    assert call(api, "GET", f"/os-floating-ips/{fip['id']}").status_code == 404

    net = neutron("POST", "networks", "p1", {"network": {"name": "mine"}})["network"]
    neutron("POST", "subnets", "p1", {"subnet": {"network_id": net["id"], "cidr": "10.44.0.0/24", "ip_version": 4}})
    listed = call(api, "GET", "/os-tenant-networks").json()["networks"]
    assert {"id": net["id"], "label": "mine", "cidr": "10.44.0.0/24"} in listed
    assert call(api, "GET", f"/os-tenant-networks/{net['id']}").json()["network"]["label"] == "mine"
    assert call(api, "GET", f"/os-tenant-networks/{net['id']}", who="p2").status_code == 404


def test_os_networks(api: Api) -> None:
    """os-networks (issue 16): the networks the caller sees, ``label`` their name and
    nova-network's fields null (admins see its admin fields too); its writes are gone (410)."""

    def neutron(who: str, body: object) -> dict:
        r = api.client.request(
            "POST", "/networking/v2.0/networks", json=body, headers={"X-Auth-Token": api.tokens[who]}
        )
        assert r.status_code == 201, r.text
        return r.json()["network"]

    mine = neutron("p1", {"network": {"name": "mine"}})
    other = neutron("p2", {"network": {"name": "theirs"}})
    shared = neutron("admin", {"network": {"name": "common", "shared": True}})
    listed = {n["id"]: n for n in call(api, "GET", "/os-networks").json()["networks"]}
    assert mine["id"] in listed and shared["id"] in listed and other["id"] not in listed
    view = listed[mine["id"]]
    assert view["label"] == "mine" and view["cidr"] is None and "project_id" not in view
    assert call(api, "GET", f"/os-networks/{mine['id']}").json()["network"] == view
    r = call(api, "GET", f"/os-networks/{other['id']}")
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Network not found"
    admin_view = call(api, "GET", f"/os-networks/{other['id']}", who="admin").json()["network"]
    assert admin_view["label"] == "theirs" and "project_id" in admin_view and admin_view["mtu"] is None
    assert call(api, "GET", f"/os-networks/{mine['id']}", who="reader").status_code == 200
    r = call(api, "POST", "/os-networks", who="admin", body={"network": {"label": "x"}})
    assert r.status_code == 410
    assert call(api, "DELETE", f"/os-networks/{mine['id']}", who="admin").status_code == 410


def test_removed_in_2_36(api: Api) -> None:
    paths = ("/os-security-groups", "/os-floating-ips", "/os-floating-ip-pools", "/os-tenant-networks", "/os-networks")
    for path in paths:
        assert api("GET", path, "p1", version="2.36").status_code == 404, path
        assert api("GET", path, "p1", version="2.35").status_code == 200, path


def test_add_and_remove_floating_ip_actions(api: Api, api_flavor: dict, compute: object) -> None:
    from .conftest import IMAGE_ID, api_wait

    def neutron(method: str, path: str, who: str, body: object = None) -> dict:
        r = api.client.request(method, f"/networking/v2.0/{path}", json=body, headers={"X-Auth-Token": api.tokens[who]})
        assert r.status_code in (200, 201), r.text
        return r.json()

    ext = neutron("POST", "networks", "admin", {"network": {"name": "public", "router:external": True}})["network"]
    neutron("POST", "subnets", "admin", {"subnet": {"network_id": ext["id"], "cidr": "172.30.8.0/24", "ip_version": 4}})
    net = neutron("POST", "networks", "p1", {"network": {"name": "n"}})["network"]
    sub = neutron(
        "POST", "subnets", "p1", {"subnet": {"network_id": net["id"], "cidr": "10.45.0.0/24", "ip_version": 4}}
    )
    router = neutron("POST", "routers", "p1", {"router": {"external_gateway_info": {"network_id": ext["id"]}}})[
        "router"
    ]
    neutron("PUT", f"routers/{router['id']}/add_router_interface", "p1", {"subnet_id": sub["subnet"]["id"]})
    body = {
        "server": {"name": "s", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": [{"uuid": net["id"]}]}
    }
    sid = call(api, "POST", "/servers", body=body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    fip = call(api, "POST", "/os-floating-ips", body={"pool": "public"}).json()["floating_ip"]
    r = call(api, "POST", f"/servers/{sid}/action", body={"addFloatingIp": {"address": fip["ip"]}})
    assert r.status_code == 202, r.text
    shown = call(api, "GET", f"/os-floating-ips/{fip['id']}").json()["floating_ip"]
    assert shown["instance_id"] == sid and shown["fixed_ip"].startswith("10.45.0.")
    missing = call(api, "POST", f"/servers/{sid}/action", body={"addFloatingIp": {"address": "172.30.8.250"}})
    assert missing.status_code == 404
    second = call(api, "POST", "/os-floating-ips", body={"pool": "public"}).json()["floating_ip"]
    r = call(api, "POST", f"/servers/{sid}/action", body={"addFloatingIp": {"address": second["ip"]}})
    assert r.status_code == 400 and r.json()["badRequest"]["message"].startswith(
        f"Unable to associate floating IP {second['ip']} to fixed IP {shown['fixed_ip']} for instance {sid}. Error: "
    )  # that fixed IP has a floating IP already: Nova's 400 over Neutron's 409
    assert (
        call(api, "POST", f"/servers/{sid}/action", body={"removeFloatingIp": {"address": fip["ip"]}}).status_code
        == 202
    )
    assert call(api, "GET", f"/os-floating-ips/{fip['id']}").json()["floating_ip"]["instance_id"] is None
    again = call(api, "POST", f"/servers/{sid}/action", body={"removeFloatingIp": {"address": fip["ip"]}})
    assert again.status_code == 409
    gone = api("POST", f"/servers/{sid}/action", "p1", {"addFloatingIp": {"address": fip["ip"]}}, version="2.44")
    assert gone.status_code == 404

    # Nova's multinic actions: one more fixed IP on the server's port on that network, then off again
    def fixed() -> list[str]:
        addrs = call(api, "GET", f"/servers/{sid}/ips").json()["addresses"]["n"]
        return sorted(a["addr"] for a in addrs if a["addr"].startswith("10.45."))

    before = fixed()
    r = call(api, "POST", f"/servers/{sid}/action", body={"addFixedIp": {"networkId": net["id"]}})
    assert r.status_code == 202, r.text
    after = fixed()
    assert len(after) == len(before) + 1 and set(before) < set(after)
    port = neutron("GET", f"ports?device_id={sid}", "p1")["ports"][0]
    assert sorted(f["ip_address"] for f in port["fixed_ips"]) == after
    added = (set(after) - set(before)).pop()
    r = call(api, "POST", f"/servers/{sid}/action", body={"removeFixedIp": {"address": added}})
    assert r.status_code == 202, r.text
    assert fixed() == before
    r = call(api, "POST", f"/servers/{sid}/action", body={"removeFixedIp": {"address": added}})
    assert (
        r.status_code == 400 and r.json()["badRequest"]["message"] == f"Instance {sid} doesn't have fixed IP '{added}'."
    )
    other = str(uuid.uuid4())
    assert call(api, "POST", f"/servers/{sid}/action", body={"addFixedIp": {"networkId": other}}).status_code == 400
    assert call(api, "POST", f"/servers/{sid}/action", body={"addFixedIp": {}}).status_code == 400
    gone = api("POST", f"/servers/{sid}/action", "p1", {"addFixedIp": {"networkId": net["id"]}}, version="2.44")
    assert gone.status_code == 404
