"""``/servers``: create, list, detail, show, update, delete, actions, console output and
volume attachments."""

from __future__ import annotations


from typing import Any

from fastapi import APIRouter, Depends, Request

from overcast.api.compute.common import changes_page, base_url, json_body, query_params, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.compute.server_requests import check_create, check_list, unexpected
from overcast.api.compute.views import (
    action_updated,
    attachment_view,
    instance_action_event_view,
    instance_action_view,
    plain_addresses,
    server_summary,
    server_view,
)
from overcast.api.deps import authorize, get_runtime
from overcast.context import RequestContext
from overcast.compute.os_hosts import FeatureNotSupported
from overcast.compute.servers import no_arguments
from overcast.errors import BadRequest, Conflict
from overcast.passwords import new_password

#: where clients put scheduler hints: the openstack CLI and openstacksdk send the second
HINT_KEYS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")

router = APIRouter(route_class=MicroversionRoute)


def _render(
    request: Request,
    ctx: RequestContext,
    runtime: Any,
    recs: list,
    full: bool = True,
    one: bool = False,
    rebuild: bool = False,
) -> list[dict]:
    """Server views (see :func:`server_view` for ``full``); ``one``: the view of a single
    server (show, update, rebuild), which from 2.71 names its server groups."""
    compute = runtime.compute
    faults = compute.faults([r.uuid for r in recs if r.vm_state in ("error", "deleted")])
    from sqlalchemy import select

    from overcast.db.models.compute import BlockDeviceMapping

    volumes: dict[str, list] = {}
    if recs:
        with runtime.db.session() as s:
            stmt = select(BlockDeviceMapping).where(BlockDeviceMapping.instance_uuid.in_([r.uuid for r in recs]))
            for bdm in s.scalars(stmt):
                volumes.setdefault(bdm.instance_uuid, []).append(bdm)
    from overcast.compute.peers import instance_addresses, instance_security_groups

    version = version_of(request)
    tags: dict[str, list[str]] = {}
    if version >= (2, 26) and recs:
        with runtime.db.session() as s:
            tags = compute.tags.of(s, [r.uuid for r in recs])
    statuses: dict[str, str] = {}
    if version >= (2, 16) and ctx.is_admin:
        statuses = compute.hosts.statuses({r.host for r in recs if r.host})
    security_groups = instance_security_groups(runtime, [r.uuid for r in recs]) if full else {}
    out = []
    for r in recs:
        groups = ([r.server_group_id] if r.server_group_id else []) if one else None
        view = server_view(
            request,
            ctx,
            version,
            r,
            faults.get(r.uuid),
            volumes.get(r.uuid),
            statuses.get(r.host),
            full,
            groups,
            rebuild,
            security_groups.get(r.uuid),
        )
        if version >= (2, 26):
            view["tags"] = tags.get(r.uuid, [])
        if r.addresses and not r.deleted:  # the network service has the current truth (floating IPs...)
            view["addresses"] = instance_addresses(runtime, r.uuid) or view["addresses"]
        if not full:
            view["addresses"] = plain_addresses(view["addresses"])
        out.append(view)
    return out


def _links(request: Request, recs: list, params: dict, detail: bool) -> list[dict]:
    if not recs or "limit" not in params or len(recs) < int(params["limit"]):
        return []
    path = "servers/detail" if detail else "servers"
    return [
        {
            "rel": "next",
            "href": f"{base_url(request)}/compute/v2.1/{path}?limit={params['limit']}&marker={recs[-1].uuid}",
        }
    ]


