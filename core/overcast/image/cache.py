"""A host's image cache: each image fetched once, verified, made safe, and converted to a
format the host takes.

Runs on the host side (agents never touch the database): it needs only the image's
description (:class:`~overcast.types.ImageRef`, with its checksums), its store location and
the store hooks. Files appear under their final name only when complete and verified:
``<cache_dir>/<image_id>.<disk_format>``. A per-image ``flock`` makes concurrent fetches of
one image (threads or processes) download it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from overcast.errors import DriverError, Unprocessable
from overcast.image.store import ImageStore
from overcast.types import ImageFile, ImageRef

#: Glance disk_format -> qemu-img's format name
QEMU_FORMATS = {
    "raw": "raw",
    "ami": "raw",
    "ari": "raw",
    "aki": "raw",
    "iso": "raw",
    "qcow2": "qcow2",
    "vmdk": "vmdk",
    "vhd": "vpc",
    "vhdx": "vhdx",
    "vdi": "vdi",
}
#: formats qemu-img can write, as Glance names them
CONVERTIBLE_TO = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi")
QEMU_IMG_TIMEOUT = 3600


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _qemu_img(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT)
    except FileNotFoundError:
        raise DriverError("qemu-img is not installed (apt-get install qemu-utils)") from None
    if proc.returncode != 0:
        raise DriverError(f"qemu-img {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def check_safe(path: Path, disk_format: str) -> dict:
    """``qemu-img info`` with the format given (never probed): refuse backing or data files."""
    fmt = QEMU_FORMATS.get(disk_format)
    if fmt is None:
        raise Unprocessable(f"disk_format {disk_format} cannot be used by a host")
    info = json.loads(_qemu_img("info", "--output=json", "-f", fmt, str(path)).stdout)
    if info.get("format") != fmt:
        raise Unprocessable(f"image data is {info.get('format')}, not {fmt}")
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise Unprocessable("image has a backing file; refusing to use it")
    data_file = (info.get("format-specific") or {}).get("data", {}).get("data-file")
    if data_file:
        raise Unprocessable("image has an external data file; refusing to use it")
    return info


def _download(store: ImageStore, image: ImageRef, location: str, dest: Path) -> None:
    """Stream the data to ``dest``, checking size, md5 and the recorded os_hash."""
    md5 = hashlib.md5(usedforsecurity=False)
    other = hashlib.new(image.os_hash_algo) if image.os_hash_algo and image.os_hash_value else None
    size = 0
    with open(dest, "wb") as out:
        for chunk in store.get(location, 0, None):
            out.write(chunk)
            md5.update(chunk)
            if other is not None:
                other.update(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if image.size and size != image.size:
        raise DriverError(f"image {image.id}: fetched {size} bytes, expected {image.size}")
    if image.checksum and md5.hexdigest() != image.checksum:
        raise DriverError(f"image {image.id}: checksum mismatch after download")
    if other is not None and other.hexdigest() != image.os_hash_value.lower():
        raise DriverError(f"image {image.id}: {image.os_hash_algo} mismatch after download")


def fetch_to_cache(
    store: ImageStore,
    image: ImageRef,
    location: Callable[[], str],
    cache_dir: str | os.PathLike[str],
    want_formats: Sequence[str],
) -> ImageFile:
    """The image as a verified local file in one of ``want_formats`` (the first one if a
    conversion is needed). Downloads at most once per cache directory; ``location`` is
    called only when the image is not cached yet."""
    if not want_formats:
        raise Unprocessable("the host takes no image formats")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    for fmt in want_formats:
        done = cache / f"{image.id}.{fmt}"
        if done.exists():
            return ImageFile(image=image, path=str(done), disk_format=fmt)
    with _locked(cache / f".{image.id}.lock"):
        for fmt in want_formats:  # another fetch may have finished while we waited
            done = cache / f"{image.id}.{fmt}"
            if done.exists():
                return ImageFile(image=image, path=str(done), disk_format=fmt)
        part = cache / f".{image.id}.{secrets.token_hex(6)}.part"
        converted = part.with_suffix(".conv")
        try:
            _download(store, image, location(), part)
            check_safe(part, image.disk_format)
            target_format: str | None
            if image.disk_format in want_formats:
                target_format, final_source = image.disk_format, part
            else:
                target_format = next((f for f in want_formats if f in CONVERTIBLE_TO), None)
                if target_format is None:
                    raise Unprocessable(
                        f"image {image.id} is {image.disk_format} and cannot be converted to any of "
                        f"{', '.join(want_formats)}"
                    )
                _qemu_img(
                    "convert",
                    "-f",
                    QEMU_FORMATS[image.disk_format],
                    "-O",
                    QEMU_FORMATS[target_format],
                    str(part),
                    str(converted),
                )
                with open(converted, "rb+") as f:
                    os.fsync(f.fileno())
                final_source = converted
            done = cache / f"{image.id}.{target_format}"
            os.replace(final_source, done)
            return ImageFile(image=image, path=str(done), disk_format=target_format)
        finally:
            part.unlink(missing_ok=True)
            converted.unlink(missing_ok=True)
