"""Fixtures of the image tests: contexts of two projects and an admin, runtimes over the
fake store and over the real ``fs`` store."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.config import parse_config
from overcast.context import RequestContext
from overcast.plugins import PluginManager
from overcast.testing.fixtures import fake_config_data


def make_ctx(project: str, *roles: str) -> RequestContext:
    return RequestContext(user_id=f"user-{project}", project_id=project, roles=frozenset(roles or ("reader", "member")))


@pytest.fixture
def ctx_a() -> RequestContext:
    return make_ctx("project-a")


@pytest.fixture
def ctx_b() -> RequestContext:
    return make_ctx("project-b")


@pytest.fixture
def admin_ctx() -> RequestContext:
    return make_ctx("project-admin", "reader", "member", "admin")


@pytest.fixture
def images(overcast_runtime: Any) -> Any:
    """The image service over the fake (in-memory) store."""
    return overcast_runtime.image


@pytest.fixture
def fs_runtime(tmp_path: Path, overcast_pm: PluginManager) -> Iterator[Any]:
    """A runtime whose image store is the real ``fs`` driver in ``tmp_path/images``."""
    from overcast_storage_fs import plugin as fs_plugin

    from overcast.runtime import build_runtime

    overcast_pm.register_plugin(fs_plugin, name="storage_fs")
    data = fake_config_data(tmp_path)
    data["image_store"] = {"driver": "fs", "path": str(tmp_path / "images")}
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm)
    try:
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def fs_images(fs_runtime: Any) -> Any:
    return fs_runtime.image


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def chunks_of(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def stored_files(root: Path) -> list[str]:
    """Every file under the fs store's directory, temp files included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def use_fs_store() -> tuple[Any, Any]:
    """Fixture overrides that put the ``cloud`` fixture's runtime on the real ``fs`` image
    store. In a test module: ``overcast_pm, overcast_config = use_fs_store()``."""

    @pytest.fixture(name="overcast_pm")
    def fs_pm(overcast_pm: PluginManager) -> PluginManager:
        from overcast_storage_fs import plugin as fs_plugin

        overcast_pm.register_plugin(fs_plugin, name="storage_fs")
        return overcast_pm

    @pytest.fixture(name="overcast_config")
    def fs_config(tmp_path: Path) -> Any:
        data = fake_config_data(tmp_path)
        data["image_store"] = {"driver": "fs", "path": str(tmp_path / "images")}
        return parse_config(data, tmp_path / "overcast.toml")

    return fs_pm, fs_config


class ApiClient:
    """Requests with one user's token: ``api.a.get(...)``."""

    def __init__(self, client: Any, token: str) -> None:
        self._client = client
        self.token = token

    def __getattr__(self, method: str) -> Any:
        call = getattr(self._client, method)

        def send(url: str, **kwargs: Any) -> Any:
            headers = {"X-Auth-Token": self.token, **kwargs.pop("headers", {})}
            return call(url, headers=headers, **kwargs)

        return send


@pytest.fixture
def api(cloud: Any) -> Any:
    """The whole in-process cloud (``cloud`` fixture) with clients for two member projects
    (``a``, ``b``) and the admin. Use with :func:`use_fs_store` for the real store."""
    from types import SimpleNamespace

    a_project, _, a_token = cloud.new_project_user(role="member")
    b_project, _, b_token = cloud.new_project_user(role="member")
    return SimpleNamespace(
        raw=cloud.client,
        runtime=cloud.runtime,
        a_project=a_project,
        b_project=b_project,
        a=ApiClient(cloud.client, a_token),
        b=ApiClient(cloud.client, b_token),
        admin=ApiClient(cloud.client, cloud.admin_token),
    )


@pytest.fixture
def live_api(api: Any) -> Iterator[str]:
    """The same cloud served by uvicorn on a free port (for real clients); yields the image
    endpoint URL. Tokens: ``api.a.token``, ``api.b.token``, ``api.admin.token``."""
    import socket
    import threading
    import time

    import uvicorn

    from overcast.api.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(api.runtime), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/image"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
