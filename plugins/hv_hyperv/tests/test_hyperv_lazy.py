"""pywinrm (with requests and pyspnego) is imported when a ``hyperv`` host is first used, not
when the plugin loads: every ``overcast`` process (``overcast up``, its workers, the CLI) loads
every installed plugin."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import sys; from overcast.plugins import load_plugin_manager; pm = load_plugin_manager(); "
    "print(pm.registry.has('hypervisor', 'hyperv'), sorted(m for m in ('winrm', 'spnego') if m in sys.modules))"
)


def test_loading_the_plugin_does_not_import_winrm() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True []"
