"""The server's pid file, trusted only while its process holds a lock on it.

``overcast up`` opens the pid file, takes an exclusive ``flock`` on it for its whole life and
writes its pid and start time (``/proc/<pid>/stat`` field 22) into it. The kernel drops the
lock when the process ends, however it ends, so:

* a pid file nobody holds a lock on is *stale* (a crash, a reboot): it is reported and
  removed, and the pid in it, which another process may have by now, is never signalled;
* ``overcast down`` signals the pid only while the lock is held and the process with that
  pid started at the recorded time (the same process, not a reused number).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from overcast.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    pid: int
    start_time: str  # /proc/<pid>/stat starttime (clock ticks since boot)


def start_time(pid: int) -> str | None:
    """When ``pid`` started (ticks since boot), or ``None`` if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = raw.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has ended


class PidFile:
    """The pid file of the running server, locked for the life of the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> PidFile:
        """Lock and write the pid file; raises ``ConfigError`` if a live server holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                holder = read_holder(self.path)
                raise ConfigError(f"already running as pid {holder.pid if holder else '?'} ({self.path})") from None
            raise
        stale = os.read(fd, 64).decode(errors="replace").split()
        if stale:
            log.warning("stale pid file replaced", extra={"path": str(self.path), "pid": stale[0]})
        me = os.getpid()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{me} {start_time(me)}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the pid file (it is still ours: we hold its lock) and drop the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


def read_holder(path: Path) -> Holder | None:
    """The live server behind ``path``: its process holds the lock and started when the file
    says. ``None`` if no server runs; a stale file is reported and removed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            fields = os.pread(fd, 64, 0).decode(errors="replace").split()
            pid = int(fields[0]) if fields and fields[0].isdigit() else None
            if pid is not None and len(fields) > 1 and start_time(pid) == fields[1]:
                return Holder(pid, fields[1])
            return None  # locked by a server still writing it, or by one we cannot identify
        # nobody holds it: left by a process that is gone
        content = os.pread(fd, 64, 0).decode(errors="replace").strip()
        log.warning("stale pid file removed (its process is gone; nothing signalled)",
                    extra={"path": str(path), "content": content})
        path.unlink(missing_ok=True)
        return None
    finally:
        os.close(fd)


def stop(holder: Holder, timeout: float = 20.0) -> bool:
    """SIGTERM the server and wait for it to exit; SIGKILL after ``timeout`` if it is still the
    same process (pid and start time). True if it exited on SIGTERM."""
    if not _same(holder):
        return True
    os.kill(holder.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _same(holder):
            return True
        time.sleep(0.1)
    if _same(holder):
        os.kill(holder.pid, signal.SIGKILL)
    return False


def _same(holder: Holder) -> bool:
    return start_time(holder.pid) == holder.start_time
