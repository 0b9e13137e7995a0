"""Octavia's resource bodies, rendered in one place per object kind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.models.loadbalancer import (
    HealthMonitorRecord,
    L7PolicyRecord,
    L7RuleRecord,
    ListenerRecord,
    LoadBalancerRecord,
    MemberRecord,
    PoolRecord,
)


def _time(value: datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() if value else None


def _common(rec: Any) -> dict[str, Any]:
    return {
        "id": rec.id,
        "name": rec.name,
        "description": rec.description,
        "provisioning_status": rec.provisioning_status,
        "operating_status": rec.operating_status,
        "admin_state_up": rec.admin_state_up,
        "project_id": rec.project_id,
        "created_at": _time(rec.created_at),
        "updated_at": _time(rec.updated_at) if rec.updated_at != rec.created_at else None,
        "tags": list(rec.tags or []),
    }


def _ids(session: Session, column: Any, where: Any) -> list[dict[str, str]]:
    return [{"id": i} for i in session.scalars(select(column).where(where).order_by(column))]


def loadbalancer_view(session: Session, rec: LoadBalancerRecord) -> dict[str, Any]:
    return {
        **_common(rec),
        "vip_address": rec.vip_address,
        "vip_port_id": rec.vip_port_id,
        "vip_subnet_id": rec.vip_subnet_id,
        "vip_network_id": rec.vip_network_id,
        "vip_qos_policy_id": None,
        "vip_vnic_type": "normal",
        "vip_sg_ids": [],
        "additional_vips": [],
        "provider": rec.provider,
        "flavor_id": rec.flavor_id,
        "availability_zone": rec.availability_zone,
        "listeners": _ids(session, ListenerRecord.id, ListenerRecord.loadbalancer_id == rec.id),
        "pools": _ids(session, PoolRecord.id, PoolRecord.loadbalancer_id == rec.id),
    }


def listener_view(session: Session, rec: ListenerRecord) -> dict[str, Any]:
    return {
        **_common(rec),
        "protocol": rec.protocol,
        "protocol_port": rec.protocol_port,
        "connection_limit": rec.connection_limit,
        "default_pool_id": rec.default_pool_id,
        "default_tls_container_ref": None,
        "sni_container_refs": [],
        "loadbalancers": [{"id": rec.loadbalancer_id}],
        "l7policies": _ids(session, L7PolicyRecord.id, L7PolicyRecord.listener_id == rec.id),
        "insert_headers": dict(rec.insert_headers or {}),
        "timeout_client_data": rec.timeout_client_data,
        "timeout_member_connect": rec.timeout_member_connect,
        "timeout_member_data": rec.timeout_member_data,
        "timeout_tcp_inspect": rec.timeout_tcp_inspect,
        "client_ca_tls_container_ref": None,
        "client_authentication": "NONE",
        "client_crl_container_ref": None,
        "allowed_cidrs": list(rec.allowed_cidrs) if rec.allowed_cidrs else None,
        "tls_ciphers": None,
        "tls_versions": None,
        "alpn_protocols": None,
        "hsts_max_age": None,
        "hsts_include_subdomains": False,
        "hsts_preload": False,
    }


def pool_view(session: Session, rec: PoolRecord) -> dict[str, Any]:
    listener_ids = set(session.scalars(select(ListenerRecord.id).where(ListenerRecord.default_pool_id == rec.id)))
    if rec.listener_id:
        listener_ids.add(rec.listener_id)
    monitor = session.scalar(select(HealthMonitorRecord.id).where(HealthMonitorRecord.pool_id == rec.id))
    return {
        **_common(rec),
        "protocol": rec.protocol,
        "lb_algorithm": rec.lb_algorithm,
        "session_persistence": dict(rec.session_persistence) if rec.session_persistence else None,
        "loadbalancers": [{"id": rec.loadbalancer_id}],
        "listeners": [{"id": i} for i in sorted(listener_ids)],
        "members": _ids(session, MemberRecord.id, MemberRecord.pool_id == rec.id),
        "healthmonitor_id": monitor,
        "tls_enabled": False,
        "tls_container_ref": None,
        "ca_tls_container_ref": None,
        "crl_container_ref": None,
        "tls_ciphers": None,
        "tls_versions": None,
        "alpn_protocols": None,
    }


def member_view(session: Session, rec: MemberRecord) -> dict[str, Any]:
    out = _common(rec)
    out.pop("description")
    return {
        **out,
        "address": rec.address,
        "protocol_port": rec.protocol_port,
        "weight": rec.weight,
        "backup": rec.backup,
        "subnet_id": rec.subnet_id,
        "monitor_address": rec.monitor_address,
        "monitor_port": rec.monitor_port,
        "vnic_type": "normal",
    }


def healthmonitor_view(session: Session, rec: HealthMonitorRecord) -> dict[str, Any]:
    out = _common(rec)
    out.pop("description")
    http = rec.type in ("HTTP", "HTTPS")
    return {
        **out,
        "type": rec.type,
        "delay": rec.delay,
        "timeout": rec.timeout,
        "max_retries": rec.max_retries,
        "max_retries_down": rec.max_retries_down,
        "http_method": rec.http_method if http else None,
        "url_path": rec.url_path if http else None,
        "expected_codes": rec.expected_codes if http else None,
        "http_version": rec.http_version,
        "domain_name": rec.domain_name,
        "pools": [{"id": rec.pool_id}],
    }


def l7policy_view(session: Session, rec: L7PolicyRecord) -> dict[str, Any]:
    return {
        **_common(rec),
        "listener_id": rec.listener_id,
        "action": rec.action,
        "position": rec.position,
        "redirect_url": rec.redirect_url,
        "redirect_prefix": rec.redirect_prefix,
        "redirect_pool_id": rec.redirect_pool_id,
        "redirect_http_code": rec.redirect_http_code,
        "rules": _ids(session, L7RuleRecord.id, L7RuleRecord.l7policy_id == rec.id),
    }


def l7rule_view(session: Session, rec: L7RuleRecord) -> dict[str, Any]:
    out = _common(rec)
    for gone in ("name", "description"):
        out.pop(gone)
    return {
        **out,
        "type": rec.type,
        "compare_type": rec.compare_type,
        "key": rec.key,
        "value": rec.value,
        "invert": rec.invert,
    }
