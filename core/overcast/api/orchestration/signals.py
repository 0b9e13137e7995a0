"""The wait-condition signal URL a guest POSTs to (``curl_cli``): no token, the URL's own
secret authenticates it (Heat's token-signal handle needs a stack-domain user instead)."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import Response

from overcast.api.deps import runtime_of
from overcast.api.orchestration.common import HTTPBadRequest, reply
from overcast.api.routing import ResourceRouter

router = ResourceRouter()


@router.post("/orchestration/v1/waitcondition/{stack_id}/{resource_name}/{secret}")
async def signal(request: Request, stack_id: str, resource_name: str, secret: str) -> Response:
    raw = await request.body()
    data = {}
    if raw.strip():
        try:
            data = json.loads(raw)
        except ValueError:
            raise HTTPBadRequest("The signal body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise HTTPBadRequest("The signal body must be a JSON object.")
    runtime_of(request).orchestration.signal(stack_id, resource_name, secret, data)
    return reply(None, 200)
