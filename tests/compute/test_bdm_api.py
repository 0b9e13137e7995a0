"""``block_device_mapping_v2`` at server create (issue 18): the image's root mapping boots
beside ``imageRef``; malformed mappings and those no host here can make are refused with
Nova's 400 before anything is made (boot from volume itself: tests/volume/test_boot_from_volume.py)."""

from .conftest import IMAGE_ID


def _create(api, flavor_id, bdms, **extra):
    body = {
        "server": {"name": "b", "flavorRef": flavor_id, "networks": "none", "block_device_mapping_v2": bdms, **extra}
    }
    return api("POST", "/servers", "p1", body)


def test_image_root_mapping_boots(api, api_flavor, compute):
    bdm = {"source_type": "image", "destination_type": "local", "boot_index": 0, "uuid": IMAGE_ID}
    r = _create(api, api_flavor["id"], [bdm], imageRef=IMAGE_ID)
    assert r.status_code == 202, r.text
    # as Nova: an image mapped to local only with imageRef (the client adds that mapping for --image)
    r = _create(api, api_flavor["id"], [bdm])
    assert r.status_code == 400
    assert (
        r.json()["badRequest"]["message"] == "Block Device Mapping is Invalid: Mapping image to local is not supported."
    )


def test_mappings_that_cannot_be_made_are_refused_and_change_nothing(api, api_flavor, compute):
    root = {"source_type": "image", "destination_type": "local", "boot_index": 0, "uuid": IMAGE_ID}
    cases = [
        ([root, {"source_type": "blank", "destination_type": "local", "volume_size": 1}], "ephemeral or swap"),
        ([root, {"source_type": "blank", "destination_type": "volume"}], "need to have non-zero size"),
        ([root, {"source_type": "snapshot", "destination_type": "local", "uuid": "s"}], "destination_type=local"),
        ([{"source_type": "image", "destination_type": "volume", "boot_index": 0, "uuid": IMAGE_ID}], "non-zero"),
        ([{"source_type": "floppy", "boot_index": 0}], "source_type"),
        ([root, root], "Boot sequence"),
        ([root, {"source_type": "volume", "destination_type": "volume", "boot_index": 1, "uuid": "v"}], "boot_index"),
        ([dict(root, device_type="cdrom")], "device_type 'cdrom'"),
        ([dict(root, tag="t")], "tag"),
        ([dict(root, bogus=1)], "Additional properties are not allowed ('bogus' was unexpected)"),
        ("not a list", "block_device_mapping_v2"),
    ]
    for bdms, words in cases:
        r = _create(api, api_flavor["id"], bdms, imageRef=IMAGE_ID)
        assert r.status_code == 400, (bdms, r.text)
        assert words in r.json()["badRequest"]["message"], (bdms, r.text)
    r = _create(api, api_flavor["id"], [dict(root, uuid="other-image")], imageRef=IMAGE_ID)
    assert r.status_code == 400 and "is not imageRef" in r.json()["badRequest"]["message"]
    assert api("GET", "/servers").json()["servers"] == []
    assert api("GET", "/limits").json()["limits"]["absolute"]["totalInstancesUsed"] == 0
