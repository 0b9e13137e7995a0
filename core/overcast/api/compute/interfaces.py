"""``/servers/{id}/os-interface`` (Nova's interface attachments; issue 18): list, show,
attach (``POST``, answered with the attachment once the NIC is in the guest, as Nova's
synchronous call) and detach (``DELETE``, 202). The logic is
:mod:`overcast.compute.interfaces`."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from overcast.api.compute.common import json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.interfaces import InterfaceAttachments, parse_request
from overcast.context import RequestContext

router = ResourceRouter(route_class=MicroversionRoute)

#: the microversion from which an attachment shows its ``tag`` (Nova 2.70)
TAG_SHOWN = (2, 70)


def attachment_view(port: dict[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    """Nova's ``_translate_interface_attachment_view`` of a Neutron port."""
    view: dict[str, Any] = {
        "net_id": port["network_id"],
        "port_id": port["id"],
        "mac_addr": port["mac_address"],
        "port_state": port["status"],
        "fixed_ips": port.get("fixed_ips"),
    }
    if version >= TAG_SHOWN:
        view["tag"] = None  # tagged attach is refused; Overcast keeps no device tags
    return view


@router.get("/v2.1/servers/{server_id}/os-interface")
def list_interfaces(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:interfaces:list")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    ports = InterfaceAttachments(runtime).list(ctx, server_id)
    version = version_of(request)
    return reply({"interfaceAttachments": [attachment_view(p, version) for p in ports]})


@router.get("/v2.1/servers/{server_id}/os-interface/{port_id}")
def show_interface(
    server_id: str,
    port_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:interfaces:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    port = InterfaceAttachments(runtime).get(ctx, server_id, port_id)
    return reply({"interfaceAttachment": attachment_view(port, version_of(request))})


@router.post("/v2.1/servers/{server_id}/os-interface")
async def attach_interface(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:interfaces:create")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    version = version_of(request)
    raw = await request.body()
    body = await json_body(request) if raw.strip() else {}  # Nova's body is optional
    net_id, port_id, fixed_ip, tag = parse_request(body, version)
    port = await run_in_threadpool(InterfaceAttachments(runtime).attach, ctx, server_id, net_id, port_id, fixed_ip, tag)
    return reply({"interfaceAttachment": attachment_view(port, version)})


@router.delete("/v2.1/servers/{server_id}/os-interface/{port_id}")
async def detach_interface(
    server_id: str,
    port_id: str,
    ctx: RequestContext = Depends(authorize("compute:interfaces:delete")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    await run_in_threadpool(InterfaceAttachments(runtime).detach, ctx, server_id, port_id)
    return reply(None, 202)
