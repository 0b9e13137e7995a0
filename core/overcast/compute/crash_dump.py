"""``trigger_crash_dump`` (Nova 2.17; issue 18), refused as Nova refuses it on a driver that
cannot inject an NMI: no hypervisor driver here has such a hook, so after Nova's own checks
(the server exists for the caller, in a state that allows it) the answer is Nova's 400."""

from __future__ import annotations

from typing import Any

from overcast.context import RequestContext
from overcast.errors import BadRequest, Conflict

#: the vm_states in which Nova accepts trigger_crash_dump
ALLOWED = ("active", "paused", "rescued", "resized", "error")


def trigger_crash_dump(compute: Any, ctx: RequestContext, uuid: str) -> None:
    rec = compute.get_server(ctx, uuid)  # 404 for another project's server
    if rec.vm_state not in ALLOWED:
        raise Conflict(f"Cannot 'trigger_crash_dump' instance {uuid} while it is in vm_state {rec.vm_state}")
    raise BadRequest("Triggering crash dump is not supported")
