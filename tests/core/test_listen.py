"""The API's listening sockets with ``[api] workers``: ``overcast up``'s socket refuses a port
already in use (as before ``SO_REUSEPORT``), and each worker's own socket joins its group, so
the kernel hands new connections to every process."""

from __future__ import annotations

import select
import socket
from pathlib import Path

import pytest

from overcast.config import load_config
from overcast.errors import ConfigError
from overcast.server_workers import listen, own_listener
from overcast.testing.cloud import free_port


def _config(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "overcast.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[api]\nhost = "127.0.0.1"\n')
    return load_config(path)


def test_a_port_in_use_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    port = free_port()
    first = listen(config, port, "[api] port")
    try:
        with pytest.raises(ConfigError, match="Address already in use"):
            listen(config, port, "[api] port")  # a second cloud on the same port
    finally:
        first.close()


def test_a_port_held_by_another_program_is_refused(tmp_path: Path) -> None:
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    try:
        with pytest.raises(ConfigError, match="Address already in use"):
            listen(_config(tmp_path), other.getsockname()[1], "[api] port")
    finally:
        other.close()


def test_workers_own_sockets_share_the_port(tmp_path: Path) -> None:
    port = free_port()
    main = listen(_config(tmp_path), port, "[api] port")
    inherited = socket.socket(fileno=socket.dup(main.fileno()))  # what a worker inherits
    worker = own_listener(inherited)
    try:
        assert inherited.fileno() == -1  # closed: the worker accepts on its own socket only
        assert worker.getsockname() == main.getsockname()
        accepted = {main: 0, worker: 0}
        for _ in range(64):  # each connection from its own source port: spread by the kernel
            with socket.create_connection(("127.0.0.1", port)):
                (ready, *_), _, _ = select.select([main, worker], [], [], 5)
                conn, _ = ready.accept()
                conn.close()
                accepted[ready] += 1
        assert sum(accepted.values()) == 64
        assert accepted[main] >= 8 and accepted[worker] >= 8, accepted
    finally:
        worker.close()
        main.close()
