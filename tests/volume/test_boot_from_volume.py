"""Boot from volume and volumes at server create (issue 18), through Nova's
``block_device_mapping_v2`` / legacy ``block_device_mapping``, with the real compute and
volume services over the fake hypervisor and volume drivers."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from .conftest import Api

NOVA = {"OpenStack-API-Version": "compute 2.37"}


@pytest.fixture
def bfv(cloud: Any, api: Api, fake_drivers: Any) -> Any:
    """The cloud with a (fake) image service holding a bootable image, and a flavor."""
    from tests.compute.fake_peers import FakeImageService

    images = FakeImageService()
    image_id = str(uuid.uuid4())
    images.add(image_id, disk_format="qcow2", hypervisor_type="fake")  # the scheduler must honour it for BFV too
    images.images[image_id]["data"] = b"TINY-BOOT-SECTOR"
    cloud.runtime._services["image"] = images
    r = cloud.request(
        "POST",
        "/compute/v2.1/flavors",
        token=cloud.admin_token,
        json={"flavor": {"name": "t1", "ram": 64, "vcpus": 1, "disk": 1, "id": None}},
    )
    assert r.status_code == 200, r.text

    class Bfv:
        def __init__(self) -> None:
            self.image_id = image_id
            self.flavor_id = r.json()["flavor"]["id"]
            self.images = images

        def nova(self, method: str, path: str, json: Any = None, version: str = "2.37") -> Any:
            return cloud.request(
                method,
                f"/compute/v2.1{path}",
                token=api.token,
                headers={"OpenStack-API-Version": f"compute {version}"},
                json=json,
            )

        def create(self, **server: Any) -> Any:
            body = {"name": "bfv", "flavorRef": self.flavor_id, "networks": "none", **server}
            return self.nova("POST", "/servers", {"server": body})

        def wait(self, server_id: str, status: str = "ACTIVE") -> dict:
            deadline = time.monotonic() + 30
            while True:
                r = self.nova("GET", f"/servers/{server_id}")
                if status == "DELETED" and r.status_code == 404:
                    return {}
                shown = r.json()["server"]
                if shown["status"] == status:
                    return shown
                assert shown["status"] != "ERROR" or status == "ERROR", shown.get("fault")
                assert time.monotonic() < deadline, shown["status"]
                time.sleep(0.05)

        def volume(self, volume_id: str) -> dict:
            return api.get(f"volumes/{volume_id}").json()["volume"]

        def wait_volume(self, volume_id: str, status: str) -> dict:
            deadline = time.monotonic() + 30
            while True:
                r = api.get(f"volumes/{volume_id}")
                if status == "deleted" and r.status_code == 404:
                    return {}
                vol = r.json()["volume"]
                if vol["status"] == status:
                    return vol
                assert time.monotonic() < deadline, vol["status"]
                time.sleep(0.05)

        def guest(self, server_id: str) -> dict:
            for guests in fake_drivers.hypervisor.guests.values():
                for guest in guests.values():
                    if guest["id"] == server_id:
                        return guest
            raise AssertionError(f"no guest for {server_id}")

    return Bfv()


def test_boot_from_an_image_made_volume_then_delete_it(bfv: Any, api: Api) -> None:
    r = bfv.create(
        imageRef="",
        block_device_mapping_v2=[
            {
                "boot_index": 0,
                "uuid": bfv.image_id,
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": 1,
                "delete_on_termination": True,
            }
        ],
    )
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    shown = bfv.wait(server_id)
    assert shown["image"] == ""  # as Nova shows a volume-backed server
    attached = shown["os-extended-volumes:volumes_attached"]
    assert len(attached) == 1 and attached[0]["delete_on_termination"] is True
    vol = bfv.volume(attached[0]["id"])
    assert vol["status"] == "in-use" and vol["bootable"] == "true"
    assert vol["attachments"][0]["server_id"] == server_id and vol["attachments"][0]["device"] == "/dev/vda"
    assert vol["volume_image_metadata"]["image_id"] == bfv.image_id
    assert vol["volume_image_metadata"]["hypervisor_type"] == "fake"  # the image's properties, as Cinder
    guest = bfv.guest(server_id)
    assert guest["instance"].image is None  # no local root disk: the volume is vda
    assert list(guest["volumes"]) == ["/dev/vda"]
    r = bfv.nova("GET", f"/servers/{server_id}/os-volume_attachments")
    assert [a["device"] for a in r.json()["volumeAttachments"]] == ["/dev/vda"]
    # rebuild with another image is refused as Nova refuses it; nothing changes
    other = str(uuid.uuid4())
    bfv.images.add(other)
    r = bfv.nova("POST", f"/servers/{server_id}/action", {"rebuild": {"imageRef": other}})
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == (
        f"Image {other} is unacceptable: Unable to rebuild with a different image for a volume-backed server."
    )
    assert bfv.wait(server_id)["status"] == "ACTIVE"
    r = bfv.nova("POST", f"/servers/{server_id}/action", {"rescue": None})  # Nova before 2.87
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == (
        f"Instance {server_id} cannot be rescued: Cannot rescue a volume-backed instance"
    )
    backup = {"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}}
    r = bfv.nova("POST", f"/servers/{server_id}/action", backup)
    assert r.status_code == 400
    assert r.json()["badRequest"]["message"] == "Backup is not supported for volume-backed instances."
    assert bfv.nova("DELETE", f"/servers/{server_id}").status_code == 204
    bfv.wait(server_id, "DELETED")
    bfv.wait_volume(attached[0]["id"], "deleted")  # delete_on_termination


def test_boot_from_an_existing_volume_kept_after_delete(bfv: Any, api: Api, settle: Any, cloud: Any) -> None:
    vol = api.post("volumes", {"volume": {"size": 1, "imageRef": bfv.image_id, "name": "root"}}).json()["volume"]
    settle()
    assert bfv.volume(vol["id"])["bootable"] == "true"
    # Tempest's volume-backed server: imageRef "" and the volume at boot index 0
    r = bfv.create(
        imageRef="",
        block_device_mapping_v2=[
            {"uuid": vol["id"], "source_type": "volume", "destination_type": "volume", "boot_index": 0}
        ],
    )
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    shown = bfv.wait(server_id)
    assert shown["image"] == ""
    assert shown["os-extended-volumes:volumes_attached"] == [{"id": vol["id"], "delete_on_termination": False}]
    assert bfv.volume(vol["id"])["status"] == "in-use"
    # the same volume for a second server: Cinder's status rule, as a 400, nothing made
    r = bfv.create(
        block_device_mapping_v2=[
            {"uuid": vol["id"], "source_type": "volume", "destination_type": "volume", "boot_index": 0}
        ],
    )
    assert r.status_code == 400 and "Invalid volume" in r.json()["badRequest"]["message"], r.text
    # a resize (on its own host, the cloud's only one) takes the root volume along: the guest is
    # defined again with the volume as vda, and the attachment stays in-use
    bigger = cloud.request(
        "POST",
        "/compute/v2.1/flavors",
        token=cloud.admin_token,
        json={"flavor": {"name": "t2", "ram": 128, "vcpus": 1, "disk": 1, "id": None}},
    ).json()["flavor"]
    r = bfv.nova("POST", f"/servers/{server_id}/action", {"resize": {"flavorRef": bigger["id"]}})
    assert r.status_code == 202, r.text
    bfv.wait(server_id, "VERIFY_RESIZE")
    assert list(bfv.guest(server_id)["volumes"]) == ["/dev/vda"]
    assert bfv.nova("POST", f"/servers/{server_id}/action", {"confirmResize": None}).status_code == 204
    assert bfv.wait(server_id)["flavor"]["id"] == bigger["id"]
    assert bfv.volume(vol["id"])["status"] == "in-use"
    # shelve: no image is made for a volume-backed server; it leaves the host and comes back
    # with its root volume exported to wherever it lands
    images_before = set(bfv.images.images)
    assert bfv.nova("POST", f"/servers/{server_id}/action", {"shelve": None}).status_code == 202
    bfv.wait(server_id, "SHELVED_OFFLOADED")
    assert set(bfv.images.images) == images_before
    assert bfv.volume(vol["id"])["status"] == "in-use"
    assert bfv.nova("POST", f"/servers/{server_id}/action", {"unshelve": None}).status_code == 202
    bfv.wait(server_id)
    guest = bfv.guest(server_id)
    assert guest["instance"].image is None and list(guest["volumes"]) == ["/dev/vda"]
    assert bfv.nova("DELETE", f"/servers/{server_id}").status_code == 204
    bfv.wait(server_id, "DELETED")
    assert bfv.wait_volume(vol["id"], "available")["attachments"] == []


def test_legacy_mapping_snapshot_and_blank_volumes(bfv: Any, api: Api, settle: Any) -> None:
    root = api.post("volumes", {"volume": {"size": 1, "imageRef": bfv.image_id}}).json()["volume"]
    data = api.post("volumes", {"volume": {"size": 1}}).json()["volume"]
    settle()
    snap = api.post("snapshots", {"snapshot": {"volume_id": data["id"], "name": "s"}}).json()["snapshot"]
    settle()
    # legacy block_device_mapping: the volume on vda boots
    r = bfv.create(block_device_mapping=[{"device_name": "vda", "volume_id": root["id"]}])
    assert r.status_code == 202, r.text
    legacy = r.json()["server"]["id"]
    assert bfv.wait(legacy)["os-extended-volumes:volumes_attached"] == [
        {"id": root["id"], "delete_on_termination": False}
    ]
    assert list(bfv.guest(legacy)["volumes"]) == ["/dev/vda"]
    # an image's root disk plus a volume from a snapshot and a blank one
    r = bfv.create(
        imageRef=bfv.image_id,
        block_device_mapping_v2=[
            {"boot_index": 0, "uuid": bfv.image_id, "source_type": "image", "destination_type": "local"},
            {"uuid": snap["id"], "source_type": "snapshot", "destination_type": "volume", "boot_index": -1},
            {
                "source_type": "blank",
                "destination_type": "volume",
                "volume_size": 2,
                "delete_on_termination": True,
                "device_name": "/dev/vdc",
            },
        ],
    )
    assert r.status_code == 202, r.text
    mixed = r.json()["server"]["id"]
    shown = bfv.wait(mixed)
    assert shown["image"]["id"] == bfv.image_id
    guest = bfv.guest(mixed)
    assert guest["instance"].image is not None and sorted(guest["volumes"]) == ["/dev/vdb", "/dev/vdc"]
    by_device = {
        a["device"]: a["volumeId"]
        for a in bfv.nova("GET", f"/servers/{mixed}/os-volume_attachments").json()["volumeAttachments"]
    }
    from_snap, blank = bfv.volume(by_device["/dev/vdb"]), bfv.volume(by_device["/dev/vdc"])
    assert from_snap["snapshot_id"] == snap["id"] and from_snap["size"] == 1 and from_snap["status"] == "in-use"
    assert blank["size"] == 2 and blank["status"] == "in-use"
    for server_id in (legacy, mixed):
        assert bfv.nova("DELETE", f"/servers/{server_id}").status_code == 204
        bfv.wait(server_id, "DELETED")
    bfv.wait_volume(blank["id"], "deleted")
    assert bfv.wait_volume(from_snap["id"], "available")["attachments"] == []
    assert bfv.wait_volume(root["id"], "available")["attachments"] == []


def test_mappings_refused_with_novas_400_and_nothing_made(bfv: Any, api: Api, settle: Any) -> None:
    plain = api.post("volumes", {"volume": {"size": 1, "name": "plain"}}).json()["volume"]
    settle()
    missing = str(uuid.uuid4())

    def v2(**item: Any) -> dict:
        return {"block_device_mapping_v2": [{"destination_type": "volume", "boot_index": 0, **item}]}

    cases = [
        (v2(source_type="volume", uuid=plain["id"]), f"Block Device {plain['id']} is not bootable."),
        (v2(source_type="volume", uuid=missing), f"Block Device Mapping is Invalid: failed to get volume {missing}."),
        (
            v2(source_type="snapshot", uuid=missing),
            f"Block Device Mapping is Invalid: failed to get snapshot {missing}.",
        ),
        (
            v2(source_type="image", uuid=missing, volume_size=1),
            f"Block Device Mapping is Invalid: failed to get image {missing}.",
        ),
        (
            v2(source_type="image", uuid=bfv.image_id),
            "Images with destination_type 'volume' need to have a non-zero size specified",
        ),
        (
            v2(source_type="blank"),
            "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size",
        ),
        (v2(source_type="volume"), "Block Device Mapping is Invalid: Missing device UUID."),
        (
            {"block_device_mapping_v2": [{"source_type": "image", "uuid": bfv.image_id, "boot_index": 0}]},
            "Block Device Mapping is Invalid: Mapping image to local is not supported.",
        ),
        (
            v2(source_type="volume", uuid=plain["id"], boot_index=1),
            "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping "
            "combination is not valid.",
        ),
        (
            {
                "block_device_mapping_v2": [
                    {"source_type": "blank", "destination_type": "local", "boot_index": -1, "volume_size": 1},
                    {"source_type": "image", "uuid": bfv.image_id, "boot_index": 0, "destination_type": "local"},
                ],
                "imageRef": bfv.image_id,
            },
            "ephemeral or swap disk",
        ),
        (
            {**v2(source_type="volume", uuid=plain["id"]), "block_device_mapping": [{"volume_id": plain["id"]}]},
            "Using different block_device_mapping syntaxes is not allowed in the same request.",
        ),
        (
            {**v2(source_type="image", uuid=bfv.image_id, volume_size=1, disk_bus="scsi")},
            "disk_bus 'scsi'",
        ),
        (
            {**v2(source_type="volume", uuid=plain["id"]), "max_count": 2},
            "Cannot attach one or more volumes to multiple instances",
        ),
        ({"imageRef": ""}, "Missing imageRef attribute"),
    ]
    for extra, message in cases:
        r = bfv.create(**extra)
        assert r.status_code == 400, (extra, r.text)
        assert message in r.json()["badRequest"]["message"], (extra, r.text)
    assert bfv.nova("GET", "/servers").json()["servers"] == []
    assert [v["id"] for v in api.get("volumes").json()["volumes"]] == [plain["id"]]
    assert bfv.volume(plain["id"])["status"] == "available"
