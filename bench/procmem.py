"""A process's memory and CPU time as the kernel accounts them: PSS and USS from
``/proc/PID/smaps_rollup``, user + system time from ``/proc/PID/stat`` (or a thread's
``/proc/PID/task/TID/stat``)."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stat(path: str | Path) -> tuple[str, list[str]]:
    """A ``stat`` file: the command name and the fields after it (``state`` first, so the
    ppid is ``[1]``, the session ``[3]``, utime and stime ``[11]`` and ``[12]``). ``OSError``
    once the process is gone."""
    raw = Path(path).read_text()
    return raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()


def cpu_of(fields: list[str]) -> float:
    """User + system CPU seconds of a ``stat`` file's fields (as :func:`stat` gives them)."""
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (all its threads); 0 once it is gone."""
    try:
        return cpu_of(stat(f"/proc/{pid}/stat")[1])
    except OSError:
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of ``pid`` and every process under it (a process that exited is
    not counted)."""
    return sum(cpu_seconds(p) for p in descendants(pid))


def memory_mib(pid: int) -> tuple[float, float]:
    """(PSS, USS): the proportional share, and what is the process's alone (private pages)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        return 0.0, 0.0
    return fields.get("Pss", 0) / 1024, (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024


def descendants(root: int) -> list[int]:
    """``root`` and every process under it."""
    found, i = [root], 0
    while i < len(found):
        for task in Path(f"/proc/{found[i]}/task").glob("*/children"):
            try:
                found += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
        i += 1
    return found


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()[:70]
    except OSError:
        return "?"


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every CPU, everything but idle and
    iowait), from ``/proc/stat``: with :func:`by_command`, where a benchmark's CPU went beyond
    the processes it started (the database server, the broker)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


def by_command(*names: str) -> float:
    """CPU seconds of every process whose command name is one of ``names``, with what their
    exited children used (a server's short-lived backends, once it reaped them)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, fields = stat(entry / "stat")
        except OSError:
            continue
        if comm in names:
            total += cpu_of(fields) + (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return total
