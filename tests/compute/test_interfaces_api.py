"""``/servers/{id}/os-interface`` (issue 18): list/show/attach/detach in Nova's shapes, the
NIC hot-plugged into the fake guest through the agent (``hv_attach_interface``), the port
kept or deleted on detach by Nova's rule, and Nova's refusals leaving everything as it was."""

from __future__ import annotations

from typing import Any

from .conftest import IMAGE_ID, api_wait


def _neutron(api, method: str, path: str, who: str = "p1", body: dict | None = None) -> Any:
    r = api.client.request(method, f"/networking/v2.0/{path}", json=body, headers={"X-Auth-Token": api.tokens[who]})
    assert r.status_code < 300, r.text
    return r.json() if r.content else None


def _net(api, cidr: str, who: str = "p1") -> str:
    net = _neutron(api, "POST", "networks", who, {"network": {"name": f"n-{cidr}"}})["network"]["id"]
    _neutron(api, "POST", "subnets", who, {"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}})
    return net


def _ports(api, sid: str) -> list[dict]:
    return _neutron(api, "GET", f"ports?device_id={sid}")["ports"]


def _boot(api, compute, flavor: dict, net: str) -> str:
    body = {"server": {"name": "s", "flavorRef": flavor["id"], "imageRef": IMAGE_ID, "networks": [{"uuid": net}]}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    return sid


def _guest(fake_drivers, api, sid: str) -> dict:
    host = api("GET", f"/servers/{sid}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]
    (guest,) = [g for g in fake_drivers.hypervisor.guests[host].values() if g["instance"].uuid == sid]
    return guest


def _state(api, fake_drivers, sid: str) -> tuple:
    """What a refusal must leave unchanged: the server's ports, addresses, the guest's NICs."""
    server = api("GET", f"/servers/{sid}").json()["server"]
    ports = sorted((p["id"], p["device_id"]) for p in _neutron(api, "GET", "ports")["ports"])
    return ports, server["addresses"], server["status"], sorted(_guest(fake_drivers, api, sid)["vifs"])


def test_attach_by_network_and_port_then_detach(api, api_flavor, compute, fake_drivers):
    net1, net2 = _net(api, "10.6.0.0/24"), _net(api, "10.7.0.0/24")
    sid = _boot(api, compute, api_flavor, net1)
    (first,) = _ports(api, sid)

    listed = api("GET", f"/servers/{sid}/os-interface").json()["interfaceAttachments"]
    assert listed == [
        {
            "net_id": net1,
            "port_id": first["id"],
            "mac_addr": first["mac_address"],
            "port_state": first["status"],
            "fixed_ips": first["fixed_ips"],
        }
    ]

    # by network, with the fixed IP asked for: 200 with the attachment, the NIC in the guest
    body = {"interfaceAttachment": {"net_id": net2, "fixed_ips": [{"ip_address": "10.7.0.50"}]}}
    r = api("POST", f"/servers/{sid}/os-interface", "p1", body)
    assert r.status_code == 200, r.text
    made = r.json()["interfaceAttachment"]
    assert set(made) == {"net_id", "port_id", "mac_addr", "port_state", "fixed_ips"}
    assert made["net_id"] == net2 and made["fixed_ips"][0]["ip_address"] == "10.7.0.50"
    guest = _guest(fake_drivers, api, sid)
    assert made["port_id"] in guest["vifs"] and guest["console"][-1] == "TINYGUEST-NIC-ADDED eth1"
    assert guest["vifs"][made["port_id"]].details  # bound (plumbed) on the host before the plug
    shown = api("GET", f"/servers/{sid}/os-interface/{made['port_id']}").json()["interfaceAttachment"]
    assert shown == made
    server = api("GET", f"/servers/{sid}").json()["server"]
    assert [a["addr"] for a in server["addresses"]["n-10.7.0.0/24"]] == ["10.7.0.50"]
    actions = [a["action"] for a in api("GET", f"/servers/{sid}/os-instance-actions").json()["instanceActions"]]
    assert actions[0] == "attach_interface"

    # by the user's own port
    own = _neutron(api, "POST", "ports", "p1", {"port": {"network_id": net2}})["port"]
    r = api("POST", f"/servers/{sid}/os-interface", "p1", {"interfaceAttachment": {"port_id": own["id"]}})
    assert r.status_code == 200, r.text
    assert r.json()["interfaceAttachment"]["port_id"] == own["id"]
    assert len(api("GET", f"/servers/{sid}/os-interface").json()["interfaceAttachments"]) == 3

    # the same port again: Nova's PortInUse
    r = api("POST", f"/servers/{sid}/os-interface", "p1", {"interfaceAttachment": {"port_id": own["id"]}})
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == f"Port {own['id']} is still in use."

    # detach: the user's port is kept (unbound), the one Nova made is deleted
    assert api("DELETE", f"/servers/{sid}/os-interface/{own['id']}").status_code == 202
    kept = _neutron(api, "GET", f"ports/{own['id']}")["port"]
    assert kept["device_id"] == "" and kept["device_owner"] == ""
    assert own["id"] not in guest["vifs"]
    assert api("DELETE", f"/servers/{sid}/os-interface/{made['port_id']}").status_code == 202
    r = api.client.get(f"/networking/v2.0/ports/{made['port_id']}", headers={"X-Auth-Token": api.tokens["p1"]})
    assert r.status_code == 404
    assert [p["id"] for p in _ports(api, sid)] == [first["id"]]
    assert "n-10.7.0.0/24" not in api("GET", f"/servers/{sid}").json()["server"]["addresses"]
    r = api("GET", f"/servers/{sid}/os-interface/{made['port_id']}")
    assert (
        r.status_code == 404 and r.json()["itemNotFound"]["message"] == f"Port id {made['port_id']} could not be found."
    )
    r = api("GET", f"/servers/{sid}/os-interface/{own['id']}")
    assert r.json()["itemNotFound"]["message"] == f"Instance {sid} does not have a port with id {own['id']}"
    r = api("DELETE", f"/servers/{sid}/os-interface/{own['id']}")
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == f"Port {own['id']} is not attached"


def test_refusals_change_nothing(api, api_flavor, compute, fake_drivers, cloud_runtime, monkeypatch):
    net1, net2 = _net(api, "10.8.0.0/24"), _net(api, "10.9.0.0/24")
    sid = _boot(api, compute, api_flavor, net1)
    own = _neutron(api, "POST", "ports", "p1", {"port": {"network_id": net2}})["port"]
    before = _state(api, fake_drivers, sid)
    url = f"/servers/{sid}/os-interface"

    def refused(body: Any, status: int, message: str, who: str = "p1", version: str | None = None) -> None:
        r = api("POST", url, who, body, version=version)
        assert r.status_code == status, r.text
        assert next(iter(r.json().values()))["message"] == message
        assert _state(api, fake_drivers, sid) == before

    both = {"interfaceAttachment": {"net_id": net2, "port_id": own["id"]}}
    refused(both, 400, "Must not input both network_id and port_id")
    refused(
        {"interfaceAttachment": {"port_id": own["id"], "fixed_ips": [{"ip_address": "10.9.0.9"}]}},
        400,
        "Must input network_id when request IP address",
    )
    refused(
        {"interfaceAttachment": {"net_id": "nope"}},
        400,
        "Invalid input for field/attribute net_id. Value: nope. 'nope' is not a 'uuid'",
    )
    refused({"interfaceAttachment": {"tag": "t"}}, 400, "Additional properties are not allowed ('tag' was unexpected)")
    refused({"interfaceAttachment": {"net_id": net2}}, 404, f"Instance {sid} could not be found.", who="p2")
    missing = "00000000-0000-0000-0000-000000000001"
    refused({"interfaceAttachment": {"port_id": missing}}, 404, f"Port id {missing} could not be found.")
    refused({"interfaceAttachment": {"net_id": missing}}, 404, f"Network {missing} could not be found.")
    # two networks and no choice: Nova's NetworkAmbiguous
    refused(
        {"interfaceAttachment": {}},
        400,
        "More than one possible network found. Specify network ID(s) to select which one(s) to connect to.",
    )
    taken = _ports(api, sid)[0]["fixed_ips"][0]["ip_address"]
    refused(
        {"interfaceAttachment": {"net_id": net1, "fixed_ips": [{"ip_address": taken}]}},
        409,
        f"Fixed IP address {taken} is already in use on instance {sid}.",
    )

    # a driver that cannot hot-plug: Nova's 400 before any port is made
    plugins = cloud_runtime.plugins
    implemented = plugins.implemented_hooks
    monkeypatch.setattr(
        plugins,
        "implemented_hooks",
        lambda info: [h for h in implemented(info) if h not in ("hv_attach_interface", "hv_detach_interface")],
    )
    refused(
        {"interfaceAttachment": {"net_id": net2}}, 400, f"Attaching interfaces is not supported for instance {sid}."
    )
    port1 = _ports(api, sid)[0]["id"]
    r = api("DELETE", f"{url}/{port1}")
    assert (
        r.status_code == 501
        and r.json()["notImplemented"]["message"] == "The requested functionality is not supported."
    )
    assert _state(api, fake_drivers, sid) == before
    monkeypatch.undo()

    # the host's agent fails the plug (the hypervisor refuses): the port made for it is deleted
    from overcast.compute.interfaces import InterfaceAttachments
    from overcast.errors import DriverError

    class Refusing:
        def attach_interface(self, **_: Any) -> bool:
            raise DriverError("libvirt said no")

    monkeypatch.setattr(InterfaceAttachments, "_hv", lambda self: Refusing())
    r = api("POST", url, "p1", {"interfaceAttachment": {"net_id": net2}})
    assert r.status_code == 500, r.text
    assert r.json()["computeFault"]["message"] == f"Failed to attach network adapter device to {sid}"
    assert _state(api, fake_drivers, sid) == before
    monkeypatch.undo()

    # a stopped server takes a NIC; a suspended one is refused with Nova's 409
    assert api("POST", f"/servers/{sid}/action", "p1", {"suspend": None}).status_code == 202
    api_wait(api, compute, sid, "SUSPENDED")
    before = _state(api, fake_drivers, sid)
    refused(
        {"interfaceAttachment": {"net_id": net2}},
        409,
        f"Cannot 'attach_interface' instance {sid} while it is in vm_state suspended",
    )
    r = api("DELETE", f"{url}/{port1}")
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        f"Cannot 'detach_interface' instance {sid} while it is in vm_state suspended"
    )
    assert api("POST", f"/servers/{sid}/action", "p1", {"resume": None}).status_code == 202
    api_wait(api, compute, sid, "ACTIVE")
    assert api("POST", f"/servers/{sid}/action", "p1", {"os-stop": None}).status_code == 202
    api_wait(api, compute, sid, "SHUTOFF")
    r = api("POST", url, "p1", {"interfaceAttachment": {"port_id": own["id"]}})
    assert r.status_code == 200, r.text
    assert api("GET", f"/servers/{sid}").json()["server"]["status"] == "SHUTOFF"


def test_locked_server_and_reader(api, api_flavor, compute, fake_drivers):
    net = _net(api, "10.10.0.0/24")
    sid = _boot(api, compute, api_flavor, net)
    assert api("GET", f"/servers/{sid}/os-interface", "reader").status_code == 200
    r = api("POST", f"/servers/{sid}/os-interface", "reader", {"interfaceAttachment": {"net_id": net}})
    assert r.status_code == 403
    assert api("POST", f"/servers/{sid}/action", "p1", {"lock": None}).status_code == 202
    r = api("POST", f"/servers/{sid}/os-interface", "p1", {"interfaceAttachment": {"net_id": net}})
    assert r.status_code == 409 and r.json()["conflictingRequest"]["message"] == f"Instance {sid} is locked"
    # the one network the project has is chosen when none is named (admin passes the lock)
    r = api("POST", f"/servers/{sid}/os-interface", "admin", {"interfaceAttachment": {}})
    assert r.status_code == 400  # the admin's project has no network of its own
    assert api("POST", f"/servers/{sid}/action", "p1", {"unlock": None}).status_code == 202
    r = api("POST", f"/servers/{sid}/os-interface", "p1", None)
    assert r.status_code == 200, r.text
    assert r.json()["interfaceAttachment"]["net_id"] == net
    assert len(_guest(fake_drivers, api, sid)["vifs"]) == 2


def test_port_quota_is_novas_403(api, api_flavor, compute, fake_drivers):
    net = _net(api, "10.11.0.0/24")
    sid = _boot(api, compute, api_flavor, net)
    before = _state(api, fake_drivers, sid)
    project = api.projects["p1"]
    _neutron(api, "PUT", f"quotas/{project}", "admin", {"quota": {"port": 1}})
    r = api("POST", f"/servers/{sid}/os-interface", "p1", {"interfaceAttachment": {"net_id": net}})
    assert r.status_code == 403 and r.json()["forbidden"]["message"] == "Maximum number of ports exceeded"
    assert _state(api, fake_drivers, sid) == before


def test_tag_from_249_is_refused_and_shown_as_null_from_270(api, api_flavor, compute, fake_drivers):
    net = _net(api, "10.12.0.0/24")
    sid = _boot(api, compute, api_flavor, net)
    before = _state(api, fake_drivers, sid)
    body = {"interfaceAttachment": {"net_id": net, "tag": "nic1"}}
    r = api("POST", f"/servers/{sid}/os-interface", "p1", body, version="2.49")
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == f"Tagged network interface attach is not supported for instance {sid}."
    assert _state(api, fake_drivers, sid) == before
    (old,) = api("GET", f"/servers/{sid}/os-interface", version="2.69").json()["interfaceAttachments"]
    (new,) = api("GET", f"/servers/{sid}/os-interface", version="2.70").json()["interfaceAttachments"]
    assert "tag" not in old and new == {**old, "tag": None}
