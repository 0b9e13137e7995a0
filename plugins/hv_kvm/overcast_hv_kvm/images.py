"""qemu-img operations on instance disks.

Instance root disks are qcow2 overlays on the cached base image the core hands over
(``ImageFile.path``), so many guests share one base file and each writes only its own
changes. Snapshots and migrations produce standalone (flattened) copies.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from typing import Any

from overcast.errors import DriverError

QEMU_IMG = "qemu-img"
GiB = 1024**3


def _run(args: list[str], what: str) -> str:
    try:
        proc = subprocess.run([QEMU_IMG, *args], capture_output=True, text=True, timeout=3600)
    except FileNotFoundError as exc:
        raise DriverError(f"{what}: qemu-img is not installed (apt install qemu-utils)") from exc
    if proc.returncode != 0:
        raise DriverError(f"{what}: qemu-img {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def info(path: str, force_share: bool = False) -> dict[str, Any]:
    """``qemu-img info`` as a dict (``virtual-size``, ``format``, ``backing-filename``...).

    ``force_share`` (``-U``) reads an image a running QEMU holds the write lock on.
    """
    args = ["info", "--output=json"]
    if force_share:
        args.append("-U")
    return json.loads(_run([*args, path], f"inspecting {path}"))


def virtual_size(path: str, force_share: bool = False) -> int:
    return int(info(path, force_share)["virtual-size"])


_QCOW2_MAGIC = b"QFI\xfb"


def base_virtual_size(path: str, fmt: str) -> int:
    """The virtual size of a cached base image, read without starting ``qemu-img``.

    The core has verified the cached file's format, so a raw image is its file size and a
    qcow2's size is the header's ``size`` field (big-endian u64 at offset 24); anything else
    goes through ``qemu-img info``. This runs on every boot, where a process start costs
    tens of milliseconds on a loaded host."""
    if fmt == "raw":
        return os.path.getsize(path)
    if fmt == "qcow2":
        with open(path, "rb") as f:
            head = f.read(32)
        if len(head) == 32 and head[:4] == _QCOW2_MAGIC:
            return int(struct.unpack_from(">Q", head, 24)[0])
    return virtual_size(path)


def create_overlay(base: str, base_format: str, path: str, size: int | None) -> None:
    """A qcow2 overlay at ``path`` backed by ``base`` (never written to), grown to ``size``
    bytes if given. ``-F`` is required by current qemu-img for a backing file."""
    args = ["create", "-q", "-f", "qcow2", "-b", os.path.abspath(base), "-F", base_format, path]
    if size:
        args.append(str(size))
    _run(args, f"creating overlay {path} on {base}")


def create_blank(path: str, size: int, fmt: str = "qcow2") -> None:
    _run(["create", "-q", "-f", fmt, path, str(size)], f"creating disk {path}")


def resize(path: str, size: int) -> None:
    _run(["resize", "-q", path, str(size)], f"resizing {path}")


def convert(src: str, dest: str, out_format: str = "qcow2", force_share: bool = False) -> None:
    """Copy ``src`` (with its whole backing chain) to a standalone ``dest``.

    Written to a temporary name and renamed, so ``dest`` never holds a partial image.
    """
    tmp = f"{dest}.part"
    args = ["convert", "-O", out_format]
    if force_share:
        args.append("-U")
    try:
        _run([*args, src, tmp], f"copying {src} to {dest}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
