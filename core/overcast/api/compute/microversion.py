"""Compute API microversions: negotiation from the request headers, and the echo in the
response (``OpenStack-API-Version``, ``X-OpenStack-Nova-API-Version``, ``Vary``).

``MAX_VERSION`` is what this API really serves: 2.79 (Train). Every version up to it is
honoured where it touches an API served here, or its feature refused with a 400 where this
cloud cannot do it: responses are rendered per version in :mod:`~overcast.api.compute.views`
and requests checked per version where they are read (``server_requests`` for servers).
What each version changes and how it is met, from 2.38:

- 2.38 an unknown ``status`` filter is a 400. 2.39 ``maxImageMeta`` leaves ``/limits``.
- 2.40 ``limit``/``marker`` paging of ``os-simple-tenant-usage``. 2.41 aggregate ``uuid``.
- 2.42 device ``tag`` back on networks and mappings at create (refused: no device tags).
- 2.43 ``os-hosts`` gone (served before it, 404 from it). 2.44 the network proxy actions,
  2.50 quota classes, 2.65 aborting migrations: APIs not served here (404 at any version).
- 2.48 server diagnostics in Nova's common format (the driver's own keys before).
- 2.45 ``createImage`` answers ``image_id``. 2.46 ``X-OpenStack-Request-ID`` (always sent).
- 2.47 the server's flavor embedded. 2.49 a ``tag`` at volume attach (refused).
- 2.51 ``events`` of instance actions shown to the server's owner too (to admins at every
  version; the ``traceback`` to admins only), and the ``volume-extended`` external event. 2.52 ``tags`` at
  create. 2.53 uuids for services and hypervisors, ``PUT /os-services/{uuid}``,
  ``with_servers`` and ``hypervisor_hostname_pattern``. 2.54 ``key_name`` at rebuild.
- 2.55 flavor ``description`` and ``PUT /flavors/{id}``. 2.56 ``host`` at migrate.
- 2.57 no ``personality`` (refused before too: no file injection), ``user_data`` at
  rebuild, no personality limits or quotas. 2.58 instance action paging and ``updated_at``.
- 2.59 migration ``uuid`` and paging. 2.60 multiattach volumes (as the volume service
  allows). 2.61 flavor ``extra_specs``. 2.62 event ``hostId`` (and ``host`` for admins).
- 2.63 ``trusted_image_certificates`` (shown null; a list is refused: no certificate
  validation). 2.64 server group ``policy`` and ``rules`` (rules refused).
- 2.66 ``changes-before``. 2.67 ``volume_type`` in mappings. 2.68 no ``force`` in
  evacuate and live migration. 2.69 down cells (never: one cell). 2.70 attachment ``tag``
  (null). 2.71 ``server_groups`` in a server. 2.72 ports with resource requests (none
  exist here). 2.73 ``locked_reason`` and the ``locked`` filter. 2.74 ``host`` and
  ``hypervisor_hostname`` at create (refused). 2.75 unknown list parameters refused, whole
  server views from update and rebuild, flavor ``swap`` 0, hypervisor ``servers``. 2.76 the
  ``power-update`` external event. 2.77
  availability zone at unshelve (the shelve API's). 2.78 ``/servers/{id}/topology`` (no NUMA
  nodes). 2.79 ``delete_on_termination`` at attach and in attachments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from overcast.errors import BadRequest, OvercastError

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 79)
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
