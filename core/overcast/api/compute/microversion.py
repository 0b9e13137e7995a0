"""Compute API microversions: negotiation from the request headers, and the echo in the
response (``OpenStack-API-Version``, ``X-OpenStack-Nova-API-Version``, ``Vary``).

``MAX_VERSION`` is what this API really serves: 2.37 is the lowest version that lets the
``openstack`` CLI use ``--network none|auto`` (and is above 2.25, which its live migration
needs). Views emit the fields of the requested version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from overcast.errors import BadRequest, OvercastError

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 37)
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


class VersionNotAvailable(OvercastError):
    status = 406
    title = "Not Acceptable"


def fmt(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def requested(headers: Any) -> tuple[int, int]:
    """The version a request asks for (2.1 if it names none)."""
    value = None
    for part in headers.get("openstack-api-version", "").split(","):
        service, _, ver = part.strip().partition(" ")
        if service.lower() == "compute" and ver.strip():
            value = ver.strip()
    if value is None:
        value = headers.get("x-openstack-nova-api-version")
    if value is None or value.strip() == "":
        return MIN_VERSION
    value = value.strip()
    if value.lower() == "latest":
        return MAX_VERSION
    m = _VERSION.match(value)
    if m is None:
        raise BadRequest(f"API Version String {value} is of invalid format. Must be of format MajorNum.MinorNum.")
    version = (int(m.group(1)), int(m.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotAvailable(
            f"Version {value} is not supported by the API. Minimum is {fmt(MIN_VERSION)} and maximum is {fmt(MAX_VERSION)}."
        )
    return version


def version_of(request: Request) -> tuple[int, int]:
    return getattr(request.state, "compute_version", MIN_VERSION)


class MicroversionRoute(APIRoute):
    """Negotiates the version before the handler and echoes it on the response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            version = requested(request.headers)
            request.state.compute_version = version
            response = await original(request)
            text = fmt(version)
            response.headers["OpenStack-API-Version"] = f"compute {text}"
            response.headers["X-OpenStack-Nova-API-Version"] = text
            response.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
            return response

        return handler
