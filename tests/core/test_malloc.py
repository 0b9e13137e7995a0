"""malloc.tune_for_streams: an object worker's freed body parts are reused, not faulted in
anew; an operator's MALLOC_* settings are left alone. Each case runs in its own interpreter
(the settings are the whole process's)."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import resource, sys
from overcast import malloc
tuned = malloc.tune() and malloc.tune_for_streams() if sys.argv[1] == "streams" else malloc.tune()
source = memoryview(bytearray(4 * 1024 * 1024))
parts = []
def flow(count):  # 4 MiB parts, three in flight, as a worker's uploads
    for _ in range(count):
        parts.append(bytes(source))
        if len(parts) > 3:
            parts.pop(0)
flow(4)  # the first parts are new memory in any case
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
flow(64)
print(tuned, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 256)
"""


def faults_per_mib(mode: str, **env: str) -> tuple[bool, float]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=environ, check=True)
    tuned, faults = out.stdout.split()
    return tuned == "True", float(faults)


def test_streamed_parts_reuse_their_memory():
    tuned, faults = faults_per_mib("streams")
    assert tuned and faults < 8  # 4 KiB pages: 256 per MiB when each part is mapped anew
    assert faults_per_mib("plain")[1] > 200  # the plain server setting maps each part on its own


def test_an_operators_malloc_settings_win():
    tuned, _ = faults_per_mib("streams", MALLOC_ARENA_MAX="4")
    assert not tuned