@router.post("/v2.1/servers")
async def create_server(
    request: Request, ctx: RequestContext = Depends(authorize("compute:servers:create")), runtime=Depends(get_runtime)
):
    outer = await json_body(request)
    body = wrapped(outer, "server")
    version = version_of(request)
    for key in HINT_KEYS:
        if key in body:  # Nova's schema: hints sit beside "server", not in it
            raise BadRequest(
                f"Invalid input for field/attribute server. Additional properties are not allowed ('{key}' was unexpected)"
            )
    check_create(body, version)
    hints = next((outer[key] for key in HINT_KEYS if key in outer), None)  # as Nova: os: first
    if hints is not None:
        body = {**body, "os:scheduler_hints": hints}
    if version >= (2, 37) and "networks" not in body:
        raise BadRequest("Invalid input for field/attribute server: 'networks' is a required property")
    from starlette.concurrency import run_in_threadpool

    from overcast.compute.servers import admin_password

    password = admin_password(body)
    wants_reservation = _boolean(body.get("return_reservation_id", False), "return_reservation_id")
    rec = await run_in_threadpool(runtime.compute.create_server, ctx, body)
    if wants_reservation:  # Nova's multiple create: the request's reservation id instead of a server
        return reply({"reservation_id": rec.reservation_id}, 202)
    out = {
        "server": {
            "id": rec.uuid,
            "links": server_summary(request, rec)["links"],
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": [{"name": "default"}],
            "adminPass": password,
        }
    }
    return reply(out, 202, {"Location": f"{base_url(request)}/compute/v2.1/servers/{rec.uuid}"})


_TRUE = ("true", "1", "on", "yes")
_FALSE = ("false", "0", "off", "no")


