"""Uploaded data is inspected: wrong formats and images that would open host files are
refused with a clear message, and nothing is stored (the fs store, real qemu-img images)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from overcast.image.inspect import HEAD_BYTES, StreamInspector, inspect

from .conftest import chunks_of, qemu_img, stored_files

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


def _upload(images, ctx, path: Path, disk_format: str):
    view = images.create(ctx, {"name": path.name, "disk_format": disk_format, "container_format": "bare"})
    data = path.read_bytes()
    images.upload(ctx, view["id"], chunks_of(data), size=len(data))
    return images.show(ctx, view["id"])


def _refused(images, ctx, path: Path, disk_format: str, store_dir: Path, match: str):
    view = images.create(ctx, {"name": path.name, "disk_format": disk_format, "container_format": "bare"})
    data = path.read_bytes()
    with pytest.raises(Exception, match=match) as info:
        images.upload(ctx, view["id"], chunks_of(data), size=len(data))
    assert getattr(info.value, "status", None) == 400
    assert images.show(ctx, view["id"])["status"] == "queued"
    assert stored_files(store_dir) == []


def test_qcow2_with_backing_file_etc_passwd_is_refused(fs_images, ctx_a, tmp_path):
    bad = tmp_path / "bad.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(bad))
    _refused(fs_images, ctx_a, bad, "qcow2", tmp_path / "images", "backing file")


def test_big_qcow2_with_backing_file_is_refused_early(fs_images, ctx_a, tmp_path):
    """The refusal comes once the header has arrived, not after the whole stream."""
    bad = tmp_path / "bad.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(bad))
    header = bad.read_bytes()
    consumed = 0

    def endless():
        nonlocal consumed
        yield header
        while True:
            consumed += 1 << 20
            yield b"\0" * (1 << 20)

    view = fs_images.create(ctx_a, {"name": "b", "disk_format": "qcow2", "container_format": "bare"})
    with pytest.raises(Exception, match="backing file"):
        fs_images.upload(ctx_a, view["id"], endless())
    assert consumed <= HEAD_BYTES + (1 << 20)
    assert stored_files(tmp_path / "images") == []


def test_qcow2_with_external_data_file_is_refused(fs_images, ctx_a, tmp_path):
    bad = tmp_path / "df.qcow2"
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'x.raw'}", str(bad), "16M")
    _refused(fs_images, ctx_a, bad, "qcow2", tmp_path / "images", "data file")


def test_vmdk_descriptor_naming_other_files_is_refused(fs_images, ctx_a, tmp_path):
    flat = tmp_path / "flat.vmdk"
    qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(flat), "16M")
    _refused(fs_images, ctx_a, flat, "vmdk", tmp_path / "images", "descriptor")


def test_sparse_vmdk_with_a_flat_extent_to_etc_passwd_is_refused(fs_images, ctx_a, tmp_path):
    vmdk = tmp_path / "x.vmdk"
    qemu_img("create", "-f", "vmdk", str(vmdk), "16M")
    data = bytearray(vmdk.read_bytes())
    desc_offset = struct.unpack_from("<Q", data, 28)[0] * 512
    text = data[desc_offset : desc_offset + 1024].split(b"\0", 1)[0]
    evil = text.replace(b'SPARSE "x.vmdk"', b'FLAT "/etc/passwd" 0')
    data[desc_offset : desc_offset + len(evil)] = evil
    vmdk.write_bytes(bytes(data))
    _refused(fs_images, ctx_a, vmdk, "vmdk", tmp_path / "images", "extents")


@pytest.mark.parametrize(
    ("content_format", "declared"),
    [("qcow2", "raw"), ("raw", "qcow2"), ("vmdk", "qcow2"), ("qcow2", "vmdk"), ("vpc", "raw"), ("raw", "iso")],
)
def test_disk_format_must_match_content(fs_images, ctx_a, tmp_path, content_format, declared):
    path = tmp_path / f"img.{content_format}"
    qemu_img("create", "-f", content_format, str(path), "16M")
    _refused(fs_images, ctx_a, path, declared, tmp_path / "images", "does not match")


@pytest.mark.parametrize(
    ("qemu_format", "declared", "options"),
    [
        ("qcow2", "qcow2", []),
        ("qcow2", "qcow2", ["-o", "compat=0.10"]),
        ("vmdk", "vmdk", []),
        ("vmdk", "vmdk", ["-o", "subformat=streamOptimized"]),
        ("vpc", "vhd", []),
        ("vpc", "vhd", ["-o", "subformat=fixed"]),
        ("vhdx", "vhdx", []),
        ("vdi", "vdi", []),
        ("raw", "raw", []),
    ],
)
def test_good_images_are_accepted_with_qemu_img_virtual_size(
    fs_images, ctx_a, tmp_path, qemu_format, declared, options
):
    import json
    import subprocess

    path = tmp_path / f"img.{qemu_format}"
    qemu_img("create", "-f", qemu_format, *options, str(path), "16M")
    view = _upload(fs_images, ctx_a, path, declared)
    assert view["status"] == "active"
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", "-f", qemu_format, str(path)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    if view["virtual_size"] is not None:
        assert view["virtual_size"] == info["virtual-size"]
    elif declared != "vhdx":
        pytest.fail("virtual_size missing")


def test_iso_is_recognised():
    head = bytearray(40000)
    head[0x8001:0x8006] = b"CD001"
    assert inspect(bytes(head), b"", 40000).format == "iso"


def test_truncated_qcow2_header_is_unsafe():
    inspector = StreamInspector("qcow2")
    inspector.feed(b"QFI\xfb\x00\x00\x00\x03")
    with pytest.raises(Exception, match="truncated"):
        inspector.finish(8)


def test_mismatch_is_stored_as_declared_when_the_operator_allows_it(fs_images, ctx_a, tmp_path, monkeypatch):
    """``[image] require_format_match = false`` (Glance's require_image_format_match) stores
    content as its declared format, but unsafe content is still refused."""
    monkeypatch.setattr(fs_images.runtime.config.image, "require_format_match", False)
    raw = tmp_path / "img.raw"
    raw.write_bytes(bytes(range(256)) * 4096)
    assert _upload(fs_images, ctx_a, raw, "qcow2")["status"] == "active"
    bad = tmp_path / "bad.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(bad))
    view = fs_images.create(ctx_a, {"name": "bad", "disk_format": "raw", "container_format": "bare"})
    with pytest.raises(Exception, match="backing file"):
        fs_images.upload(ctx_a, view["id"], chunks_of(bad.read_bytes()))
    assert fs_images.show(ctx_a, view["id"])["status"] == "queued"
