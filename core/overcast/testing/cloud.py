"""API-level test fixtures: a whole cloud over the fake drivers, in process or for real.

``cloud`` (in process, fast; use it for nearly every API test)::

    def test_list_servers(cloud):
        project_id, user_id, token = cloud.new_project_user(role="member")
        r = cloud.client.get("/compute/v2.1/servers", headers=cloud.headers(token))
        assert r.status_code == 200

It gives a :class:`TestCloud`:

* ``cloud.runtime``: the migrated runtime over the fake drivers (``overcast_runtime``),
  with every available service started and the fake hosts' agents serving on the bus;
* ``cloud.app``: the FastAPI app; ``cloud.client``: a ``starlette.testclient.TestClient``
  for it (unhandled exceptions are raised in the test, so bugs are not hidden as 500s);
* ``cloud.admin_token`` (``admin`` user, ``admin`` project), ``cloud.admin_project_id``,
  ``cloud.admin_user_id``, ``cloud.admin_password``; ``cloud.admin_headers``;
* ``cloud.headers(token, **extra)``: ``{"X-Auth-Token": token, ...}``;
* ``cloud.new_project_user(role="member")`` -> ``(project_id, user_id, token)``: a new
  project and a new user holding ``role`` on it, and a token scoped to it. Call it twice
  for an isolation test;
* ``cloud.request(method, path, token=None, **kw)``: ``client.request`` with the token.

``running_cloud`` (slow; for tests that drive the real ``openstack`` CLI or openstacksdk
over HTTP, mark them ``clients``) runs ``overcast up`` in a subprocess on a free port in a
temporary data dir and gives a :class:`RunningCloud`: ``url``, ``auth_url``,
``admin_password``, ``data_dir``, ``config_path`` and ``env`` (``OS_CLIENT_CONFIG_FILE`` and
``OS_CLOUD`` for the CLI), plus ``openstack(*args)`` to run the CLI and get its JSON.
To add config tables (e.g. a real driver), parametrize the fixture indirectly or override
the ``running_cloud_config`` fixture in your test module::

    @pytest.fixture
    def running_cloud_config():
        return {"volume_backends": {"fast": {"driver": "lvm", "volume_group": "vg0"}}}

Every such cloud serves its API with as many processes as ``overcast init`` gives a new cloud
(``[api] workers``: one per CPU, at most 4), unless its config sets ``[api] workers`` itself;
``OVERCAST_TEST_API_WORKERS=N`` in the environment makes it N (1: one process).

Override ``running_cloud_tls`` (module scope) to return ``True`` for a cloud that serves HTTPS
with a certificate from its own CA (``overcast.pki``, as ``overcast init --tls`` makes it):
``url`` is then ``https://...``, ``cacert`` the CA file and ``clouds.yaml`` names it.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from overcast.passwords import new_password

_counter = itertools.count(1)


def test_password() -> str:
    """A random admin password that passes any usual password rule (a tested config may ask
    for a digit or a capital: a bare ``token_urlsafe`` lacks a digit one time in fifteen) and
    that a command line does not read as an option."""
    return new_password(12) + "Aa1"


test_password.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class TestCloud:
    runtime: Any
    app: Any
    client: Any
    admin_token: str
    admin_project_id: str
    admin_user_id: str
    admin_password: str
    role_ids: dict[str, str] = field(default_factory=dict)

    __test__ = False  # not a test class, whatever pytest thinks of the name

    @property
    def identity(self) -> Any:
        return self.runtime.identity

    @property
    def admin_headers(self) -> dict[str, str]:
        return self.headers(self.admin_token)

    @staticmethod
    def headers(token: str, **extra: str) -> dict[str, str]:
        return {"X-Auth-Token": token, **extra}

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["X-Auth-Token"] = token
        return self.client.request(method, path, headers=headers, **kwargs)

    def new_project_user(self, role: str = "member", name: str | None = None) -> tuple[str, str, str]:
        """A fresh project, a user with ``role`` on it, and that user's project token."""
        ident = self.identity
        n = name or f"t{next(_counter)}-{secrets.token_hex(3)}"
        project = ident.directory.create_project(f"project-{n}")
        user = ident.directory.create_user(f"user-{n}", password=f"pw-{n}")
        ident.assignments.grant("user", user.id, project.id, self.role_ids[role])
        token = ident.issue_token_for(user.id, project.id).token
        return project.id, user.id, token

    def token_for(self, user_id: str, project_id: str | None) -> str:
        return self.identity.issue_token_for(user_id, project_id).token


