"""``/os-server-external-events`` (issue 16): per-event codes (200, 404, 400 for a
power-update without its tag), 207 and 404 for the request, Nova's schema per version, and
admin only."""

from __future__ import annotations

import uuid

from .conftest import IMAGE_ID, api_wait


def _server(api, flavor_id, compute, who="p1"):
    body = {"server": {"name": "ev", "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", who, body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE", who)
    return sid


def test_events_are_answered_one_by_one(api, api_flavor, compute):
    sid = _server(api, api_flavor["id"], compute, "p2")  # any project's server: an admin API
    r = api(
        "POST", "/os-server-external-events", "admin", {"events": [{"name": "network-changed", "server_uuid": sid}]}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"events": [{"name": "network-changed", "server_uuid": sid, "status": "completed", "code": 200}]}
    compute.runner.wait_idle(timeout=10)
    gone = str(uuid.uuid4())
    events = [
        {"name": "network-vif-plugged", "server_uuid": sid, "tag": "port", "status": "in-progress"},
        {"name": "network-changed", "server_uuid": gone},
    ]
    r = api("POST", "/os-server-external-events", "admin", {"events": events})
    assert r.status_code == 207, r.text
    assert [(e["code"], e["status"]) for e in r.json()["events"]] == [(200, "in-progress"), (404, "failed")]
    r = api("POST", "/os-server-external-events", "admin", {"events": [events[1]]})
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "No instances found for any event"
    power = [
        {"name": "power-update", "server_uuid": sid, "tag": "POWER_ON"},
        {"name": "power-update", "server_uuid": sid},
    ]
    r = api("POST", "/os-server-external-events", "admin", {"events": power}, version="2.76")
    assert r.status_code == 207 and [e["code"] for e in r.json()["events"]] == [200, 400]
    compute.runner.wait_idle(timeout=10)
    assert api("GET", f"/servers/{sid}", "admin").json()["server"]["status"] == "ACTIVE"


def test_schema_per_version(api, api_flavor, compute):
    sid = _server(api, api_flavor["id"], compute)
    r = api("POST", "/os-server-external-events", "admin", {"events": [{"name": "power-update", "server_uuid": sid}]})
    assert r.status_code == 400 and "power-update" in r.json()["badRequest"]["message"]
    ext = {"events": [{"name": "volume-extended", "server_uuid": sid, "tag": str(uuid.uuid4())}]}
    assert api("POST", "/os-server-external-events", "admin", ext).status_code == 400
    assert api("POST", "/os-server-external-events", "admin", ext, version="2.51").status_code == 200
    for bad in (
        {"events": []},
        {"events": [{"name": "network-changed"}]},
        {"events": [{"name": "network-changed", "server_uuid": "not-a-uuid"}]},
        {"events": [{"name": "network-changed", "server_uuid": sid, "status": "done"}]},
        {"events": [{"name": "network-changed", "server_uuid": sid, "extra": 1}]},
        {"evts": []},
    ):
        assert api("POST", "/os-server-external-events", "admin", bad).status_code == 400, bad


def test_admin_only(api, api_flavor, compute):
    sid = _server(api, api_flavor["id"], compute)
    body = {"events": [{"name": "network-changed", "server_uuid": sid}]}
    assert api("POST", "/os-server-external-events", "p1", body).status_code == 403
