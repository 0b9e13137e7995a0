"""Security headers on every dashboard response (not on the services' APIs, which serve
clients rather than browsers): no framing, no content sniffing, no referrer leaking ids, no
caching of pages that show a user's resources, and a content security policy.

The templates still carry a few inline handlers (``onsubmit`` confirmations, the upload
progress script), so scripts and styles allow ``'unsafe-inline'``; everything else is
same-origin only."""

from __future__ import annotations

from typing import Any

from overcast.api.errors import FORMATTERS, service_of_path

CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """ASGI wrapper adding :data:`HEADERS` (and ``Cache-Control: no-store`` unless the
    response sets its own, as static assets do) to responses outside the service APIs."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or service_of_path(scope["path"]) in FORMATTERS:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in HEADERS if h[0] not in present]
                if NO_STORE[0] not in present:
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
