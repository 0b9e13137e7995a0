"""The dashboard's only way to act: the cloud's own REST APIs, called in-process.

Requests go through the same ASGI app (and so the same authentication, policy, validation
and error formats) as any OpenStack client's; the dashboard holds no second copy of logic.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


class ApiError(Exception):
    """An API call failed; ``message`` is the service's own error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_message(response: httpx.Response) -> str:
    """The human text from any service's error format (Keystone, Nova/Cinder, Neutron, plain)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        text = response.text.strip()
        parts = [p for p in text.split("\n\n") if p.strip()]
        return parts[-1].strip() if parts else f"HTTP {response.status_code}"
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            return str(body["error"].get("message", body["error"]))
        if "faultstring" in body:  # Octavia
            return str(body["faultstring"])
        if isinstance(body.get("NeutronError"), dict):
            return str(body["NeutronError"].get("message", ""))
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return str(body["message"])
    return f"HTTP {response.status_code}"


class ApiClient:
    """An async client bound to one user's token, talking to the app it is part of."""

    def __init__(self, app: Any, token: str | None = None, client: tuple[str, int] | None = None) -> None:
        # ``client``: the browser's address, so the APIs see it (per-source login limits)
        import httpx  # on the first page, not at start (tests/core/test_idle_imports.py)

        transport = httpx.ASGITransport(app=app, client=client or ("127.0.0.1", 123))
        self._client = httpx.AsyncClient(transport=transport, base_url="http://overcast.local", timeout=120)
        self.token = token

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, expect_json: bool = True, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers.setdefault("X-Auth-Token", self.token)
        response = await self._client.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise ApiError(response.status_code, error_message(response))
        if not expect_json:
            return response
        return response.json() if response.content else None

    async def open_stream(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A response whose body is not read yet (``aiter_bytes``); the caller closes it and
        this client (``aclose``)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers.setdefault("X-Auth-Token", self.token)
        response = await self._client.send(
            self._client.build_request(method, path, headers=headers, **kwargs), stream=True
        )
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            raise ApiError(response.status_code, error_message(response))
        return response

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Any:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Any:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Any:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Any:
        return await self.request("DELETE", path, **kwargs)
