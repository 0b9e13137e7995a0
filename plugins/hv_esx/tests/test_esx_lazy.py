"""pyVmomi is imported when an ``esx`` host is first used, not when the plugin loads: every
``overcast`` process (``overcast up``, its workers, the CLI) loads every installed plugin."""

from __future__ import annotations

from overcast.testing.imports import imported_by

LOAD = (
    "from overcast.plugins import load_plugin_manager; assert load_plugin_manager().registry.has('hypervisor', 'esx')"
)


def test_loading_the_plugin_does_not_import_pyvmomi() -> None:
    assert imported_by(LOAD, ("pyVmomi", "pyVim")) == []
