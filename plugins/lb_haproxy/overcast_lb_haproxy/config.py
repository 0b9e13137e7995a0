"""haproxy's configuration for one load balancer, generated from the contract's objects.

Frontends are listeners (``bind VIP:port``), backends are pools and servers are members,
each named by its Overcast id, so the stats socket's rows map back to them
(:mod:`overcast_lb_haproxy.stats`). Disabled objects are not served (a disabled member is a
``disabled`` server, reported in maintenance).
"""

from __future__ import annotations

from overcast.types import LbHealthMonitor, LbL7Policy, LbL7Rule, LbListener, LbPool, LoadBalancer

ALGORITHMS = {"ROUND_ROBIN": "roundrobin", "LEAST_CONNECTIONS": "leastconn", "SOURCE_IP": "source"}
MATCH = {"EQUAL_TO": "str", "STARTS_WITH": "beg", "ENDS_WITH": "end", "CONTAINS": "sub", "REGEX": "reg"}
PING_SCRIPT = "ping-check.sh"


def _q(value: str) -> str:
    """A strongly quoted word (the API refused quotes and line breaks in values)."""
    return "'" + value + "'"


def expected(codes: str) -> str:
    if "-" in codes:
        low, high = (int(p) for p in codes.split("-"))
        return "rstatus ^(" + "|".join(str(c) for c in range(low, high + 1)) + ")$"
    if "," in codes:
        return "rstatus ^(" + "|".join(codes.split(",")) + ")$"
    return f"status {codes}"


def rule_fetch(rule: LbL7Rule) -> str:
    kind, match = rule.type, MATCH[rule.compare_type]
    if kind == "HOST_NAME":
        return f"req.hdr(host),lower,field(1,:) -m {match} {_q(rule.value.lower())}"
    if kind == "PATH":
        return f"path -m {match} {_q(rule.value)}"
    if kind == "FILE_TYPE":
        return f"path_end -m str {_q('.' + rule.value)}" if match == "str" else f"path -m reg {_q(rule.value)}"
    if kind == "HEADER":
        return f"req.hdr({rule.key}) -m {match} {_q(rule.value)}"
    if kind == "COOKIE":
        return f"req.cook({rule.key}) -m {match} {_q(rule.value)}"
    raise ValueError(f"L7 rule type {kind} is not served")


def _policy_lines(policy: LbL7Policy, pools: dict[str, LbPool]) -> list[str]:
    rules = [r for r in policy.rules if r.admin_state_up]
    if not policy.admin_state_up or not rules:
        return []  # a policy without rules matches nothing (as Octavia renders it)
    lines = [f"    acl {r.id} {rule_fetch(r)}" for r in rules]
    cond = "if " + " ".join(("!" if r.invert else "") + r.id for r in rules)
    code = policy.redirect_http_code or 302
    if policy.action == "REDIRECT_TO_URL":
        lines.append(f"    http-request redirect code {code} location {_q(policy.redirect_url or '')} {cond}")
    elif policy.action == "REDIRECT_PREFIX":
        lines.append(f"    http-request redirect code {code} prefix {_q(policy.redirect_prefix or '')} {cond}")
    elif policy.action == "REJECT":
        lines.append(f"    http-request deny {cond}")
    elif policy.action == "REDIRECT_TO_POOL":
        pool = pools.get(policy.redirect_pool_id or "")
        if pool is None or not pool.admin_state_up:
            return []
        lines.append(f"    use_backend {pool.id} {cond}")
    return lines


def frontend(lb: LoadBalancer, listener: LbListener, pools: dict[str, LbPool]) -> list[str]:
    mode = "http" if listener.protocol == "HTTP" else "tcp"
    lines = [
        f"frontend {listener.id}",
        f"    bind {lb.vip_address}:{listener.protocol_port}",
        f"    mode {mode}",
        f"    timeout client {listener.timeout_client_data}",
    ]
    if listener.connection_limit >= 0:
        lines.append(f"    maxconn {listener.connection_limit}")
    if listener.allowed_cidrs:
        lines.append(f"    tcp-request connection reject unless {{ src {' '.join(listener.allowed_cidrs)} }}")
    if mode == "tcp" and listener.timeout_tcp_inspect:
        lines.append(f"    tcp-request inspect-delay {listener.timeout_tcp_inspect}")
    headers = {k for k, v in listener.insert_headers.items() if str(v).lower() == "true"}
    if mode == "http":
        if "X-Forwarded-For" in headers:
            lines.append("    option forwardfor")
        if "X-Forwarded-Port" in headers:
            lines.append("    http-request set-header X-Forwarded-Port %[dst_port]")
        if "X-Forwarded-Proto" in headers:
            lines.append("    http-request set-header X-Forwarded-Proto http")
        for policy in sorted(listener.l7policies, key=lambda p: p.position):
            lines += _policy_lines(policy, pools)
    default = pools.get(listener.default_pool_id or "")
    if default is not None and default.admin_state_up:
        lines.append(f"    default_backend {default.id}")
    return lines


