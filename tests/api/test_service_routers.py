"""Each service's router is skipped for a request under another service's path
(:class:`overcast.api.routing.ServiceRouter`): that is only right while every route it has,
through its included routers and mounts, sits under its ``served_at``; and the requests it
serves are still routed to the same endpoints."""

from __future__ import annotations

import importlib

from fastapi import FastAPI
from fastapi.routing import _IncludedRouter
from starlette.routing import Match

from overcast.api.app import SERVICE_APIS
from overcast.api.routing import ServiceRouter, route_path


def _paths(app: FastAPI) -> list[str]:
    """Every route path of ``app`` (included routers flattened; FastAPI's own view of them)."""
    out: list[str] = []

    def walk(candidates) -> None:
        for c in candidates:
            if isinstance(c, _IncludedRouter):
                walk(c.effective_candidates())
                out.extend(r.path for r in c.effective_low_priority_routes() if r.path)
            elif c.path:
                out.append(c.path)

    walk(app.router.routes)
    return out


def test_every_route_of_a_service_router_is_under_its_path() -> None:
    routers = 0
    for name in SERVICE_APIS:
        router = importlib.import_module(name).router
        if not isinstance(router, ServiceRouter):
            continue
        routers += 1
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.include_router(router)
        paths = _paths(app)
        assert paths, name
        outside = [p for p in paths if not router.serves(p.split("{", 1)[0].rstrip("/") or "/")]
        assert not outside, f"{name}: routes outside {router.served_at}: {outside}"
    assert routers >= 7  # identity, compute, image, volume, networking, orchestration, load-balancer


def test_a_service_router_matches_only_under_its_path() -> None:
    router = importlib.import_module("overcast.api.compute").router
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    included = app.router.routes[-1]

    def match(method: str, path: str) -> Match:
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
        return included.matches(scope)[0]

    assert match("GET", "/compute/v2.1/flavors") is Match.FULL
    assert match("PATCH", "/compute/v2.1/flavors") is Match.PARTIAL  # 405, not 404
    assert match("GET", "/volume/v3/p/volumes") is Match.NONE
    assert match("GET", "/computer/v2.1/flavors") is Match.NONE
    assert route_path({"path": "/base/compute/v2.1", "root_path": "/base"}) == "/compute/v2.1"


def test_requests_still_reach_each_service(cloud) -> None:
    h = cloud.admin_headers
    assert cloud.client.get("/compute/v2.1/flavors", headers=h).status_code == 200
    assert cloud.client.get("/image/v2/images", headers=h).status_code == 200
    assert cloud.client.get(f"/volume/v3/{cloud.admin_project_id}/volumes", headers=h).status_code == 200
    assert cloud.client.get("/networking/v2.0/networks", headers=h).status_code == 200
    assert cloud.client.get("/identity/v3/projects", headers=h).status_code == 200
    missing = cloud.client.get("/compute/v2.1/no-such-thing", headers=h)
    assert missing.status_code == 404
