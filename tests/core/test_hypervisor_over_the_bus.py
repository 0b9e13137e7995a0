"""Hypervisor operations cross the bus straight from their declaration in ``HypervisorHooks``.

The controller's client and the agent's server are both generated from the declaration, so an
operation is written in three places only (declaration, fake, driver). The proof: a hook added
to ``HypervisorHooks`` here, implemented by a driver registered here, is called over the bus
through an unmodified agent, with the routing rules of a local call.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from overcast import plugins
from overcast.agent import AGENT_RPC_VERSION, Agents, HostAgent, hypervisor
from overcast.bus import InProcessBus
from overcast.config import parse_config
from overcast.errors import DriverError, UnsupportedOperation
from overcast.hookspecs import HypervisorHooks, hookimpl, hookspec, operations
from overcast.plugins import PluginManager
from overcast.runtime import build_agent_runtime
from overcast.testing.fakes import FakeDriversPlugin
from overcast.testing.fixtures import fake_config_data
from overcast.types import (
    ConfigOption,
    DriverKind,
    Flavor,
    Host,
    HostResources,
    HvCapabilities,
    ImageRef,
    Instance,
    SnapshotResult,
)

INSTANCE = Instance(uuid="u1", name="oc-u1", display_name="vm", project_id="p", flavor=Flavor("f", "f", 1, 64, 1))


def test_the_client_offers_exactly_the_declared_operations() -> None:
    declared = set(operations(HypervisorHooks))
    client_class = hypervisor.client_class()
    offered = {name for name, member in vars(client_class).items() if inspect.isfunction(member)}
    assert offered == declared
    for name, func in operations(HypervisorHooks).items():  # same signature as the declaration
        assert inspect.signature(getattr(client_class, name)) == inspect.signature(func)
    assert set(hypervisor.declared_operations()) == {f"hv_{name}" for name in declared}


def test_an_agent_serves_every_declared_operation(tmp_path: Path, overcast_pm: PluginManager) -> None:
    config = parse_config(fake_config_data(tmp_path), tmp_path / "overcast.toml")
    runtime = build_agent_runtime(config, "fake1", pm=overcast_pm, bus=InProcessBus())
    try:
        agent = HostAgent(runtime, "fake1")
        for name in operations(HypervisorHooks):
            assert agent.rpc_lookup(f"hv_{name}") is not None, name
    finally:
        runtime.close()


# --- a hook the agent has never heard of ---------------------------------------------------------


def probe_echo(self: Any, host: Host, instance: Instance, peer: Host, image: ImageRef | None, text: str) -> str:
    """Test-only operation: answered by the probe driver with what it received."""


class ProbeDriver:
    """A hypervisor driver implementing the new hook and the minimum around it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    @hookimpl
    def hv_init_host(self, host: Host) -> bool:
        return True

    @hookimpl
    def hv_get_capabilities(self, host: Host) -> HvCapabilities:
        return HvCapabilities("probe", frozenset({"raw"}))

    @hookimpl
    def hv_get_available_resource(self, host: Host) -> HostResources:
        return HostResources(vcpus=1, memory_mb=64, local_gb=1)

    @hookimpl
    def hv_snapshot(self, host: Host, instance: Instance, image_name: str) -> SnapshotResult:
        raise AssertionError("a snapshot's file must never be asked for over the bus")

    @hookimpl
    def hv_probe_echo(self, host: Host, instance: Instance, peer: Host, image: Any, text: str) -> str:
        self.calls.append({"host": host, "peer": peer, "image": image})
        return f"{host.name}:{host.options['password']}:{peer.name}:{peer.options['password']}:{instance.name}:{text}"


class AuditPlugin:
    """Not a driver: its wrapper runs around the routed call, as it does locally."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def hv_probe_echo(self, host: Host, text: str) -> Iterator[None]:
        answer = yield
        self.seen.append(f"{host.name}:{text}->{answer}")
        return answer


class ProbePlugin:
    def __init__(self) -> None:
        self.driver = ProbeDriver()

    @hookimpl
    def overcast_register_drivers(self, registry: Any) -> None:
        registry.add(DriverKind.HYPERVISOR, "probe", self.driver, "answers the test-only hook")

    @hookimpl
    def overcast_add_config_options(self) -> list[ConfigOption]:
        return [ConfigOption(DriverKind.HYPERVISOR, "probe", "password", str, "", secret=True)]


class RecordingBus(InProcessBus):
    """The in-process bus, keeping every request's arguments as sent."""

    def __init__(self) -> None:
        super().__init__(rpc_timeout=10)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, topic: str, method: str, args: Mapping[str, Any], timeout: float | None = None) -> Any:
        self.sent.append((topic, method, dict(args)))
        return super().request(topic, method, args, timeout)


