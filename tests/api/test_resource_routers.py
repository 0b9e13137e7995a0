"""A module's router inside a service (:class:`overcast.api.routing.ResourceRouter`) skips a
request none of its routes can match. That is only right while its filter never refuses a
path one of its routes matches: checked here for every route of every service, with the
path filled in as a client would send it."""

from __future__ import annotations

import importlib
import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match

from overcast.api.app import SERVICE_APIS
from overcast.api.routing import ResourceRouter, ServiceRouter


def _resource_routers() -> list[tuple[str, ResourceRouter]]:
    found: dict[int, tuple[str, ResourceRouter]] = {}
    for name in SERVICE_APIS:
        module = importlib.import_module(name)
        if not isinstance(module.router, ServiceRouter):
            continue
        for sub in _modules_under(name):
            router = getattr(sub, "router", None)
            if isinstance(router, ResourceRouter) and router.mounts:
                found[id(router)] = (sub.__name__, router)
    return list(found.values())


def _modules_under(package: str) -> list:
    import pkgutil

    pkg = importlib.import_module(package)
    paths = getattr(pkg, "__path__", None)
    if paths is None:
        return []
    return [importlib.import_module(f"{package}.{m.name}") for m in pkgutil.iter_modules(paths)]


def _filled(template: str) -> str:
    """``template`` as a request path: each parameter a plausible value."""
    path = re.sub(r"\{[^}]*:path\}", "a/b.txt", template)
    return re.sub(r"\{[^}]*\}", "x1", path)


ROUTERS = _resource_routers()


def test_the_services_use_resource_routers() -> None:
    names = {name.split(".")[2] for name, _ in ROUTERS}
    assert {"compute", "identity", "volume", "image", "orchestration"} <= names
    assert len(ROUTERS) >= 50


@pytest.mark.parametrize(("name", "router"), ROUTERS, ids=[n for n, _ in ROUTERS])
def test_the_filter_never_refuses_a_path_its_routes_match(name: str, router: ResourceRouter) -> None:
    checked = 0
    for route in router.routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        for mount in router.mounts:
            request_path = _filled(mount + path)
            if isinstance(route, APIRoute):  # the route itself takes the filled path
                assert route.path_regex.match(_filled(path)), (name, path)
            assert router.may_match(request_path), (name, mount, path, request_path)
            checked += 1
    assert checked, name


def _compute_app() -> tuple[FastAPI, object]:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(importlib.import_module("overcast.api.compute").router)
    return app, app.router.routes[-1]


def _match(included: object, method: str, path: str) -> tuple[Match, object]:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    match, child = included.matches(scope)  # type: ignore[attr-defined]
    return match, child


def test_a_resource_router_refuses_another_resources_path() -> None:
    flavors = importlib.import_module("overcast.api.compute.flavors").router
    assert flavors.mounts == ("/compute",)
    assert flavors.may_match("/compute/v2.1/flavors/42/os-extra_specs")
    assert not flavors.may_match("/compute/v2.1/servers/42")
    assert not flavors.may_match("/compute/v2.1/os-hypervisors/detail")


def test_a_mount_with_a_parameter_keeps_its_segment_open() -> None:
    volumes = importlib.import_module("overcast.api.volume.volumes").router
    assert any("{" in m for m in volumes.mounts)
    assert volumes.may_match("/volume/v3/0a1b2c/volumes/detail")
    assert not volumes.may_match("/volume/v3/0a1b2c/os-quota-sets/0a1b2c")


def test_requests_still_reach_their_endpoints() -> None:
    _app, included = _compute_app()
    for method, path in [
        ("GET", "/compute/v2.1/flavors/42"),
        ("GET", "/compute/v2.1/os-hypervisors/detail"),
        ("POST", "/compute/v2.1/servers"),
        ("GET", "/compute/v2.1/servers/detail"),
    ]:
        assert _match(included, method, path)[0] is Match.FULL, (method, path)
    assert _match(included, "DELETE", "/compute/v2.1/os-simple-tenant-usage")[0] is Match.PARTIAL
