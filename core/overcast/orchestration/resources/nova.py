"""OS::Nova::Server, KeyPair and Flavor over the compute API (``/compute/v2.1``)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from overcast.orchestration.errors import ResourceFailure, ResourceInError
from overcast.orchestration.resource import ApiError, Prop, ResourceContext, ResourceType
from overcast.orchestration.resources.base import (
    find_flavor,
    find_image,
    find_network,
    find_port,
    find_subnet,
    gone,
    name_or_physical,
    show,
)
from overcast.orchestration.resources.heat import peer_config
from overcast.orchestration.template.parameters import Constraint

NETWORK_SCHEMA = {
    "network": Prop("string", "Name or ID of network to create a port on."),
    "uuid": Prop("string", "ID of network to create a port on (deprecated: use network)."),
    "port": Prop("string", "ID of an existing port to associate with this server."),
    "fixed_ip": Prop("string", "Fixed IP address to specify for the port created on the requested network."),
    "subnet": Prop("string", "Subnet in which to allocate the IP address for port."),
    "tag": Prop("string", "Port tag."),
}
BDM_SCHEMA = {
    "device_name": Prop("string"),
    "volume_id": Prop("string"),
    "snapshot_id": Prop("string"),
    "image": Prop("string"),
    "image_id": Prop("string"),
    "swap_size": Prop("integer"),
    "ephemeral_size": Prop("integer"),
    "boot_index": Prop("integer"),
    "volume_size": Prop("integer"),
    "device_type": Prop("string"),
    "disk_bus": Prop("string"),
    "delete_on_termination": Prop("boolean"),
}


class Server(ResourceType):
    type_name = "OS::Nova::Server"
    heat_class = "Server"
    description = "A compute server (Nova)."
    requires_service = "compute"
    properties_schema = {
        "name": Prop("string", "Server name.", update_allowed=True),
        "image": Prop("string", "The ID or name of the image to boot with."),
        "flavor": Prop("string", "The ID or name of the flavor to boot onto.", required=True),
        "key_name": Prop("string", "Name of keypair to inject into the server."),
        "availability_zone": Prop("string", "Name of the availability zone for server placement."),
        "networks": Prop(
            "list", "An ordered list of nics to be added to this server.", schema=Prop("map", schema=NETWORK_SCHEMA)
        ),
        "security_groups": Prop("list", "List of security group names or IDs.", default=[], schema=Prop("string")),
        "user_data": Prop("string", "User data script to be executed by cloud-init.", default=""),
        "user_data_format": Prop(
            "string",
            "How the user_data should be formatted for the server.",
            default="RAW",
            constraints=(Constraint("allowed_values", ["RAW", "SOFTWARE_CONFIG"]),),
        ),
        "block_device_mapping_v2": Prop(
            "list", "Block device mappings v2 for this server.", schema=Prop("map", schema=BDM_SCHEMA)
        ),
        "metadata": Prop("map", "Arbitrary key/value metadata to store for this server.", update_allowed=True),
        "config_drive": Prop("boolean", "If True, enable config drive on the server."),
        "admin_pass": Prop("string", "The administrator password for the server."),
        "scheduler_hints": Prop("map", "Arbitrary key-value pairs specified by the client to help boot a server."),
    }
    attributes_schema = {
        "name": "Name of the server.",
        "first_address": "Convenience attribute to fetch the first assigned network address.",
        "addresses": "A dict of all network addresses with corresponding port_id and subnets.",
        "networks": "A dict of assigned network addresses of the form: {public: [ip1, ip2...], private: [ip3, ip4]}.",
        "accessIPv4": "The manually assigned alternative public IPv4 address of the server.",
        "accessIPv6": "The manually assigned alternative public IPv6 address of the server.",
        "instance_name": "AWS compatible instance name.",
    }

    def _networks(self, rc: ResourceContext) -> list[dict[str, Any]]:
        out = []
        for net in rc.properties.get("networks") or []:
            entry: dict[str, Any] = {}
            if net.get("port"):
                entry["port"] = find_port(rc, net["port"])
            else:
                ref = net.get("network") or net.get("uuid")
                if ref:
                    entry["uuid"] = find_network(rc, ref)
                elif net.get("subnet"):
                    sub = rc.api.call("network", "GET", f"/v2.0/subnets/{find_subnet(rc, net['subnet'])}")
                    entry["uuid"] = sub["subnet"]["network_id"]
                if net.get("fixed_ip"):
                    entry["fixed_ip"] = net["fixed_ip"]
            if net.get("tag"):
                entry["tag"] = net["tag"]
            out.append(entry)
        return out

    def _bdms(self, rc: ResourceContext) -> list[dict[str, Any]]:
        out = []
        for b in rc.properties.get("block_device_mapping_v2") or []:
            entry: dict[str, Any] = {}
            if b.get("volume_id"):
                entry.update(source_type="volume", uuid=b["volume_id"], destination_type="volume")
            elif b.get("snapshot_id"):
                entry.update(source_type="snapshot", uuid=b["snapshot_id"], destination_type="volume")
            elif b.get("image") or b.get("image_id"):
                entry.update(source_type="image", uuid=find_image(rc, b.get("image") or b["image_id"]))
                entry["destination_type"] = "volume" if b.get("volume_size") else "local"
            elif b.get("swap_size"):
                entry.update(
                    source_type="blank", destination_type="local", guest_format="swap", volume_size=b["swap_size"]
                )
            elif b.get("ephemeral_size"):
                entry.update(source_type="blank", destination_type="local", volume_size=b["ephemeral_size"])
            for key in ("device_name", "boot_index", "volume_size", "device_type", "disk_bus", "delete_on_termination"):
                if b.get(key) is not None:
                    entry[key] = b[key]
            out.append(entry)
        return out

    def handle_create(self, rc: ResourceContext) -> None:
        p = rc.properties
        server: dict[str, Any] = {"name": name_or_physical(rc), "flavorRef": find_flavor(rc, p["flavor"])}
        bdms = self._bdms(rc)
        if p.get("image"):
            server["imageRef"] = find_image(rc, p["image"])
        elif not bdms:
            raise ResourceFailure(
                "StackValidationFailed", "Neither image nor bootable volume is specified for instance"
            )
        if bdms:
            server["block_device_mapping_v2"] = bdms
        networks = self._networks(rc)
        server["networks"] = networks if networks else "auto"
        for key, api_key in (
            ("key_name", "key_name"),
            ("availability_zone", "availability_zone"),
            ("admin_pass", "adminPass"),
        ):
            if p.get(key):
                server[api_key] = p[key]
        if p.get("security_groups"):
            server["security_groups"] = [{"name": g} for g in p["security_groups"]]
        if p.get("metadata"):
            server["metadata"] = {k: str(v) for k, v in p["metadata"].items()}
        if p.get("config_drive") is not None:
            server["config_drive"] = p["config_drive"]
        user_data = peer_config(rc, p["user_data"]) if p.get("user_data") else ""
        if user_data:
            server["user_data"] = base64.b64encode(user_data.encode()).decode()
        body: dict[str, Any] = {"server": server}
        if p.get("scheduler_hints"):
            body["os:scheduler_hints"] = p["scheduler_hints"]
        created = rc.api.call("compute", "POST", "/servers", body, headers={"OpenStack-API-Version": "compute 2.37"})
        rc.set_resource_id(created["server"]["id"])

    def check_create_complete(self, rc: ResourceContext) -> bool:
        server = self._show(rc)
        if server is None:
            raise ResourceFailure("NotFound", f"The server ({rc.resource_id}) could not be found.")
        status = server.get("status")
        if status == "ERROR":
            fault = server.get("fault") or {}
            raise ResourceInError(
                "ERROR", f"Message: {fault.get('message', 'Unknown')}, Code: {fault.get('code', 'Unknown')}"
            )
        return status == "ACTIVE"

    def handle_check(self, rc: ResourceContext) -> bool:
        server = self._show(rc)
        if server is None or server.get("status") == "ERROR":
            raise ResourceFailure(
                "NotFound" if server is None else "ResourceInError",
                f"Server {rc.resource_id} is {'gone' if server is None else 'in ERROR'}.",
            )
        return True

    def handle_suspend(self, rc: ResourceContext) -> None:
        rc.api.call("compute", "POST", f"/servers/{rc.resource_id}/action", {"suspend": None})

    def check_suspend_complete(self, rc: ResourceContext) -> bool:
        server = self._show(rc)
        if server is None or server.get("status") == "ERROR":
            raise ResourceInError(str(server.get("status") if server else "DELETED"), "Suspend failed")
        return server.get("status") == "SUSPENDED"

    def handle_resume(self, rc: ResourceContext) -> None:
        rc.api.call("compute", "POST", f"/servers/{rc.resource_id}/action", {"resume": None})

    def check_resume_complete(self, rc: ResourceContext) -> bool:
        server = self._show(rc)
        if server is None or server.get("status") == "ERROR":
            raise ResourceInError(str(server.get("status") if server else "DELETED"), "Resume failed")
        return server.get("status") == "ACTIVE"

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        if "name" in changed:
            rc.api.call("compute", "PUT", f"/servers/{rc.resource_id}", {"server": {"name": name_or_physical(rc)}})
        if "metadata" in changed:
            meta = {k: str(v) for k, v in (rc.properties.get("metadata") or {}).items()}
            rc.api.call("compute", "PUT", f"/servers/{rc.resource_id}/metadata", {"metadata": meta})

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.resource_id:
            gone(lambda: rc.api.call("compute", "DELETE", f"/servers/{rc.resource_id}"))

    def check_delete_complete(self, rc: ResourceContext) -> bool:
        server = self._show(rc)
        if server is None or server.get("status") == "DELETED":
            return True
        if (
            server.get("status") == "ERROR"
            and server.get("OS-EXT-STS:task_state") is None
            and rc.data.get("delete_retry", 0) < 3
        ):
            rc.data["delete_retry"] = rc.data.get("delete_retry", 0) + 1
            gone(lambda: rc.api.call("compute", "DELETE", f"/servers/{rc.resource_id}"))
        return False

    def _show(self, rc: ResourceContext) -> dict[str, Any] | None:
        return show(rc, "compute", f"/servers/{rc.resource_id}", "server")

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        server = self._show(rc)
        if server is None:
            return None
        addresses = server.get("addresses") or {}
        if name == "show":
            return server
        if name == "name":
            return server.get("name")
        if name == "addresses":
            return addresses
        if name == "networks":
            return {net: [a["addr"] for a in addrs] for net, addrs in addresses.items()}
        if name == "first_address":
            for addrs in addresses.values():
                for a in addrs:
                    return a["addr"]
            return ""
        if name in ("accessIPv4", "accessIPv6"):
            return server.get(name, "")
        if name == "instance_name":
            return server.get("OS-EXT-SRV-ATTR:instance_name")
        return None


class KeyPair(ResourceType):
    type_name = "OS::Nova::KeyPair"
    heat_class = "KeyPair"
    description = "A key pair (imported or generated)."
    requires_service = "compute"
    properties_schema = {
        "name": Prop(
            "string",
            "The name of the key pair.",
            required=True,
            constraints=(Constraint("length", {"min": 1, "max": 255}),),
        ),
        "save_private_key": Prop(
            "boolean", "True if the system should remember a generated private key.", default=False
        ),
        "public_key": Prop("string", "The optional public key."),
        "type": Prop("string", "Keypair type.", constraints=(Constraint("allowed_values", ["ssh", "x509"]),)),
    }
    attributes_schema = {"public_key": "The public key.", "private_key": "The private key if it has been saved."}

    def handle_create(self, rc: ResourceContext) -> None:
        body: dict[str, Any] = {"name": rc.properties["name"]}
        if rc.properties.get("public_key"):
            body["public_key"] = rc.properties["public_key"]
        headers = {}
        if rc.properties.get("type"):
            body["type"] = rc.properties["type"]
            headers["OpenStack-API-Version"] = "compute 2.2"
        made = rc.api.call("compute", "POST", "/os-keypairs", {"keypair": body}, headers=headers)["keypair"]
        rc.data["public_key"] = made.get("public_key")
        if rc.properties.get("save_private_key") and made.get("private_key"):
            rc.data["private_key"] = made["private_key"]
        rc.set_resource_id(rc.properties["name"])

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.resource_id:
            gone(lambda: rc.api.call("compute", "DELETE", f"/os-keypairs/{quote(str(rc.resource_id), safe='')}"))

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        if name == "public_key":
            return rc.data.get("public_key")
        if name == "private_key":
            return rc.data.get("private_key", "")
        if name == "show":
            return show(rc, "compute", f"/os-keypairs/{quote(str(rc.resource_id), safe='')}", "keypair")
        return None


class Flavor(ResourceType):
    type_name = "OS::Nova::Flavor"
    heat_class = "NovaFlavor"
    description = "A flavor (admin only, as the compute API's policy says)."
    requires_service = "compute"
    properties_schema = {
        "name": Prop("string", "Name of the flavor."),
        "ram": Prop("integer", "Memory in MB for the flavor.", required=True),
        "vcpus": Prop("integer", "Number of VCPUs for the flavor.", required=True),
        "disk": Prop("integer", "Size of local disk in GB.", default=0),
        "swap": Prop("integer", "Swap space in MB.", default=0),
        "ephemeral": Prop("integer", "Size of a secondary ephemeral data disk in GB.", default=0),
        "rxtx_factor": Prop("number", "RX/TX factor.", default=1.0),
        "is_public": Prop("boolean", "Scope of flavor accessibility.", default=True),
        "extra_specs": Prop("map", "Key/Value pairs to extend the capabilities of the flavor.", update_allowed=True),
    }
    attributes_schema = {
        "is_public": "Whether the flavor is shared across all projects.",
        "extra_specs": "Extra specs of the flavor in key-value pairs.",
    }

    def handle_create(self, rc: ResourceContext) -> None:
        p = rc.properties
        body = {
            "name": name_or_physical(rc),
            "ram": p["ram"],
            "vcpus": p["vcpus"],
            "disk": p["disk"],
            "swap": p["swap"],
            "OS-FLV-EXT-DATA:ephemeral": p["ephemeral"],
            "rxtx_factor": p["rxtx_factor"],
            "os-flavor-access:is_public": p["is_public"],
        }
        made = rc.api.call("compute", "POST", "/flavors", {"flavor": body})["flavor"]
        rc.set_resource_id(made["id"])
        if p.get("extra_specs"):
            self._specs(rc)

    def _specs(self, rc: ResourceContext) -> None:
        specs = {k: str(v) for k, v in (rc.properties.get("extra_specs") or {}).items()}
        if specs:
            rc.api.call("compute", "POST", f"/flavors/{rc.resource_id}/os-extra_specs", {"extra_specs": specs})

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        for key in old.get("extra_specs") or {}:
            if key not in (rc.properties.get("extra_specs") or {}):
                try:
                    rc.api.call("compute", "DELETE", f"/flavors/{rc.resource_id}/os-extra_specs/{quote(key, safe='')}")
                except ApiError as exc:
                    if exc.status != 404:
                        raise
        self._specs(rc)

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.resource_id:
            gone(lambda: rc.api.call("compute", "DELETE", f"/flavors/{rc.resource_id}"))

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        flavor = show(rc, "compute", f"/flavors/{rc.resource_id}", "flavor")
        if flavor is None:
            return None
        if name == "show":
            return flavor
        if name == "is_public":
            return flavor.get("os-flavor-access:is_public")
        if name == "extra_specs":
            return rc.api.call("compute", "GET", f"/flavors/{rc.resource_id}/os-extra_specs").get("extra_specs")
        return None


TYPES: list[type[ResourceType]] = [Server, KeyPair, Flavor]
