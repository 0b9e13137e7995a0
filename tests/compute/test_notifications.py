"""Nova's legacy notifications on the bus: a server's create, power and delete events, each
with Nova's payload keys, as a billing or audit consumer subscribed to ``notifications.info``
(or ``.error``) receives them."""

from __future__ import annotations

import threading
import time
from typing import Any

from .conftest import boot, wait_status


class Inbox:
    """Every notification published on ``notifications.info`` and ``notifications.error``."""

    def __init__(self, bus: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        for event in ("notifications.info", "notifications.error"):
            bus.subscribe(event, self._received)

    def _received(self, **message: Any) -> None:
        with self._lock:
            self.messages.append(message)

    def wait_for(self, event_type: str, instance_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for msg in self.messages:
                    if msg["event_type"] == event_type and msg["payload"].get("instance_id") == instance_id:
                        return msg
            time.sleep(0.02)
        raise AssertionError(f"no {event_type} for {instance_id}: {[m['event_type'] for m in self.messages]}")


def test_server_lifecycle_notifications(cloud_runtime: Any, compute: Any, ctx: Any, flavor: Any) -> None:
    inbox = Inbox(cloud_runtime.bus)
    rec = boot(compute, ctx, flavor, name="billed")

    created = inbox.wait_for("compute.instance.create.end", rec.uuid)
    assert created["priority"] == "INFO"
    assert created["publisher_id"] == f"compute.{rec.host}"
    assert len(created["message_id"]) == 36 and created["timestamp"][:4].isdigit()
    payload = created["payload"]
    assert payload["tenant_id"] == ctx.project_id and payload["user_id"] == ctx.user_id
    assert payload["display_name"] == "billed" and payload["state"] == "active"
    assert (payload["instance_type"], payload["vcpus"], payload["memory_mb"], payload["root_gb"]) == (
        "m1.small",
        2,
        2048,
        10,
    )
    assert payload["launched_at"] and payload["terminated_at"] == ""
    inbox.wait_for("compute.instance.update", rec.uuid)

    compute.power_action(ctx, rec.uuid, "stop")
    wait_status(compute, ctx, rec.uuid, "SHUTOFF")
    assert inbox.wait_for("compute.instance.power_off.end", rec.uuid)["payload"]["state"] == "stopped"

    compute.delete_server(ctx, rec.uuid)
    wait_status(compute, ctx, rec.uuid, "DELETED")
    deleted = inbox.wait_for("compute.instance.delete.end", rec.uuid)
    assert deleted["payload"]["state"] == "deleted"


def test_noop_driver_sends_nothing(cloud_runtime: Any, compute: Any, ctx: Any, flavor: Any) -> None:
    from overcast.notifications import Notifier

    cloud_runtime._notifier = Notifier(cloud_runtime.bus, driver="noop")
    inbox = Inbox(cloud_runtime.bus)
    rec = boot(compute, ctx, flavor, name="quiet")
    time.sleep(0.2)
    assert not [m for m in inbox.messages if m["payload"].get("instance_id") == rec.uuid]
