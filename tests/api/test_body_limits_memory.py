"""The memory bound of issue 22: 8 concurrent 1 GiB bodies (generated, never held in memory)
of several content types to several routes, with and without a token, against a real
``overcast up``: its RSS grows by less than 100 MiB and every answer is 413 or 401."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

GiB = 1024**3
MiB = 1024**2
BLOCK = b"\0" * (256 * 1024)

ROUTES = [
    ("POST", "/networking/v2.0/networks"),
    ("POST", "/compute/v2.1/servers"),
    ("POST", "/volume/v3/{project}/volumes"),
    ("POST", "/identity/v3/auth/tokens"),
    ("POST", "/image/v2/images"),
    ("PUT", "/compute/v2.1/flavors/x/os-extra_specs/k"),
    ("POST", "/object/v1/AUTH_{project}/c/o"),
    ("POST", "/identity/v3/projects"),
]
CONTENT_TYPES = ["text/plain", "application/json", "application/octet-stream", "multipart/form-data; boundary=x"]


def gib() -> Iterator[bytes]:
    for _ in range(GiB // len(BLOCK)):
        yield BLOCK


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_eight_concurrent_gib_bodies_stay_within_100_mib(running_cloud) -> None:
    token, project = running_cloud.admin_token()
    pid = running_cloud.process.pid
    base = rss(pid)
    peak = base
    answers: list[tuple[str, str, int | str]] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss(pid))
            time.sleep(0.05)

    def one(i: int, method: str, path: str, content_type: str, authenticated: bool, declared: bool) -> None:
        headers = {"Content-Type": content_type}
        if authenticated:
            headers["X-Auth-Token"] = token
        if declared:
            headers["Content-Length"] = str(GiB)
        url = running_cloud.url + path.format(project=project)
        try:
            with httpx.Client(timeout=120) as client:
                r = client.request(method, url, content=gib(), headers=headers)
            answers.append((method, path, r.status_code))
        except httpx.HTTPError as exc:
            answers.append((method, path, f"{type(exc).__name__}: {exc}"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    combos = list(itertools.product([True, False], [True, False]))  # (authenticated, declared)
    threads = []
    for i, (method, path) in enumerate(ROUTES):
        authenticated, declared = combos[i % len(combos)]
        threads.append(
            threading.Thread(
                target=one, args=(i, method, path, CONTENT_TYPES[i % len(CONTENT_TYPES)], authenticated, declared)
            )
        )
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    stop.set()
    sampler.join()
    grown = (peak - base) / MiB
    print(
        f"\n8 x 1 GiB bodies in {time.monotonic() - started:.1f}s: RSS {base / MiB:.0f} MiB -> peak {peak / MiB:.0f} MiB "
        f"(+{grown:.1f} MiB); answers {sorted(str(a[2]) for a in answers)}"
    )
    assert len(answers) == len(ROUTES)
    assert all(status in (413, 401) for _, _, status in answers), answers
    assert grown < 100
