"""A stable name for this process, so a restart can tell uploads of dead processes."""

from __future__ import annotations

import functools
import os
import socket


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or '' if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return ""
    # the command name (field 2) may contain spaces; fields after it are space-separated
    return stat.rsplit(")", 1)[-1].split()[19]


@functools.cache
def _identity(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def process_id() -> str:
    """``host:pid:start`` of this process (recomputed after a fork)."""
    return _identity(os.getpid())


def is_alive(process: str) -> bool:
    """Whether the named process still runs. Processes of other hosts count as alive:
    only the host itself can tell."""
    host, _, rest = process.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return process == process_id()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _start_time(pid) == start
