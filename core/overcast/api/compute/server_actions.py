"""``/servers/{id}/action`` (every action, dispatched by its name) and the server's instance
actions (``os-instance-actions``) with their events."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import base_url, changes_page, json_body, reply
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.compute.server_requests import unexpected
from overcast.api.compute.servers import render_servers
from overcast.api.compute.views import (
    action_updated,
    instance_action_event_view,
    instance_action_view,
)
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.server_fields import no_arguments
from overcast.context import RequestContext
from overcast.errors import BadRequest, Conflict
from overcast.passwords import new_password

#: where clients put scheduler hints: the openstack CLI and openstacksdk send the second
HINT_KEYS = ("os:scheduler_hints", "OS-SCH-HNT:scheduler_hints")

router = ResourceRouter(route_class=MicroversionRoute)

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
        from overcast.compute.server_fields import admin_password

        password = admin_password(args if isinstance(args, dict) else {})
        rec = compute.rebuild(ctx, server_id, args, version)
        view = render_servers(request, ctx, runtime, [rec], full=version >= (2, 75), one=True, rebuild=True)[0]
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
