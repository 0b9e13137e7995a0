"""Token issue and validate per second: Overcast against real Keystone, in the same run.

Both servers run here on loopback, on SQLite, and get the same client load (``--clients``
processes with keep-alive connections, ``--seconds`` per phase):

* issue: ``POST /v3/auth/tokens`` (password, project scope), bound by password hashing;
  the cost is made equal: Keystone's bcrypt rounds are chosen so one hash takes about as
  long as one of Overcast's argon2 hashes with its configured cost (both are printed);
* validate: ``GET /v3/auth/tokens`` with ``X-Auth-Token`` and ``X-Subject-Token``;
* floor: ``GET /v3`` (the version document, no token), the HTTP stack's own ceiling, so a
  loaded machine's numbers can be read relative to it.

Overcast: ``overcast up`` (one process). Keystone (PyPI ``keystone``) under gunicorn with
2 sync workers, the memory cache enabled and an argv shim, as the shared client notes
describe; it is installed into a venv outside the repository on first use
(``--keystone-venv``, default ``$TMPDIR/overcast-bench/keystone-venv``).
Target: validation >= 2,000/s with p95 <= 5 ms on 2 cores.

    .venv/bin/python bench/identity_tokens.py [--seconds 10] [--clients 2] [--no-keystone]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from overcast.config import IdentitySection
from overcast.testing.cloud import start_running_cloud, stop_running_cloud

AUTH = "/v3/auth/tokens"


# --- load generation -----------------------------------------------------------------------


def _worker(host: str, port: int, method: str, path: str, headers: dict, body: bytes | None, seconds: float, out: Any) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    latencies = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while (start := time.perf_counter()) < deadline:
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            ok = response.status < 300
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
        latencies.append(time.perf_counter() - start)
        errors += 0 if ok else 1
    conn.close()
    out.put((latencies, errors))


def load(url: str, method: str, path: str, headers: dict, body: bytes | None, seconds: float, clients: int) -> dict[str, float]:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    queue: Any = mp.Queue()
    procs = [mp.Process(target=_worker, args=(host, int(port), method, path, headers, body, seconds, queue)) for _ in range(clients)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    n = len(latencies)
    return {
        "rate": (n - errors) / max(elapsed, seconds),
        "p50": latencies[n // 2] * 1000 if n else float("nan"),
        "p95": latencies[min(n - 1, int(n * 0.95))] * 1000 if n else float("nan"),
        "requests": n,
        "errors": errors,
    }


def password_auth(user: str, password: str, project: str) -> bytes:
    return json.dumps(
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}},
                  "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
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


def measure(name: str, url: str, user: str, password: str, seconds: float, clients: int) -> dict[str, dict[str, float]]:
    body = password_auth(user, password, "admin")
    prefix = "/" + url.split("//", 1)[1].split("/", 1)[1] if "/" in url.split("//", 1)[1] else ""
    token = issue_token(url, body)
    print(f"  {name}: issue ({seconds:.0f}s, {clients} clients)...", flush=True)
    issue = load(url, "POST", prefix + AUTH, {"Content-Type": "application/json"}, body, seconds, clients)
    print(f"  {name}: validate ({seconds:.0f}s, {clients} clients)...", flush=True)
    validate = load(url, "GET", prefix + AUTH, {"X-Auth-Token": token, "X-Subject-Token": token}, None, seconds, clients)
    print(f"  {name}: version document, no auth: the server's floor ({seconds:.0f}s, {clients} clients)...", flush=True)
    floor = load(url, "GET", prefix + "/v3", {}, None, seconds, clients)
    return {"issue": issue, "validate": validate, "floor": floor}


# --- password hashing cost ---------------------------------------------------------------


def argon2_seconds(section: IdentitySection, rounds: int = 5) -> float:
    hasher = PasswordHasher(time_cost=section.password_hash_time_cost, memory_cost=section.password_hash_memory_kib, parallelism=1)
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
    conf.write_text(textwrap.dedent(f"""\
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
        """))
    manage = [str(bin_dir / "keystone-manage"), "--config-file", str(conf)]
    run = lambda *a: subprocess.run([*manage, *a], check=True, capture_output=True)  # noqa: E731
    run("db_sync")
    run("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
    run("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
    url = f"http://127.0.0.1:{port}"
    run("bootstrap", "--bootstrap-password", "secret", "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
        "--bootstrap-role-name", "admin", "--bootstrap-region-id", "RegionOne", "--bootstrap-admin-url", url + "/v3/",
        "--bootstrap-public-url", url + "/v3/", "--bootstrap-internal-url", url + "/v3/")
    (root / "ks_app.py").write_text(textwrap.dedent(f"""\
        import os, sys
        sys.argv = sys.argv[:1]  # oslo.config would otherwise parse gunicorn's argv
        os.environ.setdefault("OS_KEYSTONE_CONFIG_FILES", "{conf}")
        from keystone.wsgi.api import application  # noqa
        """))
    log = open(root / "log" / "gunicorn.log", "ab")
    proc = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "--no-control-socket", "--chdir", str(root), "-b", f"127.0.0.1:{port}", "-w", "2", "ks_app:application"],
        stdout=log, stderr=log, start_new_session=True,
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


def row(label: str, ours: dict[str, float], peer: dict[str, float] | None) -> str:
    ratio = f"{ours['rate'] / peer['rate']:.1f}x" if peer and peer["rate"] else "-"
    peer_txt = f"{peer['rate']:9.1f} {peer['p50']:8.1f} {peer['p95']:8.1f}" if peer else f"{'-':>9} {'-':>8} {'-':>8}"
    return f"{label:<10} {ours['rate']:9.1f} {ours['p50']:8.1f} {ours['p95']:8.1f}   {peer_txt}   {ratio:>7}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--clients", type=int, default=2, help="concurrent client processes")
    parser.add_argument("--no-keystone", action="store_true", help="measure Overcast only")
    parser.add_argument("--keystone-venv", type=Path, default=Path(tempfile.gettempdir()) / "overcast-bench" / "keystone-venv")
    args = parser.parse_args()

    section = IdentitySection()  # the defaults an operator gets
    ours_hash = argon2_seconds(section)
    work = Path(tempfile.mkdtemp(prefix="identity-bench-"))
    results: dict[str, Any] = {}
    ks_proc = None
    cloud = None
    try:
        peer_rounds = None
        if not args.no_keystone:
            venv = ensure_keystone(args.keystone_venv)
            peer_rounds, peer_hash = matching_bcrypt_rounds(venv / "bin" / "python", ours_hash)
        print(f"password hashing: overcast argon2id t={section.password_hash_time_cost} m={section.password_hash_memory_kib}KiB "
              f"{ours_hash * 1000:.1f} ms/hash" + (f"; keystone bcrypt rounds={peer_rounds} {peer_hash * 1000:.1f} ms/hash" if peer_rounds else ""))
        cloud = start_running_cloud(work / "overcast", {"identity": {"password_hash_time_cost": section.password_hash_time_cost,
                                                                     "password_hash_memory_kib": section.password_hash_memory_kib}})
        results["overcast"] = measure("overcast", cloud.auth_url, "admin", cloud.admin_password, args.seconds, args.clients)
        stop_running_cloud(cloud)
        cloud = None
        if not args.no_keystone:
            ks_proc, ks_url = start_keystone(args.keystone_venv, work / "keystone", peer_rounds or 12)
            results["keystone"] = measure("keystone", ks_url, "admin", "secret", args.seconds, args.clients)
    finally:
        if cloud is not None:
            stop_running_cloud(cloud)
        if ks_proc is not None:
            os.killpg(ks_proc.pid, signal.SIGTERM)
            ks_proc.wait(20)
        shutil.rmtree(work, ignore_errors=True)

    ours, peer = results["overcast"], results.get("keystone")
    print()
    print(f"{os.cpu_count()} cores, {args.clients} clients, {args.seconds:.0f}s per phase, loopback, SQLite")
    print(f"{'':<10} {'overcast':>27}   {'keystone':>27}")
    print(f"{'operation':<10} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8}   {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8}   {'ratio':>7}")
    for op in ("issue", "validate", "floor"):
        print(row(op, ours[op], peer[op] if peer else None))
    print("floor = GET /v3 (version document, no token): what the HTTP stack alone allows here")
    errors = {name: {op: r[op]["errors"] for op in r} for name, r in results.items()}
    print(f"errors: {errors}")
    v = ours["validate"]
    verdict = "met" if v["rate"] >= 2000 and v["p95"] <= 5 else "NOT met"
    print(f"target (validate >= 2000/s, p95 <= 5 ms): {verdict} ({v['rate']:.0f}/s, p95 {v['p95']:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