def _boolean(value: object, name: str) -> bool:
    """Nova's ``parameter_types.boolean``: a JSON boolean or one of its strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. {value!r} is not of type 'boolean'")


@router.get("/v2.1/servers")
def list_servers(
    request: Request, ctx: RequestContext = Depends(authorize("compute:servers:list")), runtime=Depends(get_runtime)
):
    params = check_list(query_params(request), version_of(request))
    recs = runtime.compute.list_servers(ctx, params)
    out: dict[str, Any] = {"servers": [server_summary(request, r) for r in recs]}
    nxt = _links(request, recs, params, detail=False)
    if nxt:
        out["servers_links"] = nxt
    return reply(out)


@router.get("/v2.1/servers/detail")
def list_servers_detail(
    request: Request, ctx: RequestContext = Depends(authorize("compute:servers:detail")), runtime=Depends(get_runtime)
):
    params = check_list(query_params(request), version_of(request))
    recs = runtime.compute.list_servers(ctx, params)
    out: dict[str, Any] = {"servers": _render(request, ctx, runtime, recs)}
    nxt = _links(request, recs, params, detail=True)
    if nxt:
        out["servers_links"] = nxt
    return reply(out)


@router.get("/v2.1/servers/{server_id}")
def show_server(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:show")),
    runtime=Depends(get_runtime),
):
    rec = runtime.compute.get_server(ctx, server_id)
    return reply({"server": _render(request, ctx, runtime, [rec], one=True)[0]})


@router.put("/v2.1/servers/{server_id}")
async def update_server(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:update")),
    runtime=Depends(get_runtime),
):
    body = wrapped(await json_body(request), "server")
    if "description" in body and version_of(request) < (2, 19):
        raise BadRequest("Additional properties are not allowed ('description' was unexpected)")
    rec = runtime.compute.update_server(ctx, server_id, body)
    # Nova shows every attribute in this response only from 2.75
    return reply({"server": _render(request, ctx, runtime, [rec], full=version_of(request) >= (2, 75), one=True)[0]})


@router.get("/v2.1/servers/{server_id}/ips")
def list_ips(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:ips:list")),
    runtime=Depends(get_runtime),
):
    """The server's addresses by network (Nova's ``ips``: plain version and address)."""
    rec = runtime.compute.get_server(ctx, server_id)
    return reply({"addresses": plain_addresses(_render(request, ctx, runtime, [rec])[0]["addresses"])})


@router.get("/v2.1/servers/{server_id}/ips/{network_label}")
def show_ips(
    server_id: str,
    network_label: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:ips:show")),
    runtime=Depends(get_runtime),
):
    rec = runtime.compute.get_server(ctx, server_id)
    addresses = plain_addresses(_render(request, ctx, runtime, [rec])[0]["addresses"])
    if network_label not in addresses:
        from overcast.errors import NotFound

        raise NotFound("Instance is not a member of specified network")
    return reply({network_label: addresses[network_label]})


@router.delete("/v2.1/servers/{server_id}")
def delete_server(
    server_id: str, ctx: RequestContext = Depends(authorize("compute:servers:delete")), runtime=Depends(get_runtime)
):
    runtime.compute.delete_server(ctx, server_id)
    return reply(None, 204)


# --- actions -------------------------------------------------------------------------------------

_POWER = {
    "os-start": "start",
    "os-stop": "stop",
    "pause": "pause",
    "unpause": "unpause",
    "suspend": "suspend",
    "resume": "resume",
}
#: nova-network proxies (not served here; from 2.44 Nova answers 404 for them too)
_NETWORK_PROXY_ACTIONS = ("addFixedIp", "removeFixedIp", "addFloatingIp", "removeFloatingIp")
_ADMIN_ACTIONS = {
    "migrate": "compute:servers:migrate",
    "os-migrateLive": "compute:servers:live_migrate",
    "evacuate": "compute:servers:evacuate",
    "os-resetState": "compute:servers:reset_state",
    "injectNetworkInfo": "compute:servers:inject_network_info",
}


@router.post("/v2.1/servers/{server_id}/action")
async def server_action(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:action")),
    runtime=Depends(get_runtime),
):
    body = await json_body(request)
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The action body must be an object with exactly one action.")
    action, args = next(iter(body.items()))
    if action in _ADMIN_ACTIONS:
        runtime.identity.enforce(_ADMIN_ACTIONS[action], ctx)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_dispatch, request, ctx, runtime, server_id, action, args)


def _dispatch(request: Request, ctx: RequestContext, runtime: Any, server_id: str, action: str, args: Any):
    compute = runtime.compute
    version = version_of(request)
    if action in _POWER:
        compute.power_action(ctx, server_id, _POWER[action])
    elif action == "reboot":
        if not isinstance(args, dict) or "type" not in args:
            raise BadRequest("Invalid input for field/attribute reboot: 'type' is a required property")
        compute.reboot(ctx, server_id, args["type"])
    elif action == "createImage":
        if not isinstance(args, dict):
            raise BadRequest("Invalid input for field/attribute createImage.")
        image_id = compute.create_image(ctx, server_id, args.get("name"), args.get("metadata"))
        location = f"{base_url(request)}/image/v2/images/{image_id}"
        if version >= (2, 45):
            return reply({"image_id": image_id}, 202)
        return reply(None, 202, {"Location": location})
    elif action == "os-getConsoleOutput":
        length = (args or {}).get("length") if isinstance(args, dict) or args is None else None
        if length is not None:
            try:
                length = int(length)
            except (TypeError, ValueError):
                raise BadRequest("Invalid input for field/attribute length.") from None
            length = None if length == -1 else length
            if length is not None and length < 0:
                raise BadRequest("Invalid input for field/attribute length: must be -1 or >= 0.")
        return reply({"output": compute.console_output(ctx, server_id, length)})
    elif action in ("os-getSerialConsole", "os-getVNCConsole"):  # issue 17
        from overcast.api.compute.consoles import legacy_action

        return legacy_action(request, ctx, runtime, server_id, action, args)
    elif action == "migrate":
        if isinstance(args, dict) and args.get("host") is not None and version < (2, 56):
            raise BadRequest("Additional properties are not allowed ('host' was unexpected)")
        compute.migrate(ctx, server_id, (args or {}).get("host") if isinstance(args, dict) else None)
    elif action == "os-migrateLive":
        if not isinstance(args, dict) or "block_migration" not in args or "host" not in args:
            raise BadRequest(
                "Invalid input for field/attribute os-migrateLive: 'host' and 'block_migration' are required"
            )
        allowed = {"host", "block_migration", "disk_over_commit"}
        allowed |= {"force"} if (2, 30) <= version < (2, 68) else set()
        extra = sorted(set(args) - allowed)
        if extra:
            raise unexpected(extra, "os-migrateLive")
        if "force" in args and not isinstance(args["force"], bool):
            raise BadRequest(f"Invalid input for field/attribute force. Value: {args['force']}.")
        bm = args["block_migration"]
        if not (isinstance(bm, bool) or (bm == "auto" and version >= (2, 25))):
            raise BadRequest(f"Invalid input for field/attribute block_migration. Value: {bm}.")
        if "disk_over_commit" in args and version >= (2, 25):
            raise BadRequest("Additional properties are not allowed ('disk_over_commit' was unexpected)")
        compute.live_migrate(ctx, server_id, args["host"])
    elif action == "evacuate":
        return _evacuate(ctx, compute, server_id, args, version)
    elif action == "os-resetState":  # issue 16: admin only
        if not isinstance(args, dict) or sorted(args) != ["state"] or args["state"] not in ("active", "error"):
            raise BadRequest(
                f"Invalid input for field/attribute os-resetState. Value: {args!r}. "
                "'state' is required and must be one of ['active', 'error']"
            )
        compute.reset_state(ctx, server_id, args["state"])
    elif action == "restore":  # issue 16: no server is ever soft-deleted here (Nova's reclaim_instance_interval 0)
        no_arguments("restore", args)
        rec = compute.get_server(ctx, server_id)
        raise Conflict(f"Cannot 'restore' instance {server_id} while it is in vm_state {rec.vm_state}")
    elif action == "forceDelete":  # issue 16: deletes at once, as every delete here does
        no_arguments("forceDelete", args)
        compute.delete_server(ctx, server_id)
    elif action == "injectNetworkInfo":  # issue 16: admin; the server's addresses re-read
        no_arguments("injectNetworkInfo", args)
        compute.inject_network_info(ctx, server_id)
    elif action == "lock":
        compute.set_locked(ctx, server_id, True, _lock_reason(args, version))
    elif action == "unlock":
        compute.set_locked(ctx, server_id, False)
    elif action == "rebuild":
        from overcast.compute.servers import admin_password

        password = admin_password(args if isinstance(args, dict) else {})
        rec = compute.rebuild(ctx, server_id, args, version)
        view = _render(request, ctx, runtime, [rec], full=version >= (2, 75), one=True, rebuild=True)[0]
        return reply({"server": {**view, "adminPass": password}}, 202)
    elif action == "resize":
        compute.resize(ctx, server_id, _resize_flavor_ref(args))
    elif action == "confirmResize":
        compute.confirm_resize(ctx, server_id)
        return reply(None, 204)  # Nova's one action answered 204 (Tempest's schema checks it)
    elif action == "revertResize":
        compute.revert_resize(ctx, server_id)
    elif action in ("addSecurityGroup", "removeSecurityGroup"):  # issue 18: on the server's ports
        from overcast.compute import secgroups

        if not isinstance(args, dict) or "name" not in args:
            raise BadRequest(f"Invalid input for field/attribute {action}: 'name' is a required property")
        change = secgroups.add if action == "addSecurityGroup" else secgroups.remove
        change(runtime, ctx, compute, server_id, args["name"])
    elif action in _NETWORK_PROXY_ACTIONS and version >= (2, 44):  # gone from 2.44
        from overcast.errors import NotFound

        raise NotFound("The resource could not be found.")
    elif action in ("addFixedIp", "removeFixedIp"):  # Nova's multinic actions, until 2.43
        from overcast.compute.interfaces import InterfaceAttachments

        attachments = InterfaceAttachments(runtime)
        multinic = attachments.add_fixed_ip if action == "addFixedIp" else attachments.remove_fixed_ip
        multinic(ctx, server_id, args)
    elif action in ("addFloatingIp", "removeFloatingIp"):  # Nova's network proxy, until 2.43
        from overcast.compute import network_proxy

        if action == "addFloatingIp":
            network_proxy.add_floating_ip(runtime, ctx, compute, server_id, args)
        else:
            network_proxy.remove_floating_ip(runtime, ctx, compute, server_id, args)
    elif action == "rescue":  # issue 18: 200 with the password, as Nova answers
        return reply({"adminPass": compute.rescues.rescue(ctx, server_id, args)})
    elif action == "unrescue":
        no_arguments("unrescue", args)
        compute.rescues.unrescue(ctx, server_id)
    elif action == "createBackup":  # issue 18: as createImage, plus rotation
        image_id, rotation = compute.backups.create(ctx, server_id, args)
        if version >= (2, 45):
            return reply({"image_id": image_id}, 202)
        location = f"{base_url(request)}/image/v2/images/{image_id}"
        return reply(None, 202, {"Location": location} if rotation > 0 else None)
    elif action in ("shelve", "shelveOffload"):  # issue 18
        no_arguments(action, args)
        (compute.shelving.shelve if action == "shelve" else compute.shelving.shelve_offload)(ctx, server_id)
    elif action == "unshelve":
        compute.shelving.unshelve(ctx, server_id, args)
    elif action == "trigger_crash_dump" and version >= (2, 17):  # issue 18: refused as Nova does
        from overcast.compute.crash_dump import trigger_crash_dump

        trigger_crash_dump(compute, ctx, server_id)
    else:
        raise BadRequest(f"There is no such action: {action}")
    return reply(None, 202)


def _lock_reason(args: Any, version: tuple[int, int]) -> str | None:
    """``{"lock": null}``, or from 2.73 ``{"lock": {"locked_reason": "..."}}`` (1-255 characters)."""
    if args is None or args == {}:
        return None
    if not isinstance(args, dict):
        raise BadRequest(f"Invalid input for field/attribute lock. Value: {args}.")
    extra = sorted(set(args) - ({"locked_reason"} if version >= (2, 73) else set()))
    if extra:
        raise unexpected(extra, "lock")
    reason = args.get("locked_reason")
    if not isinstance(reason, str) or not 1 <= len(reason) <= 255:
        raise BadRequest(f"Invalid input for field/attribute locked_reason. Value: {reason}.")
    return reason


def _resize_flavor_ref(args: Any) -> Any:
    """Nova's resize body: ``flavorRef`` and optionally ``OS-DCF:diskConfig``."""
    if not isinstance(args, dict) or "flavorRef" not in args:
        raise BadRequest("Invalid input for field/attribute resize: 'flavorRef' is a required property")
    extra = sorted(set(args) - {"flavorRef", "OS-DCF:diskConfig"})
    if extra:
        raise BadRequest(f"Additional properties are not allowed ({', '.join(repr(e) for e in extra)} was unexpected)")
    disk_config = args.get("OS-DCF:diskConfig", "MANUAL")
    if disk_config not in ("AUTO", "MANUAL"):
        raise BadRequest(f"Invalid input for field/attribute OS-DCF:diskConfig. Value: {disk_config}.")
    return args["flavorRef"]


