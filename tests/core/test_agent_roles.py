"""Process roles: what a controller and an agent load from the one shared config file, the
agent's database-free runtime, and message versions between releases."""

from __future__ import annotations

from pathlib import Path

import pytest

from overcast.agent import HostAgent
from overcast.agent.compute import ComputeAgent
from overcast.bus import InProcessBus, encode, handle_request
from overcast.bus.rpc import client
from overcast.config import parse_config, resolve_drivers
from overcast.errors import ConfigError, DriverNotInstalled, OvercastError
from overcast.network.rpc import HostNetworkState
from overcast.runtime import build_agent_runtime
from overcast.testing.fixtures import fake_config_data
from overcast.types import HvCapabilities, from_dict


def shared_config(tmp_path: Path):
    """Two fake hosts, an ESX host whose plugin is not installed here, a host-local backend."""
    data = fake_config_data(tmp_path, hosts=2)
    data["hosts"]["esx1"] = {"driver": "esx", "vcenter": "vc.example"}
    data["volume_backends"]["local"] = {"driver": "fake", "capacity_gb": 5}
    data["volume_backends"]["remote-lvm"] = {"driver": "lvm", "volume_group": "vg0"}
    data["volume"] = {"backend_hosts": {"local": "fake2", "remote-lvm": "esx1"}}
    data["bus"] = {"url": "amqp://guest:guest@127.0.0.1:5672//", "prefix": "t1"}
    return parse_config(data, tmp_path / "overcast.toml")


def test_all_in_one_needs_every_driver(tmp_path: Path, overcast_pm) -> None:
    with pytest.raises(DriverNotInstalled, match=r"\[hosts.esx1\] driver: hypervisor driver 'esx' is not installed"):
        resolve_drivers(shared_config(tmp_path), overcast_pm)


def test_controller_needs_no_host_drivers(tmp_path: Path, overcast_pm) -> None:
    resolved = resolve_drivers(shared_config(tmp_path), overcast_pm, role="controller")
    assert sorted(resolved.hosts) == ["esx1", "fake1", "fake2"]
    assert resolved.hosts["esx1"].options == {"vcenter": "vc.example"}  # kept as written: its agent validates them
    assert resolved.hosts["fake1"].options["vcpus"] == 16  # installed here: validated, defaults applied
    assert sorted(resolved.volume_backends) == ["fake", "local", "remote-lvm"]
    assert resolved.image_store is not None and resolved.object_store is not None


def test_agent_loads_only_its_host(tmp_path: Path, overcast_pm) -> None:
    config = shared_config(tmp_path)
    resolved = resolve_drivers(config, overcast_pm, role="agent", host="fake2")
    assert sorted(resolved.hosts) == ["fake1", "fake2"]  # same-driver peers (migration), not esx1
    assert sorted(resolved.volume_backends) == ["local"]  # only what backend_hosts puts on fake2
    assert resolved.object_store is None and resolved.network is not None and resolved.image_store is not None
    with pytest.raises(ConfigError, match=r"no \[hosts.ghost\] table.*esx1, fake1, fake2"):
        resolve_drivers(config, overcast_pm, role="agent", host="ghost")


def test_one_agent_process_for_several_hosts(tmp_path: Path, overcast_pm) -> None:
    from overcast.agent.process import select_hosts

    data = fake_config_data(tmp_path, hosts=3)
    data["hosts"]["esx1"] = {"driver": "esx", "vcenter": "vc.example"}
    data["volume_backends"]["local"] = {"driver": "fake", "capacity_gb": 5}
    data["volume"] = {"backend_hosts": {"local": "fake3"}}
    config = parse_config(data, tmp_path / "overcast.toml")
    assert select_hosts(config, ["fake[12]", "fake1", "fake3"]) == ["fake1", "fake2", "fake3"]  # config order, once
    with pytest.raises(ConfigError, match=r"no \[hosts.kvm\*\] table.*esx1, fake1"):
        select_hosts(config, ["fake1", "kvm*"])
    with pytest.raises(ConfigError, match="at least one host"):
        select_hosts(config, [])
    resolved = resolve_drivers(config, overcast_pm, role="agent", host=["fake1", "fake3"])
    assert sorted(resolved.hosts) == ["fake1", "fake2", "fake3"]  # the esx host's driver is not loaded
    assert sorted(resolved.volume_backends) == ["local"]  # the backend on one of its hosts
    with pytest.raises(ConfigError, match=r"no \[hosts.ghost\] table"):
        resolve_drivers(config, overcast_pm, role="agent", host=["fake1", "ghost"])

    bus = InProcessBus(rpc_timeout=5)
    runtime = build_agent_runtime(config, ["fake1", "fake3"], pm=overcast_pm, bus=bus)
    try:
        from overcast.agent.process import AgentProcess

        process = AgentProcess(runtime, ["fake1", "fake3"])
        process.start()
        reports = {h: client(bus, f"agent.{h}", ComputeAgent).report() for h in ("fake1", "fake3")}
        assert all(r.resources is not None and r.resources.vcpus == 16 for r in reports.values())
        assert all(r.agent is not None and r.agent.version for r in reports.values())
        with pytest.raises(OvercastError, match="nothing is serving 'agent.fake2'"):
            client(bus, "agent.fake2", ComputeAgent).report()
        process.stop()
        with pytest.raises(OvercastError, match="nothing is serving 'agent.fake1'"):
            client(bus, "agent.fake1", ComputeAgent).report()
    finally:
        runtime.close()


