"""Nova's server external events (``POST /os-server-external-events``, admin): what the
network and volume services tell compute about a server. Each event is answered on its own
(200 accepted; 404 no such server; 422 the server has no host), the whole request with 207
when some were not accepted and 404 when none was.

What an accepted event does here: ``network-changed`` and the ``network-vif-*`` events
re-read the server's addresses from the network service (the ``addresses`` of its views);
``power-update`` (2.76) re-reads the guest's power state from its hypervisor when no task is
under way; ``volume-extended`` (2.51, its ``tag`` the volume's id) makes the guest see the
volume's new size. As in Nova, those two are recorded as actions of the server (by the
caller): ``extend_volume``, and ``start`` / ``stop`` for ``POWER_ON`` / ``POWER_OFF``, each
with the event of Nova's compute manager (``compute_extend_volume``,
``compute_power_update``)."""

from __future__ import annotations

import logging
import uuid as uuidlib
from typing import Any

from overcast.compute.action_events import compute_event
from overcast.compute.peers import instance_addresses
from overcast.context import RequestContext
from overcast.db.models.compute import InstanceRecord
from overcast.errors import BadRequest, NotFound

log = logging.getLogger(__name__)

NAMES = ("network-changed", "network-vif-plugged", "network-vif-unplugged", "network-vif-deleted")
NAMES_FROM = {"volume-extended": (2, 51), "power-update": (2, 76)}
STATUSES = ("failed", "completed", "in-progress")
POWER_TAGS = ("POWER_ON", "POWER_OFF")
FIELDS = {"server_uuid", "name", "status", "tag"}


def _invalid(field: str, value: Any, why: str) -> BadRequest:
    return BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {why}")


def _check(body: Any, version: tuple[int, int]) -> list[dict]:
    """Nova's schema of the request, per version."""
    if not isinstance(body, dict) or "events" not in body:
        raise BadRequest("Invalid input for field/attribute events. 'events' is a required property")
    extra = sorted(set(body) - {"events"})
    if extra:
        names = ", ".join(repr(k) for k in extra)
        raise BadRequest(
            f"Additional properties are not allowed ({names} {'was' if len(extra) == 1 else 'were'} unexpected)"
        )
    events = body["events"]
    if not isinstance(events, list) or not events:
        raise _invalid("events", events, "[] is too short" if events == [] else "It must be an array")
    allowed = NAMES + tuple(n for n, v in NAMES_FROM.items() if version >= v)
    for event in events:
        if not isinstance(event, dict):
            raise _invalid("events", event, f"{event!r} is not of type 'object'")
        extra = sorted(set(event) - FIELDS)
        if extra:
            quoted = ", ".join(repr(k) for k in extra)
            raise BadRequest(
                f"Invalid input for field/attribute events. Additional properties are not allowed "
                f"({quoted} {'was' if len(extra) == 1 else 'were'} unexpected)"
            )
        for field in ("server_uuid", "name"):
            if field not in event:
                raise BadRequest(f"Invalid input for field/attribute events. '{field}' is a required property")
        try:
            uuidlib.UUID(str(event["server_uuid"]))
        except ValueError:
            raise _invalid("server_uuid", event["server_uuid"], f"{event['server_uuid']!r} is not a 'uuid'") from None
        if event["name"] not in allowed:
            raise _invalid("name", event["name"], f"{event['name']!r} is not one of {list(allowed)}")
        if "status" in event and event["status"] not in STATUSES:
            raise _invalid("status", event["status"], f"{event['status']!r} is not one of {list(STATUSES)}")
        tag = event.get("tag")
        if "tag" in event and (not isinstance(tag, str) or len(tag) > 255):
            raise _invalid("tag", tag, "It must be a string of at most 255 characters")
    return events


def _action(event: dict) -> str | None:
    """The action an accepted event is recorded as (Nova's ``external_instance_event``)."""
    if event["name"] == "volume-extended":
        return "extend_volume"
    if event["name"] == "power-update":
        return "start" if event.get("tag") == "POWER_ON" else "stop"
    return None


def create(runtime: Any, ctx: RequestContext, body: Any, version: tuple[int, int]) -> tuple[list[dict], int]:
    """Answer each event; returns the events as answered and the request's status."""
    events = _check(body, version)
    answered: list[dict] = []
    accepted: list[tuple[dict, InstanceRecord]] = []
    status = 200
    with runtime.db.session() as s:
        for event in events:
            out = dict(event)
            answered.append(out)
            rec = s.get(InstanceRecord, str(event["server_uuid"]))
            if rec is None or rec.deleted:
                out.update(status="failed", code=404)
                status = 207
            elif event["name"] == "power-update" and event.get("tag") not in POWER_TAGS:
                out.update(status="failed", code=400)
                status = 207
            elif not rec.host:
                out.update(status="failed", code=422)
                status = 207
            else:
                out.update(status=out.get("status", "completed"), code=200)
                accepted.append((out, rec))
        hosted = [(e, r.uuid, r.project_id) for e, r in accepted]
    if not hosted:
        raise NotFound("No instances found for any event")
    for event, server, project_id in hosted:
        name = event["name"]
        action = _action(event)
        request_id = runtime.compute.events.record_action(server, action, ctx, project_id) if action else None
        log.info("external event %s for server %s", name, server)
        runtime.compute.runner.submit(
            f"external event {name} {server}", _handle, runtime, name, server, event.get("tag"), request_id
        )
    return answered, status


def refresh_addresses(runtime: Any, server: str) -> None:
    """Re-read the server's addresses from the network service."""
    addresses = instance_addresses(runtime, server)
    if addresses is None:
        return
    with runtime.db.session() as s:
        rec = s.get(InstanceRecord, server)
        if rec is not None and not rec.deleted:
            rec.addresses = dict(addresses)


def _handle(runtime: Any, name: str, server: str, tag: str | None = None, request_id: str | None = None) -> None:
    if name.startswith("network-"):
        refresh_addresses(runtime, server)
    elif name == "volume-extended" and request_id is not None:
        runtime.compute.volumes.extend_guest(server, str(tag or ""), request_id)
    elif name == "power-update" and request_id is not None:
        with runtime.db.session() as s:
            rec = s.get(InstanceRecord, server)
            idle = rec is not None and rec.task_state is None and not rec.deleted
            host = rec.host if rec is not None else None
        with runtime.compute.events.event(server, compute_event("power_update"), host, request_id=request_id):
            if idle:
                runtime.compute.tasks.sync_power_state(server)
