"""``GET`` and ``PUT /os-quota-class-sets/{id}`` (Nova; issue 16): quota classes, admin only.
The ``default`` class's values are every project's default limits (where the project has
none of its own). Its keys follow the microversion: before 2.50 the network ones and
``fixed_ips`` instead of the server group ones; from 2.57 no injected file ones. The network
keys show the network service's configured defaults, which it enforces: a class cannot
change them (400), where Nova would keep a value that nothing enforces."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from overcast.api.compute.common import json_body, reply, wrapped
from overcast.api.compute.microversion import MicroversionRoute, version_of
from overcast.api.compute.server_requests import unexpected
from overcast.api.deps import authorize, get_runtime
from overcast.api.routing import ResourceRouter
from overcast.compute.quotas import LIMITS_ONLY, RESOURCES, parse_limit
from overcast.context import RequestContext
from overcast.errors import BadRequest

router = ResourceRouter(route_class=MicroversionRoute)

#: Nova's network keys of a quota class before 2.50, and the network service's names
NETWORK_KEYS = {
    "floating_ips": "floatingip",
    "security_groups": "security_group",
    "security_group_rules": "security_group_rule",
}


def class_keys(version: tuple[int, int]) -> list[str]:
    """The keys of a quota class set at ``version`` (Nova's quota_classes schemas)."""
    keys = [k for k in (*RESOURCES, *LIMITS_ONLY) if k not in ("server_groups", "server_group_members")]
    if version < (2, 50):
        keys = [k for k in keys if k != "fixed_ips"] + ["fixed_ips", *NETWORK_KEYS]
    else:
        keys = [k for k in keys if k != "fixed_ips"] + ["server_groups", "server_group_members"]
    if version >= (2, 57):
        keys = [k for k in keys if not k.startswith("injected_file")]
    return keys


def _values(runtime: Any, class_name: str, version: tuple[int, int]) -> dict[str, int]:
    with runtime.db.session() as s:
        own = runtime.compute.quotas.class_limits(s, class_name)
    network = runtime.network.quotas.defaults() if version < (2, 50) else {}
    return {k: network.get(NETWORK_KEYS[k], -1) if k in NETWORK_KEYS else own[k] for k in class_keys(version)}


@router.get("/v2.1/os-quota-class-sets/{class_name}")
def show_quota_class(
    class_name: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:quota_classes:show")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    return reply({"quota_class_set": {"id": class_name, **_values(runtime, class_name, version_of(request))}})


@router.put("/v2.1/os-quota-class-sets/{class_name}")
async def update_quota_class(
    class_name: str,
    request: Request,
    ctx: RequestContext = Depends(authorize("compute:quota_classes:update")),
    runtime: Any = Depends(get_runtime),
) -> Any:
    version = version_of(request)
    body = wrapped(await json_body(request), "quota_class_set")
    extra = sorted(set(body) - set(class_keys(version)))
    if extra:
        raise unexpected(extra, "quota_class_set")
    values = {k: parse_limit(k, v) for k, v in body.items()}
    current = _values(runtime, class_name, version)
    changed = sorted(k for k in NETWORK_KEYS if k in values and values[k] != current[k])
    if changed:
        raise BadRequest(
            f"Quota class values for {', '.join(changed)} cannot be set here: the network service enforces "
            "them, from its own configured defaults."
        )
    with runtime.db.session() as s:
        runtime.compute.quotas.set_class_limits(
            s, class_name, {k: v for k, v in values.items() if k not in NETWORK_KEYS}
        )
    return reply({"quota_class_set": _values(runtime, class_name, version)})
