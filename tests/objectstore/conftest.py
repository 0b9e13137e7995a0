"""Fixtures for the objectstore tests: a runtime whose object store is the real ``fs``
driver, an ASGI client, and tokens for two projects.

Until the identity service lands, tokens come from :class:`StubIdentity`, a test double
with the identity service's two entry points (``context_from_token``, ``enforce``) that
applies the real policy table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from overcast.config import parse_config
from overcast.context import RequestContext
from overcast.errors import Forbidden, Unauthorized
from overcast.plugins import PluginManager
from overcast.policy import required_role, role_satisfies
from overcast.testing.fakes import FakeDriversPlugin
from overcast.testing.fixtures import fake_config_data


class StubIdentity:
    def __init__(self) -> None:
        self.tokens: dict[str, RequestContext] = {}

    def issue(self, project_id: str, user_id: str, roles: tuple[str, ...] = ("member", "reader")) -> str:
        token = f"tok-{user_id}-{project_id}"
        self.tokens[token] = RequestContext(user_id=user_id, project_id=project_id, roles=frozenset(roles),
                                            user_name=user_id, project_name=f"name-{project_id}")
        return token

    def context_from_token(self, token: str, request_id: str = "") -> RequestContext:
        try:
            return self.tokens[token]
        except KeyError:
            raise Unauthorized("The request you have made requires authentication.") from None

    def enforce(self, rule: str, ctx: RequestContext) -> None:
        if not role_satisfies(ctx.roles, required_role(rule)):
            raise Forbidden(f"Policy doesn't allow {rule} to be performed.")


def fs_plugin_manager() -> PluginManager:
    from overcast_storage_fs import plugin

    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    pm.register_plugin(plugin, name="storage_fs")
    pm.check_pending()
    return pm


@pytest.fixture
def os_runtime(tmp_path: Path) -> Iterator[Any]:
    from overcast.runtime import build_runtime

    data = fake_config_data(tmp_path)
    data["object_store"] = {"driver": "fs", "path": str(tmp_path / "objects")}
    data["objectstore"] = {"container_cache_ttl": 0, "min_segment_size": 1}
    config = parse_config(data, tmp_path / "overcast.toml")
    runtime = build_runtime(config, pm=fs_plugin_manager())
    runtime._services["identity"] = StubIdentity()
    try:
        yield runtime
    finally:
        runtime.close()


class Swift:
    """A tiny Swift client over the ASGI app, bound to one token and account."""

    def __init__(self, client: TestClient, token: str | None, project_id: str) -> None:
        self.client = client
        self.token = token
        self.base = f"/object/v1/AUTH_{project_id}"

    def __call__(self, method: str, path: str = "", headers: dict | None = None, **kw: Any) -> Any:
        h = {"X-Auth-Token": self.token} if self.token else {}
        h.update(headers or {})
        return self.client.request(method, self.base + path, headers=h, **kw)


@pytest.fixture
def os_client(os_runtime: Any) -> Iterator[TestClient]:
    from overcast.api.app import create_app

    with TestClient(create_app(os_runtime)) as client:
        yield client


@pytest.fixture
def alice(os_runtime: Any, os_client: TestClient) -> Swift:
    return Swift(os_client, os_runtime.identity.issue("p1", "alice"), "p1")


@pytest.fixture
def bob(os_runtime: Any, os_client: TestClient) -> Swift:
    return Swift(os_client, os_runtime.identity.issue("p2", "bob"), "p2")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A real Overcast API server (uvicorn) in a subprocess, over an fs object store."""

    def __init__(self, root: Path, tokens: dict[str, list]) -> None:
        import json as _json

        self.root = root
        self.port = free_port()
        self.config = root / "overcast.toml"
        self.config.write_text(
            f'data_dir = "{root}"\n[api]\nport = {self.port}\n[objectstore]\nexpirer_interval = 1.0\n'
            f'[object_store]\ndriver = "fs"\npath = "{root / "objects"}"\n'
        )
        self.tokens_file = root / "tokens.json"
        self.tokens_file.write_text(_json.dumps(tokens))
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import subprocess
        import sys
        import time

        import httpx

        serve = Path(__file__).with_name("serve.py")
        self.log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(serve), str(self.config), str(self.tokens_file)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/object/healthcheck", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill9(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def os_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path, {"tok-alice": ["p1", "alice", ["member", "reader"]],
                                      "tok-bob": ["p2", "bob", ["member", "reader"]]})
    server.start()
    try:
        yield server
    finally:
        server.stop()
