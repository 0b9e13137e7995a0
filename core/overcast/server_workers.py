"""Worker processes: the object API's (``[objectstore] workers``, like swift-proxy's workers)
and the whole API's (``[api] workers``).

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

API workers (``[api] workers = N``): ``overcast up`` serves the API itself and N - 1 workers
accept on the same inherited socket, each serving every API. Their services are never
started (the heartbeats, reconciliations, expirer and host agents run once, in ``overcast
up``); they reach the topics ``overcast up`` serves over its bus: through its hub on a unix
socket with the in-process bus (:mod:`overcast.bus.unix`), or the broker with ``amqp://``.
The state one API process used to keep across requests is either in the database already
(identity caches follow its generation, the scheduler's claims are atomic) or kept in
``overcast up`` and asked over the bus (:mod:`overcast.shared`: login throttling, console
tokens).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from overcast.config import Config
from overcast.errors import ConfigError

log = logging.getLogger(__name__)

OBJECT_APIS = ("overcast.api.objectstore",)
#: what each kind of worker serves (None: every API) and how its processes are called in ``ps``
KINDS: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "object": (OBJECT_APIS, "object-API"),
    "api": (None, "API"),
}
RESTART_DELAY = 1.0  # seconds before a worker that died is started again

#: the write ends of the release pipes ``overcast up`` still holds, one per pool not yet
#: released: a zygote forked later must not inherit another pool's (its read end would then
#: never see the pipe close, and that pool's workers would never start)
_unreleased: set[int] = set()


def bind(config: Config) -> socket.socket:
    """The object API's listening socket, inherited by every worker."""
    section = config.objectstore
    if not section.port:
        raise ConfigError(f"{config.path}: [objectstore] port: needed when [objectstore] workers is set")
    return listen(config, section.port, "[objectstore] port")


