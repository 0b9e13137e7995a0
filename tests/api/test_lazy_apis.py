"""The APIs of ``LAZY_APIS`` (:mod:`overcast.api.lazy`): not imported when the app is built
(nor by ``overcast up`` before it forks its workers), imported by the first request under
their path, which is answered as if they had been there from the start."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.routing import Match

from overcast.api.app import LAZY_APIS, SERVICE_APIS
from overcast.api.lazy import LazyRouter, _router_of
from overcast.api.routing import ServiceRouter

PROBE = """
import sys, types
from pathlib import Path
from overcast.config import parse_config
from overcast.testing.fixtures import fake_config_data
from overcast.api.app import LAZY_APIS, create_app
from overcast.server_workers import _preloaded
tmp = Path(sys.argv[1])
from overcast.foreground import Foreground
create_app(types.SimpleNamespace(config=parse_config(fake_config_data(tmp), tmp / "overcast.toml"), foreground=Foreground()))
print(sorted(m for m in LAZY_APIS if m in sys.modules), sorted(m for m in LAZY_APIS if m in _preloaded("api")))
"""


def test_building_the_app_imports_no_lazy_api(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "[] []"


def test_each_lazy_api_is_served_where_its_router_says() -> None:
    assert set(LAZY_APIS) <= set(SERVICE_APIS)
    for name, served_at in LAZY_APIS.items():
        module = __import__(name, fromlist=["router"])
        assert _router_of(module, served_at).served_at == served_at


def _lazy(app: FastAPI) -> list[str]:
    return [r.module_name for r in app.router.routes if isinstance(r, LazyRouter)]


def test_the_first_request_loads_the_api_and_is_answered(cloud) -> None:
    assert _lazy(cloud.app) == list(LAZY_APIS)
    before = [type(r).__name__ for r in cloud.app.router.routes]
    r = cloud.client.get("/orchestration")
    assert r.status_code == 300, r.text
    assert r.json()["versions"][0]["id"] == "v1.0"
    assert _lazy(cloud.app) == ["overcast.api.loadbalancer"]
    after = cloud.app.router.routes
    assert len(after) == len(before)  # in the placeholder's place, before the dashboard's routes
    included = after[before.index("LazyRouter")]
    assert included.original_router is sys.modules["overcast.api.orchestration"].router  # type: ignore[attr-defined]
    h = cloud.admin_headers
    assert cloud.client.get(f"/orchestration/v1/{cloud.admin_project_id}/stacks", headers=h).status_code == 200
    assert cloud.client.delete("/orchestration/", headers=h).status_code == 405


def test_concurrent_first_requests_are_all_answered(cloud) -> None:
    h = cloud.admin_headers
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: cloud.client.get("/load-balancer/v2/lbaas/loadbalancers", headers=h), range(4)))
    assert [c.status_code for c in codes] == [200] * 4, [c.text for c in codes]
    assert _lazy(cloud.app) == ["overcast.api.orchestration"]


def test_an_api_with_start_up_hooks_cannot_be_lazy() -> None:
    module = types.ModuleType("overcast_fake_api")
    module.router = ServiceRouter(prefix="/fake")  # type: ignore[attr-defined]
    module.FAST_PATHS = {}  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="FAST_PATHS"):
        _router_of(module, "/fake")
    del module.FAST_PATHS  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="served at /other"):
        _router_of(module, "/other")
    assert _router_of(module, "/fake") is module.router  # type: ignore[attr-defined]


def test_a_lazy_router_matches_only_under_its_path() -> None:
    lazy = LazyRouter(FastAPI(), "overcast.api.loadbalancer", "/load-balancer")

    def match(path: str) -> bool:
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
        return lazy.matches(scope)[0] is Match.FULL

    assert match("/load-balancer") and match("/load-balancer/v2/lbaas/pools")
    assert not match("/load-balancers") and not match("/compute/v2.1")
