"""Whether a buffer's memory is held by the process: its address, and how many of its pages
are resident (``mincore``), for tests that check memory is given back."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
_libc.mincore.restype = ctypes.c_int


def address(buffer: mmap.mmap) -> int:
    """Where ``buffer``'s memory starts (the buffer is not held on to)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))


def resident_pages(start: int, size: int) -> int | None:
    """How many pages of ``[start, start + size)`` are in memory; None where that range is no
    longer mapped at all (its memory was given back to the system)."""
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = (ctypes.c_ubyte * pages)()
    if _libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(size), vec) != 0:
        err = ctypes.get_errno()
        if err == errno.ENOMEM:
            return None
        raise OSError(err, os.strerror(err))
    return sum(1 for page in vec if page & 1)


def private_mapping(start: int) -> bool:
    """Whether the mapping holding ``start`` is private (``p`` in ``/proc/self/maps``), not shared."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, perms = line.split()[:2]
            low, high = (int(x, 16) for x in span.split("-"))
            if low <= start < high:
                return perms.endswith("p")
    raise LookupError(f"{start:#x} is not mapped")
