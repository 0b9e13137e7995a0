"""glibc malloc settings for long-running server processes (``overcast up``, its workers, agents).

Two glibc defaults keep freed memory resident in a server that runs many threads:

- one arena per thread, up to 8 per CPU: a thread that once held a large transient buffer
  (an image upload's chunks, a hash's read-ahead) leaves that arena's free memory mapped;
- the *dynamic* mmap threshold: once a large ``mmap``-ed block is freed, the threshold rises to
  its size (up to 32 MiB), so later buffers of that size come from an arena and stay resident
  after ``free``.

:func:`tune` sets ``M_ARENA_MAX`` to 2 and fixes ``M_MMAP_THRESHOLD`` (which also fixes the trim
threshold): buffers of 256 KiB and more are mapped and unmapped on their own. Measured with
``bench/footprint.py`` (the all-in-one idle after booting one server): 366.4 -> 335.8 MiB PSS in
all, most of it in the API worker that served the image upload (109.0 -> 85.4 MiB).

It must run before the process starts threads (arenas already made are kept). ``MALLOC_*``
variables in the environment win: an operator's own settings are left alone. Elsewhere than
glibc it does nothing.

A process that only streams object data (the object-API workers) is the opposite case:
:func:`tune_for_streams` lets it reuse its freed body parts. There, every request body comes
in parts of up to ``httpwire.READ_BUFFER`` (4 MiB), each a new ``bytes`` the HTTP parser
makes, and every GET reads 1 MiB ``bytes``: mapped and unmapped on their own, each costs a
page fault per 4 KiB, which on this kind of machine (a VM) is ten times the copy itself
(a 4 MiB part: 0.58 ms of CPU per MiB fresh, 0.05 reused; a volume backup through the object
API, 250 faults per MiB in the workers, ~0.5 ms of their 2.5 ms per MiB). Kept in the heap,
the next part reuses the last one's pages; what stays free is given back to the system
every :data:`TRIM_EVERY` seconds, so an idle worker holds no more than before.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENA_MAX = 2
MMAP_THRESHOLD = 256 * 1024
#: for :func:`tune_for_streams`: blocks below this come from the heap (a body part is at most
#: 4 MiB), and a heap keeps up to this much free at its top (a worker with two uploads has up
#: to six parts in flight: with 16 MiB a backup still cost the workers 70 faults per MiB, with
#: 32 MiB 3-16; with 8 MiB, three parts in flight still faulted in two of each three)
STREAM_MMAP_THRESHOLD = 8 * 1024 * 1024
STREAM_TRIM_THRESHOLD = 32 * 1024 * 1024
#: seconds between two returns of the heaps' free memory to the system (``malloc_trim``)
TRIM_EVERY = 10.0


def _glibc() -> tuple[Any, Any] | None:
    """glibc's ``mallopt`` and ``malloc_trim``, typed; None where the operator set ``MALLOC_*``
    (their settings win) or the C library is not glibc."""
    if any(name.startswith("MALLOC_") for name in os.environ):
        return None
    try:
        libc = ctypes.CDLL(None)
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    malloc_trim.argtypes = (ctypes.c_size_t,)
    malloc_trim.restype = ctypes.c_int
    return mallopt, malloc_trim


def tune() -> bool:
    """Apply the settings above to this process (and what it forks); False where it cannot."""
    libc = _glibc()
    if libc is None:
        return False
    mallopt, _ = libc
    done = bool(mallopt(M_ARENA_MAX, ARENA_MAX)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    log.debug("malloc tuned", extra={"arena_max": ARENA_MAX, "mmap_threshold": MMAP_THRESHOLD, "done": done})
    return done


def tune_for_streams() -> bool:
    """Let this process reuse blocks of up to :data:`STREAM_MMAP_THRESHOLD` (see the module's
    docstring) and start a daemon thread that hands free heap memory back every
    :data:`TRIM_EVERY` seconds; False (and nothing changed) where it cannot."""
    libc = _glibc()
    if libc is None:
        return False
    mallopt, malloc_trim = libc
    if not (mallopt(M_MMAP_THRESHOLD, STREAM_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, STREAM_TRIM_THRESHOLD)):
        return False

    def trim() -> None:
        while True:
            time.sleep(TRIM_EVERY)
            malloc_trim(0)

    threading.Thread(target=trim, name="malloc-trim", daemon=True).start()
    return True
