"""Microsoft VHD (the format XenServer's VHD-based SRs use) reader and writer.

Just enough of the VHD 1.0 specification to move disk images in and out of a XAPI host the
way ``/import_raw_vdi?format=vhd`` and ``/export_raw_vdi?format=vhd`` do:

* fixed disks (raw data followed by a 512-byte footer) and dynamic disks (footer copy,
  dynamic-disk header, block allocation table, 2 MiB blocks each preceded by a sector bitmap);
* differencing disks are refused.

Used by the simulator (and by the plugin to learn an image's virtual size before it creates
the VDI). Pure stdlib.
"""

from __future__ import annotations

import io
import struct
import time
import uuid
from typing import BinaryIO, Iterator

FOOTER_SIZE = 512
SECTOR = 512
BLOCK_SIZE = 2 * 1024 * 1024
_EPOCH_2000 = 946684800
DISK_FIXED, DISK_DYNAMIC, DISK_DIFFERENCING = 2, 3, 4


class VhdError(ValueError):
    pass


def _checksum(data: bytes) -> int:
    return (~sum(data)) & 0xFFFFFFFF


def _geometry(size: int) -> tuple[int, int, int]:
    sectors = min(size // SECTOR, 65535 * 16 * 255)
    if sectors >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = sectors // spt
    else:
        spt = 17
        cth = sectors // spt
        heads = max((cth + 1023) // 1024, 4)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = sectors // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = sectors // spt
    return cth // heads, heads, spt


def _footer(size: int, disk_type: int, data_offset: int) -> bytes:
    c, h, s = _geometry(size)
    f = bytearray(
        struct.pack(
            ">8sIIQI4sI4sQQHBBII16sB",
            b"conectix",
            2,
            0x00010000,
            data_offset,
            int(time.time()) - _EPOCH_2000,
            b"ovcs",
            0x00010000,
            b"Wi2k",
            size,
            size,
            c,
            h,
            s,
            disk_type,
            0,
            uuid.uuid4().bytes,
            0,
        )
    )
    f += bytes(FOOTER_SIZE - len(f))
    struct.pack_into(">I", f, 64, _checksum(bytes(f)))
    return bytes(f)


def parse_footer(raw: bytes) -> dict:
    if len(raw) < FOOTER_SIZE or raw[:8] != b"conectix":
        raise VhdError("not a VHD: missing 'conectix' footer cookie")
    (cookie, features, version, data_offset, ts, app, appver, hostos, orig, cur, c, h, s, disk_type, checksum) = (
        struct.unpack(">8sIIQI4sI4sQQHBBII", raw[:68])
    )
    f = bytearray(raw[:FOOTER_SIZE])
    struct.pack_into(">I", f, 64, 0)
    if _checksum(bytes(f)) != checksum:
        raise VhdError("VHD footer checksum mismatch")
    return {"disk_type": disk_type, "current_size": cur, "data_offset": data_offset}


def virtual_size(head_or_tail: bytes) -> int:
    """Virtual size from a VHD footer (the first or last 512 bytes of the file)."""
    return parse_footer(head_or_tail[:FOOTER_SIZE])["current_size"]


def read_vhd(data: bytes) -> tuple[int, Iterator[tuple[int, bytes]]]:
    """Parse a whole VHD held in memory.

    Returns (virtual_size, iterator of (offset, chunk)) for every allocated extent.
    """
    if len(data) < FOOTER_SIZE:
        raise VhdError("VHD too short")
    footer = parse_footer(data[-FOOTER_SIZE:])
    size = footer["current_size"]
    if footer["disk_type"] == DISK_FIXED:
        if len(data) - FOOTER_SIZE < size:
            raise VhdError("fixed VHD shorter than its declared size")
        body = data[:size]

        def fixed():
            for off in range(0, size, BLOCK_SIZE):
                chunk = body[off : off + BLOCK_SIZE]
                if chunk.strip(b"\0"):
                    yield off, chunk

        return size, fixed()
    if footer["disk_type"] == DISK_DIFFERENCING:
        raise VhdError("differencing VHDs need their parent; import a flattened disk")
    if footer["disk_type"] != DISK_DYNAMIC:
        raise VhdError("unknown VHD disk type %d" % footer["disk_type"])
    hdr_off = footer["data_offset"]
    hdr = data[hdr_off : hdr_off + 1024]
    if hdr[:8] != b"cxsparse":
        raise VhdError("dynamic VHD header missing 'cxsparse' cookie")
    _, _, table_off, _, max_entries, block_size = struct.unpack(">8sQQIII", hdr[:36])
    bat = struct.unpack(">%dI" % max_entries, data[table_off : table_off + 4 * max_entries])
    bitmap_bytes = -(-(block_size // SECTOR) // 8)
    bitmap_len = -(-bitmap_bytes // SECTOR) * SECTOR

    def dynamic():
        for i, sector in enumerate(bat):
            if sector == 0xFFFFFFFF:
                continue
            start = sector * SECTOR + bitmap_len
            chunk = data[start : start + block_size]
            off = i * block_size
            yield off, chunk[: max(0, min(block_size, size - off))]

    return size, dynamic()


def write_dynamic_vhd(src: BinaryIO, size: int, out: BinaryIO) -> int:
    """Write ``size`` bytes read from ``src`` as a dynamic VHD; all-zero blocks stay
    unallocated. Returns the number of bytes written."""
    entries = -(-size // BLOCK_SIZE)
    table_off = FOOTER_SIZE + 1024
    bat_len = -(-(entries * 4) // SECTOR) * SECTOR
    footer = _footer(size, DISK_DYNAMIC, FOOTER_SIZE)
    hdr = bytearray(
        struct.pack(">8sQQIII", b"cxsparse", 0xFFFFFFFFFFFFFFFF, table_off, 0x00010000, entries, BLOCK_SIZE)
    )
    hdr += bytes(1024 - len(hdr))
    struct.pack_into(">I", hdr, 36, _checksum(bytes(hdr)))
    bat = [0xFFFFFFFF] * entries
    blocks = io.BytesIO()
    next_sector = (table_off + bat_len) // SECTOR
    bitmap = b"\xff" * SECTOR  # 2 MiB block -> 4096 sectors -> 512-byte bitmap
    allocated = _allocated_blocks(src, size, entries)
    for i in range(entries):
        want = min(BLOCK_SIZE, size - i * BLOCK_SIZE)
        if allocated is not None and i not in allocated:
            continue
        src.seek(i * BLOCK_SIZE)
        chunk = src.read(want)
        if len(chunk) < want:
            chunk += bytes(want - len(chunk))
        if not chunk.strip(b"\0"):
            continue
        bat[i] = next_sector
        blocks.write(bitmap)
        blocks.write(chunk + bytes(BLOCK_SIZE - len(chunk)))
        next_sector += (SECTOR + BLOCK_SIZE) // SECTOR
    bat_raw = struct.pack(">%dI" % entries, *bat)
    bat_raw += b"\xff" * (bat_len - len(bat_raw))
    parts = [footer, bytes(hdr), bat_raw, blocks.getvalue(), footer]
    for p in parts:
        out.write(p)
    return sum(len(p) for p in parts)


def _allocated_blocks(src, size, entries):
    """Blocks of a sparse file that hold data (SEEK_DATA/SEEK_HOLE), or None if unknown."""
    try:
        fd = src.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    import os

    blocks, off = set(), 0
    try:
        while off < size:
            start = os.lseek(fd, off, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
            blocks.update(range(start // BLOCK_SIZE, min(entries, -(-end // BLOCK_SIZE))))
            off = end
    except OSError:  # ENXIO: no data after off
        pass
    return blocks


def write_fixed_vhd(src: BinaryIO, size: int, out: BinaryIO) -> int:
    left = size
    while left:
        chunk = src.read(min(left, 1 << 20))
        if not chunk:
            chunk = bytes(min(left, 1 << 20))
        out.write(chunk)
        left -= len(chunk)
    out.write(_footer(size, DISK_FIXED, 0xFFFFFFFFFFFFFFFF))
    return size + FOOTER_SIZE
