"""Server create -> ACTIVE over HTTP against a running ``overcast up`` (fake hypervisor).

The client path is real: a Keystone v3 password token, then ``POST /compute/v2.1/servers``
with raw HTTP (httpx) exactly as openstacksdk sends it. The cloud is ``overcast up`` in a
subprocess (SQLite WAL, in-process bus, 4 fake hosts, unlimited quotas so the bench
measures the path and not the quota check failing).

Two latencies are reported for each create:

* **server-side** create -> ACTIVE: ``instances.created_at`` -> ``instances.launched_at``
  read from the database after the run. This is what the target (p50 <= 50 ms) is about;
  it does not depend on how often a client polls.
* **client** POST -> 202: the request's own round trip (validation, quota, the BUILD row).

Phases: ``--sequential`` creates one at a time (each waits for ACTIVE before the next,
polling ``GET /servers/{id}`` every 20 ms), then ``--concurrent`` creates fired at once from
as many connections, twice: by httpx's async client, each request on a new connection, and
by a lean client (HTTP/1.1 written and read on asyncio streams, 0.1 ms of CPU per request),
each request on a connection it opened before the clock started, as a client's session has.
httpx costs 3-4 ms of CPU per request here, 300-400 ms for the burst, taken from the same two
cores the cloud runs on; the lean client measures the cloud, not the client. Throughput is
servers / (last ACTIVE - first created). Before the clock, every API process has served a
few creates (4 per process on their own connections): a process's first create pays for
imports and statement compilation once.
The peer in the same run: ``GET /compute/v2.1/flavors/{id}`` (an authenticated read of one
row through the same stack), so a loaded machine's numbers can be read relative to it.

Every phase runs twice in the same run, against a cloud with ``[api] workers = 1`` (one
process) and one with ``--workers`` (default: one per CPU, at most 4, as ``overcast init``
writes), side by side. Server CPU is that of ``overcast up`` and all its worker processes.

    .venv/bin/python bench/compute_create.py [--sequential 30] [--concurrent 100] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procmem import tree_cpu_seconds  # noqa: E402
from overcast.testing.cloud import start_running_cloud, stop_running_cloud  # noqa: E402

COMPUTE = "/compute/v2.1"


def setup(client: httpx.Client) -> tuple[str, str]:
    r = client.post(f"{COMPUTE}/flavors", json={"flavor": {"name": "bench.tiny", "vcpus": 1, "ram": 64, "disk": 1}})
    r.raise_for_status()
    flavor = r.json()["flavor"]["id"]
    r = client.post("/image/v2/images", json={"name": "bench", "disk_format": "raw", "container_format": "bare"})
    r.raise_for_status()
    image = r.json()["id"]
    r = client.put(
        f"/image/v2/images/{image}/file", content=b"\0" * 4096, headers={"Content-Type": "application/octet-stream"}
    )
    r.raise_for_status()
    return flavor, image


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {statistics.median(values) * 1000:7.1f} ms  p95 {pct(values, 0.95) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"


def server_side(db_path: Path, uuids: list[str]) -> dict[str, tuple[datetime, datetime | None, str]]:
    """created_at, launched_at and vm_state of each server, read from the database."""
    out = {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        for uuid, created, launched, state in conn.execute(
            f"SELECT uuid, created_at, launched_at, vm_state FROM compute_instances WHERE uuid IN ({','.join('?' * len(uuids))})",
            uuids,
        ):
            out[uuid] = (datetime.fromisoformat(created), datetime.fromisoformat(launched) if launched else None, state)
    finally:
        conn.close()
    return out


def sequential(client: httpx.Client, body: dict, n: int) -> tuple[list[str], list[float], list[float], int]:
    uuids, post_lat, observed, errors = [], [], [], 0
    for i in range(n):
        t0 = time.perf_counter()
        r = client.post(f"{COMPUTE}/servers", json={"server": {**body, "name": f"seq{i}"}})
        post_lat.append(time.perf_counter() - t0)
        if r.status_code != 202:
            errors += 1
            continue
        uuid = r.json()["server"]["id"]
        uuids.append(uuid)
        while True:
            status = client.get(f"{COMPUTE}/servers/{uuid}").json()["server"]["status"]
            if status in ("ACTIVE", "ERROR"):
                break
            time.sleep(0.02)  # the polls share the server's GIL: not too often
        observed.append(time.perf_counter() - t0)
        errors += status == "ERROR"
    return uuids, post_lat, observed, errors


async def concurrent(url: str, headers: dict, body: dict, n: int) -> tuple[list[str], list[float], int, float, float]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:
        gate = asyncio.Event()

        async def one(i: int) -> tuple[str | None, float]:
            await gate.wait()
            t0 = time.perf_counter()
            r = await client.post(f"{COMPUTE}/servers", json={"server": {**body, "name": f"c{i}"}})
            return (r.json()["server"]["id"] if r.status_code == 202 else None), time.perf_counter() - t0

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        await asyncio.sleep(0.05)
        start = time.perf_counter()
        gate.set()
        results = await asyncio.gather(*tasks)
        uuids = [u for u, _ in results if u]
        pending = set(uuids)
        while pending:  # wait until none is building (one list call per round, not n)
            r = await client.get(f"{COMPUTE}/servers/detail", params={"name": "^c"})
            pending &= {s["id"] for s in r.json()["servers"] if s["status"] not in ("ACTIVE", "ERROR")}
            if time.perf_counter() - start > 120:
                break
            await asyncio.sleep(0.2)
        wall = time.perf_counter() - start
        return uuids, [t for _, t in results], n - len(uuids), start, wall


def _request(path: str, host: str, headers: dict, body: dict) -> bytes:
    """One ``POST`` as bytes on the wire (HTTP/1.1, keep-alive)."""
    payload = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n{head}\r\n"
    ).encode() + payload


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one HTTP/1.1 response with a ``Content-Length``."""
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def lean_concurrent(url: str, headers: dict, body: dict, n: int) -> tuple[list[str], list[float], int]:
    """``n`` creates at once, each on its own connection opened beforehand."""
    parsed = urlsplit(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    requests = [
        _request(f"{COMPUTE}/servers", f"{host}:{port}", headers, {"server": {"name": f"l{i}", **body}})
        for i in range(n)
    ]
    connections = [await asyncio.open_connection(host, port) for _ in range(n)]
    gate = asyncio.Event()

    async def one(i: int) -> tuple[str | None, float]:
        reader, writer = connections[i]
        await gate.wait()
        t0 = time.perf_counter()
        writer.write(requests[i])
        status, payload = await _response(reader)
        elapsed = time.perf_counter() - t0
        return (json.loads(payload)["server"]["id"] if status == 202 else None), elapsed

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*tasks)
    for _, writer in connections:
        writer.close()
    uuids = [u for u, _ in results if u]
    return uuids, [t for _, t in results], n - len(uuids)


