"""Fixtures of the image tests: contexts of two projects and an admin, runtimes over the
fake store and over the real ``fs`` store."""

from __future__ import annotations

import os
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


__all__ = ["make_ctx", "qemu_img", "chunks_of", "stored_files", "os"]


class StubIdentity:
    """Stands in for the identity service until the shared ``cloud`` fixture lands: fixed
    tokens map to contexts, and rules are decided from the one policy table."""

    def __init__(self, contexts: dict[str, RequestContext]) -> None:
        self.contexts = contexts

    def context_from_token(self, token: str, request_id: str = "") -> RequestContext:
        from overcast.errors import Unauthorized

        try:
            return self.contexts[token]
        except KeyError:
            raise Unauthorized("The request you have made requires authentication.") from None

    def enforce(self, rule: str, ctx: RequestContext) -> None:
        from overcast.errors import Forbidden
        from overcast.policy import required_role, role_satisfies

        if not role_satisfies(ctx.roles, required_role(rule)):
            raise Forbidden(f"Policy doesn't allow {rule} to be performed.")


class ApiClient:
    """A TestClient per project: ``api.a.get(...)`` sends project a's token."""

    def __init__(self, client: Any, token: str) -> None:
        self._client = client
        self._token = token

    def __getattr__(self, method: str) -> Any:
        call = getattr(self._client, method)

        def send(url: str, **kwargs: Any) -> Any:
            headers = {"X-Auth-Token": self._token, **kwargs.pop("headers", {})}
            return call(url, headers=headers, **kwargs)

        return send

    def stream(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"X-Auth-Token": self._token, **kwargs.pop("headers", {})}
        return self._client.stream(method, url, headers=headers, **kwargs)


@pytest.fixture
def api(fs_runtime: Any, ctx_a: RequestContext, ctx_b: RequestContext, admin_ctx: RequestContext) -> Iterator[Any]:
    """The real ASGI app over the fs store, with clients for projects a, b and an admin."""
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from overcast.api.app import create_app

    fs_runtime._services["identity"] = StubIdentity({"token-a": ctx_a, "token-b": ctx_b, "token-admin": admin_ctx})
    with TestClient(create_app(fs_runtime)) as client:
        yield SimpleNamespace(
            raw=client, a=ApiClient(client, "token-a"), b=ApiClient(client, "token-b"),
            admin=ApiClient(client, "token-admin"), runtime=fs_runtime,
        )


@pytest.fixture
def live_api(api: Any) -> Iterator[str]:
    """The same app served by uvicorn on a free port (for real clients); yields the image
    endpoint URL. Tokens: ``token-a``, ``token-b``, ``token-admin``."""
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
