"""The ``haproxy`` load-balancer driver: the ``lb_*`` hooks.

Per load balancer, a state directory (``<state_dir>/<lb id>/``: ``haproxy.cfg``, pid file,
stats socket) and one haproxy process started inside the load balancer's network namespace
(which the network driver made and plugged the VIP into). A change writes the new
configuration, checks it with ``haproxy -c`` (a refused one changes nothing), and reloads
seamlessly: a new process takes the listening sockets over the stats socket (``-x``) and
tells the old one to finish its connections and exit (``-sf``).
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from overcast.errors import DriverError
from overcast.hookspecs import hookimpl
from overcast.types import Backend, LbHealth, LoadBalancer

from overcast_lb_haproxy import config, stats

SOCKET_DIR = "/run/overcast-haproxy"


def _base(backend: Backend) -> Path:
    return Path(backend.state_dir or "/var/lib/overcast/loadbalancer")


def socket_path(directory: Path) -> Path:
    """The stats socket of the haproxy serving ``directory``: in a short runtime directory,
    because a Unix socket's path is limited to 107 bytes and state directories can be deep."""
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:24]
    return Path(SOCKET_DIR) / f"{digest}.sock"


def fitting_maxconn(wanted: int) -> int:
    """haproxy needs about two descriptors per connection and refuses to start when the
    process's hard ``RLIMIT_NOFILE`` cannot hold ``maxconn``: stay within it."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, (hard - 200) // 2))


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise DriverError(f"haproxy: '{argv[0]}' is not installed (run scripts/install-host-deps.sh)") from None
    if done.returncode != 0:
        raise DriverError(f"haproxy: {what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")
    return done


def _pids(directory: Path) -> list[int]:
    """The live haproxy processes serving this directory's configuration."""
    try:
        listed = [int(p) for p in (directory / "haproxy.pid").read_text().split()]
    except (OSError, ValueError):
        listed = []
    alive = []
    for pid in listed:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(directory / "haproxy.cfg").encode() == part for part in cmdline):
            alive.append(pid)
    return alive


def _ours(base: Path) -> list[int]:
    """Every haproxy process started from a directory under ``base``."""
    found = []
    marker = str(base).encode() + b"/"
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"haproxy" in cmdline.split(b"\0")[0] and marker in cmdline:
            found.append(int(entry))
    return found


class HaproxyDriver:
    def __init__(self) -> None:
        self.lock = threading.RLock()

    def _dir(self, backend: Backend, lb_id: str) -> Path:
        return _base(backend) / lb_id

    @hookimpl
    def lb_init_host(self, backend: Backend, host: str) -> bool:
        exe = str(backend.options.get("haproxy") or "haproxy")
        for tool in (exe, "ip"):
            if shutil.which(tool) is None:
                raise DriverError(f"haproxy on {host}: missing {tool} (run scripts/install-host-deps.sh)")
        _base(backend).mkdir(parents=True, exist_ok=True)
        return True

    @hookimpl
    def lb_deploy(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> bool:
        exe = str(backend.options.get("haproxy") or "haproxy")
        user = str(backend.options.get("user") if backend.options.get("user") is not None else "haproxy")
        maxconn = fitting_maxconn(int(backend.options.get("maxconn") or 50000))
        if not os.path.exists(f"/run/netns/{loadbalancer.namespace}"):
            raise DriverError(f"haproxy: namespace {loadbalancer.namespace} does not exist (the VIP is not plugged)")
        with self.lock:
            directory = self._dir(backend, loadbalancer.id)
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o755)  # haproxy (after dropping to its user) runs the ping script here
            script = directory / config.PING_SCRIPT
            script.write_text(config.ping_script())
            script.chmod(0o755)
            sock = socket_path(directory)
            sock.parent.mkdir(mode=0o700, exist_ok=True)
            text = config.render(loadbalancer, str(directory), str(sock), user, maxconn)
            candidate = directory / "haproxy.cfg.new"
            candidate.write_text(text)
            _run([exe, "-c", "-f", str(candidate)], "checking the new configuration")
            cfg = directory / "haproxy.cfg"
            old = _pids(directory)
            previous = cfg.read_text() if cfg.exists() else None
            if old and previous == text:
                return True  # serving exactly this already
            os.replace(candidate, cfg)
            argv = [
                "ip",
                "netns",
                "exec",
                loadbalancer.namespace,
                exe,
                "-D",
                "-f",
                str(cfg),
                "-p",
                str(directory / "haproxy.pid"),
            ]
            if old:
                if sock.exists():
                    argv += ["-x", str(sock)]
                argv += ["-sf", *(str(p) for p in old)]
            try:
                _run(argv, "starting haproxy" if not old else "reloading haproxy")
            except DriverError:
                if previous is not None:
                    cfg.write_text(previous)
                raise
            self._wait_socket(sock, old)
        return True

    @staticmethod
    def _wait_socket(sock: Path, old: list[int]) -> None:
        """Until the (new) process answers on its stats socket."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                stats.query(str(sock), "show info", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise DriverError(f"haproxy: no answer on {sock} after starting")

    @hookimpl
    def lb_undeploy(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> bool:
        with self.lock:
            directory = self._dir(backend, loadbalancer.id)
            pids = _pids(directory)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)]
                time.sleep(0.05)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(directory, ignore_errors=True)
            socket_path(directory).unlink(missing_ok=True)
            Path(f"{socket_path(directory)}.idle").unlink(missing_ok=True)
        return True

    @hookimpl
    def lb_get_health(self, backend: Backend, host: str, loadbalancer: LoadBalancer) -> LbHealth:
        directory = self._dir(backend, loadbalancer.id)
        if not _pids(directory):
            return LbHealth(loadbalancer.id, running=False)
        try:
            text = stats.query(str(socket_path(directory)), "show stat")
        except OSError as exc:
            raise DriverError(f"haproxy: reading the stats socket of {loadbalancer.id} failed: {exc}") from None
        members, listeners = stats.health(loadbalancer, text)
        return LbHealth(loadbalancer.id, running=True, members=members, listeners=listeners)

    @hookimpl
    def lb_list_resources(self, backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
        base = _base(backend)
        dirs = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.exists() else []
        return {"state_dirs": dirs, "haproxy_processes": [str(p) for p in sorted(_ours(base))]}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
