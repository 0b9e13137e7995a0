"""A checked parser for disk-image headers: what format the bytes really are, how large the
virtual disk is, and whether the image would make QEMU open other files.

Uploaded data is inspected, never trusted (the image-format disclosure advisory): a qcow2
with a backing file or an external data file, or a VMDK whose descriptor names other files,
lets a guest read host files such as ``/etc/passwd``. Only the first :data:`HEAD_BYTES` and
the last 512 bytes are needed, so inspection runs while the data streams in.

Field offsets follow the published specifications (qemu's ``docs/interop/qcow2.txt``,
VMware's Virtual Disk Format 5.0, Microsoft's VHD and VHDX specifications, ECMA-119).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from overcast.errors import BadRequest

#: How much of the start of the data the inspector looks at (a qcow2 cluster is at most
#: 2 MiB, and its header extensions live in the first one).
HEAD_BYTES = 2 * 1024 * 1024 + 4096
TAIL_BYTES = 512

#: Declared ``disk_format`` -> detected formats its content may have.
COMPATIBLE: dict[str, frozenset[str]] = {
    "raw": frozenset({"raw", "iso"}),
    "ami": frozenset({"raw"}),
    "ari": frozenset({"raw"}),
    "aki": frozenset({"raw"}),
    "iso": frozenset({"iso"}),
    "qcow2": frozenset({"qcow2"}),
    "vmdk": frozenset({"vmdk"}),
    "vhd": frozenset({"vhd"}),
    "vhdx": frozenset({"vhdx"}),
    "vdi": frozenset({"vdi"}),
    "ploop": frozenset({"ploop"}),
}

_QCOW2_MAGIC = b"QFI\xfb"
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_QCOW2_INCOMPAT_KNOWN = 0b11111  # dirty, corrupt, data file, compression type, extended L2
_QCOW2_EXT_DATA_FILE = 0x44415441
_VMDK_SAFE_CREATE_TYPES = frozenset({"monolithicSparse", "streamOptimized"})
_VMDK_EXTENT = re.compile(r'^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\w+)(?:\s+"([^"]*)")?', re.MULTILINE)


@dataclass(frozen=True)
class Inspection:
    """What the bytes are. ``unsafe`` says why QEMU must never open them; empty if safe."""

    format: str
    virtual_size: int | None
    unsafe: str = ""


class ImageFormatError(BadRequest):
    """The data is not what its ``disk_format`` says, or is unsafe to give to QEMU."""


def inspect(head: bytes, tail: bytes, total_size: int) -> Inspection:
    """Identify the data from its first bytes (``head``), its last bytes and its size.

    Only a fixed-size VHD is recognised by its tail (a footer and nothing else); QEMU never
    probes tails, so this only matters when the declared format is ``vhd``."""
    if head[:4] == _QCOW2_MAGIC:
        return _qcow2(head)
    if head[:4] == b"KDMV":
        return _vmdk_sparse(head)
    if head.lstrip()[:21] == b"# Disk DescriptorFile":
        return Inspection("vmdk", None, "it is a VMDK descriptor file, which names other files as its extents")
    if head[:8] == b"vhdxfile":
        return Inspection("vhdx", None)
    if head[:8] == b"conectix":
        return Inspection("vhd", struct.unpack_from(">Q", head, 48)[0] if len(head) >= 56 else None)
    if len(head) >= 0x44 and struct.unpack_from("<I", head, 0x40)[0] == 0xBEDA107F:
        return Inspection("vdi", struct.unpack_from("<Q", head, 0x170)[0] if len(head) >= 0x178 else None)
    if head[:4] == b"QED\x00":
        return Inspection("qed", None, "QED images may name backing files")
    if head[:6] == b"LUKS\xba\xbe":
        return Inspection("luks", None)
    if head[:16] in (b"WithoutFreeSpace", b"WithouFreSpacExt"):
        return Inspection("ploop", None)
    if len(tail) == TAIL_BYTES and tail[:8] == b"conectix":
        return Inspection("vhd", struct.unpack_from(">Q", tail, 48)[0])
    if any(head[off : off + 5] == b"CD001" for off in (0x8001, 0x8801, 0x9001)):
        return Inspection("iso", total_size)
    return Inspection("raw", total_size)


def check_format(declared: str, found: Inspection, *, require_match: bool = True) -> None:
    """Refuse data that is unsafe, or (with ``require_match``) whose content does not match
    ``declared``."""
    allowed = COMPATIBLE.get(declared)
    if require_match and allowed is not None and found.format not in allowed:
        raise ImageFormatError(
            f"Image content does not match its disk_format: disk_format is '{declared}' but the data is {found.format}."
        )
    if found.unsafe:
        raise ImageFormatError(f"Image is refused: {found.unsafe}.")


def _qcow2(head: bytes) -> Inspection:
    if len(head) < 72:
        return Inspection("qcow2", None, "the qcow2 header is truncated")
    version, backing_offset, backing_size, cluster_bits, size = struct.unpack_from(">IQIIQ", head, 4)
    if version not in (2, 3):
        return Inspection("qcow2", size, f"qcow2 version {version} is not supported")
    if backing_offset or backing_size:
        return Inspection("qcow2", size, "a qcow2 image with a backing file is not allowed")
    if not 9 <= cluster_bits <= 21:
        return Inspection("qcow2", size, "the qcow2 cluster size is invalid")
    header_length = 72
    if version == 3:
        if len(head) < 104:
            return Inspection("qcow2", size, "the qcow2 header is truncated")
        incompatible = struct.unpack_from(">Q", head, 72)[0]
        if incompatible & _QCOW2_INCOMPAT_DATA_FILE:
            return Inspection("qcow2", size, "a qcow2 image with an external data file is not allowed")
        if incompatible & ~_QCOW2_INCOMPAT_KNOWN:
            return Inspection("qcow2", size, f"the qcow2 image uses unknown incompatible features {incompatible:#x}")
        header_length = struct.unpack_from(">I", head, 100)[0]
        if header_length < 104 or header_length % 8:
            return Inspection("qcow2", size, "the qcow2 header length is invalid")
    problem = _qcow2_extensions(head, header_length, 1 << cluster_bits)
    return Inspection("qcow2", size, problem)


def _qcow2_extensions(head: bytes, offset: int, cluster_size: int) -> str:
    """Walk the header extensions (all inside the first cluster); refuse a data-file name."""
    end = min(cluster_size, len(head))
    while True:
        if offset + 8 > end:
            return "the qcow2 header extensions are truncated"
        kind, length = struct.unpack_from(">II", head, offset)
        if kind == 0:
            return ""
        if kind == _QCOW2_EXT_DATA_FILE:
            return "a qcow2 image with an external data file is not allowed"
        offset += 8 + ((length + 7) & ~7)


def _vmdk_sparse(head: bytes) -> Inspection:
    if len(head) < 44:
        return Inspection("vmdk", None, "the VMDK header is truncated")
    capacity, _grain, desc_offset, desc_size = struct.unpack_from("<QQQQ", head, 12)
    virtual_size = capacity * 512
    if desc_offset == 0 or desc_size == 0:
        return Inspection("vmdk", virtual_size, "the VMDK has no embedded descriptor")
    start, stop = desc_offset * 512, (desc_offset + desc_size) * 512
    if stop > len(head):
        return Inspection("vmdk", virtual_size, "the VMDK descriptor lies beyond the inspected header")
    text = head[start:stop].split(b"\x00", 1)[0].decode("ascii", errors="replace")
    create = re.search(r'^\s*createType\s*=\s*"([^"]*)"', text, re.MULTILINE)
    create_type = create.group(1) if create else ""
    if create_type not in _VMDK_SAFE_CREATE_TYPES:
        return Inspection("vmdk", virtual_size, f"VMDK createType '{create_type}' may refer to other files")
    extents = _VMDK_EXTENT.findall(text)
    if len(extents) != 1 or extents[0][2] != "SPARSE":
        return Inspection("vmdk", virtual_size, "the VMDK names extents other than its own sparse data")
    return Inspection("vmdk", virtual_size)


class StreamInspector:
    """Collects the head and tail of streamed data and inspects it once the head is full
    (or the data ended), so a refusal comes before much is written."""

    def __init__(self, declared_format: str | None, *, require_match: bool = True) -> None:
        self.declared = declared_format
        self.require_match = require_match
        self._head = bytearray()
        self._tail = b""
        self.result: Inspection | None = None

    @property
    def head_complete(self) -> bool:
        return len(self._head) >= HEAD_BYTES

    def feed(self, chunk: bytes) -> None:
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        # a copy, not a slice: a chunk may be a view of a pooled buffer, not to be kept
        self._tail = (self._tail + chunk)[-TAIL_BYTES:] if len(chunk) < TAIL_BYTES else bytes(chunk[-TAIL_BYTES:])

    def early_check(self) -> None:
        """With the head complete: refuse now if the head alone already says the data is
        unsafe or of another structured format (so little is written before the refusal)."""
        found = inspect(bytes(self._head), b"", len(self._head))
        if found.format != "raw" and self.declared:
            check_format(self.declared, found, require_match=self.require_match)

    def finish(self, total_size: int) -> Inspection:
        """Inspect and check against the declared format; raises :class:`ImageFormatError`."""
        tail = self._tail if self.declared == "vhd" else b""
        self.result = inspect(bytes(self._head), tail, total_size)
        if self.declared:
            check_format(self.declared, self.result, require_match=self.require_match)
        return self.result
