"""The load generator of ``objectstore_vs_swift.py``: the same client for every server.

Each of ``processes`` worker processes runs ``threads`` threads, each with its own
keep-alive ``http.client`` connection, splitting a list of object names between them.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit


@dataclass(frozen=True)
class Job:
    storage_url: str  # http://host:port/.../v1/AUTH_x
    token: str
    container: str
    op: str  # PUT | GET
    size: int
    names: tuple[str, ...]
    threads: int


def _connection(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120), parts.path


def _worker(job: Job, names: list[str], payload: bytes, errors: list[str], moved: list[int]) -> None:
    conn, base = _connection(job.storage_url)
    headers = {"X-Auth-Token": job.token}
    total = 0
    for name in names:
        path = f"{base}/{job.container}/{quote(name)}"
        try:
            if job.op == "PUT":
                conn.request("PUT", path, body=payload, headers={**headers, "Content-Length": str(len(payload))})
            else:
                conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{job.op} {name}: {exc}")
            conn.close()
            conn, base = _connection(job.storage_url)
            continue
        if resp.status >= 300:
            errors.append(f"{job.op} {name}: HTTP {resp.status}")
        elif job.op == "GET":
            total += len(body)
    moved.append(total)
    conn.close()


def _process(job: Job, queue: multiprocessing.Queue) -> None:
    payload = (b"0123456789abcdef" * (job.size // 16 + 1))[: job.size]
    errors: list[str] = []
    moved: list[int] = []
    chunks = [list(job.names[i :: job.threads]) for i in range(job.threads)]
    threads = [threading.Thread(target=_worker, args=(job, c, payload, errors, moved)) for c in chunks if c]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((errors, sum(moved)))


def run(job: Job, processes: int) -> tuple[float, list[str]]:
    """Run ``job`` split over ``processes`` processes; returns (seconds, errors)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    shares = [job.names[i::processes] for i in range(processes)]
    procs = [
        ctx.Process(target=_process, args=(Job(**{**job.__dict__, "names": tuple(s)}), queue)) for s in shares if s
    ]
    started = time.perf_counter()
    for p in procs:
        p.start()
    errors: list[str] = []
    for _ in procs:
        errs, _moved = queue.get()
        errors += errs
    for p in procs:
        p.join()
    return time.perf_counter() - started, errors
