"""``GET /metrics``: Prometheus's text format, for the addresses in ``[api] metrics_allowed``
(loopback by default: a scraper on the host, or one the operator names). No token: Prometheus
scrapes without Keystone, so the network decides, as for Swift's or HAProxy's stats endpoints.
Anyone else gets a 403 and learns nothing."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from overcast import metrics
from overcast.api.deps import runtime_of

router = APIRouter()


def allowed(client: str | None, networks: list[str]) -> bool:
    """Whether ``client`` (the peer's address) is in one of ``networks`` (CIDRs)."""
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    runtime = runtime_of(request)
    client = request.client.host if request.client else None
    if not allowed(client, runtime.config.api.metrics_allowed):
        return Response("Forbidden\n", status_code=403, media_type="text/plain")
    body = await run_in_threadpool(metrics.render, runtime)  # reads the database
    return Response(body, media_type=metrics.CONTENT_TYPE)
