"""One libvirt connection per URI, shared by every host that names it, reopened when dead.

libvirt connections are thread-safe, so hooks running in several worker threads share one.
A connection that died (daemon restarted) is replaced transparently on the next use.
"""

from __future__ import annotations

import threading

import libvirt
from overcast.errors import BackendUnavailable

# libvirt prints every error to stderr by default; we raise them as exceptions instead.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class ConnectionPool:
    """Open connections by URI."""

    def __init__(self) -> None:
        self._conns: dict[str, libvirt.virConnect] = {}
        self._lock = threading.Lock()

    def get(self, uri: str) -> libvirt.virConnect:
        with self._lock:
            conn = self._conns.get(uri)
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                self._close_quietly(conn)
                del self._conns[uri]
            try:
                conn = libvirt.open(uri)
            except libvirt.libvirtError as exc:
                raise BackendUnavailable(
                    f"cannot connect to libvirt at {uri}: {exc.get_error_message() or exc} "
                    "(is libvirtd running? scripts/start-host-services.sh starts it)"
                ) from exc
            self._conns[uri] = conn
            return conn

    def close_all(self) -> None:
        with self._lock:
            for conn in self._conns.values():
                self._close_quietly(conn)
            self._conns.clear()

    @staticmethod
    def _close_quietly(conn: libvirt.virConnect) -> None:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass
