"""Heartbeat rounds ask each agent process once for all the hosts it serves (agent RPC 2.1).

Six fake hosts on the in-process bus, served as three "agent processes" (each
:func:`start_local_agents` call is one: one agent id, and for several hosts one topic that
answers ``compute_report_all`` for them all): ``fake1``-``fake3``, ``fake4``-``fake5``, and
``fake6`` alone. The bus counts the heartbeat RPCs each round sends.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import select

from overcast.agent import AGENT_RPC_VERSION, agent_topic, process_topic, start_local_agents
from overcast.config import parse_config
from overcast.db.models.hosts import ServiceRecord
from overcast.testing.fixtures import fake_config_data
from overcast.testing.waiting import wait_until

from .fake_peers import FakeImageService, FakeVolumeService

DOWN_AFTER = 3.0  # probe_timeout 1 s, an agent process's answer 1 s
FIRST, SECOND, ALONE = ["fake1", "fake2", "fake3"], ["fake4", "fake5"], ["fake6"]
HOSTS = FIRST + SECOND + ALONE


@pytest.fixture
def overcast_config(tmp_path, migrated_sqlite_template):
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path, hosts=len(HOSTS))
    data["bus"] = {"heartbeat_interval": 3600, "host_down_after": DOWN_AFTER}
    return parse_config(data, tmp_path / "overcast.toml")


@pytest.fixture
def runtime(overcast_runtime) -> Iterator[Any]:
    """Compute started over three agent processes, started before it (so it serves none itself);
    its first round has asked every host on its own topic, learning their processes."""
    overcast_runtime._services["image"] = FakeImageService()
    overcast_runtime._services["volume"] = FakeVolumeService()
    for hosts in (FIRST, SECOND, ALONE):
        start_local_agents(overcast_runtime, hosts)
    overcast_runtime.compute.start()
    yield overcast_runtime


class Heartbeats:
    """The heartbeat RPCs sent over ``bus`` (``(topic, method)`` -> how many), counted while on."""

    def __init__(self, bus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        request = bus.request

        def counting(topic: str, method: str, args: Mapping[str, Any], timeout: float | None = None) -> Any:
            if method.startswith("compute_report"):
                with self._lock:
                    self.sent[(topic, method)] += 1
            return request(topic, method, args, timeout)

        monkeypatch.setattr(bus, "request", counting)

    def take(self) -> Counter[tuple[str, str]]:
        with self._lock:
            sent, self.sent = self.sent, Counter()
        return sent


def report_counts(runtime: Any) -> dict[str, int]:
    with runtime.db.session() as s:
        stmt = select(ServiceRecord.host, ServiceRecord.report_count).where(ServiceRecord.binary == "nova-compute")
        return dict(s.execute(stmt).all())


def heard(runtime: Any, **kwargs: Any) -> set[str]:
    """The hosts one heartbeat round wrote (their service rows' report counts went up)."""
    before = report_counts(runtime)
    runtime.compute.hosts.refresh_all(**kwargs)
    return {host for host, n in report_counts(runtime).items() if n > before[host]}


def by_process() -> Counter[tuple[str, str]]:
    """What a round sends when every process answers: one ask per process, ``fake6`` its own."""
    return Counter(
        {
            (str(process_topic(FIRST)), "compute_report_all"): 1,
            (str(process_topic(SECOND)), "compute_report_all"): 1,
            (agent_topic("fake6"), "compute_report"): 1,
        }
    )


def one_by_one(hosts: list[str]) -> Counter[tuple[str, str]]:
    return Counter({(agent_topic(h), "compute_report"): 1 for h in hosts})


@pytest.fixture
def returned(runtime) -> list[str]:
    """The hosts the heartbeat hands over for reconciling (instead of reconciling them)."""
    back: list[str] = []
    runtime.compute.hosts.on_return = back.append
    return back


def test_a_round_asks_each_agent_process_once(runtime, monkeypatch, returned):
    rpcs = Heartbeats(runtime.bus, monkeypatch)
    assert heard(runtime) == set(HOSTS)
    assert rpcs.take() == by_process()  # 3 RPCs for 6 hosts
    assert heard(runtime) == set(HOSTS)
    assert rpcs.take() == by_process()
    assert returned == []  # the same processes as in the first round: nothing to reconcile
    assert runtime.compute.hosts.statuses(set(HOSTS)) == dict.fromkeys(HOSTS, "UP")


def test_skip_fresh_asks_a_process_only_for_its_stale_hosts(runtime, monkeypatch):
    """Another controller's fresh heartbeats are still skipped; a process with a single stale
    host left is asked on that host's topic (as cheap), with two for those two."""
    from datetime import timedelta

    from sqlalchemy import update

    from overcast.db.models.base import utcnow
    from overcast.db.models.hosts import HostRecord

    rpcs = Heartbeats(runtime.bus, monkeypatch)
    with runtime.db.session() as s:  # another controller's heartbeats
        s.execute(update(HostRecord).where(HostRecord.name.in_(["fake1", "fake4"])).values(last_heartbeat=utcnow()))
        s.execute(update(HostRecord).where(HostRecord.name == "fake6").values(last_heartbeat=utcnow()))
        stale = utcnow() - timedelta(minutes=2)
        s.execute(
            update(HostRecord).where(HostRecord.name.in_(["fake2", "fake3", "fake5"])).values(last_heartbeat=stale)
        )
    assert heard(runtime, skip_fresh=60) == {"fake2", "fake3", "fake5"}
    assert rpcs.take() == Counter(
        {(str(process_topic(FIRST)), "compute_report_all"): 1, (agent_topic("fake5"), "compute_report"): 1}
    )


def test_a_process_that_does_not_answer_leaves_its_hosts_to_their_own_asks(runtime, monkeypatch, returned):
    rpcs = Heartbeats(runtime.bus, monkeypatch)
    runtime.bus.stop_serving(str(process_topic(FIRST)))  # the process answers its hosts' topics only
    assert heard(runtime) == set(HOSTS)
    assert rpcs.take() == by_process() + one_by_one(FIRST)
    # not asked again for host_down_after: its hosts one by one meanwhile
    assert heard(runtime) == set(HOSTS)
    assert rpcs.take() == by_process() - Counter({(str(process_topic(FIRST)), "compute_report_all"): 1}) + one_by_one(
        FIRST
    )
    monkeypatch.setattr(time, "monotonic", lambda real=time.monotonic: real() + DOWN_AFTER)
    assert heard(runtime) == set(HOSTS)
    assert rpcs.take() == by_process() + one_by_one(FIRST)  # asked again, still no answer
    assert returned == []  # same agents all along


class SlowProcess:
    """An agent process that answers for its hosts too late."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def compute_report_all(self, hosts: list[str] | None = None) -> dict:
        self.release.wait(10)
        return {}


def test_a_slow_process_delays_only_its_own_hosts_by_half_a_probe(runtime, monkeypatch, returned):
    rpcs = Heartbeats(runtime.bus, monkeypatch)
    slow = SlowProcess()
    runtime.bus.serve(str(process_topic(SECOND)), slow)
    written: dict[str, float] = {}
    record_batch = runtime.compute.hosts._record_batch

    def timed(answered):
        written.update(dict.fromkeys(answered, time.monotonic()))
        return record_batch(answered)

    monkeypatch.setattr(runtime.compute.hosts, "_record_batch", timed)
    started = time.monotonic()
    try:
        assert heard(runtime) == set(HOSTS)
    finally:
        slow.release.set()
    probe = runtime.config.bus.probe_timeout
    assert probe == 1.0
    assert all(written[h] - started < probe / 2 for h in FIRST), written  # not held up by the slow one
    assert all(written[h] - started < probe * 1.5 + 0.5 for h in SECOND), written  # asked after its timeout
    assert rpcs.take() == by_process() + one_by_one(SECOND)
    assert returned == []


class Agent20:
    """A host's agent of release 2.0: ``compute_report`` with an agent id and no process topic,
    and no ``compute_report_all`` anywhere."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id

    def compute_report(self) -> dict:
        return {
            "capabilities": {"hypervisor_type": "fake", "image_types": ["qcow2"]},
            "resources": {"vcpus": 8, "memory_mb": 8192, "local_gb": 80},
            "agent": {"id": self.agent_id, "version": "2.0"},
        }


def test_agents_of_2_0_still_heartbeat_host_by_host(runtime, monkeypatch, returned):
    old = Agent20("old-process")
    runtime.bus.stop_serving(str(process_topic(SECOND)))
    for host in SECOND:  # their process is upgraded back... to 2.0
        runtime.bus.serve(agent_topic(host), old)
    rpcs = Heartbeats(runtime.bus, monkeypatch)
    assert heard(runtime) == set(HOSTS)
    assert rpcs.take() == by_process() + one_by_one(SECOND)  # asked the process they served last, then alone
    assert sorted(returned) == SECOND  # a new agent process: reconciled
    assert heard(runtime) == set(HOSTS)
    sent = rpcs.take()
    assert sent == by_process() - Counter({(str(process_topic(SECOND)), "compute_report_all"): 1}) + one_by_one(SECOND)
    assert runtime.compute.hosts.statuses(set(HOSTS)) == dict.fromkeys(HOSTS, "UP")
    assert sorted(returned) == SECOND  # once
    assert {h: runtime.agents.versions[h] for h in SECOND} == dict.fromkeys(SECOND, "2.0")  # as they reported


def test_a_host_whose_process_changed_is_reconciled(runtime, monkeypatch, returned):
    rpcs = Heartbeats(runtime.bus, monkeypatch)
    start_local_agents(runtime, SECOND)  # that process restarted: same topic, a new agent id
    assert heard(runtime) == set(HOSTS)
    assert sorted(returned) == SECOND
    assert rpcs.take() == by_process()
    returned.clear()

    start_local_agents(runtime, ["fake3"])  # fake3 moves to a process of its own
    assert heard(runtime) == set(HOSTS)
    assert returned == ["fake3"]
    # the old process no longer answers for fake3 (another agent serves its topic): asked alone
    assert rpcs.take() == by_process() + one_by_one(["fake3"])
    assert heard(runtime) == set(HOSTS)
    assert rpcs.take() == by_process() + one_by_one(["fake3"])
    assert returned == ["fake3"]


def test_report_all_answers_only_for_the_hosts_it_serves(runtime):
    process = runtime.agents.process(str(process_topic(FIRST)))
    reports = process.report_all()
    assert sorted(reports) == FIRST
    assert len({r.agent.id for r in reports.values() if r.agent is not None}) == 1  # one process, one id
    assert {r.agent.version for r in reports.values() if r.agent is not None} == {AGENT_RPC_VERSION}
    assert all(r.agent is not None and r.agent.topic == process_topic(FIRST) for r in reports.values())
    assert reports["fake1"].resources is not None and reports["fake1"].resources.vcpus > 0
    assert sorted(process.report_all(hosts=["fake2", "fake4", "nowhere"])) == ["fake2"]
    runtime.bus.stop_serving(agent_topic("fake2"))  # withdrawn: no longer reported for
    assert sorted(process.report_all()) == ["fake1", "fake3"]


def test_a_dead_process_has_its_hosts_down_within_host_down_after_and_back(runtime, returned):
    hosts = runtime.compute.hosts
    hosts.stop()
    hosts.start(0.2)
    wait_until(lambda: hosts.statuses(set(HOSTS)) == dict.fromkeys(HOSTS, "UP"), "all up", timeout=10, every=0.05)
    killed = time.monotonic()
    for topic in [str(process_topic(SECOND)), *map(agent_topic, SECOND)]:  # the process dies
        runtime.bus.stop_serving(topic)
    wait_until(
        lambda: hosts.statuses(set(SECOND)) == dict.fromkeys(SECOND, "UNKNOWN"),
        "fake4, fake5 down",
        timeout=15,
        every=0.05,
    )
    assert time.monotonic() - killed < DOWN_AFTER + 2
    assert hosts.statuses(set(FIRST + ALONE)) == dict.fromkeys(FIRST + ALONE, "UP")
    assert returned == []

    start_local_agents(runtime, SECOND)  # it comes back
    wait_until(lambda: sorted(set(returned)) == SECOND, "fake4 and fake5 reconciled", timeout=15, every=0.05)
    wait_until(lambda: hosts.statuses(set(HOSTS)) == dict.fromkeys(HOSTS, "UP"), "all up again", timeout=10, every=0.05)
    assert sorted(returned) == SECOND  # once each


def test_liveness_only_heartbeats_keep_updated_at_and_the_scheduler_still_sees_hosts_go_and_come(runtime):
    """A heartbeat that reports nothing new renews ``last_heartbeat`` alone (the schedulers'
    caches re-read only rows whose ``updated_at`` moved); their incremental refreshes still
    call a silent host down after ``host_down_after``, and up once it answers again."""
    from overcast.db.models.hosts import HostRecord

    def rows() -> dict[str, tuple[Any, Any]]:
        stmt = select(HostRecord.name, HostRecord.updated_at, HostRecord.last_heartbeat)
        return {n: (u, h) for n, u, h in runtime.db.read(lambda s: s.execute(stmt).all())}

    hosts, cache = runtime.compute.hosts, runtime.compute.scheduler.cache
    hosts.stop()
    hosts.refresh_all()
    before = rows()
    time.sleep(0.01)
    hosts.refresh_all()
    after = rows()
    assert all(after[n][0] == before[n][0] and after[n][1] > before[n][1] for n in HOSTS)

    def up() -> dict[str, bool]:
        cache.invalidate()  # an incremental refresh: the full one was the first view
        with cache.lock:
            entries, _ = cache.view()
            return {n: entries[n].up for n in HOSTS}

    assert up() == dict.fromkeys(HOSTS, True)
    full_at = cache._full_at
    for topic in [str(process_topic(SECOND)), *map(agent_topic, SECOND)]:  # the process dies
        runtime.bus.stop_serving(topic)
    deadline = time.monotonic() + DOWN_AFTER + 0.5
    while time.monotonic() < deadline:
        hosts.refresh_all()
        time.sleep(0.2)
    assert up() == {n: n not in SECOND for n in HOSTS}
    start_local_agents(runtime, SECOND)  # it comes back
    hosts.refresh_all()
    assert up() == dict.fromkeys(HOSTS, True)
    assert cache._full_at == full_at  # every refresh above was incremental
