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
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import base_url, json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.compute.consoles import ConsoleTokens, console_endpoint
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound

log = logging.getLogger(__name__)

router = APIRouter(route_class=MicroversionRoute)

#: Nova's schema enums (os-remote-consoles, 2.6 … 2.8)
_PROTOCOLS = ("vnc", "spice", "rdp", "serial", "mks")
_TYPES = ("novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial", "webmks")


def tokens(app: Any) -> ConsoleTokens:
    """The API process's console tokens (on the app's state: the proxy is served by it)."""
    found = getattr(app.state, "console_tokens", None)
    if found is None:
        found = app.state.console_tokens = ConsoleTokens()
    return found


def _url(request: Request, console_type: str, token: str) -> str:
    if console_type != "serial":  # novnc: the endpoint named no VNC server (the driver refused before)
        raise BadRequest(f"Unavailable console type {console_type}.")
    parts = urlsplit(base_url(request))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/compute/console/serial", f"token={token}", ""))


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


@router.websocket("/console/serial")
async def serial_console(websocket: WebSocket, token: str = "") -> None:
    """The serial console proxy: a one-time token, then bytes both ways (text frames from a
    terminal are sent as UTF-8)."""
    grant = tokens(websocket.app).consume(token) if token else None
    if grant is None:
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
