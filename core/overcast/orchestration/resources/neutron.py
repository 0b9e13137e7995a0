"""OS::Neutron::* types over the networking API (``/networking/v2.0``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from overcast.orchestration.resource import ApiError, Prop, ResourceContext, ResourceType
from overcast.orchestration.resources.base import (
    find_network,
    find_port,
    find_router,
    find_security_group,
    find_subnet,
    gone,
    name_or_physical,
    show,
)
from overcast.orchestration.template.parameters import Constraint


class NeutronResource(ResourceType):
    """A Neutron object: POST to create, PUT the ``update_allowed`` properties, DELETE."""

    collection: ClassVar[str] = ""  # URL collection, e.g. "networks"
    key: ClassVar[str] = ""  # body key, e.g. "network"
    requires_service = "network"

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        """The API body for create (``changed`` None) or for an update of ``changed``."""
        raise NotImplementedError

    def handle_create(self, rc: ResourceContext) -> None:
        made = rc.api.call("network", "POST", f"/v2.0/{self.collection}", {self.key: self.body(rc)})
        rc.set_resource_id(made[self.key]["id"])

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        body = self.body(rc, changed)
        if body:
            rc.api.call("network", "PUT", f"/v2.0/{self.collection}/{rc.resource_id}", {self.key: body})

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.resource_id:
            gone(lambda: rc.api.call("network", "DELETE", f"/v2.0/{self.collection}/{rc.resource_id}"))

    def check_delete_complete(self, rc: ResourceContext) -> bool:
        return self._show(rc) is None

    def handle_check(self, rc: ResourceContext) -> bool:
        if self._show(rc) is None:
            from overcast.orchestration.errors import ResourceFailure

            raise ResourceFailure("NotFound", f"The {self.key} ({rc.resource_id}) could not be found.")
        return True

    def _show(self, rc: ResourceContext) -> dict[str, Any] | None:
        return show(rc, "network", f"/v2.0/{self.collection}/{rc.resource_id}", self.key)

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        obj = self._show(rc)
        if obj is None:
            return None
        if name == "show":
            return obj
        return obj.get(name)


def _pick(rc: ResourceContext, keys: dict[str, str], changed: set[str] | None) -> dict[str, Any]:
    out = {}
    for prop, api in keys.items():
        if changed is not None and prop not in changed:
            continue
        value = rc.properties.get(prop)
        if value is not None or changed is not None:
            out[api] = value
    return out


class Net(NeutronResource):
    type_name = "OS::Neutron::Net"
    heat_class = "Net"
    description = "A network."
    collection, key = "networks", "network"
    properties_schema = {
        "name": Prop("string", "A string specifying a symbolic name for the network.", update_allowed=True),
        "admin_state_up": Prop(
            "boolean",
            "A boolean value specifying the administrative status of the network.",
            default=True,
            update_allowed=True,
        ),
        "shared": Prop(
            "boolean", "Whether this network should be shared across all tenants.", default=False, update_allowed=True
        ),
        "port_security_enabled": Prop(
            "boolean", "Flag to enable/disable port security on the network.", update_allowed=True
        ),
        "dns_domain": Prop("string", "DNS domain associated with this network.", update_allowed=True),
        "value_specs": Prop("map", "Extra parameters to include in the request.", default={}, update_allowed=True),
    }
    attributes_schema = {
        "status": "The status of the network.",
        "name": "The name of the network.",
        "subnets": "Subnets of this network.",
        "admin_state_up": "The administrative status of the network.",
        "tenant_id": "The tenant owning this network.",
        "mtu": "The maximum transmission unit size(in bytes) for the network.",
    }

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        out = _pick(
            rc,
            {
                "admin_state_up": "admin_state_up",
                "shared": "shared",
                "port_security_enabled": "port_security_enabled",
                "dns_domain": "dns_domain",
            },
            changed,
        )
        if changed is None or "name" in changed:
            out["name"] = name_or_physical(rc)
        if changed is None or "value_specs" in changed:
            out.update(rc.properties.get("value_specs") or {})
        return out


class Subnet(NeutronResource):
    type_name = "OS::Neutron::Subnet"
    heat_class = "Subnet"
    description = "A subnet of a network."
    collection, key = "subnets", "subnet"
    properties_schema = {
        "network": Prop("string", "The ID or name of the attached network.", required=True),
        "cidr": Prop("string", "The CIDR."),
        "ip_version": Prop(
            "integer",
            "The IP version, which is 4 or 6.",
            default=4,
            constraints=(Constraint("allowed_values", [4, 6]),),
        ),
        "name": Prop("string", "The name of the subnet.", update_allowed=True),
        "enable_dhcp": Prop(
            "boolean",
            "Set to true if DHCP is enabled and false if DHCP is disabled.",
            default=True,
            update_allowed=True,
        ),
        "gateway_ip": Prop("string", "The gateway IP address.", update_allowed=True),
        "allocation_pools": Prop(
            "list",
            "The start and end addresses for the allocation pools.",
            update_allowed=True,
            schema=Prop("map", schema={"start": Prop("string", required=True), "end": Prop("string", required=True)}),
        ),
        "dns_nameservers": Prop(
            "list",
            "A specified set of DNS name servers to be used.",
            default=[],
            update_allowed=True,
            schema=Prop("string"),
        ),
        "host_routes": Prop(
            "list",
            "A list of host route dictionaries for the subnet.",
            update_allowed=True,
            schema=Prop(
                "map", schema={"destination": Prop("string", required=True), "nexthop": Prop("string", required=True)}
            ),
        ),
        "value_specs": Prop("map", "Extra parameters to include in the request.", default={}, update_allowed=True),
    }
    attributes_schema = {
        "name": "Friendly name of the subnet.",
        "network_id": "Parent network of the subnet.",
        "tenant_id": "Tenant owning the subnet.",
        "allocation_pools": "Ip allocation pools and their ranges.",
        "gateway_ip": "Ip of the subnet's gateway.",
        "host_routes": "Additional routes for this subnet.",
        "ip_version": "Ip version for the subnet.",
        "cidr": "CIDR block notation for this subnet.",
    }

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        keys = {
            "enable_dhcp": "enable_dhcp",
            "gateway_ip": "gateway_ip",
            "allocation_pools": "allocation_pools",
            "dns_nameservers": "dns_nameservers",
            "host_routes": "host_routes",
        }
        out = _pick(rc, keys, changed)
        if changed is None:
            out["network_id"] = find_network(rc, rc.properties["network"])
            out["ip_version"] = rc.properties["ip_version"]
            if rc.properties.get("cidr"):
                out["cidr"] = rc.properties["cidr"]
        if changed is None or "name" in changed:
            out["name"] = name_or_physical(rc)
        if changed is None or "value_specs" in changed:
            out.update(rc.properties.get("value_specs") or {})
        return out


def _fixed_ips(rc: ResourceContext) -> list[dict[str, Any]]:
    out = []
    for f in rc.properties.get("fixed_ips") or []:
        entry = {}
        if f.get("subnet"):
            entry["subnet_id"] = find_subnet(rc, f["subnet"])
        if f.get("ip_address"):
            entry["ip_address"] = f["ip_address"]
        out.append(entry)
    return out


class Port(NeutronResource):
    type_name = "OS::Neutron::Port"
    heat_class = "Port"
    description = "A port on a network."
    collection, key = "ports", "port"
    properties_schema = {
        "network": Prop("string", "Network this port belongs to.", required=True),
        "name": Prop("string", "A symbolic name for this port.", update_allowed=True),
        "fixed_ips": Prop(
            "list",
            "Desired IPs for this port.",
            update_allowed=True,
            schema=Prop("map", schema={"subnet": Prop("string"), "ip_address": Prop("string")}),
        ),
        "security_groups": Prop(
            "list", "Security group IDs to associate with this port.", update_allowed=True, schema=Prop("string")
        ),
        "admin_state_up": Prop("boolean", "The administrative state of this port.", default=True, update_allowed=True),
        "mac_address": Prop("string", "MAC address to give to this port."),
        "port_security_enabled": Prop(
            "boolean", "Flag to enable/disable port security on the port.", update_allowed=True
        ),
        "allowed_address_pairs": Prop(
            "list",
            "Additional MAC/IP address pairs allowed to pass through the port.",
            update_allowed=True,
            schema=Prop("map"),
        ),
        "device_id": Prop("string", "Device ID of this port.", update_allowed=True),
        "device_owner": Prop("string", "Name of the network owning the port.", update_allowed=True),
        "value_specs": Prop("map", "Extra parameters to include in the request.", default={}, update_allowed=True),
    }
    attributes_schema = {
        "admin_state_up": "The administrative state of this port.",
        "device_id": "Unique identifier for the device.",
        "device_owner": "Name of the network owning the port.",
        "fixed_ips": "Fixed IP addresses.",
        "mac_address": "MAC address of the port.",
        "name": "Friendly name of the port.",
        "network_id": "Unique identifier for the network owning the port.",
        "security_groups": "A list of security groups for the port.",
        "status": "The status of the port.",
        "tenant_id": "Tenant owning the port.",
    }

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        keys = {
            "admin_state_up": "admin_state_up",
            "mac_address": "mac_address",
            "port_security_enabled": "port_security_enabled",
            "allowed_address_pairs": "allowed_address_pairs",
            "device_id": "device_id",
            "device_owner": "device_owner",
        }
        out = _pick(rc, keys, changed)
        if changed is None:
            out["network_id"] = find_network(rc, rc.properties["network"])
        if changed is None or "name" in changed:
            out["name"] = name_or_physical(rc)
        if (changed is None and rc.properties.get("fixed_ips")) or (changed and "fixed_ips" in changed):
            out["fixed_ips"] = _fixed_ips(rc)
        groups = rc.properties.get("security_groups")
        if (changed is None and groups is not None) or (changed and "security_groups" in changed):
            out["security_groups"] = [find_security_group(rc, g) for g in groups or []]
        if changed is None or "value_specs" in changed:
            out.update(rc.properties.get("value_specs") or {})
        return out


class Router(NeutronResource):
    type_name = "OS::Neutron::Router"
    heat_class = "Router"
    description = "A router."
    collection, key = "routers", "router"
    properties_schema = {
        "name": Prop("string", "The name of the router.", update_allowed=True),
        "external_gateway_info": Prop(
            "map",
            "External network gateway configuration for a router.",
            update_allowed=True,
            schema={
                "network": Prop("string", required=True),
                "enable_snat": Prop("boolean"),
                "external_fixed_ips": Prop("list", schema=Prop("map")),
            },
        ),
        "admin_state_up": Prop("boolean", "The administrative state of the router.", default=True, update_allowed=True),
        "value_specs": Prop(
            "map", "Extra parameters to include in the creation request.", default={}, update_allowed=True
        ),
    }
    attributes_schema = {
        "status": "The status of the router.",
        "external_gateway_info": "Gateway network for the router.",
        "name": "Friendly name of the router.",
        "admin_state_up": "Administrative state of the router.",
        "tenant_id": "Tenant owning the router.",
    }

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        out = _pick(rc, {"admin_state_up": "admin_state_up"}, changed)
        if changed is None or "name" in changed:
            out["name"] = name_or_physical(rc)
        gw = rc.properties.get("external_gateway_info")
        if (changed is None and gw) or (changed and "external_gateway_info" in changed):
            if gw:
                info: dict[str, Any] = {"network_id": find_network(rc, gw["network"])}
                if gw.get("enable_snat") is not None:
                    info["enable_snat"] = gw["enable_snat"]
                if gw.get("external_fixed_ips"):
                    info["external_fixed_ips"] = gw["external_fixed_ips"]
                out["external_gateway_info"] = info
            else:
                out["external_gateway_info"] = {}
        if changed is None or "value_specs" in changed:
            out.update(rc.properties.get("value_specs") or {})
        return out


class RouterInterface(ResourceType):
    type_name = "OS::Neutron::RouterInterface"
    heat_class = "RouterInterface"
    description = "An interface of a router on a subnet (or port)."
    requires_service = "network"
    properties_schema = {
        "router": Prop("string", "The router.", required=True),
        "subnet": Prop("string", "The subnet, either subnet or port should be specified."),
        "port": Prop("string", "The port, either subnet or port should be specified."),
    }

    def handle_create(self, rc: ResourceContext) -> None:
        router = find_router(rc, rc.properties["router"])
        if rc.properties.get("subnet"):
            key, value = "subnet_id", find_subnet(rc, rc.properties["subnet"])
        elif rc.properties.get("port"):
            key, value = "port_id", find_port(rc, rc.properties["port"])
        else:
            from overcast.orchestration.errors import StackValidationFailed

            raise StackValidationFailed("At least one of the following properties must be specified: subnet, port.")
        rc.api.call("network", "PUT", f"/v2.0/routers/{router}/add_router_interface", {key: value})
        rc.set_resource_id(f"{router}:{key}={value}")

    def handle_delete(self, rc: ResourceContext) -> None:
        if not rc.resource_id or ":" not in rc.resource_id:
            return
        router, _, pair = rc.resource_id.partition(":")
        key, _, value = pair.partition("=")
        try:
            rc.api.call("network", "PUT", f"/v2.0/routers/{router}/remove_router_interface", {key: value})
        except ApiError as exc:
            if exc.status != 404:
                raise


class FloatingIP(NeutronResource):
    type_name = "OS::Neutron::FloatingIP"
    heat_class = "FloatingIP"
    description = "A floating IP address (optionally on a port)."
    collection, key = "floatingips", "floatingip"
    properties_schema = {
        "floating_network": Prop("string", "Network to allocate floating IP from.", required=True),
        "floating_ip_address": Prop("string", "IP address of the floating IP."),
        "port_id": Prop("string", "ID of an existing port to associate with this floating IP.", update_allowed=True),
        "fixed_ip_address": Prop(
            "string", "IP address to use if the port has multiple addresses.", update_allowed=True
        ),
        "value_specs": Prop("map", "Extra parameters to include in the request.", default={}),
    }
    attributes_schema = {
        "router_id": "ID of the router used as gateway, set when associated with a port.",
        "port_id": "ID of the port associated with this IP.",
        "fixed_ip_address": "IP address of the associated port, if specified.",
        "floating_ip_address": "The allocated address of this IP.",
        "floating_network_id": "ID of the network in which this IP is allocated.",
    }

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        out = _pick(rc, {"fixed_ip_address": "fixed_ip_address"}, changed)
        if changed is None or "port_id" in changed:
            port = rc.properties.get("port_id")
            out["port_id"] = find_port(rc, port) if port else None
            if changed is None and not port:
                del out["port_id"]
        if changed is None:
            out["floating_network_id"] = find_network(rc, rc.properties["floating_network"])
            if rc.properties.get("floating_ip_address"):
                out["floating_ip_address"] = rc.properties["floating_ip_address"]
            out.update(rc.properties.get("value_specs") or {})
        return out


class FloatingIPAssociation(ResourceType):
    type_name = "OS::Neutron::FloatingIPAssociation"
    heat_class = "FloatingIPAssociation"
    description = "Associates a floating IP with a port."
    requires_service = "network"
    properties_schema = {
        "floatingip_id": Prop("string", "ID of the floating IP to associate.", required=True, update_allowed=True),
        "port_id": Prop(
            "string",
            "ID of an existing port with at least one IP address to associate with this floating IP.",
            required=True,
            update_allowed=True,
        ),
        "fixed_ip_address": Prop(
            "string", "IP address to use if the port has multiple addresses.", update_allowed=True
        ),
    }

    def _associate(self, rc: ResourceContext) -> None:
        body: dict[str, Any] = {"port_id": find_port(rc, rc.properties["port_id"])}
        if rc.properties.get("fixed_ip_address"):
            body["fixed_ip_address"] = rc.properties["fixed_ip_address"]
        rc.api.call("network", "PUT", f"/v2.0/floatingips/{rc.properties['floatingip_id']}", {"floatingip": body})

    def handle_create(self, rc: ResourceContext) -> None:
        self._associate(rc)
        rc.set_resource_id(str(rc.properties["floatingip_id"]))

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        if "floatingip_id" in changed:
            self._dissociate(rc, str(old["floatingip_id"]))
        self._associate(rc)
        rc.set_resource_id(str(rc.properties["floatingip_id"]))

    def _dissociate(self, rc: ResourceContext, fip: str) -> None:
        try:
            rc.api.call("network", "PUT", f"/v2.0/floatingips/{fip}", {"floatingip": {"port_id": None}})
        except ApiError as exc:
            if exc.status != 404:
                raise

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.resource_id:
            self._dissociate(rc, rc.resource_id)


class SecurityGroup(ResourceType):
    type_name = "OS::Neutron::SecurityGroup"
    heat_class = "SecurityGroup"
    description = "A security group and its rules."
    requires_service = "network"
    RULE = {
        "direction": Prop(
            "string", default="ingress", constraints=(Constraint("allowed_values", ["ingress", "egress"]),)
        ),
        "ethertype": Prop("string", default="IPv4", constraints=(Constraint("allowed_values", ["IPv4", "IPv6"]),)),
        "port_range_min": Prop("integer", constraints=(Constraint("range", {"min": 0, "max": 65535}),)),
        "port_range_max": Prop("integer", constraints=(Constraint("range", {"min": 0, "max": 65535}),)),
        "protocol": Prop("string"),
        "remote_mode": Prop(
            "string",
            default="remote_ip_prefix",
            constraints=(Constraint("allowed_values", ["remote_ip_prefix", "remote_group_id"]),),
        ),
        "remote_group_id": Prop("string"),
        "remote_ip_prefix": Prop("string"),
        "description": Prop("string"),
    }
    properties_schema = {
        "name": Prop("string", "A string specifying a symbolic name for the security group.", update_allowed=True),
        "description": Prop("string", "Description of the security group.", update_allowed=True),
        "rules": Prop(
            "list", "List of security group rules.", default=[], update_allowed=True, schema=Prop("map", schema=RULE)
        ),
    }

    def _add_rules(self, rc: ResourceContext) -> None:
        ids = []
        for rule in rc.properties.get("rules") or []:
            body: dict[str, Any] = {
                "security_group_id": rc.resource_id,
                "direction": rule["direction"],
                "ethertype": rule["ethertype"],
            }
            for key in ("port_range_min", "port_range_max", "protocol", "description"):
                if rule.get(key) is not None:
                    body[key] = rule[key]
            if rule["remote_mode"] == "remote_group_id":
                body["remote_group_id"] = rule.get("remote_group_id") or rc.resource_id
            elif rule.get("remote_ip_prefix"):
                body["remote_ip_prefix"] = rule["remote_ip_prefix"]
            made = rc.api.call("network", "POST", "/v2.0/security-group-rules", {"security_group_rule": body})
            ids.append(made["security_group_rule"]["id"])
        rc.data["rule_ids"] = ids
        rc.save()

    def handle_create(self, rc: ResourceContext) -> None:
        body = {"name": name_or_physical(rc), "description": rc.properties.get("description") or ""}
        made = rc.api.call("network", "POST", "/v2.0/security-groups", {"security_group": body})
        rc.set_resource_id(made["security_group"]["id"])
        self._add_rules(rc)

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        if changed & {"name", "description"}:
            body = {"name": name_or_physical(rc), "description": rc.properties.get("description") or ""}
            rc.api.call("network", "PUT", f"/v2.0/security-groups/{rc.resource_id}", {"security_group": body})
        if "rules" in changed:
            for rid in rc.data.get("rule_ids", []):
                try:
                    rc.api.call("network", "DELETE", f"/v2.0/security-group-rules/{rid}")
                except ApiError as exc:
                    if exc.status != 404:
                        raise
            self._add_rules(rc)

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.resource_id:
            gone(lambda: rc.api.call("network", "DELETE", f"/v2.0/security-groups/{rc.resource_id}"))

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        if name == "show":
            return show(rc, "network", f"/v2.0/security-groups/{rc.resource_id}", "security_group")
        return None


TYPES: list[type[ResourceType]] = [
    Net,
    Subnet,
    Port,
    Router,
    RouterInterface,
    FloatingIP,
    FloatingIPAssociation,
    SecurityGroup,
]