@pytest.fixture
def cloud(overcast_runtime: Any) -> Iterator[TestCloud]:
    """A bootstrapped in-process cloud with an HTTP client (see the module docstring)."""
    with warnings.catch_warnings():  # starlette prefers httpx2; httpx works the same here
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from starlette.testclient import TestClient

    from overcast.api.app import create_app
    from overcast.server import start_cloud

    password = test_password()
    boot = overcast_runtime.identity.bootstrap(password)
    start_cloud(overcast_runtime)
    app = create_app(overcast_runtime)
    with TestClient(app, base_url="http://testserver") as client:
        token = overcast_runtime.identity.issue_token_for(boot.user_id, boot.project_id).token
        yield TestCloud(
            runtime=overcast_runtime,
            app=app,
            client=client,
            admin_token=token,
            admin_project_id=boot.project_id,
            admin_user_id=boot.user_id,
            admin_password=password,
            role_ids=dict(boot.role_ids),
        )


# --- a real server -------------------------------------------------------------------------


@dataclass
class RunningCloud:
    url: str  # http://127.0.0.1:PORT
    auth_url: str  # url + /identity
    admin_password: str
    data_dir: Path
    config_path: Path
    env: dict[str, str]  # os.environ plus OS_CLIENT_CONFIG_FILE and OS_CLOUD=overcast
    process: subprocess.Popen
    log_path: Path
    cacert: Path | None = None  # the CA of its HTTPS certificate (None: plain HTTP)

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify`` for this cloud: its CA over HTTPS."""
        return ssl.create_default_context(cafile=str(self.cacert)) if self.cacert is not None else True

    def openstack(self, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
        """Run the ``openstack`` CLI against this cloud. With ``-f json`` among the args the
        parsed JSON is returned, else stdout. A failure raises with the CLI's stderr
        (``check=False`` returns the CompletedProcess instead)."""
        exe = shutil.which("openstack") or str(Path(sys.executable).with_name("openstack"))
        proc = subprocess.run([exe, *args], env=env or self.env, capture_output=True, text=True, timeout=timeout)
        if not check:
            return proc
        if proc.returncode != 0:
            raise AssertionError(
                f"openstack {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}"
            )
        if "json" in args and ("-f" in args or "--format" in args):
            return json.loads(proc.stdout) if proc.stdout.strip() else None
        return proc.stdout

    def admin_token(self) -> tuple[str, str]:
        """A project-scoped admin token from the running server's identity API, and the
        admin project's id (for clients that talk HTTP rather than the CLI)."""
        import httpx

        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "admin", "domain": {"id": "default"}, "password": self.admin_password}
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        }
        r = httpx.post(self.auth_url + "/v3/auth/tokens", json=body, timeout=30, verify=self.verify)
        r.raise_for_status()
        return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def start_running_cloud(
    data_dir: Path,
    extra_config: dict[str, Any] | None = None,
    timeout: float = 90,
    fake_hosts: bool = True,
    role: str = "all",
    api_host: str = "127.0.0.1",
    wrapper: list[str] | None = None,
    tls: bool = False,
    before_start: Callable[[Path, dict[str, str]], None] | None = None,
    log_level: str | None = None,
) -> RunningCloud:
    """Write an all-fake config (plus ``extra_config`` tables), bootstrap it, and start
    ``overcast up`` on a free port. Stop it with :func:`stop_running_cloud`. With
    ``fake_hosts=False`` the only hosts are those of ``extra_config``. With
    ``role="controller"`` (and an amqp:// ``[bus] url`` in ``extra_config``) no host runs
    until :func:`overcast.testing.agents.start_agent_process` starts its agent. ``api_host``
    is the address it serves on; ``wrapper`` prefixes its command line (e.g. ``["nsenter",
    "--net=/run/netns/ctl"]`` to run it in a network namespace that has ``api_host``). ``tls``
    serves HTTPS with a certificate for ``api_host`` from a CA made in ``data_dir/tls``.
    ``before_start(config_path, env)`` runs once the cloud is bootstrapped, before the server
    starts (e.g. to start the agents a controller's first heartbeat asks). ``log_level``
    is ``overcast up --log-level`` (benchmarks pass WARNING: no log line per request)."""

    from overcast.cli.server import api_workers, clouds_yaml, to_toml
    from overcast.config import load_config
    from overcast.pki import init_tls
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.testing.fakes import FakeDriversPlugin
    from overcast.testing.fixtures import fake_config_data

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    data = fake_config_data(data_dir)
    data.pop("data_dir")
    if not fake_hosts:
        data.pop("hosts")
    data["api"] = {"host": api_host, "port": port}
    data["api"]["workers"] = int(os.environ.get("OVERCAST_TEST_API_WORKERS") or api_workers())
    cacert = None
    if tls:
        files = init_tls(data_dir, ["localhost", "127.0.0.1", api_host])
        data["api"].update(tls_cert=str(files.cert), tls_key=str(files.key))
        cacert = files.ca_cert
    data = _merge(data, extra_config or {})
    config_path = data_dir / "overcast.toml"
    config_path.write_text(to_toml(data))
    config = load_config(config_path)
    password = test_password()
    runtime = build_runtime(config, pm=load_plugin_manager(extra_plugins=[("fake", FakeDriversPlugin())], strict=False))
    try:
        runtime.identity.bootstrap(password)
    finally:
        runtime.close()
    url = f"{config.api.scheme}://{api_host}:{port}"
    clouds = data_dir / "clouds.yaml"
    clouds.write_text(clouds_yaml(url + "/identity", password, config.api.region, cacert))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": "overcast", "OVERCAST_CONFIG": str(config_path)})
    if before_start is not None:
        before_start(config_path, env)
    log_path = data_dir / "overcast.log"
    process = _launch_server(config_path, env, log_path, role, wrapper, log_level=log_level)
    cloud = RunningCloud(url, url + "/identity", password, data_dir, config_path, env, process, log_path, cacert)
    _wait_serving(cloud, timeout)
    return cloud