def _evacuate(ctx: RequestContext, compute: Any, server_id: str, args: Any, version: tuple[int, int]):
    """Nova's body: ``host``, ``adminPass``; ``onSharedStorage`` before 2.14 (optional here:
    the shared storage is known from the host's driver); ``force`` from 2.29 to 2.67."""
    if not isinstance(args, dict):
        raise BadRequest("Invalid input for field/attribute evacuate.")
    allowed = {"host", "adminPass"} | ({"onSharedStorage"} if version < (2, 14) else set())
    allowed |= {"force"} if (2, 29) <= version < (2, 68) else set()
    extra = sorted(set(args) - allowed)
    if extra:
        raise BadRequest(f"Additional properties are not allowed ({', '.join(repr(e) for e in extra)} was unexpected)")
    host = args.get("host")
    if host is not None and (not isinstance(host, str) or not host.strip()):
        raise BadRequest("Invalid input for field/attribute host.")
    if "force" in args and not isinstance(args["force"], bool):
        raise BadRequest("Invalid input for field/attribute force.")
    if args.get("force") is True and host is None:
        raise BadRequest("Can't force to a non-provided destination")
    shared = args.get("onSharedStorage", False)
    if not isinstance(shared, bool) and str(shared).lower() not in ("true", "false"):
        raise BadRequest("Invalid input for field/attribute onSharedStorage.")
    password = args.get("adminPass")
    if password is not None and not isinstance(password, str):
        raise BadRequest("Invalid input for field/attribute adminPass.")
    if password is not None and str(shared).lower() == "true":
        raise BadRequest("admin password can't be changed on existing disk")
    compute.evacuate(ctx, server_id, host, bool(args.get("force", False)))
    if version >= (2, 14):
        return reply(None, 200)
    return reply({"adminPass": password or new_password(9)}, 200)


