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
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
M_ARENA_MAX = -8

ARENA_MAX = 2
MMAP_THRESHOLD = 256 * 1024


def tune() -> bool:
    """Apply the settings above to this process (and what it forks); False where it cannot."""
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, ARENA_MAX)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    log.debug("malloc tuned", extra={"arena_max": ARENA_MAX, "mmap_threshold": MMAP_THRESHOLD, "done": done})
    return done