def _monitor_lines(monitor: LbHealthMonitor, state_dir: str) -> list[str]:
    lines = [f"    timeout check {monitor.timeout}s"]
    if monitor.type in ("HTTP", "HTTPS"):
        send = f"    http-check send meth {monitor.http_method} uri {_q(monitor.url_path)}"
        if monitor.http_version == 1.1:
            send += " ver HTTP/1.1"
            if monitor.domain_name:
                send += f" hdr Host {_q(monitor.domain_name)}"
        lines += ["    option httpchk", send, f"    http-check expect {expected(monitor.expected_codes)}"]
    elif monitor.type == "TLS-HELLO":
        lines.append("    option ssl-hello-chk")
    elif monitor.type == "PING":
        lines += ["    option external-check", f"    external-check command {state_dir}/{PING_SCRIPT}"]
    return lines


def backend(pool: LbPool, listener_modes: dict[str, str], lb: LoadBalancer, state_dir: str) -> list[str]:
    mode = listener_modes.get(pool.id) or ("http" if pool.protocol == "HTTP" else "tcp")
    lines = [f"backend {pool.id}", f"    mode {mode}", f"    balance {ALGORITHMS[pool.lb_algorithm]}"]
    timeouts = [li for li in lb.listeners if li.default_pool_id == pool.id]
    if timeouts:
        lines += [
            f"    timeout connect {timeouts[0].timeout_member_connect}",
            f"    timeout server {timeouts[0].timeout_member_data}",
        ]
    persistence = pool.session_persistence
    cookie = ""
    if persistence is not None:
        if persistence.type == "SOURCE_IP":
            lines += ["    stick-table type ip size 10k expire 30m", "    stick on src"]
        elif persistence.type == "HTTP_COOKIE" and mode == "http":
            lines.append("    cookie SRV insert indirect nocache")
            cookie = "cookie"
        elif persistence.type == "APP_COOKIE" and mode == "http":
            name = persistence.cookie_name or ""
            lines += [
                "    stick-table type string len 64 size 10k expire 30m",
                f"    stick store-response res.cook({name})",
                f"    stick match req.cook({name})",
            ]
    monitor = pool.health_monitor if pool.health_monitor is not None and pool.health_monitor.admin_state_up else None
    if monitor is not None:
        lines += _monitor_lines(monitor, state_dir)
        lines.append(
            f"    default-server inter {max(monitor.delay, 1)}s fall {monitor.max_retries_down} rise {monitor.max_retries}"
        )
    for m in pool.members:
        host = f"[{m.address}]" if ":" in m.address else m.address
        server = f"    server {m.id} {host}:{m.protocol_port} weight {m.weight}"
        if monitor is not None:
            server += " check"
            if monitor.type == "HTTPS":
                server += " check-ssl verify none"
            if m.monitor_address:
                server += f" addr {m.monitor_address}"
            if m.monitor_port:
                server += f" port {m.monitor_port}"
        if m.backup:
            server += " backup"
        if pool.protocol == "PROXY":
            server += " send-proxy"
        elif pool.protocol == "PROXYV2":
            server += " send-proxy-v2"
        if cookie:
            server += f" cookie {m.id}"
        if not m.admin_state_up:
            server += " disabled"
        lines.append(server)
    return lines


def render(lb: LoadBalancer, state_dir: str, socket_path: str, user: str, maxconn: int) -> str:
    """The whole ``haproxy.cfg`` of ``lb`` (the pid file is given on the command line)."""
    pools = {p.id: p for p in lb.pools}
    listeners = [li for li in lb.listeners if li.admin_state_up] if lb.admin_state_up else []
    modes = {}
    for li in listeners:
        if li.default_pool_id:
            modes[li.default_pool_id] = "http" if li.protocol == "HTTP" else "tcp"
        for pol in li.l7policies:
            if pol.redirect_pool_id:
                modes[pol.redirect_pool_id] = "http"
    pinging = any(p.health_monitor is not None and p.health_monitor.type == "PING" for p in lb.pools)
    out = [
        "global",
        f"    maxconn {maxconn}",
        f"    stats socket {socket_path} mode 600 level admin expose-fd listeners",
    ]
    if user:
        out += [f"    user {user}", f"    group {user}"]
    if pinging:
        out += ["    external-check", "    insecure-fork-wanted"]
    out += [
        "",
        "defaults",
        "    retries 3",
        "    option redispatch",
        "    timeout connect 5000",
        "    timeout client 50000",
        "    timeout server 50000",
        "    timeout check 5s",
    ]
    # haproxy refuses to start without a listener: a closed one on a Unix socket keeps a load
    # balancer that has no (enabled) listeners yet running, with its stats socket answering
    out += [
        "",
        "frontend overcast-idle",
        "    mode tcp",
        f"    bind unix@{socket_path}.idle mode 600",
        "    tcp-request connection reject",
    ]
    for listener in listeners:
        out += ["", *frontend(lb, listener, pools)]
    for pool in lb.pools:  # every pool, so its members' health is read even before a listener uses it
        out += ["", *backend(pool, modes, lb, state_dir)]
    return "\n".join(out) + "\n"


def ping_script() -> str:
    """haproxy's external check for PING monitors: args are proxy address and port, then
    the server's address and port."""
    return '#!/bin/sh\nexec ping -c 1 -W 1 "$3" >/dev/null 2>&1\n'
