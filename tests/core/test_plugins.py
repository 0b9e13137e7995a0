"""The plugin manager: loading, recording failures, routing, capability checks."""

from __future__ import annotations

import pytest

from overcast.errors import DriverNotInstalled, NoDriverAnswered, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.plugins import PluginManager
from overcast.types import DriverKind, Flavor, Host, Instance

FLAVOR = Flavor(id="1", name="tiny", vcpus=1, memory_mb=64, root_gb=1)
INSTANCE = Instance(uuid="u1", name="oc-u1", display_name="vm", project_id="p", flavor=FLAVOR)


class ConsoleDriver:
    """A driver that answers one hook and records who called it."""

    def __init__(self, label: str, calls: list) -> None:
        self.label, self.calls = label, calls

    @hookimpl
    def hv_get_console_output(self, host: Host, instance: Instance, length: int | None) -> str:
        self.calls.append((self.label, host.name))
        return f"console of {instance.name} from {self.label}"


class TwoDrivers:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    @hookimpl
    def overcast_register_drivers(self, registry) -> None:
        registry.add(DriverKind.HYPERVISOR, "alpha", ConsoleDriver("alpha", self.calls))
        registry.add(DriverKind.HYPERVISOR, "beta", ConsoleDriver("beta", self.calls))


class AuditWrapper:
    """Not a driver: a plugin wrapping every console call (like an audit log)."""

    def __init__(self, calls: list) -> None:
        self.calls = calls

    @hookimpl(wrapper=True)
    def hv_get_console_output(self, host: Host, instance: Instance, length: int | None):
        self.calls.append(("audit", host.name))
        result = yield
        return result.upper()


@pytest.fixture
def calls() -> list:
    return []


@pytest.fixture
def pm(calls: list) -> PluginManager:
    pm = PluginManager()
    pm.register_plugin(TwoDrivers(calls), name="two")
    pm.register_plugin(AuditWrapper(calls), name="audit")
    pm.check_pending()
    return pm


def test_each_host_reaches_only_its_own_driver_while_wrappers_still_run(pm: PluginManager, calls: list) -> None:
    node1, node2 = Host("node1", "alpha"), Host("node2", "beta")
    out1 = pm.driver("hypervisor", node1.driver).get_console_output(host=node1, instance=INSTANCE, length=None)
    out2 = pm.driver("hypervisor", node2.driver).get_console_output(host=node2, instance=INSTANCE, length=None)
    assert out1 == "CONSOLE OF OC-U1 FROM ALPHA"
    assert out2 == "CONSOLE OF OC-U1 FROM BETA"
    assert calls == [("audit", "node1"), ("alpha", "node1"), ("audit", "node2"), ("beta", "node2")]


def test_routes_are_cached_per_driver(pm: PluginManager) -> None:
    alpha = pm.registry.get("hypervisor", "alpha")
    assert pm._route("hv_get_console_output", alpha) is pm._route("hv_get_console_output", alpha)
    assert pm._route("hv_get_console_output", alpha) is not pm._route(
        "hv_get_console_output", pm.registry.get("hypervisor", "beta")
    )


def test_unsupported_operation_is_refused_before_any_call(pm: PluginManager, calls: list) -> None:
    driver = pm.driver("hypervisor", "alpha")
    assert not driver.supports("live_migration")
    with pytest.raises(UnsupportedOperation, match="hypervisor driver 'alpha' does not support 'live_migration'"):
        driver.live_migration(host=Host("node1", "alpha"), instance=INSTANCE, dest=Host("n2", "alpha"), migration=None)
    assert calls == []


def test_none_from_a_driver_is_a_clear_error() -> None:
    class Silent:
        @hookimpl
        def vol_get_stats(self, backend):
            return None

    class Plugin:
        @hookimpl
        def overcast_register_drivers(self, registry):
            registry.add(DriverKind.VOLUME, "silent", Silent())

    pm = PluginManager()
    pm.register_plugin(Plugin(), name="p")
    with pytest.raises(NoDriverAnswered, match="volume driver 'silent' returned nothing for 'get_stats'"):
        pm.driver("volume", "silent").get_stats(backend=None)


