"""Host image cache: fetched once, verified, made safe, converted with qemu-img when the
host needs another format; works from the store hooks alone (no database)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading

import pytest

from overcast.errors import DriverError, Unprocessable
from overcast.image.service import ImageService

from .conftest import qemu_img

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


class _NoDatabase:
    def __getattr__(self, name):
        raise AssertionError("the host side must not touch the database")


def _agent_side(runtime):
    """An ImageService as an agent builds it: same config, plugins and bus, no database.
    The controller's service answers it over the bus."""
    runtime.image.start()
    agent_runtime = type(
        "AgentRuntime",
        (),
        {
            "plugins": runtime.plugins,
            "drivers": runtime.drivers,
            "db": _NoDatabase(),
            "config": runtime.config,
            "bus": runtime.bus,
        },
    )()
    return ImageService(agent_runtime)


def _uploaded(images, ctx, path, disk_format):
    view = images.create(ctx, {"name": path.name, "disk_format": disk_format, "container_format": "bare"})
    images.upload(ctx, view["id"], [path.read_bytes()])
    return images.image_ref(ctx, view["id"]), None


def test_fetch_once_verify_and_keep_format(fs_runtime, fs_images, ctx_a, tmp_path):
    src = tmp_path / "src.qcow2"
    qemu_img("create", "-f", "qcow2", str(src), "32M")
    ref, location = _uploaded(fs_images, ctx_a, src, "qcow2")
    agent = _agent_side(fs_runtime)
    cache_dir = tmp_path / "cache"
    got = agent.fetch_to_cache(ref, cache_dir=cache_dir, formats=["qcow2", "raw"])
    assert got.disk_format == "qcow2" and got.path == str(cache_dir / f"{ref.id}.qcow2")
    assert open(got.path, "rb").read() == src.read_bytes()
    calls = []
    agent.store.get = lambda *a, **k: calls.append(a)  # a second fetch must not download
    again = agent.fetch_to_cache(ref, cache_dir=cache_dir, formats=["qcow2", "raw"])
    assert again.path == got.path and calls == []


def test_convert_when_host_needs_another_format(fs_runtime, fs_images, ctx_a, tmp_path):
    src = tmp_path / "src.qcow2"
    qemu_img("create", "-f", "qcow2", str(src), "32M")
    subprocess.run(["qemu-io", "-c", "write -P 0xab 0 1M", str(src)], check=True, capture_output=True)
    ref, location = _uploaded(fs_images, ctx_a, src, "qcow2")
    got = _agent_side(fs_runtime).fetch_to_cache(image=ref, cache_dir=tmp_path / "cache", formats=["raw"])
    assert got.disk_format == "raw"
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", "-f", "raw", got.path], capture_output=True, text=True, check=True
        ).stdout
    )
    assert info["virtual-size"] == 32 * 1024 * 1024
    with open(got.path, "rb") as f:
        assert f.read(1024 * 1024) == b"\xab" * (1024 * 1024)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")) == [f"{ref.id}.raw"]


def test_checksum_mismatch_leaves_nothing_in_cache(fs_runtime, fs_images, ctx_a, tmp_path):
    src = tmp_path / "src.raw"
    src.write_bytes(b"\1" * 4096)
    ref, location = _uploaded(fs_images, ctx_a, src, "raw")
    forged = dataclasses.replace(ref, checksum="0" * 32)
    with pytest.raises(DriverError, match="checksum"):
        _agent_side(fs_runtime).fetch_to_cache(image=forged, cache_dir=tmp_path / "cache", formats=["raw"])
    assert [p for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_backing_file_is_refused_on_the_host_too(fs_runtime, fs_images, ctx_a, tmp_path, fake_drivers):
    """Defence in depth: data that slipped past upload inspection is checked by qemu-img."""
    bad = tmp_path / "bad.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(bad))
    stored = fs_images.store.add("11111111-1111-1111-1111-111111111111", [bad.read_bytes()], None)
    import hashlib

    from overcast.types import ImageRef

    data = bad.read_bytes()
    ref = ImageRef(
        id="11111111-1111-1111-1111-111111111111",
        name="bad",
        disk_format="qcow2",
        size=len(data),
        checksum=hashlib.md5(data).hexdigest(),
    )
    with pytest.raises(Unprocessable, match="backing file"):
        _agent_side(fs_runtime).fetch_to_cache(ref, tmp_path / "cache", ["raw"], location=stored.location)
    assert not (tmp_path / "cache" / f"{ref.id}.raw").exists()


def test_volume_service_argument_order(fs_runtime, fs_images, ctx_a, tmp_path):
    """The volume service calls ``fetch_to_cache(ref, location, cache_dir, formats)``."""
    src = tmp_path / "src.raw"
    src.write_bytes(b"\3" * 8192)
    ref, _ = _uploaded(fs_images, ctx_a, src, "raw")
    ref, location = fs_images.locate(ctx_a, ref.id)
    got = fs_images.fetch_to_cache(ref, location, str(tmp_path / "cache"), ["qcow2", "raw"])
    assert got.disk_format == "raw" and open(got.path, "rb").read() == src.read_bytes()


def test_concurrent_fetches_download_once(fs_runtime, fs_images, ctx_a, tmp_path):
    src = tmp_path / "src.raw"
    src.write_bytes(b"\2" * (2 * 1024 * 1024))
    ref, location = _uploaded(fs_images, ctx_a, src, "raw")
    agent = _agent_side(fs_runtime)
    real_get, downloads = agent.store.get, []

    def counting_get(*args, **kwargs):
        downloads.append(1)
        return real_get(*args, **kwargs)

    agent.store.get = counting_get
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                agent.fetch_to_cache(image=ref, cache_dir=tmp_path / "cache", formats=["raw"])
            )
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len({r.path for r in results}) == 1 and len(downloads) == 1
