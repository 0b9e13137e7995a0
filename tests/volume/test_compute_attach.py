"""``server add volume`` / ``server remove volume`` through Nova's os-volume_attachments,
with the real compute and volume services over the fake hypervisor and volume drivers."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .conftest import Api

NOVA = {"OpenStack-API-Version": "compute 2.37", "X-OpenStack-Nova-API-Version": "2.37"}


def boot_server(cloud: Any, api: Api) -> str:
    # compute's image calls are not wired to the image service yet: its own stand-in serves them
    from tests.compute.fake_peers import FakeImageService

    images = FakeImageService()
    image_id = str(uuid.uuid4())
    images.add(image_id, disk_format="qcow2")
    cloud.runtime._services["image"] = images
    r = cloud.request(
        "POST",
        "/compute/v2.1/flavors",
        token=cloud.admin_token,
        json={"flavor": {"name": "t1", "ram": 64, "vcpus": 1, "disk": 1, "id": None}},
    )
    assert r.status_code == 200, r.text
    flavor_id = r.json()["flavor"]["id"]
    r = cloud.request(
        "POST",
        "/compute/v2.1/servers",
        token=api.token,
        headers=NOVA,
        json={"server": {"name": "vm1", "imageRef": image_id, "flavorRef": flavor_id, "networks": "none"}},
    )
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    deadline = time.monotonic() + 30
    while True:
        status = cloud.request("GET", f"/compute/v2.1/servers/{server_id}", token=api.token).json()["server"]["status"]
        if status == "ACTIVE":
            return server_id
        assert status != "ERROR" and time.monotonic() < deadline, status
        time.sleep(0.1)


def test_server_add_and_remove_volume(cloud: Any, api: Api, api_b: Api, settle: Any) -> None:
    server_id = boot_server(cloud, api)
    vol = api.post("volumes", {"volume": {"size": 1, "name": "data"}}).json()["volume"]
    settle()
    # another project can neither see the volume nor attach it to its own server
    r = cloud.request(
        "POST",
        f"/compute/v2.1/servers/{server_id}/os-volume_attachments",
        token=api_b.token,
        headers=NOVA,
        json={"volumeAttachment": {"volumeId": vol["id"], "device": None}},
    )
    assert r.status_code == 404
    r = cloud.request(
        "POST",
        f"/compute/v2.1/servers/{server_id}/os-volume_attachments",
        token=api.token,
        headers=NOVA,
        json={"volumeAttachment": {"volumeId": vol["id"], "device": None}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["volumeAttachment"]["device"] == "/dev/vdb"
    again = cloud.request(
        "POST",
        f"/compute/v2.1/servers/{server_id}/os-volume_attachments",
        token=api.token,
        headers=NOVA,
        json={"volumeAttachment": {"volumeId": vol["id"]}},
    )  # Nova's InvalidVolume: 400
    assert again.status_code == 400
    assert again.json()["badRequest"]["message"] == f"Invalid volume: volume {vol['id']} already attached"
    shown = api.get(f"volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "in-use" and shown["attachments"][0]["server_id"] == server_id
    assert shown["attachments"][0]["device"] == "/dev/vdb"
    assert api.delete(f"volumes/{vol['id']}").status_code == 400  # in use
    # online extend: refused before 3.42, and refused up front on a hypervisor driver
    # without hv_extend_volume (the fake one), naming it; nothing changes
    r = api.post(f"volumes/{vol['id']}/action", {"os-extend": {"new_size": 2}})
    assert r.status_code == 400 and "must be available to extend" in r.json()["badRequest"]["message"]
    r = api.post(
        f"volumes/{vol['id']}/action", {"os-extend": {"new_size": 2}}, headers={"OpenStack-API-Version": "volume 3.42"}
    )
    assert r.status_code == 400, r.text
    assert "driver 'fake' does not support 'extend_volume'" in r.json()["badRequest"]["message"]
    shown = api.get(f"volumes/{vol['id']}").json()["volume"]
    assert shown["status"] == "in-use" and shown["size"] == 1
    r = cloud.request(
        "DELETE", f"/compute/v2.1/servers/{server_id}/os-volume_attachments/{vol['id']}", token=api.token, headers=NOVA
    )
    assert r.status_code in (202, 204), r.text
    deadline = time.monotonic() + 30
    while api.get(f"volumes/{vol['id']}").json()["volume"]["status"] != "available":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert api.delete(f"volumes/{vol['id']}").status_code == 202


def test_multiattach_volumes_attach_from_2_60(cloud: Any, api: Api, settle: Any) -> None:
    """Before 2.60 Nova attaches no multiattach volume; from 2.60 it does (the volume service
    keeps a multiattach volume attachable while in use)."""
    server_id = boot_server(cloud, api)
    vol = api.post("volumes", {"volume": {"size": 1, "name": "shared", "multiattach": True}}).json()["volume"]
    settle()
    path = f"/compute/v2.1/servers/{server_id}/os-volume_attachments"
    body = {"volumeAttachment": {"volumeId": vol["id"]}}
    r = cloud.request("POST", path, token=api.token, headers={"OpenStack-API-Version": "compute 2.59"}, json=body)
    assert r.status_code == 400 and "2.60" in r.text, r.text
    r = cloud.request("POST", path, token=api.token, headers={"OpenStack-API-Version": "compute 2.60"}, json=body)
    assert r.status_code == 200, r.text
    settle()
    assert api.get(f"volumes/{vol['id']}").json()["volume"]["status"] == "in-use"