def listen(config: Config, port: int, what: str) -> socket.socket:
    """A listening TCP socket on ``[api] host`` and ``port``, inheritable by workers."""
    host = config.api.host or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # a port in use is refused here as before: SO_REUSEPORT (below, for own_listener) would
    # otherwise let a second cloud bind the port beside this one and share its connections
    probe = socket.socket(family, socket.SOCK_STREAM)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        probe.close()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        probe.close()
        sock.close()
        raise ConfigError(f"{config.path}: {what} {port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def own_listener(inherited: socket.socket) -> socket.socket:
    """A worker's own listening socket on the address of ``inherited`` (``overcast up``'s,
    made by :func:`listen`), in the same ``SO_REUSEPORT`` group: the kernel then spreads new
    connections over the processes by their addresses. On the one inherited socket, the process
    that woke first accepted every connection queued by then (asyncio accepts in a loop), so a
    burst of new connections could land on one process while the others idled. The inherited
    socket is closed here (``overcast up`` keeps accepting on it)."""
    own = socket.socket(inherited.family, socket.SOCK_STREAM)
    try:
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        own.bind(inherited.getsockname())
        own.listen(2048)
    except OSError:
        own.close()
        raise
    inherited.close()
    return own


#: the title each process shows in ``ps`` (``setproctitle``)
ZYGOTE_TITLE = "overcast: object-API zygote"
WORKER_TITLE = "overcast: object-API worker"


def titles(kind: str) -> tuple[str, str]:
    """The zygote's and the workers' process titles of a kind of worker."""
    label = KINDS[kind][1]
    return f"overcast: {label} zygote", f"overcast: {label} worker"


class Workers:
    """Starts the workers through one *zygote*, restarts the zygote if it dies, stops them all.

    Memory: every worker needs the same imported modules (~90 MiB of a fresh interpreter).
    So the zygote is forked from ``overcast up`` itself once everything is imported and
    before any thread starts, with the heap frozen (``gc.freeze()``: the collector then never
    writes to those objects' pages), and it forks the workers: their module pages stay shared
    copy-on-write with ``overcast up``, and each worker's own memory is what it allocates.
    The zygote forks a worker again when one dies. If the zygote itself dies, a fresh one is
    started as a new interpreter (``python -m overcast.server_workers``: forking the running,
    multi-threaded server would not be safe), which imports on its own and shares less.

    The workers wait until :meth:`release` (the server has migrated and started its
    services) before they open the runtime. ``kind`` is ``object`` or ``api`` (:data:`KINDS`);
    ``bus_path``: API workers reach ``overcast up``'s topics through its hub there.
    """

    def __init__(
        self,
        config: Config,
        sock: socket.socket,
        fake_drivers: bool,
        role: str,
        kind: str = "object",
        count: int | None = None,
        bus_path: str = "",
    ) -> None:
        self.sock = sock
        self.kind = kind
        self.count = config.objectstore.workers if count is None else count
        self.options = _WorkerOptions(
            str(config.path), sock.fileno(), role, fake_drivers, _log_level(), kind=kind, bus_path=bus_path
        )
        self._ready_r, self._ready_w = os.pipe()
        _unreleased.add(self._ready_w)
        self._restarted: subprocess.Popen | None = None
        self.zygote = self._fork_zygote()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def _fork_zygote(self) -> int:
        if _other_threads():  # forking would copy locks other threads hold
            log.warning("threads are running: the %s zygote starts as a new interpreter", KINDS[self.kind][1])
            self._restarted = self._spawn_zygote()
            return self._restarted.pid
        for module in _preloaded(self.kind):
            importlib.import_module(module)  # imported once, shared by every worker
        _import_services()
        gc.collect()
        gc.freeze()  # what exists now is shared with the zygote and the workers: never touch it
        pid = os.fork()
        if pid == 0:  # the zygote
            code = 1
            try:
                for fd in _unreleased:  # this pool's own and any other pool's
                    os.close(fd)
                _unreleased.clear()
                _wait_for_release(self._ready_r)
                _zygote(self.options, self.count)
                code = 0
            finally:
                os._exit(code)
        os.close(self._ready_r)
        return pid

    def release(self) -> None:
        """Let the workers open the runtime (the database is migrated, the services started)."""
        _unreleased.discard(self._ready_w)
        os.close(self._ready_w)
        self._watcher = threading.Thread(target=self._watch, name="object-workers", daemon=True)
        self._watcher.start()

    def _alive(self) -> bool:
        if self._restarted is not None:
            return self._restarted.poll() is None
        try:
            return os.waitpid(self.zygote, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def _watch(self) -> None:
        while not self._stop.wait(RESTART_DELAY):
            if not self._alive() and not self._stop.is_set():
                log.warning("%s zygote exited; starting a new one", KINDS[self.kind][1])
                self._restarted = self._spawn_zygote(released=True)
                self.zygote = self._restarted.pid

    def _spawn_zygote(self, released: bool = False) -> subprocess.Popen:
        """A zygote as a new interpreter; it waits on the release pipe unless ``released``."""
        fds = [self.sock.fileno()]
        argv = [sys.executable, "-m", "overcast.server_workers", *self.options.argv(), "--workers", str(self.count)]
        if not released:
            fds.append(self._ready_r)
            argv += ["--ready-fd", str(self._ready_r)]
        proc = subprocess.Popen(argv, pass_fds=fds, stdin=subprocess.DEVNULL)
        if not released:
            os.close(self._ready_r)
        return proc

    def send_signal(self, sig: int) -> None:
        """Pass ``sig`` on to the zygote, which passes it to every worker (SIGHUP: reload the
        TLS certificate)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.zygote, sig)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.zygote, signal.SIGTERM)  # a zygote still waiting for release dies of it
        if self._watcher is None and self._ready_w in _unreleased:
            _unreleased.discard(self._ready_w)
            os.close(self._ready_w)
        deadline = time.monotonic() + timeout
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self._alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.zygote, signal.SIGKILL)
            self._alive()  # reap it
        self.sock.close()


#: what ``overcast up`` imports before it forks a zygote, beside the APIs the workers serve
PRELOADED = ("overcast.api.app", "overcast.server", "overcast.api.metadata", "overcast.bus.unix", "uvicorn")


def _import_services() -> None:
    """Import every installed service's module before the fork. ``overcast up`` imports them
    all anyway (it starts every service) and each worker imports those it serves on its first
    requests: imported once here, their pages are shared instead of copied in each process
    (the API worker's private memory after one server boot: see ``bench/footprint.py``)."""
    from overcast.server import available_services

    available_services()


def _other_threads() -> list[str]:
    """Threads besides this one that a fork would leave holding locks in the child. The log
    handler's flusher is not one: its lock is re-made in the child (:mod:`logging` does it at
    fork) and the child starts its own flusher (:mod:`overcast.logs`)."""
    from overcast.logs import FLUSHER_NAME

    me = threading.current_thread()
    return [t.name for t in threading.enumerate() if t is not me and t.name != FLUSHER_NAME]


def _log_level() -> str:
    return logging.getLevelName(logging.getLogger().getEffectiveLevel())


def _modules(kind: str) -> tuple[str, ...]:
    """The API modules a kind of worker serves (every one for ``api``)."""
    apis = KINDS[kind][0]
    if apis is not None:
        return apis
    from overcast.api.app import SERVICE_APIS

    return SERVICE_APIS


def _preloaded(kind: str) -> tuple[str, ...]:
    """What a zygote imports before it forks: the API modules its workers serve, less those
    imported on their first request (``LAZY_APIS``), and :data:`PRELOADED`."""
    from overcast.api.app import LAZY_APIS

    return (*(m for m in _modules(kind) if m not in LAZY_APIS), *PRELOADED)


@dataclasses.dataclass(frozen=True)
class _WorkerOptions:
    config: str
    fd: int
    role: str
    fake_drivers: bool
    log_level: str
    kind: str = "object"
    bus_path: str = ""

    def argv(self) -> list[str]:
        args = ["--config", self.config, "--fd", str(self.fd), "--role", self.role, "--log-level", self.log_level]
        args += ["--kind", self.kind, "--bus-path", self.bus_path]
        return [*args, "--fake-drivers"] if self.fake_drivers else args


def _wait_for_release(fd: int) -> None:
    """Block until ``overcast up`` closes its end of the pipe (released, or gone)."""
    with os.fdopen(fd, "rb") as pipe:
        pipe.read()


def _title(title: str) -> None:
    import setproctitle

    setproctitle.setproctitle(title)


def _zygote(options: _WorkerOptions, count: int) -> None:
    """Fork ``count`` workers, fork again any that dies, pass SIGHUP on, stop them on SIGTERM
    or when ``overcast up`` is gone."""
    zygote_title, worker_title = titles(options.kind)
    label = KINDS[options.kind][1]
    _title(zygote_title)
    parent = os.getppid()
    stopping = threading.Event()
    workers: dict[int, int] = {}  # pid -> slot

    def fork_worker(slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGHUP, signal.SIG_DFL)
                _title(f"{worker_title} {slot}")
                # no gc.unfreeze(): a full collection would then write to every inherited
                # object's header and unshare every page; what the worker makes is collected
                serve_worker(options, prepared)
                code = 0
            except BaseException:  # noqa: BLE001 - report, and leave this fork for good
                log.exception("%s worker failed", label)
            finally:
                os._exit(code)
        workers[pid] = slot

    def on_term(signum: int, frame: Any) -> None:
        stopping.set()

    def on_hup(signum: int, frame: Any) -> None:
        for pid in list(workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    # build the runtime and app once, here, so every worker shares them; unless that started a
    # thread (a fork would copy the locks it holds): then each worker builds its own
    # (API workers on a broker: its bus starts a consumer thread, so each worker makes its own);
    # nor for one worker: nothing to share, and the zygote would keep the original of every page
    # the worker writes (the all-in-one's one API worker, [api] workers = 2: bench/footprint.py,
    # 267.6 -> 260.5 MiB PSS in all, medians of 2 interleaved rounds)
    brokered = options.kind == "api" and not options.bus_path
    prepared: PreparedWorker | None = None if brokered or count < 2 else prepare_worker(options)
    if prepared is not None and _other_threads():
        log.warning("%s runtime started threads; each worker builds its own", label)
        prepared = None
    gc.collect()
    gc.freeze()
    for slot in range(count):
        fork_worker(slot)
    while not stopping.is_set():
        if os.getppid() != parent:
            break
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid and pid in workers:
            slot = workers.pop(pid)
            log.warning("%s worker exited; starting it again", label, extra={"pid": pid, "status": status})
            time.sleep(RESTART_DELAY)
            if not stopping.is_set():
                fork_worker(slot)
        elif not pid:
            stopping.wait(0.2)
    for pid in list(workers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 12
    while workers and time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid:
            workers.pop(pid, None)
        else:
            time.sleep(0.05)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _exit_with_parent(parent: int) -> None:
    """A worker never outlives ``overcast up`` (even one killed with -9)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


@dataclasses.dataclass
class PreparedWorker:
    """What a worker serves with, built once by the zygote and inherited by every fork."""

    runtime: Any
    server: Any
    tls: Any


def prepare_worker(options: _WorkerOptions) -> PreparedWorker:
    """The runtime (no service started, no thread), the app of what this kind of worker
    serves, and its server."""
    import uvicorn

    from overcast.api.app import create_app
    from overcast.config import load_config
    from overcast.logs import setup_logging
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.server import _Server
    from overcast.tls import load_uvicorn_config, server_tls, uvicorn_options

    setup_logging(options.log_level)
    extra: list[tuple[str, object]] = []
    if options.fake_drivers:
        from overcast.testing.fakes import FakeDriversPlugin

        extra.append(("fake", FakeDriversPlugin(shared=True)))
    config = load_config(options.config)
    tls = server_tls(config)
    bus = None
    if options.bus_path:  # connects on first use, after the fork
        from overcast.bus.unix import UnixBus

        bus = UnixBus(options.bus_path, rpc_timeout=config.bus.rpc_timeout)
    runtime = build_runtime(
        config,
        pm=load_plugin_manager(extra_plugins=extra),
        migrate=False,
        role=options.role,
        bus=bus,
        api_worker=options.kind == "api",
    )
    app = create_app(runtime, apis=_modules(options.kind))
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
    runtime.db.engine.dispose()  # no connection crosses a fork: each worker opens its own
    return PreparedWorker(runtime, server, tls)


def serve_worker(options: _WorkerOptions, prepared: PreparedWorker | None = None) -> None:
    """One worker: serve its APIs on the inherited socket until SIGTERM."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    if options.kind == "object":
        from overcast import malloc

        malloc.tune_for_streams()  # it serves object data only: reuse the body parts' memory
    prepared = prepared or prepare_worker(options)
    if prepared.tls is not None:
        signal.signal(signal.SIGHUP, lambda *_: prepared.tls.reload())
    try:
        inherited = socket.socket(fileno=options.fd)
        listener = own_listener(inherited) if options.kind == "api" else inherited
        prepared.server.run(sockets=[listener])
    finally:
        prepared.runtime.close()


def main(argv: list[str] | None = None) -> None:
    """A zygote started anew (the first one is forked by ``overcast up``): fork the workers."""
    parser = argparse.ArgumentParser(prog="overcast.server_workers")
    parser.add_argument("--config", required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--role", default="all")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--fake-drivers", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--ready-fd", type=int, default=-1)  # wait until this pipe closes
    parser.add_argument("--kind", choices=sorted(KINDS), default="object")
    parser.add_argument("--bus-path", default="")
    args = parser.parse_args(argv)
    from overcast import malloc

    malloc.tune()
    # the modules every worker needs, imported once here and shared by the forks
    for module in _preloaded(args.kind):
        importlib.import_module(module)
    _import_services()

    gc.freeze()
    if args.ready_fd >= 0:
        _wait_for_release(args.ready_fd)
    options = _WorkerOptions(
        args.config, args.fd, args.role, args.fake_drivers, args.log_level, kind=args.kind, bus_path=args.bus_path
    )
    _zygote(options, args.workers)


if __name__ == "__main__":
    main()
