"""The metadata service (issue 17) in process: the proxies the agents ask for, the metadata
API's attribution (network or router + source address, signed) and answers, and the config
drive's content being the same as the API's."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from overcast.agent import start_local_agents
from overcast.api.metadata import create_metadata_app
from overcast.compute.metadata import content, signing
from overcast.config import parse_config
from overcast.testing.fixtures import fake_config_data

from .conftest import IMAGE_ID, api_wait
from .fake_peers import FakeImageService, FakeVolumeService

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv3oQ3lq5hXb0Uu7oJ1W8iKq2kW0Jc1s9yq0S0nQ7Zx test@overcast"
SCRIPT = b"#!/bin/sh\necho user-data-ran > /run/marker\n"
NET = "/networking/v2.0"


@pytest.fixture
def overcast_config(tmp_path, migrated_sqlite_template):
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path, hosts=1)
    data["compute"] = {"scheduler_cache_seconds": 0}
    data["bus"] = {"heartbeat_interval": 3600}
    data["metadata"] = {"port": 18775, "vendor_data": {"motd": "hello"}}
    return parse_config(data, tmp_path / "overcast.toml")


@pytest.fixture
def cloud_runtime(overcast_runtime) -> Iterator[Any]:
    images = FakeImageService()
    images.add(IMAGE_ID)
    overcast_runtime._services["image"] = images
    overcast_runtime._services["volume"] = FakeVolumeService()
    start_local_agents(overcast_runtime)
    overcast_runtime.network.start()
    overcast_runtime.compute.start()
    yield overcast_runtime
    overcast_runtime.network.close()


@pytest.fixture
def md(cloud_runtime) -> TestClient:
    return TestClient(create_metadata_app(cloud_runtime))


def _net(api, who: str, name: str, cidr: str, **subnet: Any) -> tuple[str, str]:
    headers = {"X-Auth-Token": api.tokens[who]}
    net = api.client.post(f"{NET}/networks", headers=headers, json={"network": {"name": name}}).json()["network"]
    sub = api.client.post(
        f"{NET}/subnets",
        headers=headers,
        json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4, **subnet}},
    ).json()["subnet"]
    return net["id"], sub["id"]


def _server(api, compute, who: str, name: str, api_flavor, net_id: str, **extra: Any) -> dict:
    body = {"name": name, "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": [{"uuid": net_id}], **extra}
    r = api("POST", "/servers", who, {"server": body})
    assert r.status_code == 202, r.text
    return api_wait(api, compute, r.json()["server"]["id"], "ACTIVE", who)


def _ip(server: dict) -> str:
    return next(a["addr"] for addrs in server["addresses"].values() for a in addrs)


def _headers(runtime, kind: str, rid: str, ip: str, secret: bytes | None = None) -> dict[str, str]:
    key = secret if secret is not None else signing.shared_secret(runtime.config)
    header = signing.NETWORK_HEADER if kind == "network" else signing.ROUTER_HEADER
    return {
        header: rid,
        signing.ADDRESS_HEADER: ip,
        signing.SIGNATURE_HEADER: signing.sign(key, kind, rid, ip),
    }


@pytest.fixture
def two_servers(api, api_flavor, compute) -> dict[str, Any]:
    r = api("POST", "/os-keypairs", "p1", {"keypair": {"name": "k1", "public_key": KEY}})
    assert r.status_code in (200, 201), r.text
    net_a, sub_a = _net(api, "p1", "private", "10.10.0.0/24")
    net_b, _ = _net(api, "p2", "other", "10.20.0.0/24")
    mine = _server(
        api,
        compute,
        "p1",
        "Web_1",
        api_flavor,
        net_a,
        key_name="k1",
        user_data=base64.b64encode(SCRIPT).decode(),
        metadata={"role": "web"},
    )
    theirs = _server(api, compute, "p2", "theirs", api_flavor, net_b)
    return {"mine": mine, "theirs": theirs, "net_a": net_a, "sub_a": sub_a, "net_b": net_b}


def test_agents_start_signed_proxies_for_dhcp_networks(cloud_runtime, two_servers, fake_drivers) -> None:
    proxies = fake_drivers.network.state["fake1"]["metadata_proxies"]
    proxy = proxies[two_servers["net_a"]]
    assert proxy.upstream == "127.0.0.1:18775" and proxy.router_id == ""
    assert base64.b64decode(proxy.secret_b64) == signing.shared_secret(cloud_runtime.config)
    assert two_servers["net_b"] in proxies


def test_guest_reads_its_own_metadata(cloud_runtime, md, two_servers) -> None:
    mine = two_servers["mine"]
    h = _headers(cloud_runtime, "network", two_servers["net_a"], _ip(mine))
    meta = md.get("/openstack/latest/meta_data.json", headers=h)
    assert meta.status_code == 200 and meta.headers["content-type"] == "application/json"
    data = meta.json()
    assert data["uuid"] == mine["id"] and data["name"] == "Web_1" and data["hostname"] == "web-1"
    assert data["public_keys"] == {"k1": KEY}
    assert data["keys"] == [{"name": "k1", "type": "ssh", "data": KEY}]
    assert data["meta"] == {"role": "web"} and data["availability_zone"] == "nova"
    assert data["project_id"] == mine["tenant_id"] and data["devices"] == [] and data["launch_index"] == 0
    assert md.get("/openstack/latest/user_data", headers=h).content == SCRIPT
    assert md.get("/openstack/2012-08-10/meta_data.json", headers=h).json()["uuid"] == mine["id"]
    assert md.get("/openstack/latest/vendor_data.json", headers=h).json() == {"motd": "hello"}
    assert md.get("/openstack/latest/vendor_data2.json", headers=h).json() == {}
    assert md.get("/openstack/2012-08-10/network_data.json", headers=h).status_code == 404  # not yet then
    net = md.get("/openstack/latest/network_data.json", headers=h).json()
    port_mac = net["links"][0]["ethernet_mac_address"]
    assert mine["addresses"]["private"][0]["OS-EXT-IPS-MAC:mac_addr"] == port_mac
    assert net["networks"][0]["type"] == "ipv4_dhcp" and net["networks"][0]["network_id"] == two_servers["net_a"]
    listing = md.get("/openstack/latest/", headers=h).text.split("\n")
    assert set(listing) == {
        "meta_data.json",
        "user_data",
        "vendor_data.json",
        "network_data.json",
        "vendor_data2.json",
        "password",
    }
    assert "password" not in md.get("/openstack/2012-08-10/", headers=h).text.split("\n")
    assert md.get("/openstack", headers=h).text.split("\n")[-1] == "latest"
    # EC2
    assert "latest" in md.get("/", headers=h).text.split("\n")
    assert md.get("/latest/meta-data/public-keys/", headers=h).text == "0=k1"
    assert md.get("/latest/meta-data/public-keys/0/", headers=h).text == "openssh-key"
    assert md.get("/latest/meta-data/public-keys/0/openssh-key", headers=h).text == KEY + "\n"
    assert md.get("/latest/meta-data/instance-id", headers=h).text == "i-" + mine["id"].replace("-", "")[:8]
    assert md.get("/latest/meta-data/local-ipv4", headers=h).text == _ip(mine)
    assert md.get("/latest/meta-data/public-ipv4", headers=h).text == ""
    assert md.get("/latest/meta-data/hostname", headers=h).text == "web-1"
    assert md.get("/2009-04-04/user-data", headers=h).content == SCRIPT
    tree = md.get("/latest/meta-data/", headers=h).text.split("\n")
    assert {"instance-id", "local-ipv4", "public-ipv4", "hostname", "public-keys/", "placement/"} <= set(tree)
    assert md.get("/latest/meta-data/nothing", headers=h).status_code == 404
    assert md.post("/openstack/latest/meta_data.json", headers=h).status_code == 405


def test_guest_posts_its_password_once_and_the_owner_reads_and_clears_it(cloud_runtime, api, md, two_servers) -> None:
    mine = two_servers["mine"]
    h = _headers(cloud_runtime, "network", two_servers["net_a"], _ip(mine))
    url = f"/servers/{mine['id']}/os-server-password"
    assert md.get("/openstack/latest/password", headers=h).text == ""
    assert api("GET", url, "p1").json() == {"password": ""}
    assert md.post("/openstack/2012-08-10/password", headers=h, content=b"x").status_code == 405  # not yet then
    assert md.post("/openstack/latest/password", headers=h, content=b"x" * 1021).status_code == 400
    assert md.post("/openstack/2013-04-04/password", headers=h, content=b"c2VjcmV0").status_code == 200
    assert md.post("/openstack/latest/password", headers=h, content=b"again").status_code == 409
    assert md.get("/openstack/latest/password", headers=h).text == "c2VjcmV0"
    assert api("GET", url, "p1").json() == {"password": "c2VjcmV0"}
    assert api("GET", url, "p2").status_code == 404  # another project's server
    r = api("DELETE", url, "p1")
    assert r.status_code == 204 and r.content == b""
    assert api("GET", url, "p1").json() == {"password": ""}
    assert md.post("/openstack/latest/password", headers=h, content=b"new").status_code == 200


def test_requests_are_attributed_or_refused(cloud_runtime, md, two_servers) -> None:
    mine, theirs = two_servers["mine"], two_servers["theirs"]
    net_a, net_b = two_servers["net_a"], two_servers["net_b"]
    path = "/openstack/latest/meta_data.json"
    # each guest gets its own, and only through its own network
    assert md.get(path, headers=_headers(cloud_runtime, "network", net_b, _ip(theirs))).json()["uuid"] == theirs["id"]
    assert md.get(path, headers=_headers(cloud_runtime, "network", net_b, _ip(mine))).status_code == 404
    # no proxy signature, a wrong one, or one made for something else: refused
    h = _headers(cloud_runtime, "network", net_a, _ip(mine))
    assert md.get(path, headers={k: v for k, v in h.items() if k != signing.SIGNATURE_HEADER}).status_code == 403
    assert md.get(path, headers={**h, signing.ADDRESS_HEADER: _ip(theirs)}).status_code == 403
    assert md.get(path, headers={**h, signing.NETWORK_HEADER: net_b}).status_code == 403
    assert md.get(path, headers=_headers(cloud_runtime, "network", net_a, _ip(mine), b"guessed")).status_code == 403
    forged = _headers(cloud_runtime, "router", net_a, _ip(mine))  # a router id nobody has
    assert md.get(path, headers=forged).status_code == 404
    # nothing to attribute
    assert md.get(path).status_code == 400
    assert md.get(path, headers={**h, signing.ROUTER_HEADER: "r"}).status_code == 400
    assert md.get(path, headers={**h, signing.ADDRESS_HEADER: "10.10.0.7, 1.2.3.4"}).status_code == 400
    # an address no server holds there (the DHCP port's, a free one)
    assert md.get(path, headers=_headers(cloud_runtime, "network", net_a, "10.10.0.250")).status_code == 404


def test_router_proxy_attributes_the_networks_behind_it(cloud_runtime, api, md, two_servers, fake_drivers) -> None:
    headers = {"X-Auth-Token": api.tokens["p1"]}
    router = api.client.post(f"{NET}/routers", headers=headers, json={"router": {"name": "r1"}}).json()["router"]
    r = api.client.put(
        f"{NET}/routers/{router['id']}/add_router_interface", headers=headers, json={"subnet_id": two_servers["sub_a"]}
    )
    assert r.status_code == 200, r.text
    assert fake_drivers.network.state["fake1"]["metadata_proxies"][router["id"]].router_id == router["id"]
    mine, theirs = two_servers["mine"], two_servers["theirs"]
    path = "/openstack/latest/meta_data.json"
    assert md.get(path, headers=_headers(cloud_runtime, "router", router["id"], _ip(mine))).json()["uuid"] == mine["id"]
    assert md.get(path, headers=_headers(cloud_runtime, "router", router["id"], _ip(theirs))).status_code == 404
    api.client.put(
        f"{NET}/routers/{router['id']}/remove_router_interface",
        headers=headers,
        json={"subnet_id": two_servers["sub_a"]},
    )
    api.client.delete(f"{NET}/routers/{router['id']}", headers=headers)
    assert router["id"] not in fake_drivers.network.state["fake1"]["metadata_proxies"]


def test_config_drive_carries_what_the_api_serves(cloud_runtime, api, api_flavor, compute, md, fake_drivers) -> None:
    api("POST", "/os-keypairs", "p1", {"keypair": {"name": "k2", "public_key": KEY}})
    net, _ = _net(api, "p1", "isolated", "10.30.0.0/24", enable_dhcp=False)
    server = _server(api, compute, "p1", "cd", api_flavor, net, key_name="k2", config_drive=True)
    assert server["config_drive"] == "True"
    shown = api("GET", f"/servers/{server['id']}", "admin").json()["server"]
    guest = fake_drivers.hypervisor.guests[shown["OS-EXT-SRV-ATTR:host"]][shown["OS-EXT-SRV-ATTR:instance_name"]]
    files = content.decode(guest["instance"].config_drive_files)
    h = _headers(cloud_runtime, "network", net, _ip(server))
    for name in ("meta_data.json", "network_data.json", "vendor_data.json", "vendor_data2.json"):
        served = md.get(f"/openstack/latest/{name}", headers=h)
        assert served.status_code == 200, name
        assert json.loads(files[f"openstack/latest/{name}"]) == served.json(), name
    assert json.loads(files["openstack/latest/meta_data.json"])["public_keys"] == {"k2": KEY}
    ec2 = json.loads(files["ec2/latest/meta-data.json"])
    assert ec2["public-keys"]["0"]["openssh-key"] == KEY + "\n" and ec2["local-ipv4"] == _ip(server)
    # no DHCP on that subnet: the drive says how to configure the address statically
    network = json.loads(files["openstack/latest/network_data.json"])["networks"][0]
    assert network["type"] == "ipv4" and network["ip_address"] == _ip(server)
    assert network["netmask"] == "255.255.255.0"
    assert network["routes"] == [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.30.0.1"}]
    # without asking (and a metadata API there), no drive, and server show says so
    plain = _server(api, compute, "p1", "plain", api_flavor, net, user_data=base64.b64encode(SCRIPT).decode())
    assert plain["config_drive"] == ""


def test_force_config_drive_and_no_metadata_api(cloud_runtime, api, api_flavor, compute, fake_drivers) -> None:
    net, _ = _net(api, "p1", "n", "10.40.0.0/24")
    cloud_runtime.config.compute.force_config_drive = True
    try:
        assert _server(api, compute, "p1", "forced", api_flavor, net)["config_drive"] == "True"
    finally:
        cloud_runtime.config.compute.force_config_drive = False
    cloud_runtime.config.metadata.port = 0
    # user data with no metadata API to read it from: it goes on a drive, and show says so
    data = base64.b64encode(SCRIPT).decode()
    assert _server(api, compute, "p1", "ud", api_flavor, net, user_data=data)["config_drive"] == "True"
    assert _server(api, compute, "p1", "none", api_flavor, net)["config_drive"] == ""


def test_content_versions_and_listing() -> None:
    md = content.GuestMetadata(uuid="u-1", name="A b", project_id="p", availability_zone="z")
    files = content.files(md)
    assert "openstack/latest/user_data" not in files and "ec2/latest/user-data" not in files
    assert "openstack/2013-04-04/vendor_data.json" not in files and "openstack/2013-10-17/vendor_data.json" in files
    assert "openstack/2016-06-30/vendor_data2.json" not in files and "openstack/2016-10-06/vendor_data2.json" in files
    assert content.listing(list(files), "ec2/latest/meta-data/placement/") == ["availability-zone"]
    assert content.hostname("Web Server_1!") == "web-server-1" and content.hostname("???") == "server"
    assert content.decode(content.encode({"a": b"\x00\xff"})) == {"a": b"\x00\xff"}