async def wait_built(url: str, headers: dict, prefix: str, uuids: list[str]) -> None:
    """Until none of ``uuids`` is building (one list call per round, not one per server)."""
    pending = set(uuids)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            r = await client.get(f"{COMPUTE}/servers/detail", params={"name": f"^{prefix}"})
            pending &= {s["id"] for s in r.json()["servers"] if s["status"] not in ("ACTIVE", "ERROR")}
            await asyncio.sleep(0.2)


def burst_rows(
    label: str, db: Path, uuids: list[str], post: list[float], refused: int, cpu: float
) -> list[tuple[str, str]]:
    """The table rows of one concurrent burst, from the client's latencies and the database."""
    con = server_side(db, uuids)
    lat = [(la - cr).total_seconds() for cr, la, _ in con.values() if la]
    errors = refused + sum(1 for _, la, state in con.values() if state != "active")
    launched = [la for _, la, _ in con.values() if la]
    span = (max(launched) - min(cr for cr, _, _ in con.values())).total_seconds() if launched else 0
    return [
        (f"{label}: server-side create -> ACTIVE (DB)", ms(lat)),
        (f"{label}: client POST -> 202", ms(post)),
        (
            f"{label}: throughput (first created -> last ACTIVE, DB)",
            f"{len(lat) / span:,.1f} servers/s over {span:.2f} s" if span else "n/a",
        ),
        (f"{label}: errors (non-202 or not ACTIVE)", str(errors)),
        (f"{label}: server CPU per create", f"{cpu / len(post) * 1000:.1f} ms" if post else "n/a"),
    ]


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def floor(client: httpx.Client, flavor: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.get(f"{COMPUTE}/flavors/{flavor}").raise_for_status()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--concurrent", type=int, default=100)
    parser.add_argument(
        "--workers", type=int, default=min(os.cpu_count() or 1, 4), help="[api] workers of the second run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dirs (their overcast.db) for inspection")
    args = parser.parse_args()

    load_before = os.getloadavg()
    columns = [(f"workers={n}", run(args, n)) for n in dict.fromkeys((1, args.workers))]
    names = [name for name, _ in columns[0][1]]
    width = max(len(n) for n in names)
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}  ({os.cpu_count()} CPUs)")
    cells = [[value for _, value in rows] for _, rows in columns]
    col = [max(len(title), *(len(c) for c in values)) for (title, _), values in zip(columns, cells)]
    print(" | ".join(["measure".ljust(width), *(t.ljust(w) for (t, _), w in zip(columns, col))]))
    print("-+-".join(["-" * width, *("-" * w for w in col)]))
    for i, name in enumerate(names):
        print(" | ".join([name.ljust(width), *(values[i].ljust(w) for values, w in zip(cells, col))]))


