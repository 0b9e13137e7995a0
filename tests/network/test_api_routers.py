"""Routers, floating IPs, security groups and quotas over HTTP."""

from __future__ import annotations

from typing import Any

from .conftest import V2, neutron_error
from .test_api_networks import make_net, make_subnet
from .test_api_ports import make_port


def external(api: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    ext = make_net(
        api.boss,
        "public",
        **{"router:external": True, "provider:network_type": "flat", "provider:physical_network": "public"},
    )
    sub = make_subnet(api.boss, ext["id"], cidr="172.24.4.0/24", enable_dhcp=False)
    return ext, sub


def test_router_gateway_interfaces_and_floating_ip(api: Any, fake_drivers: Any) -> None:
    ext, ext_sub = external(api)
    assert ext["id"] in {
        n["id"] for n in api.alice.get(f"{V2}/networks", params={"router:external": "True"}).json()["networks"]
    }
    net = make_net(api.alice)
    sub = make_subnet(api.alice, net["id"])
    port = make_port(api.alice, net["id"])
    router = api.alice.post(f"{V2}/routers", json={"router": {"name": "r1", "admin_state_up": True}}).json()["router"]
    assert router["external_gateway_info"] is None
    r = api.alice.put(
        f"{V2}/routers/{router['id']}", json={"router": {"external_gateway_info": {"network_id": ext["id"]}}}
    )
    gw = r.json()["router"]["external_gateway_info"]
    assert gw["network_id"] == ext["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["subnet_id"] == ext_sub["id"]
    # no route from the port's subnet to the external network yet
    r = api.alice.post(
        f"{V2}/floatingips", json={"floatingip": {"floating_network_id": ext["id"], "port_id": port["id"]}}
    )
    neutron_error(r, 404, "ExternalGatewayForFloatingIPNotFound")
    assert api.alice.get(f"{V2}/floatingips").json()["floatingips"] == []
    added = api.alice.put(f"{V2}/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}).json()
    assert added["subnet_id"] == sub["id"] and added["id"] == router["id"]
    iface = api.alice.get(f"{V2}/ports/{added['port_id']}").json()["port"]
    assert iface["device_owner"] == "network:router_interface" and iface["fixed_ips"][0]["ip_address"] == "10.0.0.1"
    fip = api.alice.post(f"{V2}/floatingips", json={"floatingip": {"floating_network_id": ext["id"]}}).json()[
        "floatingip"
    ]
    assert fip["port_id"] is None and fip["status"] == "DOWN"
    assert fip["floating_ip_address"].startswith("172.24.4.")
    fip = api.alice.put(f"{V2}/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}}).json()[
        "floatingip"
    ]
    assert fip["router_id"] == router["id"] and fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    plumbed = fake_drivers.network.state["fake1"]["routers"][router["id"]]
    assert plumbed.floating_ips[0].floating_ip_address == fip["floating_ip_address"]
    assert plumbed.external_gateway_ip == gw["external_fixed_ips"][0]["ip_address"]
    assert [i.subnet.id for i in plumbed.interfaces] == [sub["id"]]
    by_address = api.alice.get(f"{V2}/floatingips", params={"floating_ip_address": fip["floating_ip_address"]}).json()
    assert [f["id"] for f in by_address["floatingips"]] == [fip["id"]]
    neutron_error(api.bob.get(f"{V2}/floatingips/{fip['id']}"), 404, "FloatingIPNotFound")

    # things in use refuse to go, and stay
    neutron_error(api.alice.delete(f"{V2}/ports/{iface['id']}"), 409, "L3PortInUse")
    assert api.alice.get(f"{V2}/ports/{iface['id']}").status_code == 200
    neutron_error(
        api.alice.put(f"{V2}/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]}),
        409,
        "RouterInterfaceInUseByFloatingIP",
    )
    neutron_error(api.alice.delete(f"{V2}/routers/{router['id']}"), 409, "RouterInUse")
    neutron_error(
        api.alice.put(f"{V2}/routers/{router['id']}", json={"router": {"external_gateway_info": None}}),
        409,
        "RouterExternalGatewayInUseByFloatingIp",
    )
    neutron_error(api.alice.delete(f"{V2}/subnets/{sub['id']}"), 409, "SubnetInUse")
    neutron_error(api.alice.delete(f"{V2}/networks/{net['id']}"), 409, "NetworkInUse")

    # and then everything goes, in order
    api.alice.put(f"{V2}/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    assert fake_drivers.network.state["fake1"]["routers"][router["id"]].floating_ips == ()
    assert api.alice.delete(f"{V2}/floatingips/{fip['id']}").status_code == 204
    assert (
        api.alice.put(f"{V2}/routers/{router['id']}/remove_router_interface", json={"subnet_id": sub["id"]}).status_code
        == 200
    )
    assert api.alice.delete(f"{V2}/routers/{router['id']}").status_code == 204
    assert router["id"] not in fake_drivers.network.state["fake1"]["routers"]
    assert api.alice.delete(f"{V2}/ports/{port['id']}").status_code == 204
    assert api.alice.delete(f"{V2}/networks/{net['id']}").status_code == 204
    assert net["id"] not in fake_drivers.network.state["fake1"]["networks"]


def test_overlapping_cidrs_on_one_router_are_refused(api: Any) -> None:
    r = api.alice.post(f"{V2}/routers", json={"router": {"name": "r"}}).json()["router"]
    a, b = make_net(api.alice, "a"), make_net(api.alice, "b")
    sa = make_subnet(api.alice, a["id"], cidr="10.20.0.0/24")
    sb = make_subnet(api.alice, b["id"], cidr="10.20.0.0/16")
    assert (
        api.alice.put(f"{V2}/routers/{r['id']}/add_router_interface", json={"subnet_id": sa["id"]}).status_code == 200
    )
    ports_before = api.alice.get(f"{V2}/ports").json()["ports"]
    err = neutron_error(
        api.alice.put(f"{V2}/routers/{r['id']}/add_router_interface", json={"subnet_id": sb["id"]}), 400, "BadRequest"
    )
    assert "overlaps" in err["message"]
    neutron_error(
        api.alice.put(f"{V2}/routers/{r['id']}/add_router_interface", json={"subnet_id": sa["id"]}), 400, "BadRequest"
    )
    neutron_error(api.alice.put(f"{V2}/routers/{r['id']}/add_router_interface", json={}), 400, "BadRequest")
    assert api.alice.get(f"{V2}/ports").json()["ports"] == ports_before
    neutron_error(
        api.bob.put(f"{V2}/routers/{r['id']}/add_router_interface", json={"subnet_id": sa["id"]}), 404, "RouterNotFound"
    )
    neutron_error(
        api.alice.put(f"{V2}/routers/{r['id']}", json={"router": {"external_gateway_info": {"network_id": a["id"]}}}),
        400,
        "BadRequest",
    )


def test_security_groups_and_rules(api: Any) -> None:
    groups = api.alice.get(f"{V2}/security-groups").json()["security_groups"]
    [default] = [g for g in groups if g["name"] == "default"]
    rules = {(r["direction"], r["ethertype"], r["remote_group_id"]) for r in default["security_group_rules"]}
    assert rules == {
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", default["id"]),
        ("ingress", "IPv6", default["id"]),
    }
    sg = api.alice.post(f"{V2}/security-groups", json={"security_group": {"name": "web", "description": "w"}}).json()[
        "security_group"
    ]
    assert {r["direction"] for r in sg["security_group_rules"]} == {"egress"}
    # a project has one default group: another cannot take its name (Neutron's 409)
    r = api.alice.put(f"{V2}/security-groups/{sg['id']}", json={"security_group": {"name": "default"}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "SecurityGroupDefaultAlreadyExists"
    assert api.alice.get(f"{V2}/security-groups/{sg['id']}").json()["security_group"]["name"] == "web"
    body = {
        "security_group_id": sg["id"],
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "tcp",
        "port_range_min": 80,
        "port_range_max": 80,
        "remote_ip_prefix": "0.0.0.0/0",
    }
    rule = api.alice.post(f"{V2}/security-group-rules", json={"security_group_rule": body})
    assert rule.status_code == 201 and rule.json()["security_group_rule"]["protocol"] == "tcp"
    neutron_error(
        api.alice.post(f"{V2}/security-group-rules", json={"security_group_rule": body}), 409, "SecurityGroupRuleExists"
    )
    bad = [
        ({"direction": "sideways"}, 400, "InvalidInput"),
        ({"protocol": "bogus"}, 400, "SecurityGroupRuleInvalidProtocol"),
        ({"port_range_min": 90, "port_range_max": 80}, 400, "SecurityGroupInvalidPortRange"),
        ({"remote_ip_prefix": "::/0"}, 400, "SecurityGroupRuleParameterConflict"),
        ({"remote_group_id": sg["id"]}, 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
    ]
    for change, status, error_type in bad:
        neutron_error(
            api.alice.post(f"{V2}/security-group-rules", json={"security_group_rule": body | change}),
            status,
            error_type,
        )
    neutron_error(
        api.bob.post(
            f"{V2}/security-group-rules",
            json={"security_group_rule": body | {"port_range_min": 81, "port_range_max": 81}},
        ),
        404,
        "SecurityGroupNotFound",
    )
    listed = api.alice.get(f"{V2}/security-group-rules", params={"security_group_id": sg["id"]}).json()[
        "security_group_rules"
    ]
    assert len(listed) == 3
    assert api.alice.delete(f"{V2}/security-group-rules/{rule.json()['security_group_rule']['id']}").status_code == 204
    neutron_error(api.alice.delete(f"{V2}/security-groups/{default['id']}"), 409, "SecurityGroupCannotRemoveDefault")
    neutron_error(api.bob.get(f"{V2}/security-groups/{sg['id']}"), 404, "SecurityGroupNotFound")
    assert api.alice.delete(f"{V2}/security-groups/{sg['id']}").status_code == 204


def test_quotas(api: Any) -> None:
    quota = api.alice.get(f"{V2}/quotas/{api.alice_project}").json()["quota"]
    assert quota["network"] == 100 and quota["port"] == 500
    neutron_error(api.alice.put(f"{V2}/quotas/{api.alice_project}", json={"quota": {"network": 1}}), 403, "Forbidden")
    neutron_error(api.bob.get(f"{V2}/quotas/{api.alice_project}"), 403, "AdminRequired")
    r = api.boss.put(f"{V2}/quotas/{api.alice_project}", json={"quota": {"network": 1, "router": 0}})
    assert r.json()["quota"]["network"] == 1
    neutron_error(
        api.boss.put(f"{V2}/quotas/{api.alice_project}", json={"quota": {"network": "lots"}}), 400, "InvalidInput"
    )
    make_net(api.alice)
    neutron_error(api.alice.post(f"{V2}/networks", json={"network": {"name": "two"}}), 409, "OverQuota")
    neutron_error(api.alice.post(f"{V2}/routers", json={"router": {"name": "r"}}), 409, "OverQuota")
    assert len(api.alice.get(f"{V2}/networks").json()["networks"]) == 1
    details = api.alice.get(f"{V2}/quotas/{api.alice_project}/details.json").json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    assert [q["project_id"] for q in api.boss.get(f"{V2}/quotas").json()["quotas"]] == [api.alice_project]
    assert api.boss.delete(f"{V2}/quotas/{api.alice_project}").status_code == 204
    assert api.alice.get(f"{V2}/quotas/{api.alice_project}").json()["quota"]["network"] == 100
    make_net(api.alice, "now-fine")


def test_security_group_rule_errors_say_what_neutron_says(api: Any) -> None:
    sg = api.alice.post(f"{V2}/security-groups", json={"security_group": {"name": "t"}}).json()["security_group"]
    neutron_error(
        api.alice.post(f"{V2}/security-groups", json={"security_group": {"name": "default"}}),
        409,
        "SecurityGroupDefaultAlreadyExists",
    )
    cases = [
        ("tcp", -16, 80, "Invalid value for port -16."),
        ("tcp", 80, 79, "port_range_min must be <= port_range_max"),
        ("tcp", 80, 65536, "Invalid value for port 65536."),
        ("tcp", None, 6, "port_range_min must be <= port_range_max"),
        ("icmp", 1, 256, "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255."),
        ("icmp", -1, 25, "Invalid value for port -1."),
        ("icmp", None, 6, "ICMP code (port-range-max) 6 is provided but ICMP type (port-range-min) is missing."),
        ("icmp", 300, 1, "Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255."),
        (None, 22, 22, "Must also specify protocol if port range is given."),
        ("gre", 1, 2, "Invalid protocol gre for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP."),
    ]
    for ethertype in ("IPv4", "IPv6"):
        for protocol, low, high, message in cases:
            body = {
                "security_group_id": sg["id"],
                "direction": "ingress",
                "ethertype": ethertype,
                "protocol": protocol,
                "port_range_min": low,
                "port_range_max": high,
            }
            r = api.alice.post(f"{V2}/security-group-rules", json={"security_group_rule": body})
            assert r.status_code == 400 and message in r.json()["NeutronError"]["message"], (body, r.text)
    # icmp in an IPv6 rule is ICMPv6, as in Neutron; IPv6-only protocols stay out of IPv4 rules
    body = {"security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv6", "protocol": "icmp"}
    assert api.alice.post(f"{V2}/security-group-rules", json={"security_group_rule": body}).status_code == 201
    error = neutron_error(
        api.alice.post(
            f"{V2}/security-group-rules",
            json={"security_group_rule": body | {"ethertype": "IPv4", "protocol": "ipv6-icmp"}},
        ),
        400,
        "SecurityGroupEthertypeConflictWithProtocol",
    )
    assert error["message"] == "Invalid ethertype IPv4 for protocol ipv6-icmp."


def test_external_network_subnets_are_not_shown_to_other_projects(api: Any) -> None:
    ext, ext_sub = external(api)
    listed = api.alice.get(f"{V2}/networks", params={"router:external": True}).json()["networks"]
    assert [n["id"] for n in listed] == [ext["id"]]
    assert ext_sub["id"] not in [s["id"] for s in api.alice.get(f"{V2}/subnets").json()["subnets"]]
    neutron_error(api.alice.get(f"{V2}/subnets/{ext_sub['id']}"), 404, "SubnetNotFound")
    assert api.boss.get(f"{V2}/subnets/{ext_sub['id']}").status_code == 200
    # a router still gets its gateway on it
    router = api.alice.post(f"{V2}/routers", json={"router": {"external_gateway_info": {"network_id": ext["id"]}}})
    assert router.status_code == 201, router.text


def test_deleting_an_external_network_takes_its_floating_ips(api: Any) -> None:
    """Neutron deletes an external network's floating IPs with it, whoever holds them; a
    router's gateway on it still keeps it (409, nothing deleted)."""
    ext, ext_sub = external(api)
    fip = api.alice.post(f"{V2}/floatingips", json={"floatingip": {"floating_network_id": ext["id"]}})
    assert fip.status_code == 201, fip.text
    fip_id = fip.json()["floatingip"]["id"]
    router = api.alice.post(f"{V2}/routers", json={"router": {"external_gateway_info": {"network_id": ext["id"]}}})
    neutron_error(api.boss.delete(f"{V2}/networks/{ext['id']}"), 409, "NetworkInUse")
    assert api.alice.get(f"{V2}/floatingips/{fip_id}").status_code == 200  # kept
    api.alice.put(f"{V2}/routers/{router.json()['router']['id']}", json={"router": {"external_gateway_info": {}}})
    assert api.boss.delete(f"{V2}/networks/{ext['id']}").status_code == 204
    assert api.alice.get(f"{V2}/floatingips/{fip_id}").status_code == 404
    assert api.boss.get(f"{V2}/subnets/{ext_sub['id']}").status_code == 404
