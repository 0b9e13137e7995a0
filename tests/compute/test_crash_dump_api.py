"""``trigger_crash_dump`` (issue 18): no driver can inject an NMI, so Nova's refusals, in
Nova's order: no such action before 2.17, 404 for another project, 409 in a state that does
not allow it, else Nova's 400 for an unsupported driver; the server is unchanged."""

from __future__ import annotations

from .conftest import IMAGE_ID, api_wait


def test_trigger_crash_dump_is_refused_as_nova_does(api, api_flavor, compute):
    body = {"server": {"name": "c", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    act = {"trigger_crash_dump": None}
    r = api("POST", f"/servers/{sid}/action", "p1", act, version="2.16")
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "There is no such action: trigger_crash_dump"
    assert api("POST", f"/servers/{sid}/action", "p2", act, version="2.17").status_code == 404
    r = api("POST", f"/servers/{sid}/action", "p1", act, version="2.17")
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "Triggering crash dump is not supported"
    api("POST", f"/servers/{sid}/action", "p1", {"os-stop": None})
    api_wait(api, compute, sid, "SHUTOFF")
    r = api("POST", f"/servers/{sid}/action", "p1", act, version="2.17")
    assert r.status_code == 409
    assert (
        r.json()["conflictingRequest"]["message"]
        == f"Cannot 'trigger_crash_dump' instance {sid} while it is in vm_state stopped"
    )
    assert api("GET", f"/servers/{sid}", "p1").json()["server"]["status"] == "SHUTOFF"


def test_lock_and_unlock_are_recorded_as_instance_actions(api, api_flavor, compute):
    body = {"server": {"name": "l", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    assert api("POST", f"/servers/{sid}/action", "p1", {"lock": None}).status_code == 202
    assert api("POST", f"/servers/{sid}/action", "p1", {"unlock": None}).status_code == 202
    actions = api("GET", f"/servers/{sid}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["unlock", "lock", "create"]
