"""docs/plugins.md covers every hook and is what scripts/gen_plugin_docs.py generates now.

The hooks are listed from pluggy itself (the specs a fresh ``PluginManager`` registers), not
from the generator, so a hook the generator failed to see still fails here.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from overcast.plugins import PluginManager

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"
SCRIPT = ROOT / "scripts" / "gen_plugin_docs.py"
REGENERATE = "run: .venv/bin/python scripts/gen_plugin_docs.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_plugin_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_plugin_docs", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def _specs() -> dict[str, list[str]]:
    """Every hook specification pluggy knows: name -> argument names."""
    hooks = PluginManager().hooks.hook
    return {name: list(caller.spec.argnames) for name, caller in vars(hooks).items() if getattr(caller, "spec", None)}


def _sections(doc: str) -> dict[str, str]:
    """Each ``### `name` `` section of the document, by name."""
    parts = re.split(r"^### `([^`]+)`$", doc, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_hook_is_documented(doc: str) -> None:
    sections = _sections(doc)
    specs = _specs()
    assert len(specs) > 60  # registration hooks plus five kinds' operations
    missing = sorted(set(specs) - set(sections))
    assert not missing, f"hooks missing from docs/plugins.md: {missing}; {REGENERATE}"


def test_every_argument_return_and_blocking_is_documented(doc: str) -> None:
    sections = _sections(doc)
    for name, argnames in _specs().items():
        section = sections[name]
        for arg in argnames:
            if arg != "self":
                assert f"| `{arg}` |" in section, f"{name}: argument {arg} undocumented; {REGENERATE}"
        assert "- **Returns**: `" in section and "- **Raises**: " in section and "- **Blocks**: " in section, name


def test_no_hook_documented_that_does_not_exist(doc: str) -> None:
    """Hook sections (lower-case names; types are capitalised) name only real hooks."""
    documented = {name for name in _sections(doc) if name[:1].islower()}
    assert documented <= set(_specs()), sorted(documented - set(_specs()))


def test_docs_are_current(generator: ModuleType, doc: str) -> None:
    assert doc == generator.render(), f"docs/plugins.md is stale; {REGENERATE}"


def test_check_mode_reports_a_stale_file(generator: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / "plugins.md"
    stale.write_text(DOC.read_text().replace("### `hv_spawn`", "### `hv_gone`"))
    assert generator.main(["--check", "--output", str(stale)]) == 1
    fresh = tmp_path / "fresh.md"
    assert generator.main(["--output", str(fresh)]) == 0
    assert generator.main(["--check", "--output", str(fresh)]) == 0


def test_documented_errors_come_from_the_docstrings(generator: ModuleType, doc: str) -> None:
    """The Raises line is read from each hook's contract, e.g. hv_init_host's BackendUnavailable."""
    sections = _sections(doc)
    assert "- **Raises**: `BackendUnavailable`" in sections["hv_init_host"]
    assert "`NotFound`" in sections["img_get"]
    assert "- **Blocks**: while iterating" in sections["img_get"]
    assert "Must be fast (no I/O)" in sections["overcast_filter_hosts"]


def test_the_guides_example_plugin_registers_and_is_routed(doc: str, tmp_path: Path) -> None:
    """The example plugin in docs/plugins.md runs as written: its driver answers, an operation
    it does not implement is refused before any call, its config options are declared."""
    from overcast.errors import UnsupportedOperation
    from overcast.types import Flavor, Host, Instance

    source = re.search(r"`acme_overcast/plugin.py`.*?```python\n(.*?)```", doc, re.DOTALL)
    assert source is not None
    path = tmp_path / "acme_overcast_plugin.py"
    path.write_text(source.group(1))
    spec = importlib.util.spec_from_file_location("acme_overcast_plugin", path)
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    # what the example leaves to the vendor's own library
    vars(plugin).update(connect=lambda endpoint: None, lookup=lambda host, name: None)
    pm = PluginManager()
    pm.register_plugin(plugin, name="acme")
    driver = pm.hypervisor("acme")
    host = Host(name="lab1", driver="acme", options={"endpoint": "https://acme.example"})
    assert driver.init_host(host=host) is True
    assert driver.get_capabilities(host=host).hypervisor_type == "acme"
    with pytest.raises(UnsupportedOperation, match="spawn"):
        flavor = Flavor(id="1", name="tiny", vcpus=1, memory_mb=64, root_gb=1)
        instance = Instance(uuid="u1", name="oc-u1", display_name="vm", project_id="p", flavor=flavor)
        driver.spawn(host=host, instance=instance, image=None, network_info=[], block_devices=[])
    assert [o.name for o in pm.config_options() if o.driver == "acme"] == ["endpoint", "password"]