def test_many_hosts_wait_once_for_a_silent_controller(tmp_path: Path, overcast_pm) -> None:
    """A process serving many hosts asks a controller that does not answer once, not once per
    host (each question waits ``probe_timeout``); once it answers, hosts ask again."""
    import threading
    import time

    from overcast.agent.process import AgentProcess

    data = fake_config_data(tmp_path, hosts=4)
    data["bus"] = {"host_down_after": 3}  # probe_timeout: 1 s
    config = parse_config(data, tmp_path / "overcast.toml")
    asked: list[str] = []
    answer = threading.Event()

    class Controller:
        def host_state(self, host: str) -> HostNetworkState:
            asked.append(host)
            if not answer.is_set():
                time.sleep(1.5)  # longer than the agents wait
            return HostNetworkState((), (), (), ())

    bus = InProcessBus(rpc_timeout=5)
    bus.serve("network", Controller())
    hosts = ["fake1", "fake2", "fake3"]
    runtime = build_agent_runtime(config, hosts, pm=overcast_pm, bus=bus)
    try:
        started = time.monotonic()
        AgentProcess(runtime, hosts).start()
        assert asked == ["fake1"] and time.monotonic() - started < 2.5
        answer.set()
        time.sleep(1.1)  # the silence is forgotten after probe_timeout
        AgentProcess(runtime, ["fake4", "fake1"]).start()
        assert asked[1:] == ["fake4", "fake1"]
    finally:
        runtime.close()


def test_agent_runtime_has_no_database(tmp_path: Path, overcast_pm) -> None:
    config = shared_config(tmp_path)
    runtime = build_agent_runtime(config, "fake1", pm=overcast_pm, bus=InProcessBus())
    try:
        with pytest.raises(OvercastError, match="host agents have no database"):
            runtime.db.session()
        agent = HostAgent(runtime, "fake1")
        agent.compute.start()
        report = agent.compute.report()
        assert report.resources is not None and report.resources.vcpus == 16
        assert report.agent is not None and report.agent.version
        assert not (tmp_path / "overcast.db").exists() or (tmp_path / "overcast.db").stat().st_size > 0
    finally:
        runtime.close()


def test_agent_and_controller_refuse_the_in_process_bus(tmp_path: Path) -> None:
    from overcast.agent.process import run_agent
    from overcast.server import serve

    config = parse_config(fake_config_data(tmp_path), tmp_path / "overcast.toml")
    with pytest.raises(ConfigError, match="amqp://"):
        run_agent(config, "fake1")
    with pytest.raises(ConfigError, match="amqp://"):
        serve(config, role="controller")


# --- versions ------------------------------------------------------------------------------


class OldAgent:
    """An agent of an older release: it takes fewer arguments than the controller sends and
    reports capabilities without the fields added since (and with one we dropped)."""

    def compute_get_info(self, instance: dict) -> str:
        return f"old agent saw {instance['name']}"

    def compute_report(self) -> dict:
        return {
            "capabilities": {
                "__type__": "HvCapabilities",
                "hypervisor_type": "kvm",
                "image_types": ["qcow2"],
                "retired_field": 1,
            },
            "future": {"__type__": "ThingFromTheFuture", "x": 1},
        }


def test_envelope_carries_a_version() -> None:
    import json

    assert json.loads(encode("m", {"a": 1}))["v"] >= 1


def test_newer_controller_talks_to_older_agent() -> None:
    bus = InProcessBus(rpc_timeout=5)
    try:
        bus.serve("agent.old", OldAgent())
        # an argument the old agent does not know is dropped, not a TypeError
        assert bus.call("agent.old", "compute_get_info", instance={"name": "vm1"}, new_flag=True) == "old agent saw vm1"
        report = client(bus, "agent.old", ComputeAgent).report()  # decoded by the declared HostReport
        caps = report.capabilities
        assert caps == HvCapabilities("kvm", frozenset({"qcow2"}))  # missing fields default, unknown ignored
        assert caps.shared_storage is False and caps.live_migration is False
        assert report.resources is None  # a field it did not send takes its default; "future" is ignored
        assert report.agent is None  # older agents do not identify themselves; the controller copes
    finally:
        bus.close()


def test_newer_envelope_version_is_read() -> None:
    message = '{"v": 99, "method": "compute_get_info", "args": {"instance": {"name": "vm2"}}, "trace": "x"}'
    reply = handle_request(OldAgent(), "agent.old", message)
    assert from_dict(__import__("json").loads(reply)["result"]) == "old agent saw vm2"