def test_missing_driver_says_which_package_to_install(pm: PluginManager) -> None:
    with pytest.raises(DriverNotInstalled) as err:
        pm.driver("hypervisor", "esx")
    assert str(err.value) == "hypervisor driver 'esx' is not installed: pip install overcast-hv-esx"
    with pytest.raises(DriverNotInstalled, match="driver 'acme' is not installed: install the plugin package"):
        pm.driver("volume", "acme")


def test_misspelt_hook_marks_only_that_plugin_failed() -> None:
    class Typo:
        @hookimpl
        def hv_spwan(self, host, instance):  # misspelt on purpose
            return None

    pm = PluginManager()
    record = pm.register_plugin(Typo(), name="typo")
    assert record.status == "registration error"
    assert "hv_spwan" in record.error and "misspelt" in record.error
    pm.check_pending()  # the broken plugin was unregistered, the manager is still sound


def test_a_driver_with_a_misspelt_hook_is_refused() -> None:
    class BadDriver:
        @hookimpl
        def vol_creat(self, backend, volume):
            return None

    class Plugin:
        @hookimpl
        def overcast_register_drivers(self, registry):
            registry.add(DriverKind.VOLUME, "bad", BadDriver())

    pm = PluginManager()
    record = pm.register_plugin(Plugin(), name="p")
    assert record.status == "registration error" and "vol_creat" in record.error
    assert not pm.registry.has("volume", "bad")


def test_registering_a_driver_twice_is_an_error() -> None:
    class Plugin:
        @hookimpl
        def overcast_register_drivers(self, registry):
            registry.add(DriverKind.VOLUME, "dup", object())
            registry.add(DriverKind.VOLUME, "dup", object())

    pm = PluginManager()
    record = pm.register_plugin(Plugin(), name="p")
    assert record.status == "registration error" and "registered twice" in record.error


def test_registration_error_in_a_plugin_is_recorded() -> None:
    class Exploding:
        @hookimpl
        def overcast_register_drivers(self, registry):
            raise RuntimeError("no licence key")

    pm = PluginManager()
    record = pm.register_plugin(Exploding(), name="boom")
    assert (record.status, record.error) == ("registration error", "RuntimeError: no licence key")


def test_config_options_are_collected_from_every_plugin(overcast_pm: PluginManager) -> None:
    names = {(o.kind, o.driver, o.name) for o in overcast_pm.config_options()}
    assert (DriverKind.HYPERVISOR, "fake", "vcpus") in names
    assert (DriverKind.VOLUME, "fake", "capacity_gb") in names


def test_the_hook_classes_are_the_specs_and_the_callers_type(pm: PluginManager) -> None:
    """One declaration per operation: the kind's hook class gives pluggy its spec (under
    the family's prefix) and the routed caller its methods."""
    from overcast.hookspecs import DRIVER_HOOKS, operations

    for kind, spec in DRIVER_HOOKS.items():
        for name in operations(spec):
            assert pm.hooks.hook.__dict__[kind.hook_prefix + name].spec is not None
    caller = pm.driver("hypervisor", "alpha")
    assert set(operations(DRIVER_HOOKS[DriverKind.HYPERVISOR])) <= set(dir(caller))
    assert not hasattr(caller, "no_such_operation")  # no attribute forwarding
    assert pm.driver("hypervisor", "alpha") is caller  # cached per driver


def test_positional_arguments_are_bound_by_the_declaration(pm: PluginManager) -> None:
    node1 = Host("node1", "alpha")
    assert pm.hypervisor("alpha").get_console_output(node1, INSTANCE, None) == "CONSOLE OF OC-U1 FROM ALPHA"


def test_a_hook_declared_to_answer_none_may() -> None:
    class Unbound:
        @hookimpl
        def net_bind_port(self, backend, host, port):
            return None

    class Plugin:
        @hookimpl
        def overcast_register_drivers(self, registry):
            registry.add(DriverKind.NETWORK, "unbound", Unbound())

    pm = PluginManager()
    pm.register_plugin(Plugin(), name="p")
    assert pm.driver("network", "unbound").bind_port(backend=None, host="h", port=None) is None
