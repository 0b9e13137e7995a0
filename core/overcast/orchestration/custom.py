"""Custom parameter constraints (``nova.flavor``, ``glance.image``, ``neutron.network``, ...),
checked by looking the value up through the APIs as the stack owner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from overcast.orchestration.errors import ResourceFailure
from overcast.orchestration.resource import ApiError, ServiceApi
from overcast.orchestration.resources import base


@dataclass
class _Lookup:
    """The slice of a ResourceContext the look-up helpers use."""

    api: ServiceApi
    data: dict[str, Any] = field(default_factory=dict)


def _keypair(rc: Any, value: str) -> str:
    return str(rc.api.call("compute", "GET", f"/os-keypairs/{quote(value, safe='')}")["keypair"]["name"])


def _volume(rc: Any, value: str) -> str:
    return str(rc.api.call("volumev3", "GET", f"/volumes/{quote(value, safe='')}")["volume"]["id"])


CHECKS: dict[str, Callable[[Any, str], str]] = {
    "nova.flavor": base.find_flavor,
    "nova.keypair": _keypair,
    "glance.image": base.find_image,
    "neutron.network": base.find_network,
    "neutron.subnet": base.find_subnet,
    "neutron.port": base.find_port,
    "neutron.router": base.find_router,
    "neutron.security_group": base.find_security_group,
    "cinder.volume": _volume,
}


def checker(api: ServiceApi) -> Callable[[str, Any], bool | None]:
    rc = _Lookup(api)

    def check(name: str, value: Any) -> bool | None:
        fn = CHECKS.get(name)
        if fn is None:
            return None
        try:
            fn(rc, str(value))
        except (ApiError, ResourceFailure):
            return False
        return True

    return check
