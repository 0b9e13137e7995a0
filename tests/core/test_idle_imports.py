"""What ``overcast up`` imports before it forks its workers (``server_workers._preloaded``,
the services, every installed plugin) is shared by every process of the all-in-one; what an
idle cloud never uses is left out, to be imported on first use (bench/footprint.py: the
all-in-one's memory, issue 23)."""

from __future__ import annotations

from overcast.testing.imports import imported_by

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

START = """
import importlib
from overcast.plugins import load_plugin_manager
from overcast.server_workers import _import_services, _preloaded
load_plugin_manager()
for kind in ("api", "object"):
    for module in _preloaded(kind):
        importlib.import_module(module)
_import_services()
"""


def test_overcast_up_does_not_import_what_an_idle_cloud_never_uses() -> None:
    assert imported_by(START, NOT_AT_START) == []
