"""``web-download``: fetch image data from a URL the operator allows, and nothing else.

A URL passes when it is ``http``/``https``, starts with one of ``[image]
web_download_allowed`` (compared as scheme, host, port and path prefix, so
``https://example.org/images/`` does not allow ``https://example.org.evil/...``), carries
no credentials, and its host resolves only to addresses outside loopback, link-local,
unspecified and multicast ranges (unless ``web_download_allow_local``). The connection goes
to the address that was checked (no second lookup), and each redirect is checked again.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from overcast.errors import BadRequest

CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
SCHEMES = {"http": 80, "https": 443}


class WebDownloadError(BadRequest):
    """The URL is not allowed, or fetching it failed."""


@dataclass(frozen=True)
class Policy:
    allowed: Sequence[str]
    allow_local: bool = False
    timeout: float = 60.0


def _refused(uri: str) -> WebDownloadError:
    return WebDownloadError(f"URI for web-download does not pass filtering: {uri}")


def _parts(uri: str) -> tuple[SplitResult, str, int]:
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES or not parts.hostname or parts.username or parts.password:
        raise _refused(uri)
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError:
        raise _refused(uri) from None
    return parts, parts.hostname.lower(), port


def allowed_by_list(uri: str, allowed: Sequence[str]) -> bool:
    """Whether ``uri`` starts with one of the operator's URL prefixes."""
    try:
        parts, host, port = _parts(uri)
    except WebDownloadError:
        return False
    for prefix in allowed:
        try:
            p_parts, p_host, p_port = _parts(prefix)
        except WebDownloadError:
            continue
        if (parts.scheme, host, port) != (p_parts.scheme, p_host, p_port):
            continue
        want, have = p_parts.path or "/", parts.path or "/"
        if have.startswith(want) if want.endswith("/") else have in (want, want + "/") or have.startswith(want + "/"):
            return True
    return False


def _is_local(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast or ip.is_reserved


def resolve(uri: str, policy: Policy) -> tuple[SplitResult, str, int, str]:
    """Check ``uri`` against the policy; returns its parts and the address to connect to."""
    parts, host, port = _parts(uri)
    if not allowed_by_list(uri, policy.allowed):
        raise _refused(uri)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise WebDownloadError(f"Cannot resolve the host of {uri}.") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise WebDownloadError(f"Cannot resolve the host of {uri}.")
    if not policy.allow_local and any(_is_local(a) for a in addresses):
        raise _refused(uri)
    return parts, host, port, addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def open_uri(uri: str, policy: Policy) -> tuple[Iterator[bytes], int | None]:
    """The body of ``uri`` as chunks and its declared length (``None`` if not given)."""
    for _ in range(MAX_REDIRECTS + 1):
        parts, host, port, address = resolve(uri, policy)
        cls = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        conn = cls(host, port, address, policy.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", target, headers={"User-Agent": "overcast-image-import", "Accept": "*/*"})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise WebDownloadError(f"Cannot fetch {uri}: {exc}") from None
        if resp.status in (301, 302, 303, 307, 308) and resp.getheader("location"):
            uri = urljoin(uri, resp.getheader("location") or "")
            conn.close()
            continue
        if resp.status != 200:
            conn.close()
            raise WebDownloadError(f"Cannot fetch {uri}: HTTP {resp.status} {resp.reason}")
        length = resp.getheader("content-length")
        return _chunks(conn, resp), int(length) if length and length.isdigit() else None
    raise WebDownloadError(f"Cannot fetch {uri}: too many redirects.")


def _chunks(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> Iterator[bytes]:
    try:
        while chunk := resp.read(CHUNK):
            yield chunk
    except (OSError, http.client.HTTPException) as exc:
        raise WebDownloadError(f"The download broke off: {exc}") from None
    finally:
        conn.close()
