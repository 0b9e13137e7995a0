"""Nova's metadata API as guests see it at ``http://169.254.169.254/``.

It is not in the catalog and takes no tokens: a request is believed only when a network
driver's proxy signed the network (or router) and source address it came from
(:mod:`overcast.compute.metadata.signing`); the instance is then the one whose port holds
that address there, and the answer is that instance's metadata alone. Its own listener
(``[metadata] host``/``port``, Nova's 8775), see :func:`metadata_server`.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from overcast.compute import server_password
from overcast.compute.metadata import content, signing, source
from overcast.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)


def _text(body: str | bytes, status: int = 200, media: str = "text/plain; charset=UTF-8") -> Response:
    return Response(content=body, status_code=status, media_type=media)


def _error(status: int, message: str) -> Response:
    # Nova's metadata handler answers webob's plain error pages
    titles = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict"}
    return PlainTextResponse(f"{status} {titles[status]}\n\n{message}\n\n", status_code=status)


def attribute(secret: bytes, headers: Any) -> tuple[str, str, str] | Response:
    """``(kind, id, address)`` the proxy vouched for, or the error answer."""
    network = headers.get(signing.NETWORK_HEADER, "")
    router = headers.get(signing.ROUTER_HEADER, "")
    address = headers.get(signing.ADDRESS_HEADER, "").strip()
    signature = headers.get(signing.SIGNATURE_HEADER, "")
    if bool(network) == bool(router) or not address:
        return _error(400, "X-Forwarded-For and one of X-Overcast-Network-ID, X-Overcast-Router-ID are required.")
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        return _error(400, "X-Forwarded-For is not one address.")
    kind, resource_id = ("network", network) if network else ("router", router)
    if not signature or not signing.verify(secret, kind, resource_id, address, signature):
        log.warning("metadata request with a bad signature", extra={kind: resource_id, "address": address})
        return _error(403, "Invalid proxy request signature.")
    return kind, resource_id, address


def _ec2_path(path: str) -> str | None:
    """``<ec2 version>/...`` -> ``ec2/<version>/...``; other paths are not EC2's."""
    head = path.split("/", 1)[0]
    return f"ec2/{path}" if head in (*content.EC2_VERSIONS, "latest") else None


def answer(md: content.GuestMetadata, path: str) -> Response:
    """One metadata path of ``md``: a file, a directory listing, or 404."""
    path = path.strip("/")
    if path == "":
        return _text("\n".join((*content.EC2_VERSIONS, "latest")))
    if path == "openstack":
        return _text("\n".join((*content.OPENSTACK_VERSIONS, "latest")))
    files = content.files(md)
    key = path if path.startswith("openstack/") else _ec2_path(path)
    if key is None:
        return _error(404, "The resource could not be found.")
    if key in files:
        media = "application/json" if key.endswith(".json") else "text/plain; charset=UTF-8"
        return _text(files[key], media=media)
    if key.endswith("/meta-data/public-keys") and md.key is not None:
        return _text(f"0={md.key.name}")  # EC2 lists keys as index=name
    entries = content.listing(list(files), key + "/")
    if entries and server_password.is_password_path(f"{key}/password", content.OPENSTACK_VERSIONS):
        entries.append("password")  # served by the app itself (it is not a file of the drive)
    if not entries:
        return _error(404, "The resource could not be found.")
    return _text("\n".join(entries))


async def _password(runtime: Any, uuid: str, request: Request) -> Response:
    """The guest's password: GET reads it, POST keeps it once (Nova's ``handle_password``)."""
    if request.method != "POST":
        return _text(await run_in_threadpool(server_password.for_guest, runtime.db, uuid))
    body = await request.body()
    try:
        await run_in_threadpool(server_password.post_from_guest, runtime.db, uuid, body)
    except BadRequest as exc:
        return _error(400, exc.message)
    except Conflict:
        return _error(409, "There was a conflict when trying to complete your request.")
    except NotFound:
        return _error(404, "The resource could not be found.")
    return _text("")


def create_metadata_app(runtime: Any) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    secret = signing.shared_secret(runtime.config)

    @app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"])
    async def metadata(path: str, request: Request) -> Response:
        password = server_password.is_password_path(path, content.OPENSTACK_VERSIONS)
        if request.method not in ("GET", "HEAD") and not (password and request.method == "POST"):
            return _error(405, "The method specified is not allowed for this resource.")
        who = attribute(secret, request.headers)
        if isinstance(who, Response):
            return who
        kind, resource_id, address = who

        def lookup() -> content.GuestMetadata | None:
            device = runtime.network.metadata_device_at(
                address,
                network_id=resource_id if kind == "network" else None,
                router_id=resource_id if kind == "router" else None,
            )
            return source.load(runtime, device) if device else None

        md = await run_in_threadpool(lookup)
        if md is None:
            log.info("metadata request from an address no server holds", extra={kind: resource_id, "address": address})
            return _error(404, "The resource could not be found.")
        if password:
            return await _password(runtime, md.uuid, request)
        return answer(md, path)

    return app


def metadata_server(runtime: Any) -> Any:
    """The uvicorn server of the metadata API, or ``None`` when ``[metadata] port`` is 0."""
    import uvicorn

    section = runtime.config.metadata
    if not section.port:
        return None
    log.info("metadata API", extra={"url": f"http://{section.url()}"})
    return uvicorn.Server(
        uvicorn.Config(
            create_metadata_app(runtime),
            host=section.host,
            port=section.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            server_header=False,
        )
    )
