"""More core resource types through the API as the stack owner: configs (SoftwareConfig,
CloudConfig, MultipartMime) as a server's user data, KeyPair, Flavor (admin only, as the
compute policy says), Port + FloatingIPAssociation, Swift Container."""

from __future__ import annotations

import base64
import email
from typing import Any

from .conftest import Heat
from .test_api_stacks import _image_and_flavors
from .test_example_web import public_network

HOT = "2018-08-31"


def test_configs_keypair_flavor_port_fip_container(heat_admin: Heat, cloud: Any) -> None:
    heat = heat_admin
    _image_and_flavors(cloud)
    public_network(cloud)
    t = {
        "heat_template_version": HOT,
        "resources": {
            "cc": {"type": "OS::Heat::CloudConfig", "properties": {"cloud_config": {"packages": ["nginx"]}}},
            "script": {"type": "OS::Heat::SoftwareConfig", "properties": {"config": "#!/bin/sh\necho hello\n"}},
            "mime": {
                "type": "OS::Heat::MultipartMime",
                "properties": {"parts": [{"config": {"get_resource": "cc"}}, {"config": {"get_resource": "script"}}]},
            },
            "key": {"type": "OS::Nova::KeyPair", "properties": {"name": "stack-key", "save_private_key": True}},
            "flavor": {
                "type": "OS::Nova::Flavor",
                "properties": {"ram": 64, "vcpus": 1, "disk": 1, "extra_specs": {"a": "1"}},
            },
            "net": {"type": "OS::Neutron::Net"},
            "sub": {
                "type": "OS::Neutron::Subnet",
                "properties": {"network": {"get_resource": "net"}, "cidr": "10.60.0.0/24"},
            },
            "router": {"type": "OS::Neutron::Router", "properties": {"external_gateway_info": {"network": "public"}}},
            "iface": {
                "type": "OS::Neutron::RouterInterface",
                "properties": {"router": {"get_resource": "router"}, "subnet": {"get_resource": "sub"}},
            },
            "port": {
                "type": "OS::Neutron::Port",
                "properties": {
                    "network": {"get_resource": "net"},
                    "fixed_ips": [{"subnet": {"get_resource": "sub"}, "ip_address": "10.60.0.50"}],
                },
            },
            "fip": {
                "type": "OS::Neutron::FloatingIP",
                "depends_on": "iface",
                "properties": {"floating_network": "public"},
            },
            "assoc": {
                "type": "OS::Neutron::FloatingIPAssociation",
                "properties": {"floatingip_id": {"get_resource": "fip"}, "port_id": {"get_resource": "port"}},
            },
            "srv": {
                "type": "OS::Nova::Server",
                "properties": {
                    "image": "tiny",
                    "flavor": {"get_resource": "flavor"},
                    "key_name": {"get_resource": "key"},
                    "networks": [{"port": {"get_resource": "port"}}],
                    "user_data_format": "SOFTWARE_CONFIG",
                    "user_data": {"get_resource": "mime"},
                    "metadata": {"role": "web"},
                },
            },
            "bucket": {"type": "OS::Swift::Container", "properties": {"X-Container-Meta": {"owner": "heat"}}},
        },
        "outputs": {
            "private_key": {"value": {"get_attr": ["key", "private_key"]}},
            "fip": {"value": {"get_attr": ["fip", "floating_ip_address"]}},
            "objects": {"value": {"get_attr": ["bucket", "ObjectCount"]}},
        },
    }
    st = heat.create_ok("types", t)
    outs = {o["output_key"]: o["output_value"] for o in st["outputs"]}
    assert outs["private_key"].startswith("-----BEGIN") and outs["objects"] == 0
    res = heat.resources("types", st["id"])
    srv = cloud.request(
        "GET",
        f"/compute/v2.1/servers/{res['srv']['physical_resource_id']}",
        token=heat.token,
        headers={"OpenStack-API-Version": "compute 2.37"},
    ).json()["server"]
    assert srv["key_name"] == "stack-key" and srv["metadata"] == {"role": "web"}
    flavor = cloud.request(
        "GET", f"/compute/v2.1/flavors/{res['flavor']['physical_resource_id']}/os-extra_specs", token=heat.token
    )
    assert flavor.json()["extra_specs"] == {"a": "1"}
    user_data = base64.b64decode(srv["OS-EXT-SRV-ATTR:user_data"]).decode()
    parts = email.message_from_string(user_data).get_payload()
    assert [p.get_content_type() for p in parts] == ["text/cloud-config", "text/x-shellscript"]
    assert parts[0].get_payload(decode=True).decode().startswith("#cloud-config\npackages:")
    assert parts[1].get_payload(decode=True).decode() == "#!/bin/sh\necho hello\n"
    fip = cloud.request(
        "GET", f"/networking/v2.0/floatingips/{res['fip']['physical_resource_id']}", token=heat.token
    ).json()["floatingip"]
    assert fip["port_id"] == res["port"]["physical_resource_id"] and fip["fixed_ip_address"] == "10.60.0.50"
    assert fip["floating_ip_address"] == outs["fip"]
    containers = cloud.request("GET", f"/object/v1/AUTH_{heat.project_id}?format=json", token=heat.token).json()
    assert [c["name"] for c in containers] == [res["bucket"]["physical_resource_id"]]

    heat.request("DELETE", f"/stacks/types/{st['id']}")
    assert heat.wait("types", st["id"])["stack_status"] == "DELETE_COMPLETE"
    assert cloud.request("GET", "/compute/v2.1/os-keypairs", token=heat.token).json()["keypairs"] == []
    flavors = cloud.request("GET", "/compute/v2.1/flavors", token=heat.token).json()["flavors"]
    assert not [f for f in flavors if f["name"].startswith("types-flavor")]
    assert cloud.request("GET", "/networking/v2.0/floatingips", token=heat.token).json()["floatingips"] == []
    assert cloud.request("GET", f"/object/v1/AUTH_{heat.project_id}?format=json", token=heat.token).json() == []


def test_a_member_cannot_make_a_flavor(heat: Heat) -> None:
    """The engine acts with the owner's roles: the compute policy refuses a member's flavor."""
    t = {
        "heat_template_version": HOT,
        "resources": {"f": {"type": "OS::Nova::Flavor", "properties": {"ram": 64, "vcpus": 1}}},
    }
    r = heat.create("f", t)
    st = heat.wait("f", r.json()["stack"]["id"])
    assert st["stack_status"] == "CREATE_FAILED"
    assert st["stack_status_reason"].startswith("Resource CREATE failed: Forbidden: resources.f: ")