@router.get("/v2.1/servers/{server_id}/os-instance-actions")
def list_instance_actions(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:instance_actions:list")),
    runtime=Depends(get_runtime),
):
    """Newest first; from 2.58 ``limit``/``marker`` (a request id) paging with ``links``, and
    ``changes-since`` (``changes-before`` from 2.66) on the actions' ``updated_at``."""
    version = version_of(request)
    actions = runtime.compute.instance_actions(ctx, server_id)
    out: dict[str, Any] = {}
    if version >= (2, 58):
        actions, out = _action_page(request, server_id, actions, version)
    return reply({"instanceActions": [instance_action_view(a, version) for a in actions], **out})


def _action_page(request: Request, server_id: str, actions: list, version: tuple[int, int]) -> tuple[list, dict]:
    return changes_page(
        request,
        actions,
        version,
        updated=action_updated,
        key=lambda a: a.request_id,
        link_path=f"servers/{server_id}/os-instance-actions",
        links_key="links",
    )


@router.get("/v2.1/servers/{server_id}/os-instance-actions/{request_id}")
def show_instance_action(
    server_id: str,
    request_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:instance_actions:show")),
    runtime=Depends(get_runtime),
):
    """The action with its events: for admins at any version (with ``traceback``), for
    others from 2.51 (Nova's default ``events`` policy); 2.62 adds each event's host."""
    version = version_of(request)
    found = runtime.compute.instance_action(ctx, server_id, request_id)
    if found is None:
        from overcast.errors import NotFound

        raise NotFound(f"Action {request_id} not found")
    action, events, server_project = found
    out = instance_action_view(action, version)
    if ctx.is_admin or version >= (2, 51):
        # an action recorded with no project (the cloud's own) hashes with the server's
        project_id = action.project_id or server_project
        out["events"] = [instance_action_event_view(e, project_id, version, ctx.is_admin) for e in events]
    return reply({"instanceAction": out})


