"""Image service logic over the fake store: lifecycle, integrity, patching, listing."""

from __future__ import annotations

import hashlib
import os

import pytest

from overcast.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge

from .conftest import chunks_of


def _new(images, ctx, **extra):
    body = {"name": "img", "disk_format": "raw", "container_format": "bare", **extra}
    return images.create(ctx, body)


def test_create_upload_download_roundtrip(images, ctx_a):
    payload = os.urandom(300_000)
    view = _new(images, ctx_a, hypervisor_type="qemu", hw_disk_bus="virtio")
    assert view["status"] == "queued" and view["owner"] == "project-a"
    assert view["hypervisor_type"] == "qemu" and view["visibility"] == "shared"
    images.upload(ctx_a, view["id"], chunks_of(payload), size=len(payload))
    shown = images.show(ctx_a, view["id"])
    assert shown["status"] == "active"
    assert shown["size"] == len(payload) and shown["virtual_size"] == len(payload)
    assert shown["checksum"] == hashlib.md5(payload).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(payload).hexdigest()
    dl = images.open_download(ctx_a, view["id"])
    assert b"".join(dl.chunks) == payload and dl.checksum == shown["checksum"]


def test_range_download(images, ctx_a):
    payload = bytes(range(256)) * 100
    view = _new(images, ctx_a)
    images.upload(ctx_a, view["id"], [payload])
    dl = images.open_download(ctx_a, view["id"], "bytes=10-19")
    assert dl.partial and (dl.start, dl.end) == (10, 19)
    assert b"".join(dl.chunks) == payload[10:20]
    dl = images.open_download(ctx_a, view["id"], "bytes=-5")
    assert b"".join(dl.chunks) == payload[-5:]


def test_download_of_queued_image_has_no_data(images, ctx_a):
    view = _new(images, ctx_a)
    assert images.open_download(ctx_a, view["id"]).chunks is None


@pytest.mark.parametrize(
    "kwargs",
    [{"size": 10}, {"size": 100_000}, {"md5": "0" * 32}],
    ids=["larger-than-declared", "shorter-than-declared", "md5-mismatch"],
)
def test_declared_mismatch_fails_and_keeps_nothing(images, ctx_a, fake_drivers, kwargs):
    view = _new(images, ctx_a)
    with pytest.raises(BadRequest):
        images.upload(ctx_a, view["id"], [b"x" * 1000], **kwargs)
    assert images.show(ctx_a, view["id"])["status"] == "queued"
    assert fake_drivers.image_store.blobs == {}
    images.upload(ctx_a, view["id"], [b"x" * 1000], size=1000)  # may try again
    assert images.show(ctx_a, view["id"])["status"] == "active"


def test_sdk_declared_md5_property_is_verified(images, ctx_a):
    view = _new(images, ctx_a, **{"owner_specified.openstack.md5": hashlib.md5(b"abc").hexdigest()})
    with pytest.raises(BadRequest, match="md5"):
        images.upload(ctx_a, view["id"], [b"abd"])
    images.upload(ctx_a, view["id"], [b"abc"])


def test_max_image_size(images, ctx_a, overcast_runtime):
    overcast_runtime.config.image.max_image_size = 100
    view = _new(images, ctx_a)
    with pytest.raises(PayloadTooLarge):
        images.upload(ctx_a, view["id"], [b"x" * 101])


def test_second_upload_conflicts(images, ctx_a):
    view = _new(images, ctx_a)
    images.upload(ctx_a, view["id"], [b"data"])
    with pytest.raises(Conflict):
        images.upload(ctx_a, view["id"], [b"data"])


def test_upload_needs_formats(images, ctx_a):
    view = images.create(ctx_a, {"name": "x"})
    with pytest.raises(BadRequest, match="disk_format"):
        images.upload(ctx_a, view["id"], [b"data"])


def test_store_failure_kills_image(images, ctx_a, fake_drivers, monkeypatch):
    def broken(**kwargs):
        raise OSError("disk full")

    view = _new(images, ctx_a)
    monkeypatch.setattr(images.store, "add", lambda *a, **k: broken())
    with pytest.raises(OSError):
        images.upload(ctx_a, view["id"], [b"data"])
    assert images.show(ctx_a, view["id"])["status"] == "killed"


def test_corrupt_stored_data_fails_download(images, ctx_a, fake_drivers):
    view = _new(images, ctx_a)
    images.upload(ctx_a, view["id"], [b"A" * 1000])
    (location,) = fake_drivers.image_store.blobs
    fake_drivers.image_store.blobs[location] = b"B" * 1000
    dl = images.open_download(ctx_a, view["id"])
    with pytest.raises(Exception, match="corrupt"):
        b"".join(dl.chunks)


