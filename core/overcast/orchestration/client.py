"""The engine's way into the cloud: the services' own REST APIs, called in process through
the ASGI app with a token issued for the stack owner (user and project; the roles are the
owner's on that project now), so policy, quotas, validation and microversions are exactly a
client's. No password is stored: the identity service issues the token to this trusted
in-process caller (``IdentityService.issue_token_for``, as Heat uses a trust)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from overcast.orchestration.resource import ApiError

if TYPE_CHECKING:
    import httpx

#: renew the owner's token this long before it expires
TOKEN_MARGIN = 120.0


def error_text(status: int, content: bytes) -> tuple[str, str]:
    """(type, message) from any service's error body (Nova/Cinder, Neutron, Keystone, Octavia,
    Heat, plain text)."""
    text = content.decode("utf-8", errors="replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return "", (lines[-1] if lines else f"HTTP {status}")
    if isinstance(body, dict):
        if "NeutronError" in body and isinstance(body["NeutronError"], dict):
            err = body["NeutronError"]
            return str(err.get("type", "")), str(err.get("message", ""))
        if "faultstring" in body:
            return "", str(body["faultstring"])
        if isinstance(body.get("error"), dict) and "message" in body["error"]:
            return str(body["error"].get("type", "")), str(body["error"]["message"])
        if len(body) == 1:
            (inner,) = body.values()
            if isinstance(inner, dict) and "message" in inner:
                return "", str(inner["message"])
        if "message" in body:
            return "", str(body["message"])
    return "", text


class Loop:
    """One event loop in its own thread, shared by every stack action: API calls are sent
    on it (one ASGI client, reused) instead of a new loop per call."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="orchestration-api", daemon=True)
        self.thread.start()
        import httpx  # on the first stack action, not at start (tests/core/test_idle_imports.py)

        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://overcast.internal")

    def send(self, method: str, url: str, headers: dict[str, str], content: bytes | None) -> httpx.Response:
        coro = self.client.request(method, url, headers=headers, content=content, timeout=60.0)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.client.aclose(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class OwnerApi:
    """:class:`~overcast.orchestration.resource.ServiceApi` for one owner (user, project)."""

    def __init__(self, runtime: Any, loop: Loop, user_id: str, project_id: str) -> None:
        self.runtime = runtime
        self.loop = loop
        self.user_id = user_id
        self.project_id = project_id
        self._token: str | None = None
        self._expires = 0.0
        self._catalog: dict[str, str] = {}
        self._lock = threading.Lock()
        self._lookups: dict[tuple[str, str], Any] = {}

    def _auth(self) -> str:
        with self._lock:
            if self._token is None or time.time() > self._expires - TOKEN_MARGIN:
                data = self.runtime.identity.issue_token_for(self.user_id, self.project_id)
                self._token = data.token
                expires = getattr(data.payload, "expires_at", None)
                self._expires = expires.timestamp() if expires is not None else time.time() + 3600
                self._catalog = {
                    entry["type"]: urlsplit(entry["endpoints"][0]["url"]).path
                    for entry in self.runtime.identity.catalog(self.project_id)
                    if entry.get("endpoints")
                }
            return self._token

    def has_service(self, service: str) -> bool:
        self._auth()
        return service in self._catalog

    def endpoint(self, service: str) -> str:
        self._auth()
        if service not in self._catalog:
            raise ApiError(503, f"The cloud has no {service} service in its catalog.", "ServiceUnavailable")
        return self._catalog[service]

    def lookup(self, service: str, path: str) -> Any:
        """A GET for a name-to-id look-up, answered once per stack action (many servers name
        the same flavor and image; a flavor made later in the same action is listed again)."""
        key = (service, path)
        if key not in self._lookups:
            self._lookups[key] = self.call(service, "GET", path)
        return self._lookups[key]

    def forget(self, service: str, path: str) -> None:
        self._lookups.pop((service, path), None)

    def call(
        self,
        service: str,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Any:
        token = self._auth()
        url = self.endpoint(service) + path
        hdrs = {"X-Auth-Token": token, "Accept": "application/json", **(headers or {})}
        content: bytes | None = raw
        if body is not None:
            content = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        response = self.loop.send(method, url, hdrs, content)
        if response.status_code >= 400:
            type_name, message = error_text(response.status_code, response.content)
            raise ApiError(response.status_code, message, type_name)
        if not response.content:
            return None
        if "json" not in response.headers.get("content-type", ""):
            return response.content
        return response.json()
