"""Fixtures for the objectstore tests: a runtime whose object store is the real ``fs``
driver, with the real identity service bootstrapped, an ASGI client, and users of two
projects (``alice``, ``bob``)."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

from overcast.config import parse_config
from overcast.plugins import PluginManager
from overcast.testing.fakes import FakeDriversPlugin
from overcast.testing.fixtures import fake_config_data


def fs_plugin_manager() -> PluginManager:
    from overcast_storage_fs import plugin

    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    pm.register_plugin(plugin, name="storage_fs")
    pm.check_pending()
    return pm


@pytest.fixture
def os_runtime(tmp_path: Path) -> Iterator[Any]:
    """A migrated runtime whose object store is the real fs driver, with identity
    bootstrapped (use :func:`new_user` for tokens)."""
    from overcast.runtime import build_runtime

    data = fake_config_data(tmp_path)
    data["object_store"] = {"driver": "fs", "path": str(tmp_path / "objects")}
    data["objectstore"] = {"container_cache_ttl": 0, "min_segment_size": 1}
    config = parse_config(data, tmp_path / "overcast.toml")
    runtime = build_runtime(config, pm=fs_plugin_manager())
    runtime.bootstrap = runtime.identity.bootstrap("admin-secret")
    try:
        yield runtime
    finally:
        runtime.close()


def new_user(runtime: Any, role: str = "member", project_id: str | None = None) -> tuple[str, str]:
    """(project_id, token) of a new user holding ``role`` on a new (or the given) project."""
    ident = runtime.identity
    n = secrets.token_hex(4)
    if project_id is None:
        project_id = ident.directory.create_project(f"project-{n}").id
    user = ident.directory.create_user(f"user-{n}", password=f"pw-{n}")
    ident.assignments.grant("user", user.id, project_id, runtime.bootstrap.role_ids[role])
    return project_id, ident.issue_token_for(user.id, project_id).token


class Swift:
    """A tiny Swift client over the ASGI app, bound to one token and account."""

    def __init__(self, client: TestClient, token: str | None, project_id: str) -> None:
        self.client = client
        self.token = token
        self.project = project_id
        self.base = f"/object/v1/AUTH_{project_id}"

    def __call__(self, method: str, path: str = "", headers: dict | None = None, **kw: Any) -> Any:
        h = {"X-Auth-Token": self.token} if self.token else {}
        h.update(headers or {})
        return self.client.request(method, self.base + path, headers=h, **kw)

    def on(self, project_id: str) -> Swift:
        """The same caller, addressing another project's account."""
        return Swift(self.client, self.token, project_id)


@pytest.fixture
def os_client(os_runtime: Any) -> Iterator[TestClient]:
    from overcast.api.app import create_app

    with TestClient(create_app(os_runtime)) as client:
        yield client


@pytest.fixture
def alice(os_runtime: Any, os_client: TestClient) -> Swift:
    project_id, token = new_user(os_runtime)
    return Swift(os_client, token, project_id)


@pytest.fixture
def bob(os_runtime: Any, os_client: TestClient) -> Swift:
    project_id, token = new_user(os_runtime)
    return Swift(os_client, token, project_id)
