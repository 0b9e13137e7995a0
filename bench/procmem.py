"""A process's memory as the kernel accounts it: PSS and USS from ``/proc/PID/smaps_rollup``."""

from __future__ import annotations

from pathlib import Path


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
