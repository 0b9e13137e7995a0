"""Overcast's object store against real OpenStack Swift, side by side on this machine.

    python bench/objectstore_vs_swift.py [--work DIR] [--concurrency 16] [--small 2000] [--large 200]
    python bench/objectstore_vs_swift.py --client wrk [--seconds 10] [--object-workers 4]

Sets up (once, in ``--work``, outside the repository) a Swift all-in-one from PyPI in its
own venv, on a plain directory with tempauth and memcached (``apt-get install memcached``),
starts it and an Overcast API server over the ``fs`` object store on the same file system,
then drives both with the same client (``bench/objectstore_load.py``: keep-alive
``http.client`` connections in several processes) at the same concurrency (or, with ``--client wrk``, the C load generator ``wrk`` for
``--seconds`` per operation, so that the client does not take the CPU the servers need on a
small machine) and prints:

* 4 KiB PUT and GET per second (targets: >= 1,000 PUT/s and >= 2,000 GET/s)
* 1 MiB PUT and GET in MiB/s (targets: >= 300 and >= 450)

with the Overcast/Swift ratio of each, and what the machine allows in the same run
(``bench/machine_ceilings.py``, before and after the servers: fsync'd file creates at the
same concurrency, the floor of a durable PUT; MD5 per core, which every PUT and verified GET
pays). Overcast serves the object API from
``--object-workers`` processes (``[objectstore] workers``; 0: the one API process), as
Swift here runs its proxy, account, container and object servers as four processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine_ceilings import ceilings  # noqa: E402
from bench.objectstore_load import Job, run  # noqa: E402
from bench.objectstore_wrk import wrk  # noqa: E402

SWIFT_PORTS = {"account": 16012, "container": 16011, "object": 16010}
PROXY_PORT = 18090
MEMCACHED_PORT = 21211
PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit tempauth "
    "copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging proxy-server"
)
FILTERS = [
    "catch_errors",
    "gatekeeper",
    "healthcheck",
    "proxy-logging",
    "listing_formats",
    "bulk",
    "tempurl",
    "ratelimit",
    "copy",
    "container-quotas",
    "account-quotas",
    "slo",
    "dlo",
    "symlink",
]


def sh(*args: str, **kw: object) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]


class Swift:
    """A Swift all-in-one (proxy, account, container, object servers) on a directory."""

    def __init__(self, work: Path) -> None:
        self.root = work / "swift"
        self.venv = work / "swift-venv"
        self.procs: list[subprocess.Popen] = []

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def install(self) -> None:
        if not (self.venv / "bin" / "swift-proxy-server").exists():
            print("installing swift from PyPI into", self.venv, flush=True)
            sh(sys.executable, "-m", "venv", str(self.venv))
            sh(self.bin("pip"), "install", "-q", "swift")
        if shutil.which("memcached") is None:
            raise SystemExit("memcached is needed by Swift's tempauth: apt-get install memcached")

    def configure(self) -> None:
        s = self.root
        if s.exists():
            shutil.rmtree(s)
        for d in ("etc", "srv/node/sdb1", "run", "log"):
            (s / d).mkdir(parents=True)
        (s / "etc/swift.conf").write_text(
            "[swift-hash]\nswift_hash_path_prefix = saioprefix\nswift_hash_path_suffix = saiosuffix\n"
            "[storage-policy:0]\nname = Policy-0\ndefault = yes\n"
        )
        for name, port in SWIFT_PORTS.items():
            (s / f"etc/{name}-server.conf").write_text(
                f"[DEFAULT]\nswift_dir = {s}/etc\ndevices = {s}/srv/node\nmount_check = false\nbind_ip = 127.0.0.1\n"
                f"bind_port = {port}\nworkers = 0\nlog_facility = LOG_LOCAL2\nlog_level = WARNING\n"
                f"[pipeline:main]\npipeline = healthcheck recon {name}-server\n[app:{name}-server]\nuse = egg:swift#{name}\n"
                f"[filter:healthcheck]\nuse = egg:swift#healthcheck\n[filter:recon]\nuse = egg:swift#recon\n"
                f"recon_cache_path = {s}/run\n"
            )
            builder = self.bin("swift-ring-builder")
            cwd = str(s / "etc")
            sh(builder, f"{name}.builder", "create", "10", "1", "1", cwd=cwd)
            sh(builder, f"{name}.builder", "add", f"r1z1-127.0.0.1:{port}/sdb1", "1", cwd=cwd)
            sh(builder, f"{name}.builder", "rebalance", cwd=cwd)
        proxy = [
            f"[DEFAULT]\nswift_dir = {s}/etc\nbind_ip = 127.0.0.1\nbind_port = {PROXY_PORT}\nworkers = 0\nlog_level = WARNING\n",
            f"[pipeline:main]\npipeline = {PIPELINE}\n",
            "[app:proxy-server]\nuse = egg:swift#proxy\nallow_account_management = true\naccount_autocreate = true\n",
            "[filter:tempauth]\nuse = egg:swift#tempauth\nuser_admin_admin = admin .admin .reseller_admin\n"
            "user_test_tester = testing .admin\n",
            f"[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{MEMCACHED_PORT}\n",
            "[filter:versioned_writes]\nuse = egg:swift#versioned_writes\nallow_versioned_writes = true\n",
        ]
        proxy += [f"[filter:{f}]\nuse = egg:swift#{f.replace('-', '_')}\n" for f in FILTERS]
        (s / "etc/proxy-server.conf").write_text("".join(proxy))

    def start(self) -> None:
        s = self.root
        log = open(s / "log/all.log", "ab")
        self.procs.append(
            subprocess.Popen(
                ["memcached", "-l", "127.0.0.1", "-p", str(MEMCACHED_PORT), "-U", "0", "-u", "root", "-m", "64"],
                stdout=log,
                stderr=log,
            )
        )
        for name in ("account", "container", "object", "proxy"):
            self.procs.append(
                subprocess.Popen(
                    [self.bin(f"swift-{name}-server"), str(s / f"etc/{name}-server.conf")], stdout=log, stderr=log
                )
            )
        wait_for(f"http://127.0.0.1:{PROXY_PORT}/healthcheck")

    def auth(self) -> tuple[str, str]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{PROXY_PORT}/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}
        )
        with urllib.request.urlopen(req) as resp:
            return resp.headers["X-Storage-Url"], resp.headers["X-Auth-Token"]

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


class Overcast:
    """``overcast up`` (the all-in-one server, fake compute drivers) with the fs object store,
    authenticated through its Keystone like any client."""

    def __init__(self, work: Path, workers: int) -> None:
        self.root = work / "overcast"
        self.cloud = None
        self.workers = workers

    def start(self) -> None:
        """``overcast.testing.cloud.start_running_cloud`` with request logging at WARNING, as
        the Swift servers here (a log line per request is not what we measure)."""
        from overcast.testing.cloud import free_port, start_running_cloud

        if self.root.exists():
            shutil.rmtree(self.root)
        extra: dict[str, dict[str, object]] = {"object_store": {"driver": "fs", "path": str(self.root / "objects")}}
        if self.workers:
            extra["objectstore"] = {"workers": self.workers, "port": free_port()}
        self.cloud = start_running_cloud(self.root, extra, log_level="WARNING")
        wait_for(self.cloud.url + "/object/healthcheck")
        if self.workers:
            wait_for(f"http://127.0.0.1:{extra['objectstore']['port']}/object/healthcheck")

    def auth(self) -> tuple[str, str]:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "admin", "domain": {"id": "default"}, "password": self.cloud.admin_password}
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        }
        req = urllib.request.Request(
            self.cloud.auth_url + "/v3/auth/tokens",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req) as resp:
            token = resp.headers["X-Subject-Token"]
            catalog = json.loads(resp.read())["token"]["catalog"]
        store = next(s for s in catalog if s["type"] == "object-store")
        url = next(e["url"] for e in store["endpoints"] if e["interface"] == "public")
        return url, token

    def stop(self) -> None:
        from overcast.testing.cloud import stop_running_cloud

        if self.cloud is not None:
            stop_running_cloud(self.cloud)


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def create_container(storage_url: str, token: str, name: str) -> None:
    req = urllib.request.Request(f"{storage_url}/{name}", method="PUT", headers={"X-Auth-Token": token})
    urllib.request.urlopen(req).read()


def measure(
    storage_url: str, token: str, size: int, count: int, concurrency: int, processes: int, seconds: float = 0
) -> dict[str, float]:
    """Objects per second of PUT then GET; with ``seconds``, driven by wrk for that long
    (``count`` names, overwritten in turn) instead of the Python client."""
    container = f"bench{size}"
    create_container(storage_url, token, container)
    if seconds:
        url = f"{storage_url}/{container}"
        put, done, put_bad, put_statuses = wrk(url, token, "PUT", size, count, seconds, concurrency)
        # the last requests in flight when wrk stopped may not have completed: skip their names
        get, _, get_bad, get_statuses = wrk(
            url, token, "GET", size, max(1, min(done - concurrency, count)), seconds, concurrency
        )
        for op, bad, statuses in (("PUT", put_bad, put_statuses), ("GET", get_bad, get_statuses)):
            if bad:
                print(
                    f"  {storage_url} {size}-byte {op}: {bad} error answers {statuses} (not counted as done)",
                    flush=True,
                )
        return {"PUT": put, "GET": get}
    names = tuple(f"obj/{i:07d}" for i in range(count))
    threads = max(1, concurrency // processes)
    out = {}
    for op in ("PUT", "GET"):
        seconds, errors = run(Job(storage_url, token, container, op, size, names, threads), processes)
        if errors:
            raise SystemExit(f"{op} {size}: {len(errors)} errors, first: {errors[0]}")
        out[op] = count / seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.environ.get("OVERCAST_BENCH_DIR", "/tmp/overcast-bench"))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2, help="client processes (the load is split)")
    parser.add_argument("--small", type=int, default=3000, help="4 KiB objects per run")
    parser.add_argument("--large", type=int, default=300, help="1 MiB objects per run")
    parser.add_argument("--only", choices=["swift", "overcast"], default=None)
    parser.add_argument("--client", choices=["python", "wrk"], default="python")
    parser.add_argument("--seconds", type=float, default=10, help="per operation, with --client wrk")
    parser.add_argument("--object-workers", type=int, default=4, help="Overcast's [objectstore] workers (0: none)")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    targets = []
    if args.only != "overcast":
        swift = Swift(work)
        swift.install()
        swift.configure()
        targets.append(("swift", swift))
    if args.only != "swift":
        targets.append(("overcast", Overcast(work, args.object_workers)))
    probe = work / "ceilings"
    limits = [ceilings(probe, args.concurrency, 5)]
    for label, server in targets:
        server.start()
        try:
            url, token = server.auth()
            seconds = args.seconds if args.client == "wrk" else 0
            small = measure(url, token, 4096, args.small, args.concurrency, args.processes, seconds)
            large = measure(url, token, 1024 * 1024, args.large, args.concurrency, args.processes, seconds)
            results[label] = {
                "4k_put": small["PUT"],
                "4k_get": small["GET"],
                "1m_put": large["PUT"],
                "1m_get": large["GET"],
            }
            print(f"{label}: done", flush=True)
        finally:
            server.stop()
    limits.append(ceilings(probe, args.concurrency, 5))
    rows = [
        ("4 KiB PUT", "4k_put", "obj/s", 1000),
        ("4 KiB GET", "4k_get", "obj/s", 2000),
        ("1 MiB PUT", "1m_put", "MiB/s", 300),
        ("1 MiB GET", "1m_get", "MiB/s", 450),
    ]
    if args.client == "wrk":
        print(
            f"\nwrk, {args.concurrency} connections, {args.seconds:g} s per operation ({args.small} 4 KiB / {args.large} 1 MiB names)"
            f", overcast object workers: {args.object_workers}"
        )
    else:
        print(
            f"\nconcurrency {args.concurrency} ({args.processes} client processes), {args.small} x 4 KiB, {args.large} x 1 MiB"
        )
    print(
        f"{'workload':<11} {'unit':<6} {'swift':>9} {'overcast':>9} {'ratio':>7} {'target':>7}  fs ceiling (before/after)"
    )
    for title, key, unit, target in rows:
        sw = results.get("swift", {}).get(key)
        oc = results.get("overcast", {}).get(key)
        ratio = f"{oc / sw:6.2f}x" if sw and oc else "-"
        fmt = lambda v: f"{v:9.0f}" if v is not None else f"{'-':>9}"  # noqa: E731
        limit = "/".join(f"{c[key]:.0f}" for c in limits) if key in limits[0] else ""
        print(f"{title:<11} {unit:<6} {fmt(sw)} {fmt(oc)} {ratio:>7} {target:>7}  {limit}")
    print(
        "fs ceiling: files written, fsynced and their directory fsynced, no index and no HTTP, "
        f"{args.concurrency} threads; md5 on one core: " + "/".join(f"{c['md5']:.0f}" for c in limits) + " MiB/s; "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
