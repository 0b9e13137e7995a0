"""Instance action events (Nova's ``wrap_instance_event``): each step of an action is recorded
with Nova's event name, start, finish and result; ``GET .../os-instance-actions/{id}`` shows
them to admins at every version (with the traceback) and to the server's owner from 2.51
(without it); 2.62 adds ``hostId`` for all and ``host`` for admins."""

from __future__ import annotations

import hashlib
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from overcast.api.compute.microversion import MAX_VERSION, fmt
from overcast.compute.action_events import API_HOST
from overcast.context import system_context
from overcast.db.models.compute import InstanceAction

from .conftest import IMAGE_ID, api_wait

MAX = fmt(MAX_VERSION)


def _boot(api, flavor_id: str, compute, name: str = "vm") -> str:
    body = {"server": {"name": name, "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    r = api("POST", "/servers", "p1", body)
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    return server_id


def _act(api, compute, server_id: str, body: dict, status: str | None = None) -> None:
    r = api("POST", f"/servers/{server_id}/action", "p1", body)
    assert r.status_code in (200, 202, 204), r.text
    if status is not None:
        api_wait(api, compute, server_id, status)
    compute.runner.wait_idle(timeout=10)


def _request_id(api, server_id: str, action: str) -> str:
    actions = api("GET", f"/servers/{server_id}/os-instance-actions", "admin").json()["instanceActions"]
    return next(a["request_id"] for a in actions if a["action"] == action)


def _show(api, server_id: str, action: str, who: str = "admin", version: str = MAX) -> dict[str, Any]:
    request_id = _request_id(api, server_id, action)
    r = api("GET", f"/servers/{server_id}/os-instance-actions/{request_id}", who, version=version)
    assert r.status_code == 200, r.text
    return r.json()["instanceAction"]


def _events(api, server_id: str, action: str) -> list[tuple[str, str | None]]:
    """(event, result) of the action, oldest first."""
    return [(e["event"], e["result"]) for e in reversed(_show(api, server_id, action)["events"])]


def _host(api, server_id: str) -> str:
    return api("GET", f"/servers/{server_id}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]


def test_build_power_and_reboot_record_nova_events(api, api_flavor, compute):
    sid = _boot(api, api_flavor["id"], compute)
    _act(api, compute, sid, {"os-stop": None}, "SHUTOFF")
    _act(api, compute, sid, {"os-start": None}, "ACTIVE")
    _act(api, compute, sid, {"reboot": {"type": "HARD"}}, "ACTIVE")
    _act(api, compute, sid, {"pause": None}, "PAUSED")
    assert _events(api, sid, "create") == [("compute__do_build_and_run_instance", "Success")]
    assert _events(api, sid, "stop") == [("compute_stop_instance", "Success")]
    assert _events(api, sid, "start") == [("compute_start_instance", "Success")]
    assert _events(api, sid, "reboot") == [("compute_reboot_instance", "Success")]
    assert _events(api, sid, "pause") == [("compute_pause_instance", "Success")]
    event = _show(api, sid, "stop", version="2.1")["events"][0]
    assert set(event) == {"event", "start_time", "finish_time", "result", "traceback"}
    assert event["traceback"] is None and event["finish_time"] >= event["start_time"]


def test_events_are_shown_per_microversion_and_role(api, api_flavor, compute):
    sid = _boot(api, api_flavor["id"], compute)
    _act(api, compute, sid, {"os-stop": None}, "SHUTOFF")
    host = _host(api, sid)
    project = api.projects["p1"]
    # before 2.51 only admins see events (Nova's default ``events`` policy)
    assert "events" not in _show(api, sid, "stop", "p1", "2.50")
    assert [e["event"] for e in _show(api, sid, "stop", "admin", "2.50")["events"]] == ["compute_stop_instance"]
    # from 2.51 the owner sees them, never the traceback
    owner = _show(api, sid, "stop", "p1", "2.51")["events"][0]
    assert set(owner) == {"event", "start_time", "finish_time", "result"}
    # 2.62: hostId for all (hashed like the server's), host for admins only
    owner = _show(api, sid, "stop", "p1", "2.62")["events"][0]
    expected = hashlib.sha224((project + host).encode()).hexdigest()
    assert owner["hostId"] == expected and "host" not in owner and "traceback" not in owner
    assert owner["hostId"] == api("GET", f"/servers/{sid}", "p1").json()["server"]["hostId"]
    admin = _show(api, sid, "stop", "admin", "2.62")["events"][0]
    assert admin["host"] == host and admin["hostId"] == expected and admin["traceback"] is None
    # 2.58: the action's updated_at is its last event's finish
    shown = _show(api, sid, "stop", "p1", "2.58")
    assert shown["updated_at"] == shown["events"][0]["finish_time"]


def test_a_failed_step_is_an_error_with_an_admin_only_traceback(api, api_flavor, compute, cloud_runtime):
    sid = _boot(api, api_flavor["id"], compute)
    volume_id = str(uuid.uuid4())
    cloud_runtime._services["volume"].add(volume_id, api.projects["p1"])
    r = api("POST", f"/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": volume_id}})
    assert r.status_code == 200, r.text
    assert _events(api, sid, "attach_volume") == [("compute_attach_volume", "Success")]
    # the fake hypervisor cannot extend a disk: the event's step fails
    event = {"name": "volume-extended", "server_uuid": sid, "tag": volume_id}
    r = api("POST", "/os-server-external-events", "admin", {"events": [event]}, version="2.51")
    assert r.status_code == 200, r.text
    compute.runner.wait_idle(timeout=10)
    shown = _show(api, sid, "extend_volume")
    assert shown["message"] == "Error" and shown["project_id"] == api.projects["p1"]
    (failed,) = shown["events"]
    assert failed["event"] == "compute_extend_volume" and failed["result"] == "Error"
    assert failed["finish_time"] and failed["traceback"].startswith("Traceback (most recent call last)")
    owner = _show(api, sid, "extend_volume", "p1", "2.51")["events"][0]
    assert owner["result"] == "Error" and "traceback" not in owner
    assert api("DELETE", f"/servers/{sid}/os-volume_attachments/{volume_id}").status_code == 202
    compute.runner.wait_idle(timeout=10)
    assert _events(api, sid, "detach_volume") == [("compute_detach_volume", "Success")]


class _Disks:
    """A hypervisor that grows disks: the calls it got."""

    def __init__(self) -> None:
        self.extended: list[tuple[str, int]] = []

    def extend_volume(self, *, host, instance, connection_info, new_size_gb: int) -> bool:
        self.extended.append((instance.uuid, new_size_gb))
        return True


def _attached(api, sid: str, cloud_runtime) -> str:
    volume_id = str(uuid.uuid4())
    cloud_runtime._services["volume"].add(volume_id, api.projects["p1"])
    r = api("POST", f"/servers/{sid}/os-volume_attachments", json={"volumeAttachment": {"volumeId": volume_id}})
    assert r.status_code == 200, r.text
    return volume_id


def test_the_volume_services_extend_is_an_extend_volume_action(api, api_flavor, compute, cloud_runtime, monkeypatch):
    """What Tempest's test_extend_attached_volume waits for: an ``extend_volume`` action whose
    ``compute_extend_volume`` event finished with ``Success``."""
    sid = _boot(api, api_flavor["id"], compute)
    volume_id = _attached(api, sid, cloud_runtime)
    growing = _Disks()  # the fake hypervisor cannot extend a disk
    monkeypatch.setattr(compute.volumes, "_hv", lambda: growing)
    # the size Nova reads from Cinder for an external event (the fake service has none)
    monkeypatch.setattr(cloud_runtime._services["volume"], "get_volume", lambda ctx, vid: SimpleNamespace(size=3))
    compute.volume_extended(sid, volume_id, 2)
    assert growing.extended == [(sid, 2)]
    shown = _show(api, sid, "extend_volume", "p1", "2.51")
    assert shown["user_id"] == system_context().user_id and shown["project_id"] == api.projects["p1"]
    assert shown["message"] is None
    assert [(e["event"], e["result"]) for e in shown["events"]] == [("compute_extend_volume", "Success")]
    # the external event from another volume service: the size is the volume's
    event = {"name": "volume-extended", "server_uuid": sid, "tag": volume_id}
    r = api("POST", "/os-server-external-events", "admin", {"events": [event]}, version="2.51")
    assert r.status_code == 200, r.text
    compute.runner.wait_idle(timeout=10)
    assert growing.extended == [(sid, 2), (sid, 3)]
    actions = api("GET", f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions][:2] == ["extend_volume", "extend_volume"]
    assert _events(api, sid, "extend_volume") == [("compute_extend_volume", "Success")]


def test_lock_and_power_update_record_nova_events(api, api_flavor, compute):
    sid = _boot(api, api_flavor["id"], compute)
    _act(api, compute, sid, {"lock": None})
    _act(api, compute, sid, {"unlock": None})
    lock = _show(api, sid, "lock")["events"][0]
    assert (lock["event"], lock["result"], lock["host"]) == ("api_lock", "Success", API_HOST)
    assert _events(api, sid, "unlock") == [("api_unlock", "Success")]
    event = {"name": "power-update", "server_uuid": sid, "tag": "POWER_OFF"}
    r = api("POST", "/os-server-external-events", "admin", {"events": [event]}, version="2.76")
    assert r.status_code == 200, r.text
    compute.runner.wait_idle(timeout=10)
    assert _events(api, sid, "stop") == [("compute_power_update", "Success")]


def _flavor(api, name: str) -> str:
    r = api("POST", "/flavors", "admin", {"flavor": {"name": name, "ram": 1024, "vcpus": 2, "disk": 1}})
    assert r.status_code == 200, r.text
    return r.json()["flavor"]["id"]


def test_resize_rebuild_rescue_and_shelve_record_nova_events(api, api_flavor, compute):
    sid = _boot(api, api_flavor["id"], compute)
    _act(api, compute, sid, {"resize": {"flavorRef": _flavor(api, "bigger")}}, "VERIFY_RESIZE")
    assert _events(api, sid, "resize") == [
        ("conductor_migrate_server", "Success"),
        ("compute_resize_instance", "Success"),
        ("compute_finish_resize", "Success"),
    ]
    _act(api, compute, sid, {"confirmResize": None}, "ACTIVE")
    assert _events(api, sid, "confirmResize") == [("compute_confirm_resize", "Success")]
    _act(api, compute, sid, {"rebuild": {"imageRef": IMAGE_ID}}, "ACTIVE")
    assert _events(api, sid, "rebuild") == [("compute_rebuild_instance", "Success")]
    _act(api, compute, sid, {"rescue": None}, "RESCUE")
    _act(api, compute, sid, {"unrescue": None}, "ACTIVE")
    assert _events(api, sid, "rescue") == [("compute_rescue_instance", "Success")]
    assert _events(api, sid, "unrescue") == [("compute_unrescue_instance", "Success")]
    _act(api, compute, sid, {"shelve": None}, "SHELVED_OFFLOADED")
    assert _events(api, sid, "shelve") == [("compute_shelve_instance", "Success")]
    _act(api, compute, sid, {"unshelve": None}, "ACTIVE")
    assert _events(api, sid, "unshelve") == [("compute_unshelve_instance", "Success")]
    r = api("DELETE", f"/servers/{sid}")
    assert r.status_code == 204
    compute.runner.wait_idle(timeout=10)
    assert _events(api, sid, "delete") == [("compute_terminate_instance", "Success")]


def test_an_event_finds_its_action_and_marks_it_on_error(compute, ctx, flavor):
    from .conftest import boot

    rec = boot(compute, ctx, flavor)
    events = compute.events
    assert events.start(rec.uuid, "compute_x", "h", request_id="req-none") is None  # no such action
    request_id = events.record_action(rec.uuid, "x", ctx, rec.project_id)
    assert request_id == ctx.request_id
    with pytest.raises(ValueError):
        with events.event(rec.uuid, "compute_x", "h", actions=("x",)):
            raise ValueError("boom")
    with compute.runtime.db.session() as s:
        action = s.query(InstanceAction).filter_by(instance_uuid=rec.uuid, action="x").one()
        (event,) = events.for_actions(s, [action.id])[action.id]
        assert action.message == "Error" and action.updated_at == event.finish_time
        assert event.result == "Error" and event.details == "boom" and "ValueError: boom" in event.traceback
