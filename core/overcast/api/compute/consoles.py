"""Nova's remote consoles (issue 17): ``POST /servers/{id}/remote-consoles`` (microversion
2.6 and later), the older ``os-getSerialConsole``/``os-getVNCConsole`` actions
(:func:`legacy_action`, called from the action dispatcher), and the websocket proxy each URL
leads to (``/compute/console/serial?token=…``): it redeems the one-time token and pipes the
websocket to the console the hypervisor driver named.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from fastapi import Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import base_url, json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.bus.rpc import client
from overcast.compute.consoles import CONSOLE_TOKENS_TOPIC, ConsoleTokens, console_endpoint
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound

log = logging.getLogger(__name__)

router = ResourceRouter(route_class=MicroversionRoute)

#: Nova's schema enums (os-remote-consoles, 2.6 … 2.8)
_PROTOCOLS = ("vnc", "spice", "rdp", "serial", "mks")
_TYPES = ("novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial", "webmks")


def tokens(app: Any) -> ConsoleTokens:
    """The console tokens (on the app's state: the proxy is served by it); in an API worker,
    those of ``overcast up`` over the bus, so any API process redeems any token."""
    found = getattr(app.state, "console_tokens", None)
    if found is None:
        runtime = app.state.runtime
        if getattr(runtime, "api_worker", False):
            found = client(runtime.bus, CONSOLE_TOKENS_TOPIC, ConsoleTokens)
        else:
            found = ConsoleTokens()
        app.state.console_tokens = found
    return found


def share_tokens(app: Any) -> None:
    """Serve this app's console tokens to the API workers (``overcast up`` with workers)."""
    app.state.runtime.bus.serve(CONSOLE_TOKENS_TOPIC, tokens(app))


#: Debian's noVNC (package novnc: ES modules, no build step), served at /compute/console/novnc/
NOVNC_DIR = Path("/usr/share/novnc")
_NOVNC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
                ".png": "image/png", ".ico": "image/x-icon", ".woff": "font/woff", ".woff2": "font/woff2"}  # fmt: skip


def _url(request: Request, console_type: str, token: str) -> str:
    parts = urlsplit(base_url(request))
    if console_type == "serial":
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, f"{parts.path}/compute/console/serial", f"token={token}", ""))
    if console_type == "novnc" and (NOVNC_DIR / "vnc_lite.html").is_file():
        # noVNC opens ws(s)://<its own host>/<path> (Nova's URL has the same shape)
        proxy = "/".join(p for p in (parts.path.strip("/"), f"compute/console/vnc?token={token}") if p)
        path = quote(proxy, safe="")
        return urlunsplit((parts.scheme, parts.netloc, f"{parts.path}/compute/console/novnc/vnc_lite.html",
                           f"path={path}", ""))  # fmt: skip
    raise BadRequest(f"Unavailable console type {console_type}.")


def _grant(
    request: Request, ctx: RequestContext, runtime: Any, server_id: str, protocol: str, console_type: str
) -> str:
    endpoint = console_endpoint(runtime, ctx, server_id, protocol, console_type)
    return _url(request, console_type, tokens(request.app).issue(server_id, endpoint))


@router.post("/v2.1/servers/{server_id}/remote-consoles")
async def create_remote_console(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:action")),
    runtime=Depends(get_runtime),
):
    if version_of(request) < (2, 6):
        raise NotFound("The resource could not be found.")
    body = await json_body(request)
    console = body.get("remote_console") if isinstance(body, dict) else None
    if not isinstance(console, dict) or set(console) - {"protocol", "type"}:
        raise BadRequest("Invalid input for field/attribute remote_console.")
    protocol, console_type = console.get("protocol"), console.get("type")
    if protocol not in _PROTOCOLS:
        raise BadRequest(f"Invalid input for field/attribute protocol. Value: {protocol}.")
    if console_type not in _TYPES:
        raise BadRequest(f"Invalid input for field/attribute type. Value: {console_type}.")
    url = await run_in_threadpool(_grant, request, ctx, runtime, server_id, protocol, console_type)
    return reply({"remote_console": {"protocol": protocol, "type": console_type, "url": url}})


def legacy_action(request: Request, ctx: RequestContext, runtime: Any, server_id: str, action: str, args: Any):
    """``os-getSerialConsole`` / ``os-getVNCConsole``: ``{"console": {"type", "url"}}``."""
    console_type = args.get("type") if isinstance(args, dict) else None
    allowed = ("serial",) if action == "os-getSerialConsole" else ("novnc", "xvpvnc")
    if not isinstance(console_type, str) or console_type not in allowed:
        raise BadRequest(f"Invalid input for field/attribute type. Value: {console_type}.")
    protocol = "serial" if action == "os-getSerialConsole" else "vnc"
    url = _grant(request, ctx, runtime, server_id, protocol, console_type)
    return reply({"console": {"type": console_type, "url": url}})


@router.get("/console/novnc/{path:path}")
def novnc_file(path: str) -> Response:
    """noVNC's page and modules (from Debian's package), nothing else."""
    target = (NOVNC_DIR / path).resolve()
    if NOVNC_DIR.resolve() not in target.parents or target.suffix not in _NOVNC_TYPES or not target.is_file():
        raise NotFound("The resource could not be found.")
    return Response(
        target.read_bytes(), media_type=_NOVNC_TYPES[target.suffix], headers={"Cache-Control": "max-age=3600"}
    )


@router.websocket("/console/{kind}")
async def console_proxy(websocket: WebSocket, kind: str, token: str = "") -> None:
    """The console proxy (``serial``: the serial port's bytes, ``vnc``: RFB for noVNC): a
    one-time token for that kind, then bytes both ways (a terminal's text frames as UTF-8)."""
    grant = await run_in_threadpool(tokens(websocket.app).consume, token) if token else None  # a bus call in a worker
    if grant is None or grant.endpoint.console_type != kind:
        await websocket.close(code=4401, reason="Invalid or expired console token.")
        return
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="binary" if "binary" in offered else None)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(grant.endpoint.host, grant.endpoint.port), timeout=10
        )
    except (OSError, asyncio.TimeoutError) as exc:
        log.warning("console of %s unreachable: %s", grant.instance_uuid, exc)
        await websocket.close(code=1011, reason="The console is not reachable.")
        return

    async def upstream() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            writer.write(data)
            await writer.drain()

    async def downstream() -> None:
        while data := await reader.read(65536):
            await websocket.send_bytes(data)

    tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        writer.close()
        with contextlib.suppress(Exception):
            await websocket.close()
