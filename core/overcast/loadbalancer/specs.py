"""What Octavia accepts in the bodies of listeners, pools, members, health monitors, L7 policies
and rules: each field's ``Spec``, which of them an update may change, and the defaults Octavia
fills in."""

from __future__ import annotations

from typing import Any

from overcast.loadbalancer import constants as c
from overcast.loadbalancer.errors import invalid, validation
from overcast.loadbalancer.fields import ADMIN, COMMON, OWNER, PORT, UUID, Spec, parse, unwrap

TIMEOUT = Spec("int", minimum=0, maximum=31536000000)

LISTENER = {
    **COMMON,
    **OWNER,
    "loadbalancer_id": UUID,
    "protocol": Spec("str", choices=c.LISTENER_PROTOCOLS, nullable=False),
    "protocol_port": PORT,
    "connection_limit": Spec("int", minimum=-1, maximum=2**31 - 1),
    "default_pool_id": UUID,
    "default_pool": Spec("dict"),
    "default_tls_container_ref": Spec("str"),
    "sni_container_refs": Spec("list"),
    "insert_headers": Spec("dict"),
    "timeout_client_data": TIMEOUT,
    "timeout_member_connect": TIMEOUT,
    "timeout_member_data": TIMEOUT,
    "timeout_tcp_inspect": TIMEOUT,
    "allowed_cidrs": Spec("list"),
    "client_authentication": Spec("str", choices=("NONE", "OPTIONAL", "MANDATORY")),
    "client_ca_tls_container_ref": Spec("str"),
    "client_crl_container_ref": Spec("str"),
    "tls_ciphers": Spec("str", max_length=2048),
    "tls_versions": Spec("list"),
    "alpn_protocols": Spec("list"),
    "l7policies": Spec("list"),
    "hsts_max_age": Spec("int", minimum=0),
    "hsts_include_subdomains": Spec("bool"),
    "hsts_preload": Spec("bool"),
}
LISTENER_UPDATABLE = {
    "name", "description", "admin_state_up", "tags", "connection_limit", "default_pool_id", "insert_headers",
    "timeout_client_data", "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect", "allowed_cidrs",
    "default_tls_container_ref", "sni_container_refs", "client_authentication", "client_ca_tls_container_ref",
    "client_crl_container_ref", "tls_ciphers", "tls_versions", "alpn_protocols", "hsts_max_age",
    "hsts_include_subdomains", "hsts_preload",
}  # fmt: skip
POOL = {
    **COMMON,
    **OWNER,
    "loadbalancer_id": UUID,
    "listener_id": UUID,
    "protocol": Spec("str", choices=c.POOL_PROTOCOLS, nullable=False),
    "lb_algorithm": Spec("str", choices=c.LB_ALGORITHMS, nullable=False),
    "session_persistence": Spec("dict"),
    "tls_enabled": Spec("bool"),
    "tls_container_ref": Spec("str"),
    "ca_tls_container_ref": Spec("str"),
    "crl_container_ref": Spec("str"),
    "tls_ciphers": Spec("str", max_length=2048),
    "tls_versions": Spec("list"),
    "alpn_protocols": Spec("list"),
}
POOL_UPDATABLE = {
    "name", "description", "admin_state_up", "tags", "lb_algorithm", "session_persistence", "tls_enabled",
    "tls_container_ref", "ca_tls_container_ref", "crl_container_ref", "tls_ciphers", "tls_versions",
    "alpn_protocols",
}  # fmt: skip
MEMBER = {
    "name": COMMON["name"],
    "admin_state_up": ADMIN,
    "tags": COMMON["tags"],
    **OWNER,
    "address": Spec("ip", nullable=False),
    "protocol_port": PORT,
    "weight": Spec("int", minimum=0, maximum=256),
    "backup": Spec("bool"),
    "subnet_id": UUID,
    "monitor_address": Spec("ip"),
    "monitor_port": Spec("int", minimum=1, maximum=65535),
    "request_sriov": Spec("bool"),
}
MEMBER_UPDATABLE = {"name", "admin_state_up", "tags", "weight", "backup", "monitor_address", "monitor_port"}
MONITOR = {
    "name": COMMON["name"],
    "admin_state_up": ADMIN,
    "tags": COMMON["tags"],
    **OWNER,
    "pool_id": UUID,
    "type": Spec("str", choices=c.MONITOR_TYPES, nullable=False),
    "delay": Spec("int", minimum=0, maximum=2**31 - 1, nullable=False),
    "timeout": Spec("int", minimum=0, maximum=2**31 - 1, nullable=False),
    "max_retries": Spec("int", minimum=1, maximum=10, nullable=False),
    "max_retries_down": Spec("int", minimum=1, maximum=10),
    "http_method": Spec("str", choices=c.HTTP_METHODS),
    "url_path": Spec("str", max_length=2048),
    "expected_codes": Spec("str", max_length=64),
    "http_version": Spec("float", choices=(1.0, 1.1)),
    "domain_name": Spec("str"),
}
MONITOR_UPDATABLE = {
    "name", "admin_state_up", "tags", "delay", "timeout", "max_retries", "max_retries_down", "http_method",
    "url_path", "expected_codes", "http_version", "domain_name",
}  # fmt: skip
L7POLICY = {
    **COMMON,
    **OWNER,
    "listener_id": UUID,
    "action": Spec("str", choices=c.L7_ACTIONS, nullable=False),
    "position": Spec("int", minimum=1, maximum=2**31 - 1),
    "redirect_url": Spec("str", max_length=2048),
    "redirect_prefix": Spec("str", max_length=2048),
    "redirect_pool_id": UUID,
    "redirect_http_code": Spec("int", choices=c.REDIRECT_CODES),
    "rules": Spec("list"),
}
L7POLICY_UPDATABLE = {
    "name", "description", "admin_state_up", "tags", "action", "position", "redirect_url", "redirect_prefix",
    "redirect_pool_id", "redirect_http_code",
}  # fmt: skip
L7RULE = {
    "admin_state_up": ADMIN,
    "tags": COMMON["tags"],
    **OWNER,
    "type": Spec("str", choices=c.L7_RULE_TYPES, nullable=False),
    "compare_type": Spec("str", choices=c.L7_COMPARE_TYPES, nullable=False),
    "key": Spec("str"),
    "value": Spec("str", nullable=False),
    "invert": Spec("bool"),
}
L7RULE_UPDATABLE = {"admin_state_up", "tags", "type", "compare_type", "key", "value", "invert"}

LISTENER_DEFAULTS = {
    "timeout_client_data": 50000,
    "timeout_member_connect": 5000,
    "timeout_member_data": 50000,
    "timeout_tcp_inspect": 0,
}


def updates(key: str, body: Any, specs: dict[str, Spec], updatable: set[str]) -> dict[str, Any]:
    """The parsed fields of an update body; a known field an update may not change is refused."""
    values = unwrap(body, key)
    fixed = sorted(set(values) & set(specs) - updatable)
    if fixed:
        raise invalid(key, values, f"Unknown attribute for argument {key}: {', '.join(fixed)}")
    return parse(key, values, {k: specs[k] for k in updatable})


def take_owner(values: dict[str, Any], parent_project: str) -> None:
    """``project_id`` in a body must be the parent's (Octavia takes it from the parent)."""
    for key in ("project_id", "tenant_id"):
        given = values.pop(key, None)
        if given is not None and given != parent_project:
            raise validation(f"{key} {given} does not match the parent object's project.")
