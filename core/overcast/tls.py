"""TLS for what the cloud serves and what it connects to.

* :class:`ServerTLS`: the API's (and the object workers') server context from ``[api]
  tls_cert``/``tls_key`` (and ``tls_client_ca``: clients must then present a certificate it
  signed); :meth:`ServerTLS.reload` puts replaced files into service for new connections
  (``overcast reload`` sends SIGHUP), keeping the old pair if the new one does not load.
* :func:`uvicorn_options`: how uvicorn serves the API: TLS, and whose ``X-Forwarded-*``
  headers it believes (``[api] trusted_proxies``; nobody's by default, so a client cannot make
  links ``https://`` by saying so).
* :func:`https_only_app`: the plain-HTTP listener beside HTTPS (``[api] http_port``): it
  redirects to the HTTPS URL or refuses, by ``[api] http_action``.
* :func:`amqp_ssl_options`: kombu's ``ssl`` options for an ``amqps://`` bus from ``[bus]
  tls_ca``, ``tls_cert``, ``tls_key`` and ``tls_verify``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from overcast.config import ApiSection, BusSection, Config
from overcast.errors import ConfigError

log = logging.getLogger(__name__)


class ServerTLS:
    """The server's :class:`ssl.SSLContext`. One context lives as long as the listener (the
    listening socket holds it); :meth:`reload` loads new files into it."""

    def __init__(self, config: Config) -> None:
        api = config.api
        self.config = config
        self.cert = Path(api.tls_cert)
        self.key = Path(api.tls_key)
        self.client_ca = Path(api.tls_client_ca) if api.tls_client_ca else None
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_alpn_protocols(["http/1.1"])
        if self.client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            try:
                self.context.load_verify_locations(cafile=str(self.client_ca))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"{config.path}: [api] tls_client_ca: cannot load {self.client_ca}: {exc}") from None
        self._check(self.context)

    def _check(self, context: ssl.SSLContext) -> None:
        """Load the certificate and key into ``context``; a ConfigError names what failed."""
        if not self.cert.is_file():
            raise ConfigError(f"{self.config.path}: [api] tls_cert: no such file {self.cert}")
        if not self.key.is_file():
            raise ConfigError(f"{self.config.path}: [api] tls_key: no such file {self.key}")
        try:
            context.load_cert_chain(str(self.cert), str(self.key))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{self.config.path}: [api] tls_cert, tls_key: cannot load {self.cert} with {self.key}: {exc}"
            ) from None

    def reload(self) -> bool:
        """Serve the files' current certificate and key to new connections (connections
        already open keep theirs). A pair that does not load is logged and the old one kept."""
        try:
            self._check(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))  # all or nothing: try a scratch context first
            self._check(self.context)
        except ConfigError as exc:
            log.error("TLS certificate not reloaded; still serving the previous one: %s", exc)
            return False
        log.info("TLS certificate reloaded", extra={"cert": str(self.cert)})
        return True


def server_tls(config: Config) -> ServerTLS | None:
    """The API's TLS (``None`` when ``[api] tls_cert`` is not set)."""
    return ServerTLS(config) if config.api.tls_cert else None


KEEP_ALIVE_S = 75
"""How long an idle client connection is kept (nginx's default). uvicorn's own 5 s equals the
poll period of clients that wait on a resource (``openstack stack update --wait`` lists events
every 5 s on one pooled connection): the server closed the connection just as the client sent
its next request on it, which the client reports as "Remote end closed connection without
response" and does not retry."""


def uvicorn_options(api: ApiSection) -> dict[str, Any]:
    """``uvicorn.Config`` arguments every API listener shares: only ``[api] trusted_proxies``
    may set the scheme and client address by ``X-Forwarded-Proto``/``-For`` (uvicorn's own
    default believes any loopback peer); responses go out as one write, and request bodies are
    read into a reused buffer and reach the app uncopied (:mod:`overcast.httpwire`); an idle
    keep-alive connection stays open :data:`KEEP_ALIVE_S` seconds."""
    from overcast.httpwire import BufferedReadsHttpProtocol

    return {
        "proxy_headers": bool(api.trusted_proxies),
        "forwarded_allow_ips": list(api.trusted_proxies) or None,
        "http": BufferedReadsHttpProtocol,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }


def load_uvicorn_config(config: Any, tls: ServerTLS | None) -> Any:
    """Load a ``uvicorn.Config`` and give it our (reloadable) server context."""
    config.load()
    if tls is not None:
        config.ssl = tls.context
    return config


