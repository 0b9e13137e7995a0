"""The server behind ``overcast up``: one process serving the API, every service's
background work and (role ``all``, the default) the local hosts' agents; with role
``controller`` the hosts run ``overcast agent`` (:mod:`overcast.agent.process`). With
``[api] workers = N`` it serves the API beside N - 1 worker processes on the same socket
(:mod:`overcast.server_workers`), which reach its topics over the bus (:mod:`overcast.bus.unix`
on the in-process bus).

:func:`start_cloud` is shared with the test fixtures, so tests run the same start-up as
the real server: identity first (it makes sure the Fernet keys exist), then each service
that is installed, then the local host agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from overcast.config import Config
from overcast.errors import ConfigError
from overcast.pidfile import PidFile
from overcast.runtime import SERVICE_FACTORIES, Runtime, build_runtime

log = logging.getLogger(__name__)


@dataclass
class StartedCloud:
    runtime: Runtime
    services: list[str] = field(default_factory=list)
    agents: list[Any] = field(default_factory=list)


def available_services() -> list[str]:
    """Service names whose module exists (a service still being written is skipped)."""
    names = []
    for name, spec in SERVICE_FACTORIES.items():
        module_name = spec.partition(":")[0]
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            log.info("service %s is not installed; skipped", name, extra={"service": name})
            continue
        names.append(name)
    return names


def start_cloud(runtime: Runtime, agents: bool = True) -> StartedCloud:
    """Call ``start()`` on every available service, then start the local host agents."""
    from overcast.agent import start_local_agents

    started = StartedCloud(runtime)
    for name in available_services():
        service = runtime.service(name)
        start = getattr(service, "start", None)
        if start is not None:
            start()
        started.services.append(name)
    if agents:
        started.agents = start_local_agents(runtime)
    log.info("cloud started", extra={"services": started.services, "hosts": [a.host_name for a in started.agents]})
    return started


def check_initialised(runtime: Runtime) -> None:
    """Refuse to serve a database that ``overcast init`` never bootstrapped."""
    from overcast.db.models.identity import DEFAULT_DOMAIN_ID, Domain

    with runtime.db.session() as s:
        if s.get(Domain, DEFAULT_DOMAIN_ID) is None:
            raise ConfigError(f"{runtime.config.path}: this cloud is not initialised (run 'overcast init')")


def uses_fake_drivers(config: Config) -> bool:
    """Whether any driver table names the in-core ``fake`` driver."""
    tables = [
        *config.hosts.values(),
        *config.volume_backends.values(),
        config.image_store,
        config.object_store,
        config.network,
        config.loadbalancer,
    ]
    return any(t is not None and t.driver == "fake" for t in tables)


def serve(config: Config, pid_file: Path | None = None, fake_drivers: bool = False, role: str = "all") -> None:
    """Run the server in the foreground until SIGTERM or SIGINT; then stop cleanly.

    ``fake_drivers`` also loads the in-memory fake drivers (tests and demos). ``role`` is
    ``all`` (API, services and the configured hosts' agents in this process) or
    ``controller`` (API and services only; every host runs ``overcast agent``). With
    ``[api] workers = N``, N - 1 more processes serve the API on the same socket; with
    ``[objectstore] workers``, that many more processes serve the Swift API
    (:mod:`overcast.server_workers`)."""
    from overcast.api.app import create_app
    from overcast.plugins import load_plugin_manager
    from overcast.server_workers import Workers, bind as bind_object_api, listen
    from overcast.tls import load_uvicorn_config, server_tls, uvicorn_options

    extra: list[tuple[str, object]] = []
    if fake_drivers or uses_fake_drivers(config):
        from overcast.testing.fakes import FakeDriversPlugin

        extra.append(("fake", FakeDriversPlugin(shared=several_processes(config))))
    if role == "controller" and config.bus.url.startswith("memory://"):
        raise ConfigError(
            f"{config.path}: [bus] url: a controller reaches its hosts' agents over a message broker; "
            "set an amqp:// url (memory:// only works all-in-one)"
        )
    tls = server_tls(config)  # a certificate that does not load stops start-up here
    pm = load_plugin_manager(extra_plugins=extra)
    # the workers' zygotes are forked now, before any thread, sharing what is imported
    api_sock = listen(config, config.api.port, "[api] port") if config.api.workers > 1 else None
    hub = hub_path(config) if api_sock is not None and config.bus.url.startswith("memory://") else None
    api_workers = (
        Workers(config, api_sock, bool(extra), role, kind="api", count=config.api.workers - 1, bus_path=str(hub or ""))
        if api_sock is not None
        else None
    )
    workers = Workers(config, bind_object_api(config), bool(extra), role) if config.objectstore.workers else None
    runtime = None
    try:
        from overcast.bus.unix import BusHub

        bus = BusHub(hub, rpc_timeout=config.bus.rpc_timeout) if hub is not None else None
        runtime = build_runtime(config, pm=pm, role=role, bus=bus)
        check_initialised(runtime)
        start_cloud(runtime, agents=role == "all")
        if workers is not None:
            workers.release()
            log.info(
                "object-API workers", extra={"workers": config.objectstore.workers, "url": config.object_store_url()}
            )
        app = create_app(runtime)
        if api_workers is not None:
            from overcast.api.compute.consoles import share_tokens

            share_tokens(app)
            api_workers.release()
            log.info("API workers", extra={"processes": config.api.workers, "bus": str(hub or config.bus.url)})
        server = _Server(
            load_uvicorn_config(
                uvicorn.Config(
                    app,
                    host=config.api.host,
                    port=config.api.port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                    server_header=False,
                    timeout_graceful_shutdown=10,
                    **uvicorn_options(config.api),
                ),
                tls,
            )
        )
        plain = _plain_http_server(config) if tls is not None and config.api.http_port else None
        if pid_file is not None:
            write_pid_file(pid_file)
        log.info(
            "listening",
            extra={
                "url": f"{config.api.scheme}://{config.api.host}:{config.api.port}",
                "public_url": config.api.base_url(),
            },
        )
        from overcast.api.metadata import metadata_server  # issue 17

        metadata = metadata_server(runtime) if role in ("all", "controller") else None
        with _reload_on_sighup(tls, [w for w in (workers, api_workers) if w is not None]):
            _run_servers(server, plain, metadata, sockets=[api_sock] if api_sock is not None else None)
    finally:
        if api_workers is not None:
            api_workers.stop()  # before the runtime: their tasks still use its bus
        if workers is not None:
            workers.stop()
        if runtime is not None:
            runtime.close()
        if pid_file is not None:
            remove_pid_file(pid_file)
        log.info("stopped")


def _plain_http_server(config: Config) -> uvicorn.Server:
    """The plain-HTTP listener beside HTTPS (``[api] http_port``): redirects or refuses."""
    from overcast.tls import https_only_app, uvicorn_options

    log.info("plain HTTP", extra={"port": config.api.http_port, "action": config.api.http_action})
    return _QuietServer(
        uvicorn.Config(
            https_only_app(config.api),
            host=config.api.host,
            port=config.api.http_port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
            **uvicorn_options(config.api),
        )
    )


def several_processes(config: Config) -> bool:
    """Whether requests are served by several processes (API or object-API workers)."""
    return config.api.workers > 1 or config.objectstore.workers > 0


def hub_path(config: Config) -> Path:
    """Where ``overcast up`` listens for its API workers' bus connections."""
    path = config.data_dir / "bus.sock"
    if len(str(path).encode()) > 107:  # sun_path holds 108 bytes with the NUL
        raise ConfigError(
            f"{config.path}: [api] workers: the data dir's path is too long for the workers' bus socket "
            f"({path}); use a shorter data_dir or [api] workers = 1"
        )
    return path


def _run_servers(
    server: uvicorn.Server, *others: uvicorn.Server | None, sockets: list[socket.socket] | None = None
) -> None:
    """Run the API server (on ``sockets`` if given: the one its workers share) and those
    beside it (plain HTTP, the metadata API) until the API server stops."""
    beside = [o for o in others if o is not None]
    if not beside:
        server.run(sockets=sockets)
        return

    async def both() -> None:
        tasks = [asyncio.create_task(o.serve()) for o in beside]
        try:
            await server.serve(sockets=sockets)
        finally:
            for other in beside:
                other.should_exit = True
            await asyncio.gather(*tasks)

    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        runner.run(both())


@contextlib.contextmanager
def _reload_on_sighup(tls: Any, pools: list[Any]) -> Iterator[None]:
    """``overcast reload`` (SIGHUP): serve the replaced certificate files to new connections,
    here and in the API and object-API workers."""

    def reload(signum: int, frame: Any) -> None:
        if tls is None:
            log.info("SIGHUP: nothing to reload (no [api] tls_cert)")
            return
        tls.reload()
        for pool in pools:
            pool.send_signal(signal.SIGHUP)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGHUP, reload)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, previous)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT once it has shut down gracefully, which would end
    the process before the runtime is closed and the pid file removed; here a signal only
    asks for the shutdown (a second SIGINT forces it)."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


class _QuietServer(_Server):
    """A second server in the same loop: the first one owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


_held_pid_files: dict[Path, PidFile] = {}


def write_pid_file(path: Path) -> None:
    """Lock and write ``path`` for this process's life (:mod:`overcast.pidfile`)."""
    _held_pid_files[path] = PidFile(path).acquire()


def remove_pid_file(path: Path) -> None:
    held = _held_pid_files.pop(path, None)
    if held is not None:
        held.release()
