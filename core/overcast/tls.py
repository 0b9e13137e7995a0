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

import json
import logging
import ssl
from pathlib import Path
from typing import Any

from overcast.config import ApiSection, BusSection, Config
from overcast.errors import ConfigError

log = logging.getLogger(__name__)


def _path(config: Config, value: str) -> Path:
    return config.resolve_path(value, "")


def _load_error(config: Config, table: str, key: str, path: Path, exc: Exception) -> ConfigError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError) else str(exc)
    return ConfigError(f"{config.path}: [{table}] {key}: cannot load {path}: {reason}")


class ServerTLS:
    """The server's :class:`ssl.SSLContext`. One context lives as long as the listener (the
    listening socket holds it); :meth:`reload` loads new files into it."""

    def __init__(self, config: Config) -> None:
        api = config.api
        self.config = config
        self.cert = _path(config, api.tls_cert)
        self.key = _path(config, api.tls_key)
        self.client_ca = _path(config, api.tls_client_ca) if api.tls_client_ca else None
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.set_alpn_protocols(["http/1.1"])
        if self.client_ca is not None:
            self.context.verify_mode = ssl.CERT_REQUIRED
            try:
                self.context.load_verify_locations(cafile=str(self.client_ca))
            except (OSError, ssl.SSLError) as exc:
                raise _load_error(config, "api", "tls_client_ca", self.client_ca, exc) from None
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
            raise ConfigError(f"{self.config.path}: [api] tls_cert, tls_key: cannot load {self.cert} with {self.key}: {exc}") from None

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


def uvicorn_options(api: ApiSection) -> dict[str, Any]:
    """``uvicorn.Config`` arguments every API listener shares: only ``[api] trusted_proxies``
    may set the scheme and client address by ``X-Forwarded-Proto``/``-For`` (uvicorn's own
    default believes any loopback peer)."""
    return {"proxy_headers": bool(api.trusted_proxies), "forwarded_allow_ips": list(api.trusted_proxies) or None}


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
    base = api.base_url()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        target = base + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
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


def amqp_ssl_options(bus: BusSection, config: Config | None = None) -> dict[str, Any] | None:
    """kombu's ``ssl`` argument for ``[bus] url`` (``None`` for plain ``amqp://``).

    With ``tls_verify`` (the default) the broker's certificate must chain to ``tls_ca`` (or to
    the system's CAs when ``tls_ca`` is empty) and name the URL's host; ``tls_verify = false``
    accepts any certificate (the connection is encrypted, not authenticated). ``tls_cert`` and
    ``tls_key`` are this process's client certificate, for a broker that asks for one.
    A fresh dict per call: kombu writes the server name into it."""
    if not bus.url.startswith("amqps://"):
        return None

    def path(value: str) -> str:
        return str(config.resolve_path(value, "")) if config is not None else value

    options: dict[str, Any] = {}
    if bus.tls_verify:
        options["cert_reqs"] = ssl.CERT_REQUIRED
        options["server_hostname"] = None  # kombu fills in the URL's host: the name is checked too
        if bus.tls_ca:
            options["ca_certs"] = path(bus.tls_ca)
    else:
        options["cert_reqs"] = ssl.CERT_NONE
    if bus.tls_cert:
        options["certfile"] = path(bus.tls_cert)
        options["keyfile"] = path(bus.tls_key) if bus.tls_key else None
    return options