def start_another_controller(cloud: RunningCloud, name: str, timeout: float = 90) -> RunningCloud:
    """A second ``overcast up --role controller`` of ``cloud`` (same database, bus and data dir,
    hence the same Fernet keys: a token from one is valid on the other), serving the API on
    another free port. Its config is ``overcast-NAME.toml`` beside the first; its pid file and
    log are ``overcast-NAME.pid`` / ``.log``. Stop it with :func:`stop_running_cloud`."""
    from overcast.cli.server import to_toml
    from overcast.config import load_config

    import tomllib

    data = tomllib.loads(cloud.config_path.read_text())
    data.setdefault("data_dir", str(cloud.data_dir))
    port = free_port()
    data.setdefault("api", {})["port"] = port
    config_path = cloud.config_path.with_name(f"overcast-{name}.toml")
    config_path.write_text(to_toml(data))
    config = load_config(config_path)
    url = f"{config.api.scheme}://{config.api.host}:{port}"
    log_path = cloud.data_dir / f"overcast-{name}.log"
    pid_file = cloud.data_dir / f"overcast-{name}.pid"
    process = _launch_server(config_path, cloud.env, log_path, "controller", None, pid_file)
    other = RunningCloud(
        url,
        url + "/identity",
        cloud.admin_password,
        cloud.data_dir,
        config_path,
        cloud.env,
        process,
        log_path,
        cloud.cacert,
    )
    _wait_serving(other, timeout)
    return other


def _launch_server(
    config_path: Path,
    env: dict[str, str],
    log_path: Path,
    role: str,
    wrapper: list[str] | None,
    pid_file: Path | None = None,
    log_level: str | None = None,
) -> subprocess.Popen:
    """``overcast up`` with the fake drivers, in the background (its own session)."""
    argv = [
        *(wrapper or []),
        sys.executable,
        "-c",
        "from overcast.cli import main; main()",
        "up",
        "--config",
        str(config_path),
        "--fake-drivers",
        "--role",
        role,
    ]
    if pid_file is not None:
        argv += ["--pid-file", str(pid_file)]
    if log_level is not None:
        argv += ["--log-level", log_level]
    with open(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)


def _wait_serving(cloud: RunningCloud, timeout: float) -> None:
    """Until its identity API answers. A server that exits or stays silent is reported; one that
    does not answer, for whatever reason (a timeout, Ctrl-C), is stopped: no caller holds it yet."""
    import httpx

    process = cloud.process
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"overcast up exited with {process.returncode}:\n{cloud.log_tail()}")
            try:
                if httpx.get(cloud.auth_url, timeout=2, verify=cloud.verify).status_code == 300:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"overcast up did not answer within {timeout}s:\n{cloud.log_tail()}")
            time.sleep(0.2)
    except BaseException:
        stop_running_cloud(cloud)
        raise


def stop_running_cloud(cloud: RunningCloud, timeout: float = 20) -> None:
    """SIGTERM, wait, then SIGKILL the whole process group if it hangs."""
    proc = cloud.process
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)


@pytest.fixture(scope="module")
def running_cloud_config() -> dict[str, Any]:
    """Extra config tables for ``running_cloud`` (override in a test module)."""
    return {}


@pytest.fixture(scope="module")
def running_cloud_tls() -> bool:
    """Whether ``running_cloud`` serves HTTPS (override in a test module)."""
    return False


@pytest.fixture(scope="module")
def running_cloud(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    running_cloud_config: dict[str, Any],
    running_cloud_tls: bool,
) -> Iterator[RunningCloud]:
    """A real ``overcast up`` subprocess over the fake drivers, shared by a test module
    (see the module docstring). Extra config: ``running_cloud_config``, or indirect
    parametrization (``@pytest.mark.parametrize("running_cloud", [{...}], indirect=True)``);
    HTTPS: ``running_cloud_tls``."""
    extra = getattr(request, "param", None) or running_cloud_config
    cloud = start_running_cloud(tmp_path_factory.mktemp("running-cloud"), extra, tls=running_cloud_tls)
    try:
        yield cloud
    finally:
        stop_running_cloud(cloud)
