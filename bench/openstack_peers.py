"""The OpenStack peer of ``bench/footprint.py``: Keystone + Placement + Swift proxy from PyPI, idle.

Installs (once, reused across runs) ``keystone``, ``openstack-placement``, ``swift`` and
``keystonemiddleware`` (Swift's ``authtoken``) from PyPI into ``.bench/peers-venv`` (gitignored),
writes minimal configs in a temp dir and starts each service as ONE process on a free loopback port:

- Keystone: SQLite, ``keystone-manage db_sync``, ``fernet_setup``, ``credential_setup``,
  ``bootstrap``; ``keystone.wsgi.api`` (these releases ship no ``keystone-wsgi-public`` script)
  served by the standard library's WSGI server, one thread per request;
- Placement: SQLite, ``placement-manage db sync``, ``placement.wsgi.api`` served the same way,
  ``authtoken`` against that Keystone with a ``placement`` service user;
- Swift proxy: ``swift-proxy-server`` with ``workers = 0`` (one process), account/container/object
  rings built by ``swift-ring-builder`` pointing at loopback ports where nothing listens (Swift's
  storage servers are not part of the peer), devstack's pipeline with ``authtoken`` (a ``swift``
  service user) + ``keystoneauth``, less ``cache`` and ``ratelimit``: no memcached on this machine,
  so keystonemiddleware keeps its token cache in-process.

Each is exercised once: a token issue (``POST /v3/auth/tokens``), ``GET /resource_providers`` on
Placement with that token, ``HEAD /v1/AUTH_<project>`` on the proxy with that token (503 without
storage servers: the proxy validated the token, authorized it and asked the account ring). After
``--settle`` seconds their PSS and USS are read from ``/proc/PID/smaps_rollup``; then all is torn down.

    .venv/bin/python bench/openstack_peers.py [--settle 5]
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procmem import descendants, memory_mib  # noqa: E402

VENV = Path(__file__).resolve().parents[1] / ".bench" / "peers-venv"
REQUIREMENTS = ("keystone==30.0.0", "openstack-placement==16.0.0", "swift==2.38.3", "keystonemiddleware==13.0.1")
PASSWORD = "peer-secret"

# The one-process WSGI server for Keystone and Placement: the standard library's, a thread per request.
SERVE = """\
import importlib, sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

module, port = sys.argv[1], int(sys.argv[2])
sys.argv = sys.argv[:1]  # oslo.config parses sys.argv
application = importlib.import_module(module).application


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Handler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


make_server("127.0.0.1", port, application, Server, Handler).serve_forever()
"""

# devstack's proxy pipeline, less cache and ratelimit (they need memcached)
SWIFT_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging container_sync bulk tempurl crossdomain authtoken keystoneauth "
    "formpost staticweb copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server"
)


@dataclass
class PeerRow:
    service: str
    pid: int
    pss: float
    uss: float
    exercised: str


@dataclass
class Peers:
    """The three services, started in ``root``; ``stop`` ends them and removes ``root``."""

    root: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    exercised: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def ensure_venv(venv: Path = VENV) -> Path:
    """The peers' venv, made and filled from PyPI when its recorded requirements differ from ours."""
    marker = venv / "overcast-peers.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return venv
    print(f"installing {' '.join(REQUIREMENTS)} from PyPI into {venv} (once)...", flush=True)
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http(
    method: str, url: str, token: str | None = None, body: object | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Accept": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_http(url: str, proc: subprocess.Popen[bytes], name: str, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if http("GET", url)[0] < 500:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{name} did not answer {url}: {log.read_text()[-3000:]}")


