"""This process's Prometheus metrics (``prometheus_client``), served at ``GET /metrics``.

Process-wide, as Prometheus expects of an exporter: HTTP requests by service, method, route
name and status, with their latency; background task durations by outcome; driver calls
by kind, driver and operation, with their errors. Figures read from the database (hosts up
or down) are taken at scrape time by :func:`render` from the runtime that serves the scrape.

Label values are bounded: a route is its name (``show_server``, ``create_network``: FastAPI's
route name, the handler's unless the route names itself; a fast path is its path or prefix),
never the raw path; a request no route matched is ``unmatched``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry()

#: seconds; API calls are milliseconds, image and object transfers can take minutes
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

HTTP_REQUESTS = Counter(
    "overcast_http_requests",
    "HTTP requests answered, by service, method, route name and status code.",
    ["service", "method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "overcast_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by service, method and route name.",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
TASK_DURATION = Histogram(
    "overcast_task_duration_seconds",
    "Background task durations (server builds, deletes, migrations...), by service, task and outcome.",
    ["service", "task", "outcome"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
    registry=REGISTRY,
)
DRIVER_CALLS = Counter(
    "overcast_driver_calls",
    "Driver operations called, by driver kind, driver and operation.",
    ["kind", "driver", "operation"],
    registry=REGISTRY,
)
DRIVER_ERRORS = Counter(
    "overcast_driver_errors",
    "Driver operations that raised, by driver kind, driver, operation and error class.",
    ["kind", "driver", "operation", "error"],
    registry=REGISTRY,
)


def observe_request(path: str, method: str, route: str | None, status: int, seconds: float) -> None:
    """Count one answered request (called by the outermost ASGI layer)."""
    service = path.split("/", 2)[1] if path.startswith("/") and len(path) > 1 else "root"
    if route is None:
        route = "unmatched"
        service = service if service in _KNOWN_PREFIXES else "other"
    HTTP_REQUESTS.labels(service, method, route, str(status)).inc()
    HTTP_DURATION.labels(service, method, route).observe(seconds)


#: first path segments that are services; any other unmatched path is labelled ``other``
#: (so a scan of random paths cannot grow the label set)
_KNOWN_PREFIXES = frozenset(
    {"identity", "compute", "image", "volume", "networking", "object", "load-balancer", "orchestration", "metrics"}
)


@contextmanager
def timed_task(service: str, task: str) -> Iterator[None]:
    """Record the duration of a background task, with outcome ``ok`` or ``error``."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        TASK_DURATION.labels(service, task, outcome).observe(time.perf_counter() - started)


def _host_states(runtime: Any) -> dict[str, int]:
    """How many compute hosts are in each Nova ``host_status`` (UP, DOWN, MAINTENANCE, UNKNOWN)."""
    from sqlalchemy import select

    from overcast.db.models.hosts import HostRecord

    names = set(runtime.db.read(lambda s: list(s.scalars(select(HostRecord.name)))))
    counts = {"UP": 0, "DOWN": 0, "MAINTENANCE": 0, "UNKNOWN": 0}
    for status in runtime.compute.hosts.statuses(names).values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def render(runtime: Any | None = None) -> bytes:
    """The exposition text: the process-wide metrics, then what ``runtime`` knows now."""
    text = generate_latest(REGISTRY)
    if runtime is None or runtime.role not in ("all", "controller"):
        return text
    scrape = CollectorRegistry()
    hosts = Gauge("overcast_hosts", "Compute hosts by Nova host_status.", ["status"], registry=scrape)
    for status, count in _host_states(runtime).items():
        hosts.labels(status).set(count)
    return text + generate_latest(scrape)