def run(args: argparse.Namespace, workers: int) -> list[tuple[str, str]]:
    """Every phase against a fresh cloud with ``[api] workers = workers``; the table's rows."""
    data_dir = Path(tempfile.mkdtemp(prefix="oc-bench-create-"))
    extra = {
        "api": {"workers": workers},
        "hosts": {f"fake{i}": {"driver": "fake"} for i in range(1, 5)},
        "compute": {"quota_instances": -1, "quota_cores": -1, "quota_ram": -1},
        "bus": {"heartbeat_interval": 3600},
    }
    cloud = start_running_cloud(data_dir, extra)
    rows: list[tuple[str, str]] = []
    try:
        if workers > 1:  # every worker accepting before the clock starts
            deadline = time.monotonic() + 60
            while len([c for z in _children(cloud.process.pid) for c in _children(z)]) < workers - 1:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the API workers did not start:\n{cloud.log_tail()}")
                time.sleep(0.2)
        token, _project = cloud.admin_token()
        headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}
        with httpx.Client(base_url=cloud.url, headers=headers, timeout=60) as client:
            flavor, image = setup(client)
            body = {"flavorRef": flavor, "imageRef": image, "networks": "none"}
            pid = cloud.process.pid
            floor(client, flavor, 20 * workers)  # warm up (each process)
            c0 = tree_cpu_seconds(pid)
            peer = floor(client, flavor, 100)
            peer_cpu = (tree_cpu_seconds(pid) - c0) / 100
            # first-use costs (imports, statement compilation) paid in every API process: 4 creates
            # per process, each on its own connection (the kernel spreads them over the processes)
            warm, _, _ = asyncio.run(lean_concurrent(cloud.url, headers, {**body, "name": "warm"}, 4 * workers))
            asyncio.run(wait_built(cloud.url, headers, "warm", warm))
            time.sleep(0.5)
            c0 = tree_cpu_seconds(pid)
            seq_uuids, seq_post, seq_observed, seq_errors = sequential(client, body, args.sequential)
            seq_cpu = tree_cpu_seconds(pid) - c0
        db = data_dir / "overcast.db"
        c0 = tree_cpu_seconds(pid)
        c_uuids, c_post, c_errors, _start, wall = asyncio.run(concurrent(cloud.url, headers, body, args.concurrent))
        con_cpu = tree_cpu_seconds(pid) - c0
        httpx_rows = burst_rows(f"concurrent x{args.concurrent}, httpx", db, c_uuids, c_post, c_errors, con_cpu)
        time.sleep(1.0)  # the burst's builds and their commits are over
        c0 = tree_cpu_seconds(pid)
        l_uuids, l_post, l_errors = asyncio.run(lean_concurrent(cloud.url, headers, body, args.concurrent))
        asyncio.run(wait_built(cloud.url, headers, "l", l_uuids))
        lean_cpu = tree_cpu_seconds(pid) - c0
        lean_rows = burst_rows(f"concurrent x{args.concurrent}, lean client", db, l_uuids, l_post, l_errors, lean_cpu)
        seq = server_side(db, seq_uuids)
        seq_lat = [(la - cr).total_seconds() for cr, la, _ in seq.values() if la]

        rows += [
            ("peer: GET flavor (authenticated one-row read)", ms(peer)),
            ("peer: server CPU per GET", f"{peer_cpu * 1000:.1f} ms"),
            (f"sequential x{args.sequential}: server-side create -> ACTIVE (DB)", ms(seq_lat)),
            (f"sequential x{args.sequential}: client POST -> 202", ms(seq_post)),
            (f"sequential x{args.sequential}: client POST -> ACTIVE seen (20 ms polls)", ms(seq_observed)),
            (f"sequential x{args.sequential}: errors", str(seq_errors)),
            (
                f"sequential x{args.sequential}: server CPU per create incl. its polls",
                f"{seq_cpu / args.sequential * 1000:.1f} ms",
            ),
            *httpx_rows,
            (f"concurrent x{args.concurrent}, httpx: client wall (first POST -> all ACTIVE seen)", f"{wall:.2f} s"),
            *lean_rows,
        ]
        rows.append(
            (
                "ratio: sequential create->ACTIVE p50 / peer p50",
                f"{statistics.median(seq_lat) / statistics.median(peer):.1f}x" if seq_lat and peer else "n/a",
            )
        )
    finally:
        stop_running_cloud(cloud)
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"data dir kept: {data_dir}")
    return rows


if __name__ == "__main__":
    main()
