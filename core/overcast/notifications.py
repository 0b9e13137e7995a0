"""OpenStack-style notifications for billing and audit consumers.

Each is the message oslo.messaging's notifier sends (``message_id``, ``publisher_id``,
``event_type``, ``priority``, ``payload``, ``timestamp``, and the request's ``_context_*``
fields), published on the bus as event ``<topic>.<priority>`` for each topic of
``[notifications] topics`` (default ``notifications``, so ``notifications.info``): a consumer
subscribes with ``bus.subscribe("notifications.info", callback)`` in-process or binds a queue
to the bus's event exchange on RabbitMQ. ``driver = "log"`` writes them to the log instead,
``"noop"`` drops them (nothing is sent; the operator chose so).

Events: ``compute.instance.create.end`` / ``.create.error`` / ``.delete.end`` /
``.power_off.end`` / ``.power_on.end`` and ``compute.instance.update`` on every status change
(Nova's legacy names and payload keys), and Neutron's ``<resource>.create.end`` /
``.update.end`` / ``.delete.end`` with the API's body as payload.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from overcast.bus import Bus
from overcast.context import RequestContext

if TYPE_CHECKING:
    from overcast.db.models.compute import InstanceRecord

log = logging.getLogger(__name__)

INFO = "INFO"
ERROR = "ERROR"

#: (old status, new status) -> Nova's legacy event for that change, besides ``compute.instance.update``
_INSTANCE_EVENTS: dict[tuple[str | None, str], str] = {
    ("BUILD", "ACTIVE"): "compute.instance.create.end",
    ("BUILD", "ERROR"): "compute.instance.create.error",
    ("ACTIVE", "SHUTOFF"): "compute.instance.power_off.end",
    ("SHUTOFF", "ACTIVE"): "compute.instance.power_on.end",
    (None, "DELETED"): "compute.instance.delete.end",
}


def message(
    publisher_id: str,
    event_type: str,
    payload: Mapping[str, Any],
    priority: str = INFO,
    ctx: RequestContext | None = None,
) -> dict[str, Any]:
    """One notification as oslo.messaging's notifier builds it."""
    msg: dict[str, Any] = {
        "message_id": str(uuid.uuid4()),
        "publisher_id": publisher_id,
        "event_type": event_type,
        "priority": priority,
        "payload": dict(payload),
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    if ctx is not None:
        msg.update(
            _context_request_id=ctx.request_id,
            _context_user_id=ctx.user_id,
            _context_project_id=ctx.project_id,
            _context_user_name=ctx.user_name,
            _context_project_name=ctx.project_name,
            _context_roles=sorted(ctx.roles),
        )
    return msg


class Notifier:
    """Sends notifications as ``[notifications]`` says; never raises into the caller (a
    notification that cannot be sent is logged: the operation it reports has happened)."""

    def __init__(self, bus: Bus, driver: str = "messaging", topics: tuple[str, ...] = ("notifications",)) -> None:
        self.bus = bus
        self.driver = driver
        self.topics = topics

    def notify(
        self,
        publisher_id: str,
        event_type: str,
        payload: Mapping[str, Any],
        priority: str = INFO,
        ctx: RequestContext | None = None,
    ) -> None:
        if self.driver == "noop":
            return
        msg = message(publisher_id, event_type, payload, priority, ctx)
        if self.driver == "log":
            log.info("notification %s", event_type, extra={"notification": msg})
            return
        for topic in self.topics:
            try:
                self.bus.notify(f"{topic}.{priority.lower()}", **msg)
            except Exception:  # noqa: BLE001 - reporting must not undo what it reports
                log.exception("notification %s could not be sent", event_type)

    def instance_status_changed(self, rec: InstanceRecord, old_status: str, new_status: str) -> None:
        """Nova's legacy events for a server's status change (``compute.instance.update``, and
        the create/delete/power event the change means, if any)."""
        from overcast.compute.records import flavor_snapshot

        flavor = flavor_snapshot(rec)
        payload = {
            "tenant_id": rec.project_id,
            "user_id": rec.user_id,
            "instance_id": rec.uuid,
            "display_name": rec.name,
            "host": rec.host,
            "availability_zone": rec.availability_zone,
            "instance_type": flavor.name,
            "instance_type_id": flavor.id,
            "memory_mb": flavor.memory_mb,
            "vcpus": flavor.vcpus,
            "root_gb": flavor.root_gb,
            "ephemeral_gb": flavor.ephemeral_gb,
            "state": rec.vm_state,
            "old_state": old_status.lower() or None,
            "state_description": rec.task_state or "",
            "launched_at": _time(rec.launched_at),
            "terminated_at": _time(rec.terminated_at),
            "image_ref_url": rec.image_ref,
        }
        publisher = f"compute.{rec.host or 'controller'}"
        self.notify(publisher, "compute.instance.update", payload)
        event = _INSTANCE_EVENTS.get((old_status, new_status)) or _INSTANCE_EVENTS.get((None, new_status))
        if event is not None:
            self.notify(publisher, event, payload, ERROR if event.endswith(".error") else INFO)


def _time(value: datetime | None) -> str:
    return value.replace(tzinfo=None).isoformat(sep=" ") if value is not None else ""
