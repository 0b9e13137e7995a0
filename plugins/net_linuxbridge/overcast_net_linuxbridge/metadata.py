"""Metadata proxies: haproxy (Debian's, as Neutron uses it) serving 169.254.169.254.

One haproxy per network (in its DHCP namespace, on ``169.254.169.254:80``, an address the
DHCP interface also carries) and per router (in its namespace, on port 9697, where a nat
``REDIRECT`` sends guests' ``169.254.169.254:80``). haproxy itself runs in the host's
namespace and only *binds* inside the guest's (``bind … namespace``), so it reaches the
metadata API over the host's own network: no relay, no socket shared into the namespace.

It replaces the headers a guest could forge and adds the network (or router) id, the
source address and their HMAC-SHA256 signature (``hmac`` converter, the key given base64),
which the metadata API checks (``overcast.types.MetadataProxy``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from overcast.errors import DriverError
from overcast.types import MetadataProxy

from overcast_net_linuxbridge import links, names
from overcast_net_linuxbridge.cmd import run

METADATA_IP = "169.254.169.254"
ROUTER_PORT = 9697
_SAFE = re.compile(r"^[A-Za-z0-9-]+$")
_SECRET = re.compile(r"^[A-Za-z0-9+/=]+$")
_UPSTREAM = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")


def state_dir(base: str, proxy: MetadataProxy) -> Path:
    kind, rid = _target(proxy)
    return Path(base) / "metadata" / f"{kind}-{rid}"


def _target(proxy: MetadataProxy) -> tuple[str, str]:
    if bool(proxy.network_id) == bool(proxy.router_id):
        raise DriverError("linuxbridge: a metadata proxy serves one network or one router")
    kind, rid = ("network", proxy.network_id) if proxy.network_id else ("router", proxy.router_id)
    if not _SAFE.match(rid):
        raise DriverError(f"linuxbridge: bad {kind} id {rid!r} for a metadata proxy")
    return kind, rid


def namespace(proxy: MetadataProxy) -> str:
    kind, rid = _target(proxy)
    return names.dhcp_namespace(rid) if kind == "network" else names.router_namespace(rid)


def config(proxy: MetadataProxy, pid_file: Path) -> str:
    """haproxy's configuration for one proxy."""
    kind, rid = _target(proxy)
    if not _SECRET.match(proxy.secret_b64) or not _UPSTREAM.match(proxy.upstream):
        raise DriverError("linuxbridge: the metadata proxy's secret or upstream is malformed")
    bind = f"{METADATA_IP}:80" if kind == "network" else f"0.0.0.0:{ROUTER_PORT}"
    header = "X-Overcast-Network-ID" if kind == "network" else "X-Overcast-Router-ID"
    return f"""# written by overcast net_linuxbridge: metadata proxy of {kind} {rid}
global
    maxconn 256
    pidfile {pid_file}
    daemon

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 60s
    timeout http-request 10s
    option http-server-close

frontend metadata
    bind {bind} namespace {namespace(proxy)}
    http-request deny if {{ req.body_size gt 65536 }}
    http-request del-header X-Overcast-Network-ID
    http-request del-header X-Overcast-Router-ID
    http-request del-header X-Overcast-Metadata-Signature
    http-request set-header X-Forwarded-For %[src]
    http-request set-header {header} {rid}
    http-request set-var(txn.src) src
    http-request set-var(txn.msg) str({kind}:{rid}:),concat(,txn.src,)
    http-request set-header X-Overcast-Metadata-Signature %[var(txn.msg),hmac(sha256,{proxy.secret_b64}),hex,lower]
    default_backend api

backend api
    server api {proxy.upstream}
"""