def test_corrupt_stored_data_is_never_sent_whole(fs_images, ctx_a, tmp_path):
    """The last chunk is withheld until the bytes read back are verified, so a download of
    flipped stored data stops short of its size: the client sees a truncated transfer."""
    from overcast_storage_fs.images import READ_CHUNK

    data = os.urandom(2 * READ_CHUNK + 100)
    view = fs_images.create(ctx_a, {"name": "c", "disk_format": "raw", "container_format": "bare"})
    fs_images.upload(ctx_a, view["id"], [data])
    stored = tmp_path / "images" / view["id"]
    with open(stored, "r+b") as f:
        f.seek(READ_CHUNK // 2)
        f.write(bytes([data[READ_CHUNK // 2] ^ 0xFF]))
    received = []
    with pytest.raises(Exception, match="corrupt"):
        for chunk in fs_images.open_download(ctx_a, view["id"]).chunks:
            received.append(chunk)
    assert 0 < sum(map(len, received)) < len(data)
    # intact data streams whole
    good = fs_images.create(ctx_a, {"name": "g", "disk_format": "raw", "container_format": "bare"})
    fs_images.upload(ctx_a, good["id"], [data])
    assert b"".join(fs_images.open_download(ctx_a, good["id"]).chunks) == data


def test_create_validation(images, ctx_a):
    for body in (
        {"disk_format": "exe"},
        {"container_format": "zip"},
        {"min_disk": -1},
        {"min_ram": "1"},
        {"protected": "yes"},
        {"status": "active"},
        {"checksum": "x"},
        {"visibility": "everyone"},
        {"custom": 5},
        {"tags": "a"},
    ):
        with pytest.raises(BadRequest):
            images.create(ctx_a, body)


def test_public_needs_admin(images, ctx_a, admin_ctx):
    with pytest.raises(Forbidden):
        _new(images, ctx_a, visibility="public")
    view = _new(images, ctx_a)
    with pytest.raises(Forbidden):
        images.update(ctx_a, view["id"], [{"op": "replace", "path": "/visibility", "value": "public"}])
    assert _new(images, admin_ctx, visibility="public")["visibility"] == "public"
    assert _new(images, ctx_a, visibility="community")["visibility"] == "community"


def test_patch_operations(images, ctx_a):
    view = _new(images, ctx_a, os_distro="debian", tags=["a"])
    out = images.update(
        ctx_a,
        view["id"],
        [
            {"op": "replace", "path": "/name", "value": "renamed"},
            {"op": "add", "path": "/hw_qemu_guest_agent", "value": "yes"},
            {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
            {"op": "replace", "path": "/min_ram", "value": 512},
            {"op": "replace", "path": "/tags", "value": ["b", "c"]},
            {"op": "add", "path": "/a~1b", "value": "slash"},
        ],
    )
    assert out["name"] == "renamed" and out["hw_qemu_guest_agent"] == "yes"
    assert out["os_distro"] == "ubuntu" and out["min_ram"] == 512 and out["tags"] == ["b", "c"]
    assert out["a/b"] == "slash"
    out = images.update(ctx_a, view["id"], [{"op": "remove", "path": "/os_distro"}])
    assert "os_distro" not in out


def test_patch_is_all_or_nothing(images, ctx_a):
    view = _new(images, ctx_a)
    with pytest.raises(Conflict):
        images.update(
            ctx_a,
            view["id"],
            [{"op": "replace", "path": "/name", "value": "new"}, {"op": "remove", "path": "/nope"}],
        )
    assert images.show(ctx_a, view["id"])["name"] == "img"


@pytest.mark.parametrize(
    ("op", "error"),
    [
        ({"op": "replace", "path": "/status", "value": "active"}, Forbidden),
        ({"op": "replace", "path": "/checksum", "value": "x"}, Forbidden),
        ({"op": "remove", "path": "/name"}, Forbidden),
        ({"op": "replace", "path": "/missing", "value": "x"}, Conflict),
        ({"op": "move", "path": "/name", "from": "/x"}, BadRequest),
        ({"op": "add", "path": "name", "value": "x"}, BadRequest),
        ({"op": "add", "path": "/min_disk", "value": "big"}, BadRequest),
    ],
)
def test_patch_refusals(images, ctx_a, op, error):
    view = _new(images, ctx_a)
    with pytest.raises(error):
        images.update(ctx_a, view["id"], [op])


def test_disk_format_locked_after_upload(images, ctx_a):
    view = _new(images, ctx_a)
    images.upload(ctx_a, view["id"], [b"data"])
    with pytest.raises(Forbidden):
        images.update(ctx_a, view["id"], [{"op": "replace", "path": "/disk_format", "value": "qcow2"}])


def test_protected_cannot_be_deleted(images, ctx_a):
    view = _new(images, ctx_a, protected=True)
    with pytest.raises(Forbidden):
        images.delete(ctx_a, view["id"])
    images.update(ctx_a, view["id"], [{"op": "replace", "path": "/protected", "value": False}])
    images.delete(ctx_a, view["id"])
    with pytest.raises(NotFound):
        images.show(ctx_a, view["id"])


def test_delete_removes_data(images, ctx_a, fake_drivers):
    view = _new(images, ctx_a)
    images.upload(ctx_a, view["id"], [b"data"])
    assert fake_drivers.image_store.blobs
    images.delete(ctx_a, view["id"])
    assert fake_drivers.image_store.blobs == {}


def test_deactivate_reactivate(images, ctx_a, ctx_b, admin_ctx):
    view = _new(images, ctx_a, visibility="community")
    with pytest.raises(Forbidden):
        images.deactivate(ctx_a, view["id"])  # queued
    images.upload(ctx_a, view["id"], [b"data"])
    with pytest.raises(Forbidden):
        images.deactivate(ctx_b, view["id"])
    images.deactivate(ctx_a, view["id"])
    images.deactivate(ctx_a, view["id"])  # idempotent
    assert images.show(ctx_a, view["id"])["status"] == "deactivated"
    with pytest.raises(Forbidden):
        images.open_download(ctx_a, view["id"])
    assert b"".join(images.open_download(admin_ctx, view["id"]).chunks) == b"data"
    images.reactivate(ctx_a, view["id"])
    assert images.show(ctx_a, view["id"])["status"] == "active"


def test_tags(images, ctx_a, ctx_b):
    view = _new(images, ctx_a)
    images.add_tag(ctx_a, view["id"], "x")
    images.add_tag(ctx_a, view["id"], "x")
    assert images.show(ctx_a, view["id"])["tags"] == ["x"]
    with pytest.raises(NotFound):
        images.add_tag(ctx_b, view["id"], "y")  # private to a? shared with nobody: invisible
    images.remove_tag(ctx_a, view["id"], "x")
    with pytest.raises(NotFound):
        images.remove_tag(ctx_a, view["id"], "x")


def test_snapshot_record_and_host_upload(images, ctx_a, tmp_path):
    """Compute's snapshot path: a queued private record, then the host streams the file in
    (over the bus, as an agent without a database would)."""
    images.start()
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    inherited = {"os_distro": "debian", "owner_specified.openstack.md5": "0" * 32, "image_type": "snapshot"}
    image_id = images.create_snapshot_record(ctx_a, "snap", inherited)
    view = images.show(ctx_a, image_id)
    assert view["status"] == "queued" and view["visibility"] == "private"
    assert "owner_specified.openstack.md5" not in view and view["os_distro"] == "debian"
    images.upload_file(image_id=image_id, path=src, disk_format="raw")
    ref = images.image_ref(ctx_a, image_id)
    assert ref.size == src.stat().st_size and ref.properties["image_type"] == "snapshot"
    assert ref.checksum == hashlib.md5(src.read_bytes()).hexdigest() and ref.disk_format == "raw"


def test_host_upload_refused_then_discarded(images, ctx_a, tmp_path, fake_drivers):
    images.start()
    src = tmp_path / "disk.qcow2"
    src.write_bytes(b"not a qcow2" * 100)
    image_id = images.create_snapshot_record(ctx_a, "snap", {})
    with pytest.raises(BadRequest):
        images.upload_file(image_id=image_id, path=src, disk_format="qcow2")
    assert images.show(ctx_a, image_id)["status"] == "queued"
    assert fake_drivers.image_store.blobs == {}
    images.discard_image(image_id=image_id)
    assert images.list(ctx_a, {})[0] == []


def test_image_ref_needs_an_active_image(images, ctx_a):
    view = _new(images, ctx_a)
    with pytest.raises(BadRequest, match="not active"):
        images.image_ref(ctx_a, view["id"])


def test_delete_during_upload_publishes_nothing(images, ctx_a, fake_drivers):
    view = _new(images, ctx_a)

    def stream():
        yield b"first part"
        images.delete(ctx_a, view["id"])  # deleted while its data is still arriving
        yield b"second part"

    with pytest.raises(Conflict, match="deleted"):
        images.upload(ctx_a, view["id"], stream())
    assert fake_drivers.image_store.blobs == {}
    with pytest.raises(NotFound):
        images.show(ctx_a, view["id"])


def test_create_with_chosen_id(images, ctx_a):
    wanted = "2a0e7f5e-5c3b-4a7f-9b8e-1f2d3c4b5a69"
    assert _new(images, ctx_a, id=wanted)["id"] == wanted
    with pytest.raises(Conflict):
        _new(images, ctx_a, id=wanted)
    with pytest.raises(BadRequest):
        _new(images, ctx_a, id="x" * 36)


def test_images_with_properties_for_backup_rotation(images, ctx_a):
    """Compute's backup rotation (issue 18) finds a server's backups by property, oldest first."""
    made = [
        images.create_snapshot_record(
            ctx_a, f"b{n}", {"image_type": "backup", "backup_type": kind, "instance_uuid": "srv-1"}
        )
        for n, kind in enumerate(("daily", "weekly", "daily"))
    ]
    images.create_snapshot_record(
        ctx_a, "other", {"image_type": "backup", "backup_type": "daily", "instance_uuid": "x"}
    )
    wanted = {"image_type": "backup", "backup_type": "daily", "instance_uuid": "srv-1"}
    assert images.images_with_properties(wanted) == [made[0], made[2]]
    images.discard_image(made[0])
    assert images.images_with_properties(wanted) == [made[2]]