# --- volume attachments --------------------------------------------------------------------------


@router.get("/v2.1/servers/{server_id}/os-volume_attachments")
def list_attachments(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:list")),
    runtime=Depends(get_runtime),
):
    version = version_of(request)
    bdms = runtime.compute.volumes.list(ctx, server_id)
    return reply({"volumeAttachments": [attachment_view(b, version) for b in bdms]})


@router.post("/v2.1/servers/{server_id}/os-volume_attachments")
async def attach_volume(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:create")),
    runtime=Depends(get_runtime),
):
    """``volumeId`` and ``device``; a device ``tag`` from 2.49 (refused: guests are not shown
    device tags here) and ``delete_on_termination`` from 2.79."""
    body = wrapped(await json_body(request), "volumeAttachment")
    version = version_of(request)
    allowed = {"volumeId", "device"} | ({"tag"} if version >= (2, 49) else set())
    allowed |= {"delete_on_termination"} if version >= (2, 79) else set()
    extra = sorted(set(body) - allowed)
    if extra:
        raise unexpected(extra, "volumeAttachment")
    if "tag" in body:
        raise BadRequest("Tagged volume attachment is not supported for this server instance.")
    delete = body.get("delete_on_termination", False)
    if not isinstance(delete, bool):
        raise BadRequest(f"Invalid input for field/attribute delete_on_termination. Value: {delete}.")
    from starlette.concurrency import run_in_threadpool

    if version < (2, 60):
        await run_in_threadpool(_refuse_multiattach, runtime, ctx, body.get("volumeId"))

    bdm = await run_in_threadpool(
        runtime.compute.volumes.attach, ctx, server_id, body.get("volumeId"), body.get("device"), delete, version
    )
    return reply({"volumeAttachment": attachment_view(bdm, version)})


