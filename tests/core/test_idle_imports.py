"""What ``overcast up`` imports before it forks its workers (``server_workers._preloaded``,
the services, every installed plugin) is shared by every process of the all-in-one; what an
idle cloud never uses is left out, to be imported on first use (bench/footprint.py: the
all-in-one's memory, issue 23)."""

from __future__ import annotations

import os
import subprocess
import sys

#: imported on first use: by an ESX / Hyper-V host, a link listing, a stack, a page, a backup,
#: the first request to the orchestration or load-balancer API
NOT_AT_START = (
    "pyVmomi",
    "winrm",
    "spnego",
    "pyroute2",
    "psutil",
    "unittest",
    "httpx",
    "overcast.api.orchestration",
    "overcast.api.loadbalancer",
)

PROBE = """
import importlib, sys
from overcast.plugins import load_plugin_manager
from overcast.server_workers import _import_services, _preloaded
load_plugin_manager()
for kind in ("api", "object"):
    for module in _preloaded(kind):
        importlib.import_module(module)
_import_services()
print(" ".join(sorted(m for m in sys.argv[1:] if m in sys.modules)) or "none")
"""


def test_overcast_up_does_not_import_what_an_idle_cloud_never_uses() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", PROBE, *NOT_AT_START], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"
