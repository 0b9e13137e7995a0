"""The VIP: an ordinary Neutron port (device owner ``Octavia``) made through the network
service, with a security group of its own (``lb-<id>``) that admits each listener's port
from its ``allowed_cidrs`` (everyone when none), so a floating IP's DNAT reaches it like any
port while the project's other groups stay as they are."""

from __future__ import annotations

import ipaddress
from typing import Any

from overcast.context import RequestContext, system_context
from overcast.errors import NotFound, OvercastError
from overcast.loadbalancer.constants import VIP_OWNER
from overcast.loadbalancer.errors import invalid_subresource, validation
from overcast.types import LoadBalancer


class Vip:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime

    @property
    def network(self) -> Any:
        return self.runtime.network

    def resolve(self, ctx: RequestContext, values: dict[str, Any]) -> dict[str, Any]:
        """Octavia's VIP choices: a port, a network, or a subnet (with an optional address).
        Returns network_id, subnet_id and the address asked for (if any) or the port."""
        port_id, network_id, subnet_id = (
            values.get("vip_port_id"),
            values.get("vip_network_id"),
            values.get("vip_subnet_id"),
        )
        address = values.get("vip_address")
        if not (port_id or network_id or subnet_id):
            raise validation("Must provide at least one of: vip_port_id, vip_network_id, vip_subnet_id")
        if port_id:
            try:
                port = self.network.ports.get(ctx, port_id)
            except NotFound:
                raise invalid_subresource("Port", port_id) from None
            if port.get("device_id") or port.get("device_owner"):
                raise validation(
                    f"Port {port_id} is already in use by {port.get('device_owner') or port.get('device_id')}."
                )
            if network_id and network_id != port["network_id"]:
                raise validation("vip_network_id does not match the network of vip_port_id.")
            if not port["fixed_ips"]:
                raise validation(f"Port {port_id} has no fixed IP address.")
            fixed = port["fixed_ips"][0]
            return {
                "port_id": port_id,
                "network_id": port["network_id"],
                "subnet_id": fixed["subnet_id"],
                "address": fixed["ip_address"],
            }
        if subnet_id:
            try:
                subnet = self.network.subnets.get(ctx, subnet_id)
            except NotFound:
                raise invalid_subresource("Subnet", subnet_id) from None
            if network_id and network_id != subnet["network_id"]:
                raise validation("vip_network_id does not match the network of vip_subnet_id.")
            network_id = subnet["network_id"]
        try:
            network = self.network.networks.get(ctx, network_id)
        except NotFound:
            raise invalid_subresource("Network", network_id) from None
        subnets = [self.network.subnets.get(system_context(), sid) for sid in network.get("subnets", [])]
        if subnet_id is None:
            candidates = [
                s
                for s in subnets
                if address is None or ipaddress.ip_address(address) in ipaddress.ip_network(s["cidr"])
            ]
            if not candidates:
                raise validation(
                    f"Supplied network {network_id} does not have a subnet for the VIP address."
                    if subnets
                    else f"Supplied network {network_id} does not have any subnets."
                )
            subnet_id = candidates[0]["id"]
        elif address is not None:
            cidr = next(s["cidr"] for s in subnets if s["id"] == subnet_id)
            if ipaddress.ip_address(address) not in ipaddress.ip_network(cidr):
                raise validation(f"VIP address {address} is not in subnet {subnet_id}.")
        return {"port_id": None, "network_id": network_id, "subnet_id": subnet_id, "address": address}

    def allocate(self, ctx: RequestContext, lb_id: str, chosen: dict[str, Any]) -> tuple[str, str, str]:
        """The VIP's security group and port: (port id, address, group id)."""
        group = self.network.security_groups.create(
            ctx,
            {"security_group": {"name": f"lb-{lb_id}", "description": f"Load balancer {lb_id}: the listeners' ports"}},
        )
        try:
            if chosen["port_id"]:
                port = self.network.ports.update(
                    ctx,
                    chosen["port_id"],
                    {"port": {"device_owner": VIP_OWNER, "device_id": f"lb-{lb_id}", "security_groups": [group["id"]]}},
                )
            else:
                fixed: dict[str, str] = {"subnet_id": chosen["subnet_id"]}
                if chosen["address"]:
                    fixed["ip_address"] = chosen["address"]
                port = self.network.ports.create(
                    ctx,
                    {
                        "port": {
                            "name": f"octavia-lb-{lb_id}",
                            "network_id": chosen["network_id"],
                            "fixed_ips": [fixed],
                            "device_owner": VIP_OWNER,
                            "device_id": f"lb-{lb_id}",
                            "security_groups": [group["id"]],
                        }
                    },
                )
        except OvercastError:
            self.network.security_groups.delete(ctx, group["id"])
            raise
        address = next(f["ip_address"] for f in port["fixed_ips"] if f["subnet_id"] == chosen["subnet_id"])
        return port["id"], address, group["id"]

    def sync_security_group(self, lb: LoadBalancer) -> None:
        """The VIP group admits exactly the listeners' ports (TCP) from their allowed CIDRs."""
        ctx = system_context()
        with self.runtime.db.session() as s:
            from overcast.db.models.loadbalancer import LoadBalancerRecord

            group_id = s.get(LoadBalancerRecord, lb.id).vip_sg_id
        if not group_id:
            return
        version = ipaddress.ip_address(lb.vip_address).version
        wanted = set()
        for li in lb.listeners:
            for cidr in li.allowed_cidrs or (None,):
                if cidr is None or ipaddress.ip_network(cidr, strict=False).version == version:
                    wanted.add((li.protocol_port, cidr))
        group = self.network.security_groups.get(ctx, group_id)
        have = {}
        for rule in group["security_group_rules"]:
            if rule["direction"] == "ingress" and rule["protocol"] == "tcp":
                have[(rule["port_range_min"], rule["remote_ip_prefix"])] = rule["id"]
        for key in sorted(set(have) - wanted, key=str):
            self.network.security_groups.delete_rule(ctx, have[key])
        for port, cidr in sorted(wanted - set(have), key=str):
            self.network.security_groups.create_rule(
                ctx,
                {
                    "security_group_rule": {
                        "security_group_id": group_id,
                        "direction": "ingress",
                        "ethertype": f"IPv{version}",
                        "protocol": "tcp",
                        "port_range_min": port,
                        "port_range_max": port,
                        "remote_ip_prefix": cidr,
                    }
                },
            )

    def release(self, port_id: str, group_id: str | None) -> None:
        ctx = system_context()
        try:
            self.network.ports.delete(ctx, port_id, internal=True)
        except NotFound:
            pass
        if group_id:
            try:
                self.network.security_groups.delete(ctx, group_id)
            except NotFound:
                pass
