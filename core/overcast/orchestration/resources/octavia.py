"""OS::Octavia::* types over the load-balancer API (Octavia v2 shapes: ``/v2/lbaas/...``,
``provisioning_status`` ACTIVE/ERROR, 409 while the load balancer is immutable).

Children (listener, pool, member, monitor) are created once their load balancer accepts
changes: a 409 (PENDING_*) is retried, as Heat's Octavia resources do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from overcast.orchestration.errors import ResourceFailure, ResourceInError
from overcast.orchestration.resource import ApiError, Prop, ResourceContext, ResourceType
from overcast.orchestration.resources.base import find_network, find_subnet, gone, name_or_physical
from overcast.orchestration.template.parameters import Constraint

SERVICE = "load-balancer"


def lbaas(rc: ResourceContext, rest: str) -> str:
    """``rest`` below the load-balancer endpoint (``/v2`` added unless the endpoint has it)."""
    endpoint = getattr(rc.api, "endpoint", None)
    base = endpoint(SERVICE) if endpoint is not None else ""
    return f"/lbaas/{rest}" if base.rstrip("/").endswith(("/v2", "/v2.0")) else f"/v2/lbaas/{rest}"


class OctaviaResource(ResourceType):
    collection: ClassVar[str] = ""
    key: ClassVar[str] = ""
    requires_service = SERVICE

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        raise NotImplementedError

    def path(self, rc: ResourceContext) -> str:
        return lbaas(rc, f"{self.collection}/{rc.resource_id}") if rc.resource_id else lbaas(rc, self.collection)

    def handle_create(self, rc: ResourceContext) -> None:
        rc.data["body"] = self.body(rc)

    def check_create_complete(self, rc: ResourceContext) -> bool:
        if not rc.resource_id:
            try:
                made = rc.api.call(SERVICE, "POST", lbaas(rc, self.collection), {self.key: rc.data["body"]})
            except ApiError as exc:
                if exc.status == 409:
                    return False
                raise
            rc.set_resource_id(made[self.key]["id"])
        return self._active(rc)

    def _show(self, rc: ResourceContext) -> dict[str, Any] | None:
        try:
            body = rc.api.call(SERVICE, "GET", self.path(rc))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        obj: dict[str, Any] = body[self.key]
        return obj

    def _active(self, rc: ResourceContext) -> bool:
        obj = self._show(rc)
        if obj is None:
            raise ResourceFailure("NotFound", f"{self.key} {rc.resource_id} could not be found.")
        status = obj.get("provisioning_status")
        if status == "ERROR":
            raise ResourceInError("ERROR", f"{self.key} provisioning failed")
        return status == "ACTIVE"

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        rc.data["update"] = self.body(rc, changed)

    def check_update_complete(self, rc: ResourceContext) -> bool:
        if rc.data.get("update") is not None:
            try:
                rc.api.call(SERVICE, "PUT", self.path(rc), {self.key: rc.data["update"]})
            except ApiError as exc:
                if exc.status == 409:
                    return False
                raise
            rc.data["update"] = None
        return self._active(rc)

    def handle_delete(self, rc: ResourceContext) -> None:
        rc.data["deleting"] = True

    def check_delete_complete(self, rc: ResourceContext) -> bool:
        if not rc.resource_id:
            return True
        if rc.data.get("deleting"):
            try:
                if gone(lambda: rc.api.call(SERVICE, "DELETE", self.delete_path(rc))):
                    return True
            except ApiError as exc:
                if exc.status == 409:
                    return False
                raise
            rc.data["deleting"] = False
        obj = self._show(rc)
        if obj is None or obj.get("provisioning_status") == "DELETED":
            return True
        if obj.get("provisioning_status") == "ERROR":
            raise ResourceInError("ERROR", f"{self.key} deletion failed")
        return False

    def delete_path(self, rc: ResourceContext) -> str:
        return self.path(rc)

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        obj = self._show(rc)
        if obj is None:
            return None
        return obj if name == "show" else obj.get(name)


def _pick(rc: ResourceContext, keys: tuple[str, ...], changed: set[str] | None) -> dict[str, Any]:
    return {
        k: rc.properties.get(k)
        for k in keys
        if (changed is None and rc.properties.get(k) is not None) or (changed is not None and k in changed)
    }


class LoadBalancer(OctaviaResource):
    type_name = "OS::Octavia::LoadBalancer"
    heat_class = "LoadBalancer"
    description = "An Octavia load balancer."
    collection, key = "loadbalancers", "loadbalancer"
    properties_schema = {
        "name": Prop("string", "Name of this Load Balancer.", update_allowed=True),
        "description": Prop("string", "Description of this Load Balancer.", default="", update_allowed=True),
        "admin_state_up": Prop(
            "boolean", "The administrative state of this Load Balancer.", default=True, update_allowed=True
        ),
        "vip_subnet": Prop("string", "The name or ID of the subnet on which to allocate the VIP address."),
        "vip_network": Prop("string", "The name or ID of the network on which to allocate the VIP."),
        "vip_address": Prop("string", "IP address for the VIP."),
        "provider": Prop("string", "Provider for this Load Balancer."),
        "flavor": Prop("string", "The name or ID of the flavor of the Load Balancer."),
        "availability_zone": Prop("string", "The availability zone of the Load Balancer."),
    }
    attributes_schema = {
        "vip_address": "The VIP address of the LoadBalancer.",
        "vip_port_id": "The VIP port of the LoadBalancer.",
        "vip_subnet_id": "The VIP subnet of the LoadBalancer.",
        "listeners": "Listeners associated with this LoadBalancer.",
        "pools": "Pools this LoadBalancer is associated with.",
        "flavor_id": "The flavor ID of the LoadBalancer.",
    }

    def validate(self, properties: Mapping[str, Any]) -> None:
        if not properties.get("vip_subnet") and not properties.get("vip_network"):
            from overcast.orchestration.errors import StackValidationFailed

            raise StackValidationFailed(
                "At least one of the following properties must be specified: vip_subnet, vip_network."
            )

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        out = _pick(rc, ("description", "admin_state_up", "vip_address", "provider", "availability_zone"), changed)
        if changed is None or "name" in changed:
            out["name"] = name_or_physical(rc)
        if changed is None:
            if rc.properties.get("vip_subnet"):
                out["vip_subnet_id"] = find_subnet(rc, rc.properties["vip_subnet"])
            if rc.properties.get("vip_network"):
                out["vip_network_id"] = find_network(rc, rc.properties["vip_network"])
            if rc.properties.get("flavor"):
                out["flavor_id"] = rc.properties["flavor"]
        return out

    def delete_path(self, rc: ResourceContext) -> str:
        return self.path(rc) + "?cascade=true"


class Listener(OctaviaResource):
    type_name = "OS::Octavia::Listener"
    heat_class = "Listener"
    description = "A listener of a load balancer."
    collection, key = "listeners", "listener"
    properties_schema = {
        "protocol_port": Prop(
            "integer",
            "TCP or UDP port on which to listen for client traffic.",
            required=True,
            constraints=(Constraint("range", {"min": 1, "max": 65535}),),
        ),
        "protocol": Prop(
            "string",
            "Protocol on which to listen for the client traffic.",
            required=True,
            constraints=(
                Constraint("allowed_values", ["TCP", "HTTP", "HTTPS", "TERMINATED_HTTPS", "PROXY", "UDP", "SCTP"]),
            ),
        ),
        "loadbalancer": Prop("string", "ID or name of the load balancer with which listener is associated."),
        "default_pool": Prop("string", "ID or name of the default pool for the listener.", update_allowed=True),
        "name": Prop("string", "Name of this listener.", update_allowed=True),
        "description": Prop("string", "Description of this listener.", default="", update_allowed=True),
        "admin_state_up": Prop(
            "boolean", "The administrative state of this listener.", default=True, update_allowed=True
        ),
        "connection_limit": Prop(
            "integer",
            "The maximum number of connections permitted for this load balancer.",
            default=-1,
            update_allowed=True,
        ),
        "allowed_cidrs": Prop(
            "list", "A list of IPv4, IPv6 or mix of both CIDRs.", update_allowed=True, schema=Prop("string")
        ),
    }
    attributes_schema = {
        "loadbalancers": "ID of the load balancer this listener is associated to.",
        "default_pool_id": "ID of the default pool this listener is associated to.",
    }

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        out = _pick(
            rc,
            ("protocol_port", "protocol", "description", "admin_state_up", "connection_limit", "allowed_cidrs")
            if changed is None
            else ("description", "admin_state_up", "connection_limit", "allowed_cidrs"),
            changed,
        )
        if changed is None or "name" in changed:
            out["name"] = name_or_physical(rc)
        if changed is None and rc.properties.get("loadbalancer"):
            out["loadbalancer_id"] = rc.properties["loadbalancer"]
        if (changed is None and rc.properties.get("default_pool")) or (changed and "default_pool" in changed):
            out["default_pool_id"] = rc.properties.get("default_pool")
        return out


class Pool(OctaviaResource):
    type_name = "OS::Octavia::Pool"
    heat_class = "Pool"
    description = "A pool of members behind a listener."
    collection, key = "pools", "pool"
    properties_schema = {
        "lb_algorithm": Prop(
            "string",
            "The algorithm used to distribute load between the members of the pool.",
            required=True,
            update_allowed=True,
            constraints=(
                Constraint("allowed_values", ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]),
            ),
        ),
        "protocol": Prop(
            "string",
            "Protocol of the pool.",
            required=True,
            constraints=(Constraint("allowed_values", ["TCP", "HTTP", "HTTPS", "PROXY", "UDP", "SCTP"]),),
        ),
        "listener": Prop("string", "Listener name or ID to be associated with this pool."),
        "loadbalancer": Prop("string", "Loadbalancer name or ID to be associated with this pool."),
        "name": Prop("string", "Name of this pool.", update_allowed=True),
        "description": Prop("string", "Description of this pool.", default="", update_allowed=True),
        "admin_state_up": Prop("boolean", "The administrative state of this pool.", default=True, update_allowed=True),
        "session_persistence": Prop("map", "Configuration of session persistence.", update_allowed=True),
    }
    attributes_schema = {
        "healthmonitor_id": "ID of the health monitor associated with this pool.",
        "listeners": "Listener associated with this pool.",
        "members": "Members associated with this pool.",
    }

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        out = _pick(rc, ("lb_algorithm", "description", "admin_state_up", "session_persistence"), changed)
        if changed is None or "name" in changed:
            out["name"] = name_or_physical(rc)
        if changed is None:
            out["protocol"] = rc.properties["protocol"]
            if rc.properties.get("listener"):
                out["listener_id"] = rc.properties["listener"]
            if rc.properties.get("loadbalancer"):
                out["loadbalancer_id"] = rc.properties["loadbalancer"]
        return out

    def validate(self, properties: Mapping[str, Any]) -> None:
        if not properties.get("listener") and not properties.get("loadbalancer"):
            from overcast.orchestration.errors import StackValidationFailed

            raise StackValidationFailed(
                "At least one of the following properties must be specified: listener, loadbalancer."
            )


class PoolMember(OctaviaResource):
    type_name = "OS::Octavia::PoolMember"
    heat_class = "PoolMember"
    description = "A member of a pool."
    collection, key = "members", "member"
    properties_schema = {
        "pool": Prop("string", "Name or ID of the load balancing pool.", required=True),
        "address": Prop("string", "IP address of the pool member on the pool network.", required=True),
        "protocol_port": Prop(
            "integer",
            "Port on which the pool member listens for requests or connections.",
            required=True,
            constraints=(Constraint("range", {"min": 1, "max": 65535}),),
        ),
        "weight": Prop(
            "integer",
            "Weight of pool member in the pool (default to 1).",
            default=1,
            update_allowed=True,
            constraints=(Constraint("range", {"min": 0, "max": 256}),),
        ),
        "admin_state_up": Prop(
            "boolean", "The administrative state of the pool member.", default=True, update_allowed=True
        ),
        "subnet": Prop("string", "Subnet name or ID of this member."),
        "monitor_address": Prop(
            "string", "Alternate IP address which health monitor can use for health check.", update_allowed=True
        ),
        "monitor_port": Prop(
            "integer", "Alternate port number which health monitor can use for health check.", update_allowed=True
        ),
    }
    attributes_schema = {
        "address": "The IP address of the pool member.",
        "pool_id": "The ID of the pool to which the pool member belongs.",
    }

    def path(self, rc: ResourceContext) -> str:
        base = f"pools/{rc.properties['pool']}/members"
        return lbaas(rc, f"{base}/{rc.resource_id}") if rc.resource_id else lbaas(rc, base)

    def check_create_complete(self, rc: ResourceContext) -> bool:
        if not rc.resource_id:
            try:
                made = rc.api.call(
                    SERVICE, "POST", lbaas(rc, f"pools/{rc.properties['pool']}/members"), {self.key: rc.data["body"]}
                )
            except ApiError as exc:
                if exc.status == 409:
                    return False
                raise
            rc.set_resource_id(made[self.key]["id"])
        return self._active(rc)

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        keys = ("weight", "admin_state_up", "monitor_address", "monitor_port")
        out = _pick(rc, keys if changed is not None else ("address", "protocol_port", *keys), changed)
        if changed is None and rc.properties.get("subnet"):
            out["subnet_id"] = find_subnet(rc, rc.properties["subnet"])
        return out


class HealthMonitor(OctaviaResource):
    type_name = "OS::Octavia::HealthMonitor"
    heat_class = "HealthMonitor"
    description = "A health monitor of a pool."
    collection, key = "healthmonitors", "healthmonitor"
    properties_schema = {
        "pool": Prop("string", "ID or name of the load balancing pool.", required=True),
        "type": Prop(
            "string",
            "One of predefined health monitor types.",
            required=True,
            constraints=(
                Constraint("allowed_values", ["PING", "TCP", "HTTP", "HTTPS", "UDP-CONNECT", "SCTP", "TLS-HELLO"]),
            ),
        ),
        "delay": Prop(
            "integer",
            "The minimum time in milliseconds between regular connections of the member.",
            required=True,
            update_allowed=True,
            constraints=(Constraint("range", {"min": 0}),),
        ),
        "timeout": Prop(
            "integer",
            "Maximum number of seconds for a monitor to wait for a connection to be established before it times out.",
            required=True,
            update_allowed=True,
            constraints=(Constraint("range", {"min": 0}),),
        ),
        "max_retries": Prop(
            "integer",
            "Number of permissible connection failures before changing the member status to INACTIVE.",
            required=True,
            update_allowed=True,
            constraints=(Constraint("range", {"min": 1, "max": 10}),),
        ),
        "http_method": Prop(
            "string", "The HTTP method used for requests by the monitor of type HTTP.", update_allowed=True
        ),
        "url_path": Prop(
            "string",
            "The HTTP path used in the HTTP request used by the monitor to test a member health.",
            update_allowed=True,
        ),
        "expected_codes": Prop(
            "string",
            "The HTTP status codes expected in response from the member to declare it healthy.",
            update_allowed=True,
        ),
        "admin_state_up": Prop(
            "boolean", "The administrative state of the health monitor.", default=True, update_allowed=True
        ),
    }
    attributes_schema = {"pools": "The list of Pools related to this monitor."}

    def body(self, rc: ResourceContext, changed: set[str] | None = None) -> dict[str, Any]:
        keys = ("delay", "timeout", "max_retries", "http_method", "url_path", "expected_codes", "admin_state_up")
        out = _pick(rc, keys, changed)
        if changed is None:
            out["type"] = rc.properties["type"]
            out["pool_id"] = rc.properties["pool"]
        return out


TYPES: list[type[ResourceType]] = [LoadBalancer, Listener, Pool, PoolMember, HealthMonitor]