def start(root: Path, name: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log = root / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, log


def authtoken(keystone: str, user: str) -> str:
    return textwrap.dedent(f"""\
        www_authenticate_uri = {keystone}
        auth_url = {keystone}
        auth_type = password
        project_domain_id = default
        user_domain_id = default
        project_name = service
        username = {user}
        password = {PASSWORD}
        """)


def start_keystone(peers: Peers, bin_dir: Path, env: dict[str, str]) -> str:
    root = peers.root / "keystone"
    for sub in ("fernet-keys", "credential-keys"):
        (root / sub).mkdir(parents=True)
    conf = root / "keystone.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        [DEFAULT]
        log_file = {root}/keystone.log
        [database]
        connection = sqlite:///{root}/keystone.db
        [token]
        provider = fernet
        [fernet_tokens]
        key_repository = {root}/fernet-keys
        [fernet_receipts]
        key_repository = {root}/fernet-keys
        [credential]
        key_repository = {root}/credential-keys
        """)
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}/v3"
    user = getpass.getuser()
    for step in (
        ["db_sync"],
        ["fernet_setup", "--keystone-user", user, "--keystone-group", user],
        ["credential_setup", "--keystone-user", user, "--keystone-group", user],
        ["bootstrap", "--bootstrap-password", PASSWORD, "--bootstrap-region-id", "RegionOne"]
        + ["--bootstrap-public-url", url, "--bootstrap-internal-url", url, "--bootstrap-admin-url", url],
    ):
        subprocess.run(
            [str(bin_dir / "keystone-manage"), "--config-file", str(conf), *step], check=True, capture_output=True
        )
    proc, log = start(
        peers.root,
        "keystone",
        [str(bin_dir / "python"), str(peers.root / "serve.py"), "keystone.wsgi.api", str(port)],
        {**env, "OS_KEYSTONE_CONFIG_FILES": str(conf)},
    )
    peers.procs["keystone"] = proc
    wait_http(url, proc, "keystone", log)
    return url


def issue_token(peers: Peers, keystone: str) -> tuple[str, str]:
    """An admin token scoped to the admin project, and that project's id."""
    started = time.monotonic()
    status, headers, body = http(
        "POST",
        f"{keystone}/auth/tokens",
        body={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": PASSWORD}},
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        },
    )
    if status != 201:
        raise RuntimeError(f"token issue: {status} {body[:500]!r}")
    peers.exercised["keystone"] = f"POST /v3/auth/tokens {status} ({(time.monotonic() - started) * 1000:.0f} ms)"
    token = next(v for k, v in headers.items() if k.lower() == "x-subject-token")
    return token, json.loads(body)["token"]["project"]["id"]


def create_service_users(keystone: str, token: str) -> None:
    """Project ``service`` and the users ``placement`` and ``swift`` with the ``service`` role on it."""

    def post(path: str, body: object) -> str:
        status, _, answer = http("POST", f"{keystone}/{path}", token, body)
        if status != 201:
            raise RuntimeError(f"POST {path}: {status} {answer[:300]!r}")
        data: dict[str, dict[str, str]] = json.loads(answer)
        return next(iter(data.values()))["id"]

    project = post("projects", {"project": {"name": "service", "domain_id": "default"}})
    status, _, answer = http("GET", f"{keystone}/roles?name=service", token)
    role = json.loads(answer)["roles"][0]["id"]
    for name in ("placement", "swift"):
        user = post("users", {"user": {"name": name, "password": PASSWORD, "domain_id": "default"}})
        status, _, answer = http("PUT", f"{keystone}/projects/{project}/users/{user}/roles/{role}", token)
        if status != 204:
            raise RuntimeError(f"role assignment for {name}: {status} {answer[:300]!r}")


def start_placement(peers: Peers, bin_dir: Path, env: dict[str, str], keystone: str) -> str:
    root = peers.root / "placement"
    root.mkdir()
    conf = root / "placement.conf"
    conf.write_text(
        f"[DEFAULT]\nlog_file = {root}/placement.log\n[api]\nauth_strategy = keystone\n"
        f"[placement_database]\nconnection = sqlite:///{root}/placement.db\n"
        f"[keystone_authtoken]\n{authtoken(keystone, 'placement')}"
    )
    subprocess.run(
        [str(bin_dir / "placement-manage"), "--config-file", str(conf), "db", "sync"], check=True, capture_output=True
    )
    port = free_port()
    proc, log = start(
        peers.root,
        "placement",
        [str(bin_dir / "python"), str(peers.root / "serve.py"), "placement.wsgi.api", str(port)],
        {**env, "OS_PLACEMENT_CONFIG_DIR": str(root)},
    )
    peers.procs["placement"] = proc
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/", proc, "placement", log)
    return url


def start_swift_proxy(peers: Peers, bin_dir: Path, env: dict[str, str], keystone: str) -> str:
    root = peers.root / "swift"
    root.mkdir()
    (root / "swift.conf").write_text(
        f"[swift-hash]\nswift_hash_path_prefix = {os.urandom(8).hex()}\nswift_hash_path_suffix = {os.urandom(8).hex()}\n"
        "[storage-policy:0]\nname = Policy-0\ndefault = yes\n"
    )
    builder = str(bin_dir / "swift-ring-builder")
    for ring in ("account", "container", "object"):
        for step in (["create", "10", "1", "1"], ["add", f"r1z1-127.0.0.1:{free_port()}/sdb1", "1"], ["rebalance"]):
            subprocess.run([builder, f"{ring}.builder", *step], cwd=root, check=True, capture_output=True)
    port = free_port()
    filters = "".join(
        f"[filter:{name}]\nuse = egg:swift#{name.replace('-', '_')}\n"
        for name in sorted(
            set(SWIFT_PIPELINE.split()) - {"authtoken", "keystoneauth", "versioned_writes", "proxy-server"}
        )
    )
    conf = root / "proxy-server.conf"
    conf.write_text(
        f"[DEFAULT]\nswift_dir = {root}\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\n"
        f"user = {getpass.getuser()}\nlog_level = WARNING\n"
        f"[pipeline:main]\npipeline = {SWIFT_PIPELINE}\n"
        "[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
        "[filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:filter_factory\n"
        f"delay_auth_decision = true\n{authtoken(keystone, 'swift')}"
        "[filter:keystoneauth]\nuse = egg:swift#keystoneauth\noperator_roles = admin, member\n"
        "[filter:versioned_writes]\nuse = egg:swift#versioned_writes\nallow_versioned_writes = true\n" + filters
    )
    proc, log = start(peers.root, "swift-proxy", [str(bin_dir / "swift-proxy-server"), str(conf)], env)
    peers.procs["swift-proxy"] = proc
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthcheck", proc, "swift-proxy", log)
    return url


def start_peers(venv: Path = VENV) -> tuple[Peers, str, str, str]:
    """Keystone, Placement and the Swift proxy running, each exercised once; and their URLs."""
    bin_dir = ensure_venv(venv) / "bin"
    peers = Peers(Path(tempfile.mkdtemp(prefix="oc-peers-")))
    try:
        (peers.root / "serve.py").write_text(SERVE)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "VIRTUAL_ENV", "PYTHON"))}
        env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
        listing = subprocess.run(
            [str(bin_dir / "python"), "-c", "import importlib.metadata as m, sys; print(*map(m.version, sys.argv[1:]))"]
            + ["keystone", "openstack-placement", "swift"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        peers.versions = dict(zip(("keystone", "placement", "swift-proxy"), listing))
        keystone = start_keystone(peers, bin_dir, env)
        token, project = issue_token(peers, keystone)
        create_service_users(keystone, token)
        placement = start_placement(peers, bin_dir, env, keystone)
        swift = start_swift_proxy(peers, bin_dir, env, keystone)
        status, _, body = http("GET", f"{placement}/resource_providers", token)
        if status != 200:
            raise RuntimeError(f"placement GET /resource_providers: {status} {body[:300]!r}")
        peers.exercised["placement"] = f"GET /resource_providers {status}"
        status, _, body = http("HEAD", f"{swift}/v1/AUTH_{project}", token)
        if status not in (204, 503):  # 503: no account server behind the ring, as intended
            raise RuntimeError(f"swift HEAD /v1/AUTH_{project}: {status} {body[:300]!r}")
        peers.exercised["swift-proxy"] = f"HEAD /v1/AUTH_<project> {status}"
        status, _, _ = http("HEAD", f"{swift}/v1/AUTH_{project}")
        if status != 401:
            raise RuntimeError(f"swift HEAD without a token answered {status}, not 401: authtoken is not in the way")
        return peers, keystone, placement, swift
    except BaseException:
        peers.stop()
        raise


LABELS = {
    "keystone": "Keystone {v} (one process: keystone.wsgi.api on wsgiref, threads)",
    "placement": "Placement {v} (one process: placement.wsgi.api on wsgiref, threads)",
    "swift-proxy": "Swift {v} proxy (one process: workers = 0, eventlet)",
}


def measure(settle: float = 5.0, venv: Path = VENV) -> list[PeerRow]:
    """Start the peer, exercise it, let it idle ``settle`` seconds, read its memory, tear it down."""
    peers, *_ = start_peers(venv)
    try:
        time.sleep(settle)
        rows = []
        for name, proc in peers.procs.items():
            pids = descendants(proc.pid)  # each is one process; a child would be counted, not hidden
            pss = sum(memory_mib(pid)[0] for pid in pids)
            uss = sum(memory_mib(pid)[1] for pid in pids)
            label = LABELS[name].format(v=peers.versions.get(name, "?"))
            if len(pids) > 1:
                label += f" + {len(pids) - 1} child process(es)"
            rows.append(PeerRow(label, proc.pid, pss, uss, peers.exercised.get(name, "")))
        return rows
    finally:
        peers.stop()


def print_rows(rows: list[PeerRow]) -> float:
    """The peer's rows in ``bench/footprint.py``'s layout; returns their total PSS."""
    for row in rows:
        print(f"{row.pid:>8}  {row.pss:8.1f}  {row.uss:8.1f}  {row.service}; {row.exercised}")
    total = sum(row.pss for row in rows)
    print(f"{'':>8}  {total:8.1f}  {sum(r.uss for r in rows):8.1f}  total of Keystone + Placement + Swift proxy")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle after the requests")
    args = parser.parse_args()
    rows = measure(args.settle)
    load = os.getloadavg()
    print(f"\nOpenStack peer from PyPI, idle {args.settle:.0f} s after one request each")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(f"{'pid':>8}  {'PSS MiB':>8}  {'USS MiB':>8}  process")
    print_rows(rows)


if __name__ == "__main__":
    main()
