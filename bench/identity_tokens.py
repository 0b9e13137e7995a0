"""Token issue and validate per second: Overcast against real Keystone, in the same run.

Both servers run here on loopback, on SQLite, side by side, and get the same load from
``wrk`` (a C load generator: a Python client on the same 2 cores would take half the CPU
from the servers), ``--connections`` keep-alive connections, ``--seconds`` per phase. The
phases alternate between the two servers (Overcast, then Keystone, for each operation), so a
change in the machine's load hits both alike:

* issue: ``POST /v3/auth/tokens`` (password, project scope), bound by password hashing;
  the cost is made equal: Keystone's bcrypt rounds are chosen so one hash takes about as
  long as one of Overcast's argon2 hashes with its configured cost (both are printed);
* validate: ``GET /v3/auth/tokens`` with ``X-Auth-Token`` and ``X-Subject-Token``;
* floor: ``GET /v3`` (the version document, no token), an ordinary route, for scale.

Besides requests/s and latency, each row gives the server's CPU time per request (all its
processes, from /proc), which depends much less on what else the machine runs than the
rate does; ``1000 / cpu ms`` is what one core could serve.

Overcast: ``overcast up`` (one process). Keystone (PyPI ``keystone``) under gunicorn with
2 sync workers, the memory cache enabled and an argv shim, as the shared client notes
describe; it is installed into a venv outside the repository on first use
(``--keystone-venv``, default ``$TMPDIR/overcast-bench/keystone-venv``). ``wrk`` comes from
the distribution (``apt-get install wrk``).
Target: validation >= 2,000/s with p95 <= 5 ms on 2 cores.

    .venv/bin/python bench/identity_tokens.py [--seconds 10] [--connections 4] [--no-keystone]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procmem import tree_cpu_seconds  # noqa: E402
from overcast.config import IdentitySection  # noqa: E402
from overcast.testing.cloud import start_running_cloud, stop_running_cloud  # noqa: E402

AUTH = "/v3/auth/tokens"


# --- load generation -----------------------------------------------------------------------

_WRK_SCRIPT = """\
wrk.method = "{method}"
{body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %f %f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(95)))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def load(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    seconds: float,
    connections: int,
    server_pid: int,
    workdir: Path,
) -> dict[str, float]:
    """Run ``wrk`` against ``url + path``; rate (successful requests/s), p50/p95 in ms,
    errors, and the server's CPU milliseconds per request."""
    script = workdir / f"wrk-{os.getpid()}-{time.monotonic_ns()}.lua"
    script.write_text(
        _WRK_SCRIPT.format(
            method=method,
            body=f"wrk.body = {_lua_string(body.decode())}" if body else "",
            headers="\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items()),
        )
    )
    cpu_before = tree_cpu_seconds(server_pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "30s", "-s", str(script), url + path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    requests, duration_us, io_errors, status_errors, p50_us, p95_us = (float(x) for x in line.split()[1:])
    ok = requests - status_errors
    return {
        "rate": ok / (duration_us / 1e6),
        "p50": p50_us / 1000,
        "p95": p95_us / 1000,
        "requests": requests,
        "errors": io_errors + status_errors,
        "cpu_ms": cpu * 1000 / requests if requests else float("nan"),
    }


def password_auth(user: str, password: str, project: str) -> bytes:
    return json.dumps(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
                },
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }
        }
    ).encode()


