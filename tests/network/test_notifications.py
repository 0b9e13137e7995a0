"""Neutron's notifications: ``<resource>.create.end`` / ``.update.end`` / ``.delete.end`` on
the bus, the API's body as payload and the caller's context alongside."""

from __future__ import annotations

import threading
import time
from typing import Any

from .conftest import V2


def test_network_notifications_carry_the_api_body(api: Any) -> None:
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    def inbox(**message: Any) -> None:
        with lock:
            received.append(message)

    api.cloud.runtime.bus.subscribe("notifications.info", inbox)

    def wait_for(event_type: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                found = [m for m in received if m["event_type"] == event_type]
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {event_type}: {[m['event_type'] for m in received]}")

    made = api.alice.post(f"{V2}/networks", json={"network": {"name": "billed"}}).json()["network"]
    created = wait_for("network.create.end")
    assert created["payload"] == {"network": made}
    assert created["publisher_id"].startswith("network.") and created["priority"] == "INFO"
    assert created["_context_project_id"] == api.alice_project

    api.alice.put(f"{V2}/networks/{made['id']}", json={"network": {"name": "renamed"}})
    assert wait_for("network.update.end")["payload"]["network"]["name"] == "renamed"

    assert api.alice.delete(f"{V2}/networks/{made['id']}").status_code == 204
    assert wait_for("network.delete.end")["payload"] == {"network_id": made["id"]}

    # a refused request reports nothing
    before = len(received)
    assert api.alice.post(f"{V2}/networks", json={"network": {"bogus": 1}}).status_code == 400
    time.sleep(0.2)
    assert not [m for m in received[before:] if m["event_type"] == "network.create.end"]
