"""The server's pid file, trusted only while its process holds a lock on it.

``overcast up`` opens the pid file, takes an exclusive ``flock`` on it for its whole life and
writes its pid into it (the file keeps the usual one-number form). The kernel drops the lock
when the process ends, however it ends, so:

* a pid file nobody holds a lock on is *stale* (a crash, a reboot): it is reported and
  removed, and the pid in it, which another process may have by now, is never signalled;
* ``overcast down`` signals the pid only while the lock is held and the process with that
  pid started before the file was written (``/proc/<pid>/stat``'s start time against the
  file's mtime: a process that got the number later is not the server, even if a child
  that inherited the lock still holds it).
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


#: slack between a server's start and its writing the pid file's mtime, for clock granularity
MTIME_SLACK = 2.0


@dataclass(frozen=True)
class Holder:
    pid: int
    started_at: float  # the process's start (seconds since the epoch)


def started_at(pid: int) -> float | None:
    """When ``pid`` started (seconds since the epoch), or ``None`` if there is no such
    process (or it has ended and is a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = raw.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("no btime in /proc/stat")


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
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
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
            if pid is None:
                return None
            started = started_at(pid)
            if started is not None and started <= os.fstat(fd).st_mtime + MTIME_SLACK:
                return Holder(pid, started)
            return None  # locked by a server still writing it, or the number is someone else's now
        # nobody holds it: left by a process that is gone
        content = os.pread(fd, 64, 0).decode(errors="replace").strip()
        log.warning(
            "stale pid file removed (its process is gone; nothing signalled)",
            extra={"path": str(path), "content": content},
        )
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
    return started_at(holder.pid) == holder.started_at
