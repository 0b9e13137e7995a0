"""Which modules a piece of code imports, asked of a fresh interpreter: for tests that pin what a
process leaves to be imported on first use (the all-in-one's memory, issue 23)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable

_PROBE = """
import sys
exec(sys.argv[1])
print(" ".join(m for m in sys.argv[2:] if m in sys.modules))
"""


def imported_by(code: str, modules: Iterable[str]) -> list[str]:
    """Those of ``modules`` that are in ``sys.modules`` once a new interpreter has run ``code``,
    with this process's ``sys.path`` (so the sources under test are the ones probed, whatever
    the environment's own installation points at). Raises ``AssertionError`` with its
    standard error if ``code`` fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, code, *modules], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, f"the probe exited {done.returncode}: {done.stderr}"
    return done.stdout.split()
