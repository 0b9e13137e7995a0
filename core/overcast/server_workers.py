"""Object-API worker processes (``[objectstore] workers``), like swift-proxy's workers.

The all-in-one server is one process (its background services, host agents and in-process
bus live there), so one Python process and its one GIL cap the Swift data path. The object
API needs none of that: only token validation (database and Fernet keys, whose caches follow
the database's revocation generation) and the object-store drivers. So ``overcast up`` binds
``[objectstore] port`` once and starts that many processes that all accept on the inherited
socket, each serving only ``/object/...``; the catalog's object-store endpoint names that port.

Shared state stays correct across processes: the container and account records live in the
database, and each process's cache of them is dropped as soon as the shared change counter
(:mod:`overcast.objectstore.generation`, bumped after every commit that changes them) moves,
so a change made through one process is seen by the next request in every other; the ``fs``
driver's per-container SQLite indexes are locked by SQLite itself (``BEGIN IMMEDIATE`` waits
on the file lock).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from overcast.config import Config
from overcast.errors import ConfigError

log = logging.getLogger(__name__)

OBJECT_APIS = ("overcast.api.objectstore",)
RESTART_DELAY = 1.0  # seconds before a worker that died is started again


def bind(config: Config) -> socket.socket:
    """The object API's listening socket, inherited by every worker."""
    section = config.objectstore
    if not section.port:
        raise ConfigError(f"{config.path}: [objectstore] port: needed when [objectstore] workers is set")
    host = config.api.host or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, section.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{config.path}: [objectstore] port {section.port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ObjectWorkers:
    """Starts the workers, starts again any that dies, and stops them all."""

    def __init__(self, config: Config, sock: socket.socket, fake_drivers: bool, role: str) -> None:
        self.sock = sock
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        self.args = [
            sys.executable,
            "-m",
            "overcast.server_workers",
            "--config",
            str(config.path),
            "--fd",
            str(sock.fileno()),
            "--role",
            role,
            "--log-level",
            level,
        ]
        if fake_drivers:
            self.args.append("--fake-drivers")
        self.procs: list[subprocess.Popen] = [self._spawn() for _ in range(config.objectstore.workers)]
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="object-workers", daemon=True)
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(self.args, pass_fds=(self.sock.fileno(),), stdin=subprocess.DEVNULL)

    def _watch(self) -> None:
        while not self._stop.wait(RESTART_DELAY):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stop.is_set():
                    log.warning(
                        "object-API worker exited; starting it again",
                        extra={"pid": proc.pid, "status": proc.returncode},
                    )
                    self.procs[i] = self._spawn()

    def send_signal(self, sig: int) -> None:
        """Pass ``sig`` on to every running worker (SIGHUP: reload the TLS certificate)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._watcher.join()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.sock.close()


def _exit_with_parent(parent: int) -> None:
    """A worker never outlives ``overcast up`` (even one killed with -9)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """One worker: serve ``/object/...`` on the inherited socket until SIGTERM."""
    import uvicorn

    from overcast.api.app import create_app
    from overcast.config import load_config
    from overcast.logs import setup_logging
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.server import _Server
    from overcast.tls import load_uvicorn_config, server_tls, uvicorn_options

    parser = argparse.ArgumentParser(prog="overcast.server_workers")
    parser.add_argument("--config", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--role", default="all")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--fake-drivers", action="store_true")
    args = parser.parse_args(argv)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    setup_logging(args.log_level)
    extra: list[tuple[str, object]] = []
    if args.fake_drivers:
        from overcast.testing.fakes import FakeDriversPlugin

        extra.append(("fake", FakeDriversPlugin()))
    config = load_config(args.config)
    tls = server_tls(config)
    if tls is not None:
        signal.signal(signal.SIGHUP, lambda *_: tls.reload())
    runtime = build_runtime(config, pm=load_plugin_manager(extra_plugins=extra), migrate=False, role=args.role)
    try:
        app = create_app(runtime, apis=OBJECT_APIS)
        server = _Server(
            load_uvicorn_config(
                uvicorn.Config(
                    app,
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
        server.run(sockets=[socket.socket(fileno=args.fd)])
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
