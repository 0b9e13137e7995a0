"""Octavia's vocabulary: statuses, protocols, algorithms, and what the ``lb_*`` drivers of
this cloud serve (the rest is refused with Octavia's "provider does not support" error)."""

from __future__ import annotations

ACTIVE = "ACTIVE"
ERROR = "ERROR"
PENDING_CREATE = "PENDING_CREATE"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"
DELETED = "DELETED"
PENDING = frozenset({PENDING_CREATE, PENDING_UPDATE, PENDING_DELETE})

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEGRADED = "DEGRADED"
NO_MONITOR = "NO_MONITOR"
DRAINING = "DRAINING"

VIP_OWNER = "Octavia"  # the VIP port's device_owner, as Octavia sets it

# every protocol Octavia knows, and the ones served here
LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS")
SERVED_LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP")
POOL_PROTOCOLS = ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP", "UDP", "SCTP")
SERVED_POOL_PROTOCOLS = ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP")
# Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP
LISTENER_POOL_PROTOCOLS = {
    "TCP": ("HTTP", "HTTPS", "PROXY", "PROXYV2", "TCP"),
    "HTTP": ("HTTP", "PROXY", "PROXYV2"),
    "HTTPS": ("HTTPS", "PROXY", "PROXYV2", "TCP"),
    "TERMINATED_HTTPS": ("HTTP", "PROXY", "PROXYV2"),
    "UDP": ("UDP",),
    "SCTP": ("SCTP",),
    "PROMETHEUS": (),
}
LB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT")
SERVED_LB_ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP")
SESSION_PERSISTENCE_TYPES = ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE")
MONITOR_TYPES = ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP")
SERVED_MONITOR_TYPES = ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO")
HTTP_METHODS = ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")
L7_ACTIONS = ("REDIRECT_TO_POOL", "REDIRECT_TO_URL", "REDIRECT_PREFIX", "REJECT")
L7_RULE_TYPES = (
    "HOST_NAME",
    "PATH",
    "FILE_TYPE",
    "HEADER",
    "COOKIE",
    "SSL_CONN_HAS_CERT",
    "SSL_VERIFY_RESULT",
    "SSL_DN_FIELD",
)
SERVED_L7_RULE_TYPES = ("HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE")
L7_COMPARE_TYPES = ("REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO")
REDIRECT_CODES = (301, 302, 303, 307, 308)
INSERT_HEADERS = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")

# Octavia's resource names in messages ("Load Balancer x not found.")
LABELS = {
    "loadbalancer": "Load Balancer",
    "listener": "Listener",
    "pool": "Pool",
    "member": "Member",
    "healthmonitor": "Health Monitor",
    "l7policy": "L7 Policy",
    "l7rule": "L7 Rule",
}

# quota resources (Octavia's names; the deprecated aliases are answered too)
QUOTA_RESOURCES = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy", "l7rule")
QUOTA_ALIASES = {"loadbalancer": "load_balancer", "healthmonitor": "health_monitor"}
