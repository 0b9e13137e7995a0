"""Nova's rescue / unrescue actions (issue 18) over the fake hypervisor: RESCUE while the
rescue guest runs, back to ACTIVE after unrescue, Nova's 409 in other states and its 400 for a
volume-backed server; every step recorded in the instance actions."""

import uuid

from .conftest import IMAGE_ID, api_wait


def _boot(api, compute, flavor_id) -> str:
    body = {"server": {"name": "r1", "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    r = api("POST", "/servers", "p1", body)
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    return server_id


def _guest(fake_drivers, server_id):
    return next(
        g for guests in fake_drivers.hypervisor.guests.values() for g in guests.values() if g["id"] == server_id
    )


def test_rescue_and_unrescue(api, api_flavor, compute, fake_drivers):
    server_id = _boot(api, compute, api_flavor["id"])
    act = f"/servers/{server_id}/action"
    assert api("POST", act, "p1", {"unrescue": None}).status_code == 409  # not rescued
    r = api("POST", act, "p1", {"rescue": {"adminPass": "s3cret"}})
    assert r.status_code == 200 and r.json() == {"adminPass": "s3cret"}, r.text
    shown = api_wait(api, compute, server_id, "RESCUE")
    assert shown["OS-EXT-STS:vm_state"] == "rescued" and shown["OS-EXT-STS:power_state"] == 1
    assert _guest(fake_drivers, server_id)["rescue"]["image"] == IMAGE_ID  # the server's own image
    r = api("POST", act, "p1", {"rescue": None})
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        f"Cannot 'rescue' instance {server_id} while it is in vm_state rescued"
    )
    assert api("POST", act, "p1", {"os-stop": None}).status_code == 409
    assert api("POST", act, "p1", {"unrescue": {"x": 1}}).status_code == 400
    assert api("POST", act, "p1", {"unrescue": None}).status_code == 202
    api_wait(api, compute, server_id, "ACTIVE")
    assert "rescue" not in _guest(fake_drivers, server_id)
    # from SHUTOFF, with another image, and a generated password
    other = str(uuid.uuid4())
    compute.runtime.service("image").add(other)
    assert api("POST", act, "p1", {"os-stop": None}).status_code == 202
    api_wait(api, compute, server_id, "SHUTOFF")
    r = api("POST", act, "p1", {"rescue": {"rescue_image_ref": other}})
    assert r.status_code == 200 and len(r.json()["adminPass"]) >= 8
    api_wait(api, compute, server_id, "RESCUE")
    assert _guest(fake_drivers, server_id)["rescue"]["image"] == other
    actions = [
        a["action"] for a in api("GET", f"/servers/{server_id}/os-instance-actions", "p1").json()["instanceActions"]
    ]
    assert actions[:4] == ["rescue", "stop", "unrescue", "rescue"]


def test_rescue_refusals(api, api_flavor, compute):
    server_id = _boot(api, compute, api_flavor["id"])
    act = f"/servers/{server_id}/action"
    missing = str(uuid.uuid4())
    r = api("POST", act, "p1", {"rescue": {"rescue_image_ref": missing}})
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == f"Image {missing} could not be found."
    r = api("POST", act, "p1", {"rescue": {"bogus": 1}})
    assert r.status_code == 400 and "'bogus'" in r.json()["badRequest"]["message"]
    assert api("POST", act, "p2", {"rescue": None}).status_code == 404  # another project's server
    assert api("GET", f"/servers/{server_id}", "p1").json()["server"]["status"] == "ACTIVE"


def test_a_rescued_server_keeps_its_volumes(api, api_flavor, compute):
    """Issue 16: detaching (and attaching) is Nova's 409 while the server is rescued."""
    server_id = _boot(api, compute, api_flavor["id"])
    volumes = compute.runtime._services["volume"]
    attached, other = str(uuid.uuid4()), str(uuid.uuid4())
    volumes.add(attached, api.projects["p1"])
    volumes.add(other, api.projects["p1"])
    path = f"/servers/{server_id}/os-volume_attachments"
    assert api("POST", path, "p1", {"volumeAttachment": {"volumeId": attached}}).status_code == 200
    assert api("POST", f"/servers/{server_id}/action", "p1", {"rescue": None}).status_code == 200
    api_wait(api, compute, server_id, "RESCUE")
    r = api("DELETE", f"{path}/{attached}", "p1")
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        f"Cannot 'detach_volume' instance {server_id} while it is in vm_state rescued"
    )
    assert api("POST", path, "p1", {"volumeAttachment": {"volumeId": other}}).status_code == 409
    assert volumes.volumes[attached]["status"] == "in-use"