def _refuse_multiattach(runtime: Any, ctx: RequestContext, volume_id: Any) -> None:
    """Before 2.60 Nova attaches no multiattach volume (even one attached nowhere)."""
    from overcast.compute.peers import optional_service

    svc = optional_service(runtime, "volume")
    if svc is None or not isinstance(volume_id, str) or not volume_id:
        return  # the attach itself answers these
    if getattr(svc.get_volume(ctx, volume_id), "multiattach", False):
        raise BadRequest("Multiattach volumes are only supported starting with compute API version 2.60.")


@router.get("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
def show_attachment(
    server_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:show")),
    runtime=Depends(get_runtime),
):
    bdm = runtime.compute.volumes.get(ctx, server_id, volume_id)
    return reply({"volumeAttachment": attachment_view(bdm, version_of(request))})


@router.put("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
async def swap_volume(
    server_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:swap")),
    runtime=Depends(get_runtime),
):
    """Nova's swap volume (issue 16): checked as Nova checks it -- the server, the attached
    volume in the path (404) and the new one in the body (400) -- then refused with Nova's
    501: no hypervisor driver here copies a guest's disk onto another volume live."""
    from starlette.concurrency import run_in_threadpool

    body = wrapped(await json_body(request), "volumeAttachment")
    await run_in_threadpool(runtime.compute.volumes.check_swap, ctx, server_id, volume_id, body)
    raise FeatureNotSupported("The requested functionality is not supported.")


@router.delete("/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}")
def detach_volume(
    server_id: str,
    volume_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:volume_attachments:delete")),
    runtime=Depends(get_runtime),
):
    runtime.compute.volumes.detach(ctx, server_id, volume_id, version_of(request))
    return reply(None, 202)


# --- topology (2.78) ----------------------------------------------------------------------------


@router.get("/v2.1/servers/{server_id}/topology")
def show_topology(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:servers:show")),
    runtime=Depends(get_runtime),
):
    """The server's NUMA topology (2.78): guests here are made without one, which Nova shows
    as no nodes."""
    if version_of(request) < (2, 78):
        from overcast.errors import NotFound

        raise NotFound("The resource could not be found.")
    runtime.compute.get_server(ctx, server_id)
    return reply({"nodes": [], "pagesize_kb": None})


# --- tags (2.26) --------------------------------------------------------------------------------


def _tags_served(request: Request) -> None:
    if version_of(request) < (2, 26):
        from overcast.errors import NotFound

        raise NotFound("The resource could not be found.")


@router.get("/v2.1/servers/{server_id}/tags")
def list_tags(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:list")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    return reply({"tags": runtime.compute.tags.list(ctx, server_id)})


@router.put("/v2.1/servers/{server_id}/tags")
async def replace_tags(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:update")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    body = await json_body(request)
    tags = body.get("tags") if isinstance(body, dict) else None
    return reply({"tags": runtime.compute.tags.replace(ctx, server_id, tags)})


@router.delete("/v2.1/servers/{server_id}/tags")
def delete_tags(
    server_id: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:delete")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    runtime.compute.tags.remove(ctx, server_id)
    return reply(None, 204)


@router.get("/v2.1/servers/{server_id}/tags/{tag}")
def check_tag(
    server_id: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:show")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    if not runtime.compute.tags.has(ctx, server_id, tag):
        from overcast.errors import NotFound

        raise NotFound(f"Tag {tag} could not be found on server {server_id}.")
    return reply(None, 204)


@router.put("/v2.1/servers/{server_id}/tags/{tag}")
def add_tag(
    server_id: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:update")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    created = runtime.compute.tags.add(ctx, server_id, tag)
    location = f"{base_url(request)}/compute/v2.1/servers/{server_id}/tags/{tag}"
    return reply(None, 201 if created else 204, {"Location": location})


@router.delete("/v2.1/servers/{server_id}/tags/{tag}")
def delete_tag(
    server_id: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:server_tags:delete")),
    runtime=Depends(get_runtime),
):
    _tags_served(request)
    runtime.compute.tags.remove(ctx, server_id, tag)
    return reply(None, 204)
