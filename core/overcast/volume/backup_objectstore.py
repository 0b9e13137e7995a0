"""The built-in ``objectstore`` backup target: volume backups as objects in the project's
object store, spoken to over the Swift API with the requesting user's token.

Going through the object service's public interface (not its tables or its driver) means
the backups are ordinary objects the user sees (``openstack container list``,
``openstack object list volumebackups``), count against the project's object quota, and
that a remote Swift-compatible service works the same: set ``url`` in ``[backup]`` (with
``{project_id}`` where the account goes) to use it instead of this cloud's catalog entry.

Chunk bodies (``put``, ``get_into``) go over plain ``http.client`` connections
(:mod:`overcast.volume.backup_wire`: no copy of a body in Python), everything else over httpx.

Loaded by the core's own entry point (``overcast`` group, ``backup_objectstore``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from overcast.errors import BackendUnavailable, DriverError, NotFound
from overcast.hookspecs import hookimpl
from overcast.types import Backend, BackupTarget, ConfigOption, DriverKind
from overcast.volume.backup_wire import Wire, direct

if TYPE_CHECKING:
    import httpx

NAME = "objectstore"
LISTING_PAGE = 10000
#: through httpx (a proxy, or the tests' in-process client), a body that is not ``bytes`` is
#: sent in pieces of this size: h11 copies each piece once, into memory it reuses, where one
#: ``bytes`` copy of a 32 MiB chunk would cost a page fault per 4 KiB
PIECE = 1024 * 1024

OPTIONS = [
    ConfigOption(
        DriverKind.BACKUP,
        NAME,
        "url",
        str,
        default="",
        help="object-store URL with {project_id} for the account (empty: this cloud's catalog entry)",
    ),
    ConfigOption(DriverKind.BACKUP, NAME, "timeout", float, default=300.0, help="seconds one request may take"),
    ConfigOption(DriverKind.BACKUP, NAME, "verify_tls", bool, default=True, help="check the server's certificate"),
]


class ObjectStoreBackupTarget:
    """``backup_*`` over the Swift API. ``client`` may be given (tests pass an in-process
    one, which then carries the chunk bodies too); otherwise one ``httpx.Client`` and one
    :class:`~overcast.volume.backup_wire.Wire` per ``[backup]`` table are kept (both pool
    connections and are safe to share between the chunker's threads)."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self.client = client
        self._clients: dict[tuple[float, bool], httpx.Client] = {}
        self._wires: dict[tuple[float, bool], Wire] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(backend: Backend) -> tuple[float, bool]:
        return float(backend.options.get("timeout") or 300.0), bool(backend.options.get("verify_tls", True))

    def _wire(self, backend: Backend, url: str) -> Wire | None:
        """The ``http.client`` connections for ``url``'s bodies; None where httpx carries them."""
        if self.client is not None or not direct(url):
            return None
        key = self._key(backend)
        with self._lock:
            wire = self._wires.get(key)
            if wire is None:
                wire = self._wires[key] = Wire(*key)
            return wire

    def _http(self, backend: Backend) -> httpx.Client:
        if self.client is not None:
            return self.client
        key = self._key(backend)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                import httpx  # on the first backup, not at start (tests/core/test_idle_imports.py)

                client = self._clients[key] = httpx.Client(timeout=key[0], verify=key[1])
            return client

    def _url(self, backend: Backend, target: BackupTarget, name: str | None = None) -> str:
        template = str(backend.options.get("url") or "")
        base = template.replace("{project_id}", target.project_id) if template else target.endpoint
        if not base:
            raise BackendUnavailable("no object-store URL for backups: the catalog has none and [backup] url is empty")
        url = f"{base.rstrip('/')}/{quote(target.container, safe='')}"
        return f"{url}/{quote(name, safe='/')}" if name is not None else url

    def _send(self, backend: Backend, method: str, url: str, target: BackupTarget, **kwargs: Any) -> httpx.Response:
        import httpx

        headers = {"X-Auth-Token": target.auth_token, **kwargs.pop("headers", {})}
        try:
            return self._http(backend).request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"the object store for backups did not answer: {exc}") from None

    @staticmethod
    def _check(resp: httpx.Response, what: str, ok: Sequence[int]) -> None:
        _check_status(resp.status_code, resp.content, what, ok)

    @hookimpl
    def backup_prepare(self, backend: Backend, target: BackupTarget) -> bool:
        resp = self._send(backend, "PUT", self._url(backend, target), target)
        self._check(resp, f"creating container {target.container}", (201, 202, 204))
        return True

    @hookimpl
    def backup_put(self, backend: Backend, target: BackupTarget, name: str, data: bytes | memoryview) -> bool:
        # No client-side ETag: a second pass over every chunk (md5) costs more than it adds, as
        # each chunk's digest in the backup's index is checked on restore, and Swift stores a
        # PUT whole or not at all; a short body fails on Content-Length.
        url = self._url(backend, target, name)
        headers = {"X-Auth-Token": target.auth_token, "Content-Type": "application/octet-stream"}
        wire = self._wire(backend, url)
        if wire is not None:
            answer = wire.put(url, headers, data)
            _check_status(answer.status, answer.body, f"writing object {name}", (201,))
            return True
        resp = self._send(
            backend,
            "PUT",
            url,
            target,
            content=data if isinstance(data, bytes) else _pieces(data),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        self._check(resp, f"writing object {name}", (201,))
        return True

    @hookimpl
    def backup_get(self, backend: Backend, target: BackupTarget, name: str) -> bytes:
        resp = self._send(backend, "GET", self._url(backend, target, name), target)
        self._check(resp, f"reading object {name}", (200,))
        return resp.content

    @hookimpl
    def backup_get_into(self, backend: Backend, target: BackupTarget, name: str, buffer: memoryview) -> int:
        url = self._url(backend, target, name)
        wire = self._wire(backend, url)
        if wire is not None:
            answer = wire.get_into(url, {"X-Auth-Token": target.auth_token}, buffer)
            _check_status(answer.status, answer.body, f"reading object {name}", (200,))
            return answer.length
        data = self.backup_get(backend, target, name)
        if len(data) > len(buffer):
            raise DriverError(
                f"reading object {name}: it holds {len(data)} bytes, more than the {len(buffer)} expected"
            )
        buffer[: len(data)] = data
        return len(data)

    @hookimpl
    def backup_delete(self, backend: Backend, target: BackupTarget, name: str) -> bool:
        resp = self._send(backend, "DELETE", self._url(backend, target, name), target)
        self._check(resp, f"deleting object {name}", (204, 404))
        return True

    @hookimpl
    def backup_list(self, backend: Backend, target: BackupTarget, prefix: str) -> Sequence[str]:
        names: list[str] = []
        marker = ""
        while True:
            params = {"format": "json", "prefix": prefix, "limit": str(LISTING_PAGE)}
            if marker:
                params["marker"] = marker
            resp = self._send(backend, "GET", self._url(backend, target), target, params=params)
            if resp.status_code == 404:
                return names
            self._check(resp, f"listing container {target.container}", (200, 204))
            page = [str(item["name"]) for item in (resp.json() if resp.status_code == 200 else []) if "name" in item]
            names.extend(page)
            if len(page) < LISTING_PAGE:
                return names
            marker = page[-1]


def _check_status(status: int, body: bytes, what: str, ok: Sequence[int]) -> None:
    if status in ok:
        return
    text = body.decode("utf-8", "replace").strip()[:200]
    if status == 404:
        raise NotFound(f"{what}: not found in the object store")
    if status in (401, 403):
        raise DriverError(f"{what}: the object store refused the credentials ({status})")
    if status == 413:
        raise DriverError(f"{what}: the project's object-store quota is exhausted ({text})")
    raise DriverError(f"{what}: the object store answered {status} {text}")


def _pieces(data: memoryview) -> Iterator[memoryview]:
    for start in range(0, len(data), PIECE):
        yield data[start : start + PIECE]


@hookimpl
def overcast_register_drivers(registry: Any) -> None:
    registry.add(DriverKind.BACKUP, NAME, ObjectStoreBackupTarget(), "volume backups in the project's object store")


@hookimpl
def overcast_add_config_options() -> Sequence[ConfigOption]:
    return OPTIONS