def running_pid(where: Path) -> int | None:
    """haproxy's pid if it is running from our config (a recycled pid is not ours)."""
    try:
        pid = int((where / "pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError, IndexError):
        return None
    if "haproxy" not in cmdline or str(where / "haproxy.cfg") not in cmdline or "\nState:\tZ" in status:
        return None
    return pid


def _stop(where: Path) -> None:
    pid = running_pid(where)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if running_pid(where) is None:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)


def _router_rules(ns: str, on: bool) -> None:
    """The nat redirect of 169.254.169.254:80 to the proxy, and the filter rule that lets
    only the router's internal interfaces reach it."""
    rules = [
        ("nat", ["PREROUTING", "-d", f"{METADATA_IP}/32", "-i", "qr-+", "-p", "tcp", "--dport", "80"]
         + ["-j", "REDIRECT", "--to-ports", str(ROUTER_PORT)]),
        ("filter", ["INPUT", "-p", "tcp", "--dport", str(ROUTER_PORT), "!", "-i", "qr-+", "-j", "DROP"]),
    ]  # fmt: skip
    for table, rule in rules:
        present = run(["iptables", "-w", "-t", table, "-C", *rule], check=False, namespace=ns).returncode == 0
        if on and not present:
            run(["iptables", "-w", "-t", table, "-I", *rule], namespace=ns)
        elif not on and present:
            run(["iptables", "-w", "-t", table, "-D", *rule], namespace=ns)


def router_nat_rules(base: str, router_id: str) -> list[str]:
    """The redirect rule for the router's whole nat table (``router.setup`` rewrites it)."""
    marker = state_dir(base, MetadataProxy(upstream="", secret_b64="", router_id=router_id)) / "haproxy.cfg"
    if not marker.exists():
        return []
    return [f"-A PREROUTING -d {METADATA_IP}/32 -i qr-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports {ROUTER_PORT}"]


def network_enabled(base: str, network_id: str) -> bool:
    """Whether the network's DHCP namespace serves metadata (its address and route)."""
    where = state_dir(base, MetadataProxy(upstream="", secret_b64="", network_id=network_id))
    return (where / "haproxy.cfg").exists()


def setup(base: str, proxy: MetadataProxy, before_start: Callable[[], object] | None = None) -> bool:
    """Start (or reconfigure) the proxy. ``False`` when its namespace does not exist (no DHCP
    on the network, or no router yet): nothing to serve. ``before_start`` runs once the
    configuration is written (it marks the proxy as wanted) and before haproxy binds."""
    if shutil.which("haproxy") is None:
        raise DriverError("linuxbridge: haproxy is not installed (run scripts/install-host-deps.sh)")
    ns = namespace(proxy)
    if ns not in links.namespaces():
        teardown(base, proxy)
        return False
    where = state_dir(base, proxy)
    where.mkdir(parents=True, exist_ok=True)
    text = config(proxy, where / "pid")
    cfg = where / "haproxy.cfg"
    previous = cfg.read_text() if cfg.exists() else ""
    pid = running_pid(where)
    if proxy.router_id:
        _router_rules(ns, True)
    if pid is not None and previous == text:
        return True  # running as configured (and DHCP set up since with the marker in place)
    _stop(where)
    tmp = cfg.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the secret
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, cfg)
    if before_start is not None:
        before_start()
    done = subprocess.run(["haproxy", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        cfg.unlink(missing_ok=True)
        raise DriverError(f"linuxbridge: haproxy for the metadata proxy in {ns} failed: {done.stderr.strip()[-500:]}")
    for _ in range(100):
        if running_pid(where) is not None:
            return True
        time.sleep(0.02)
    raise DriverError(f"linuxbridge: haproxy for the metadata proxy in {ns} did not start")


def teardown(base: str, proxy: MetadataProxy) -> None:
    where = state_dir(base, proxy)
    _stop(where)
    if proxy.router_id:
        ns = namespace(proxy)
        if ns in links.namespaces():
            _router_rules(ns, False)
    shutil.rmtree(where, ignore_errors=True)


def our_processes(base: str) -> list[str]:
    """Every running haproxy started from our state directory (pids as strings)."""
    marker = str(Path(base) / "metadata")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if cmdline.startswith("haproxy") and marker in cmdline and "\nState:\tZ" not in status:
            found.append(entry.name)
    return sorted(found)
