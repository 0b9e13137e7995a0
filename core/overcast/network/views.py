"""Database rows -> Neutron v2.0 resource dicts (what the service returns and the API sends).

Neutron's own plugin layer works in these dicts too, so the API only wraps, filters and
pages them. ``provider:*`` attributes are shown to admins only, as Neutron's policy does.
"""

from __future__ import annotations

import ipaddress

from datetime import datetime
from typing import Any

from overcast.db.models.network import (
    FloatingIpRecord,
    NetworkRecord,
    PortRecord,
    RouterRecord,
    SecurityGroupRecord,
    SecurityGroupRuleRecord,
    SubnetPoolRecord,
    SubnetRecord,
)


def stamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _common(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "created_at": stamp(row.created_at),
        "updated_at": stamp(row.updated_at),
        "revision_number": row.revision_number,
        "tags": [],
    }


def network_view(net: NetworkRecord, admin: bool) -> dict[str, Any]:
    out = _common(net) | {
        "name": net.name,
        "description": net.description,
        "admin_state_up": net.admin_state_up,
        "status": net.status,
        "subnets": [s.id for s in net.subnets],
        "shared": net.shared,
        "router:external": net.external,
        "mtu": net.mtu,
        "port_security_enabled": net.port_security_enabled,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        "l2_adjacency": True,
        "qos_policy_id": None,
        "dns_domain": "",
    }
    if admin:
        out["provider:network_type"] = net.network_type
        out["provider:physical_network"] = net.physical_network
        out["provider:segmentation_id"] = net.segmentation_id
    return out


def subnet_view(sub: SubnetRecord) -> dict[str, Any]:
    return _common(sub) | {
        "name": sub.name,
        "description": sub.description,
        "network_id": sub.network_id,
        "ip_version": sub.ip_version,
        "cidr": sub.cidr,
        "gateway_ip": sub.gateway_ip,
        "enable_dhcp": sub.enable_dhcp,
        "dns_nameservers": list(sub.dns_nameservers),
        "host_routes": list(sub.host_routes),
        "allocation_pools": list(sub.allocation_pools),
        "ipv6_ra_mode": sub.ipv6_ra_mode,
        "ipv6_address_mode": sub.ipv6_address_mode,
        "subnetpool_id": sub.subnetpool_id,
        "segment_id": None,
        "service_types": [],
        "dns_publish_fixed_ip": False,
    }


def subnetpool_view(pool: SubnetPoolRecord) -> dict[str, Any]:
    return _common(pool) | {
        "name": pool.name,
        "description": pool.description,
        "ip_version": pool.ip_version,
        "prefixes": list(pool.prefixes),
        "min_prefixlen": pool.min_prefixlen,
        "max_prefixlen": pool.max_prefixlen,
        "default_prefixlen": pool.default_prefixlen,
        "shared": pool.shared,
        "is_default": pool.is_default,
        "default_quota": None,
        "address_scope_id": None,
    }


def port_view(port: PortRecord) -> dict[str, Any]:
    return _common(port) | {
        "name": port.name,
        "description": port.description,
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in port.fixed_ips],
        "security_groups": sorted(g.security_group_id for g in port.security_groups),
        "port_security_enabled": port.port_security_enabled,
        "allowed_address_pairs": list(port.allowed_address_pairs),
        "binding:host_id": port.binding_host,
        "binding:vif_type": port.binding_vif_type,
        "binding:vif_details": dict(port.binding_vif_details),
        "binding:vnic_type": port.binding_vnic_type,
        "binding:profile": dict(port.binding_profile),
        "extra_dhcp_opts": [],
        "dns_name": "",
        "dns_assignment": [],
        "qos_policy_id": None,
        "propagate_uplink_status": False,
    }


def normalized_cidr(prefix: str | None) -> str | None:
    """Neutron's ``normalized_cidr``: the network of a rule's ``remote_ip_prefix`` (host bits
    cleared: ``10.2.3.124/24`` is ``10.2.3.0/24``)."""
    return str(ipaddress.ip_network(prefix, strict=False)) if prefix else None


def rule_view(rule: SecurityGroupRuleRecord) -> dict[str, Any]:
    return _common(rule) | {
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": None,
        "normalized_cidr": normalized_cidr(rule.remote_ip_prefix),
        "description": rule.description,
        "belongs_to_default_sg": None,
    }


def security_group_view(group: SecurityGroupRecord) -> dict[str, Any]:
    return _common(group) | {
        "name": group.name,
        "description": group.description,
        "stateful": group.stateful,
        "shared": False,
        "security_group_rules": [rule_view(r) for r in group.rules],
    }


def router_view(router: RouterRecord, gw_port: PortRecord | None) -> dict[str, Any]:
    gateway = None
    if gw_port is not None:
        gateway = {
            "network_id": gw_port.network_id,
            "enable_snat": router.enable_snat,
            "external_fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in gw_port.fixed_ips],
        }
    return _common(router) | {
        "name": router.name,
        "description": router.description,
        "admin_state_up": router.admin_state_up,
        "status": router.status,
        "external_gateway_info": gateway,
        "routes": list(router.routes),
        "distributed": False,
        "ha": False,
        "flavor_id": None,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "enable_ndp_proxy": None,
    }


def floating_ip_view(fip: FloatingIpRecord) -> dict[str, Any]:
    return _common(fip) | {
        "description": fip.description,
        "floating_network_id": fip.floating_network_id,
        "floating_ip_address": fip.floating_ip_address,
        "fixed_ip_address": fip.fixed_ip_address,
        "port_id": fip.fixed_port_id,
        "router_id": fip.router_id,
        "status": fip.status,
        "port_details": None,
        "port_forwardings": [],
        "dns_domain": "",
        "dns_name": "",
        "qos_policy_id": None,
    }