@pytest.fixture
def new_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``HypervisorHooks.probe_echo``, declared as any hook is, for the duration of a test."""
    monkeypatch.setattr(HypervisorHooks, "probe_echo", hookspec(firstresult=True)(probe_echo), raising=False)
    caches = (hypervisor.declared_operations, hypervisor.client_class, plugins.caller_class)
    for cache in caches:
        cache.cache_clear()
    yield
    monkeypatch.undo()
    for cache in caches:
        cache.cache_clear()


def test_a_new_hook_is_reachable_over_the_bus_without_agent_code(tmp_path: Path, new_hook: None) -> None:
    assert "probe_echo" in operations(HypervisorHooks)
    probe, audit = ProbePlugin(), AuditPlugin()
    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    pm.register_plugin(probe, name="probe")
    pm.register_plugin(audit, name="audit")
    pm.check_pending()
    data = fake_config_data(tmp_path)
    data["hosts"] = {"lab1": {"driver": "probe", "password": "one"}, "lab2": {"driver": "probe", "password": "two"}}
    config = parse_config(data, tmp_path / "overcast.toml")
    bus = RecordingBus()
    runtime = build_agent_runtime(config, "lab1", pm=pm, bus=bus)
    try:
        agent = HostAgent(runtime, "lab1")
        bus.serve("agent.lab1", agent)
        agents = Agents(bus)
        hv = agents.hypervisor(timeout=10)
        # the controller's records carry no secret the agent needs: it uses its own
        lab1, lab2 = Host("lab1", "probe"), Host("lab2", "probe")

        answer = hv.probe_echo(host=lab1, instance=INSTANCE, peer=lab2, image=None, text="hi")  # type: ignore[attr-defined]

        assert answer == "lab1:one:lab2:two:oc-u1:hi"  # the agent's own records, resolved by name
        [(topic, method, sent)] = bus.sent
        assert (topic, method) == ("agent.lab1", "hv_probe_echo")
        assert "host" not in sent and sent["peer"] == "lab2"  # a host crosses as its name, never its options
        assert audit.seen == ["lab1:hi->lab1:one:lab2:two:oc-u1:hi"]  # other plugins' wrappers still ran

        with pytest.raises(UnsupportedOperation, match="hypervisor driver 'probe' does not support 'pause'"):
            hv.pause(host=lab1, instance=INSTANCE)  # refused by the agent before any driver is called
        with pytest.raises(DriverError, match="cannot cross the bus"):
            hv.snapshot(host=lab1, instance=INSTANCE, image_name="s")
        assert len(probe.driver.calls) == 1

        agents.versions["lab1"] = "1.2"  # what an agent of the previous release reports
        sent_before = len(bus.sent)
        with pytest.raises(DriverError, match=r"agent RPC 1.2; this controller needs 2.0 .*upgrade Overcast on lab1"):
            hv.probe_echo(host=lab1, instance=INSTANCE, peer=lab2, image=None, text="again")  # type: ignore[attr-defined]
        assert len(bus.sent) == sent_before  # refused before anything was sent
        assert AGENT_RPC_VERSION.startswith("2.")
    finally:
        runtime.close()
        bus.close()


def test_an_unknown_argument_from_a_newer_controller_is_logged(
    tmp_path: Path, overcast_pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(fake_config_data(tmp_path), tmp_path / "overcast.toml")
    bus = InProcessBus(rpc_timeout=10)
    runtime = build_agent_runtime(config, "fake1", pm=overcast_pm, bus=bus)
    try:
        bus.serve("agent.fake1", HostAgent(runtime, "fake1"))
        with caplog.at_level("WARNING"):
            assert bus.call("agent.fake1", "hv_list_instances", flag_from_the_future=1) == []
        assert "hv_list_instances: ignoring arguments this side does not know" in caplog.text
        assert "flag_from_the_future" in caplog.text
    finally:
        runtime.close()
        bus.close()