def https_only_app(api: ApiSection) -> Any:
    """The ASGI app of the plain-HTTP listener: a 301 (GET, HEAD) or 308 (others, which keeps
    the method and body) to the same path over HTTPS, or with ``http_action = "refuse"`` a
    403 that names the HTTPS URL. Nothing is read from or forwarded to the API."""

    def base(scope: dict[str, Any]) -> str:
        """``public_url``, else the host the client asked for (a listener on 0.0.0.0 has no
        one name) with the HTTPS port."""
        if api.public_url or api.host not in ("0.0.0.0", "::", ""):
            return api.base_url()
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        name = urlsplit(f"//{host}").hostname if host else None
        if not name:
            return api.base_url()
        return f"https://{'[' + name + ']' if ':' in name else name}:{api.port}"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        target = base(scope) + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        if api.http_action == "redirect":
            status = 301 if scope["method"] in ("GET", "HEAD") else 308
            body = b""
            headers = [(b"location", target.encode("latin-1")), (b"content-length", b"0")]
        else:
            status = 403
            message = f"This cloud's API is served over HTTPS only: {target}"
            body = json.dumps({"error": {"code": 403, "title": "Forbidden", "message": message}}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def amqp_ssl_options(bus: BusSection) -> dict[str, Any] | None:
    """kombu's ``ssl`` argument for ``[bus] url`` (``None`` for plain ``amqp://``).

    With ``tls_verify`` (the default) the broker's certificate must chain to ``tls_ca`` (or to
    the system's CAs when ``tls_ca`` is empty) and name the URL's host; ``tls_verify = false``
    accepts any certificate (the connection is encrypted, not authenticated). ``tls_cert`` and
    ``tls_key`` are this process's client certificate, for a broker that asks for one.
    A fresh dict per call: kombu writes the server name into it."""
    if not bus.url.startswith("amqps://"):
        return None
    for key in ("tls_ca", "tls_cert", "tls_key"):
        value = getattr(bus, key)
        if value and not Path(value).is_file():
            raise ConfigError(f"[bus] {key}: no such file {value}")
    options: dict[str, Any] = {}
    if bus.tls_verify:
        options["cert_reqs"] = ssl.CERT_REQUIRED
        options["server_hostname"] = None  # kombu fills in the URL's host: the name is checked too
        if bus.tls_ca:
            options["ca_certs"] = bus.tls_ca
    else:
        options["cert_reqs"] = ssl.CERT_NONE
    if bus.tls_cert:
        options["certfile"] = bus.tls_cert
        options["keyfile"] = bus.tls_key
    return options


# --- what crosses a network in clear (``overcast config check``) ---------------------------


def _is_loopback(host: str | None) -> bool:
    """A loopback name or address, or a unix socket (``None``/empty host, a path)."""
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cleartext_warnings(config: Config) -> list[str]:
    """One line per connection of this config that carries credentials to another host
    without TLS, or with TLS that does not verify the peer."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    where = config.path
    out: list[str] = []
    api = config.api
    if not api.tls_cert and not _is_loopback(api.host):
        out.append(
            f"{where}: [api] host: the API listens on {api.host} over plain HTTP: passwords and tokens cross "
            "the network in clear; set [api] tls_cert and tls_key (overcast init --tls makes them)"
        )
    if api.public_url.startswith("http://") and not _is_loopback(urlsplit(api.public_url).hostname):
        out.append(f"{where}: [api] public_url: the catalog sends clients to {api.public_url} over plain HTTP")
    bus = config.bus
    parts = urlsplit(bus.url)
    if parts.scheme in ("amqp", "pyamqp") and not _is_loopback(parts.hostname):
        out.append(
            f"{where}: [bus] url: {parts.scheme}:// to {parts.hostname} sends the broker password and every "
            "message in clear; use amqps:// (with [bus] tls_ca)"
        )
    if parts.scheme == "amqps" and not bus.tls_verify:
        out.append(
            f"{where}: [bus] tls_verify: false: the broker's certificate is not checked, so anyone on the path "
            "can pose as it"
        )
    if config.database.url.startswith("postgresql"):
        try:
            url = make_url(config.database.url)
        except ArgumentError:
            return out
        socket_dir = url.query.get("host")
        host = url.host or (socket_dir if isinstance(socket_dir, str) else None)
        sslmode = url.query.get("sslmode")
        if not _is_loopback(host):
            if sslmode in (None, "disable", "allow", "prefer"):
                out.append(
                    f"{where}: [database] url: PostgreSQL at {host} without sslmode=verify-full: the password and "
                    "every query may cross the network in clear; add ?sslmode=verify-full&sslrootcert=CA_FILE"
                )
            elif sslmode in ("require", "verify-ca"):
                out.append(
                    f"{where}: [database] url: sslmode={sslmode} does not check that the server is {host}; "
                    "use sslmode=verify-full"
                )
    return out