def issue_token(url: str, body: bytes) -> str:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    prefix = "/" + url.split("//", 1)[1].split("/", 1)[1] if "/" in url.split("//", 1)[1] else ""
    conn.request("POST", prefix + AUTH, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.status != 201:
        raise RuntimeError(f"{url}: token issue failed with {response.status}")
    return response.getheader("X-Subject-Token") or ""


class Target:
    """One server under test: where it is, how to log in, and its process."""

    def __init__(self, name: str, url: str, user: str, password: str, pid: int) -> None:
        self.name, self.url, self.pid = name, url, pid
        self.body = password_auth(user, password, "admin")
        base = url.split("//", 1)[1]
        self.root = url.split("//", 1)[0] + "//" + base.split("/", 1)[0]
        self.prefix = "/" + base.split("/", 1)[1] if "/" in base else ""
        self.token = issue_token(url, self.body)

    def phase(self, op: str, seconds: float, connections: int, workdir: Path) -> dict[str, float]:
        print(f"  {self.name}: {op} ({seconds:.0f}s, {connections} connections)...", flush=True)
        if op == "issue":
            return load(
                self.root,
                "POST",
                self.prefix + AUTH,
                {"Content-Type": "application/json"},
                self.body,
                seconds,
                connections,
                self.pid,
                workdir,
            )
        if op == "validate":
            return load(
                self.root,
                "GET",
                self.prefix + AUTH,
                {"X-Auth-Token": self.token, "X-Subject-Token": self.token},
                None,
                seconds,
                connections,
                self.pid,
                workdir,
            )
        return load(self.root, "GET", self.prefix + "/v3", {}, None, seconds, connections, self.pid, workdir)


# --- password hashing cost ---------------------------------------------------------------


def argon2_seconds(section: IdentitySection, rounds: int = 5) -> float:
    hasher = PasswordHasher(
        time_cost=section.password_hash_time_cost, memory_cost=section.password_hash_memory_kib, parallelism=1
    )
    start = time.perf_counter()
    for _ in range(rounds):
        hasher.hash("benchmark-password")
    return (time.perf_counter() - start) / rounds


def bcrypt_seconds(python: Path, rounds: int) -> float:
    code = f"import bcrypt,time\ns=bcrypt.gensalt({rounds})\nt=time.perf_counter()\nfor _ in range(3): bcrypt.hashpw(b'benchmark-password', s)\nprint((time.perf_counter()-t)/3)"
    return float(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout)


def matching_bcrypt_rounds(python: Path, target: float) -> tuple[int, float]:
    """The bcrypt cost (4..14) whose hash time is closest to ``target`` seconds."""
    best = (4, bcrypt_seconds(python, 4))
    for rounds in range(5, 15):
        t = bcrypt_seconds(python, rounds)
        if abs(t - target) < abs(best[1] - target):
            best = (rounds, t)
        if t > target * 2:
            break
    return best


# --- Keystone ------------------------------------------------------------------------------


def ensure_keystone(venv: Path) -> Path:
    if not (venv / "bin" / "keystone-manage").exists():
        print(f"installing keystone and gunicorn into {venv} (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "keystone", "gunicorn"], check=True)
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_keystone(venv: Path, root: Path, bcrypt_rounds: int) -> tuple[subprocess.Popen, str]:
    bin_dir = venv / "bin"
    port = free_port()
    for sub in ("log", "fernet-keys", "credential-keys"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "keystone.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        [DEFAULT]
        log_file = {root}/log/keystone.log
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
        [cache]
        enabled = true
        backend = dogpile.cache.memory
        [identity]
        password_hash_algorithm = bcrypt
        password_hash_rounds = {bcrypt_rounds}
        """)
    )
    manage = [str(bin_dir / "keystone-manage"), "--config-file", str(conf)]
    run = lambda *a: subprocess.run([*manage, *a], check=True, capture_output=True)  # noqa: E731
    run("db_sync")
    run("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
    run("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
    url = f"http://127.0.0.1:{port}"
    run(
        "bootstrap",
        "--bootstrap-password",
        "secret",
        "--bootstrap-username",
        "admin",
        "--bootstrap-project-name",
        "admin",
        "--bootstrap-role-name",
        "admin",
        "--bootstrap-region-id",
        "RegionOne",
        "--bootstrap-admin-url",
        url + "/v3/",
        "--bootstrap-public-url",
        url + "/v3/",
        "--bootstrap-internal-url",
        url + "/v3/",
    )
    (root / "ks_app.py").write_text(
        textwrap.dedent(f"""\
        import os, sys
        sys.argv = sys.argv[:1]  # oslo.config would otherwise parse gunicorn's argv
        os.environ.setdefault("OS_KEYSTONE_CONFIG_FILES", "{conf}")
        from keystone.wsgi.api import application  # noqa
        """)
    )
    log = open(root / "log" / "gunicorn.log", "ab")
    proc = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "--no-control-socket",
            "--chdir",
            str(root),
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "ks_app:application",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v3")
            if c.getresponse().status == 200:
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"keystone did not start; see {root}/log")


# --- main ----------------------------------------------------------------------------------

OPS = ("issue", "validate", "floor")


def row(label: str, ours: dict[str, float], peer: dict[str, float] | None) -> str:
    ratio = f"{ours['rate'] / peer['rate']:.1f}x" if peer and peer["rate"] else "-"
    cells = lambda r: f"{r['rate']:9.1f} {r['p50']:7.2f} {r['p95']:7.2f} {r['cpu_ms']:7.3f}"  # noqa: E731
    peer_txt = cells(peer) if peer else f"{'-':>9} {'-':>7} {'-':>7} {'-':>7}"
    return f"{label:<9} {cells(ours)}   {peer_txt}   {ratio:>7}"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--connections", type=int, default=4, help="concurrent keep-alive connections (wrk -c)")
    parser.add_argument("--no-keystone", action="store_true", help="measure Overcast only")
    parser.add_argument(
        "--keystone-venv", type=Path, default=Path(tempfile.gettempdir()) / "overcast-bench" / "keystone-venv"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2

    section = IdentitySection()  # the defaults an operator gets
    ours_hash = argon2_seconds(section)
    work = Path(tempfile.mkdtemp(prefix="identity-bench-"))
    results: dict[str, dict[str, Any]] = {}
    ks_proc = None
    cloud = None
    try:
        peer_rounds = None
        if not args.no_keystone:
            venv = ensure_keystone(args.keystone_venv)
            peer_rounds, peer_hash = matching_bcrypt_rounds(venv / "bin" / "python", ours_hash)
        print(
            f"password hashing: overcast argon2id t={section.password_hash_time_cost} m={section.password_hash_memory_kib}KiB "
            f"{ours_hash * 1000:.1f} ms/hash"
            + (f"; keystone bcrypt rounds={peer_rounds} {peer_hash * 1000:.1f} ms/hash" if peer_rounds else "")
        )
        cloud = start_running_cloud(
            work / "overcast",
            {
                "identity": {
                    "password_hash_time_cost": section.password_hash_time_cost,
                    "password_hash_memory_kib": section.password_hash_memory_kib,
                }
            },
        )
        targets = [Target("overcast", cloud.auth_url, "admin", cloud.admin_password, cloud.process.pid)]
        if not args.no_keystone:
            ks_proc, ks_url = start_keystone(args.keystone_venv, work / "keystone", peer_rounds or 12)
            targets.append(Target("keystone", ks_url, "admin", "secret", ks_proc.pid))
        load_before = loadavg()
        for op in OPS:
            for target in targets:
                results.setdefault(target.name, {})[op] = target.phase(op, args.seconds, args.connections, work)
        load_after = loadavg()
    finally:
        if cloud is not None:
            stop_running_cloud(cloud)
        if ks_proc is not None:
            os.killpg(ks_proc.pid, signal.SIGTERM)
            ks_proc.wait(20)
        shutil.rmtree(work, ignore_errors=True)

    ours, peer = results["overcast"], results.get("keystone")
    print()
    print(
        f"{os.cpu_count()} cores, wrk -t1 -c{args.connections}, {args.seconds:.0f}s per phase, loopback, SQLite; "
        f"load average {load_before} before, {load_after} after"
    )
    print(f"{'':<9} {'overcast':>33}   {'keystone':>33}")
    head = f"{'req/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7}"
    print(f"{'operation':<9} {head}   {head}   {'ratio':>7}")
    for op in OPS:
        print(row(op, ours[op], peer[op] if peer else None))
    print("cpu ms = server CPU time per request (all its processes); floor = GET /v3, the version document")
    errors = {name: {op: int(r[op]["errors"]) for op in r} for name, r in results.items()}
    print(f"errors: {errors}")
    v = ours["validate"]
    verdict = "met" if v["rate"] >= 2000 and v["p95"] <= 5 else "NOT met"
    print(
        f"target (validate >= 2000/s, p95 <= 5 ms): {verdict} ({v['rate']:.0f}/s, p95 {v['p95']:.1f} ms; "
        f"{v['cpu_ms']:.3f} ms CPU per validation = {1000 / v['cpu_ms']:.0f}/s per core if it had one)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
