"""Scale: 100 to 1,000 simulated hosts behind real agent processes and two controllers on
PostgreSQL and RabbitMQ (run on demand; prints a table, one row per host count).

What runs, per row, all on loopback and thrown away afterwards:

* a fresh PostgreSQL database (127.0.0.1:5432, trust auth) and a fresh RabbitMQ vhost
  (``rabbitmqctl add_vhost``; without rabbitmqctl, a unique ``[bus] prefix`` on ``/`` whose
  queues and exchanges are deleted afterwards);
* ``overcast agent`` processes over the fake hypervisor: ``--agents`` processes share the
  hosts (one process serves many hosts: each its own ``agent.<host>`` queue, handlers and
  heartbeat answers, over one broker connection), plus one process for one more host, the
  victim of the dead-host measurement;
* two ``overcast up --role controller`` processes on that database and bus, each heartbeating
  every host and serving the API on its own port (tokens of one are valid on the other).

Then it measures, in this order:

* idle CPU: what both controllers (and, apart, the agent processes) burn over ``--idle-window``
  seconds with nothing to do but heartbeats, in % of one core, one heartbeat interval after
  the start; the load average at its end;
* scheduling decisions/s: select + atomic claim against the real ``hosts`` table, from a
  controller runtime in this process (16 threads), claims released afterwards;
* creates: ``--fill`` of the cloud's capacity (each host holds ``--capacity`` one-vCPU
  servers; allocation ratios 1.0) as ``POST /servers`` over HTTP, ``--concurrency`` in flight,
  alternating between the controllers. creates/s = ACTIVE servers / (first ``created_at`` ->
  last ``launched_at``, from the database); errors = non-202 answers + servers not ACTIVE;
  controller CPU per create = the two controllers' CPU (every process of theirs) from the first
  POST until every server settled, over the creates, and "net of idle" with their idle rate
  (above: heartbeats, host-state refreshes, work that grows with the hosts, not the creates)
  over the create window taken off; the whole machine's CPU per create, split into the
  agents', RabbitMQ's, PostgreSQL's and this process's (on two cores the machine's bounds the rate);
* oversubscription: hosts holding more than their capacity, by the database (live servers per
  host, and the claimed ``vcpus_used``) and by each host's own hypervisor (a ``compute_report``
  RPC to every agent: its ``vcpus_used`` against its ``vcpus``); the hypervisors' guests are
  counted against the ACTIVE servers;
* heartbeat lag: every second during the row, the age of each host's last heartbeat
  (``services.last_seen_at``); p50 and max over hosts and samples, against
  ``heartbeat_interval`` (with two controllers heartbeating, the age stays below it when
  heartbeats keep up);
* deletes: every server ``DELETE``d over HTTP; deletes/s = servers / (first DELETE -> none left);
* dead host: the victim's agent is SIGKILLed and the API (``os-services``) and the scheduler's
  host view are polled (every 0.1 s) until they call it down; the time is compared with
  ``host_down_after``. A host is down once its last heartbeat is older than
  ``host_down_after``, so with heartbeats on time the verdict comes ``host_down_after`` minus
  the heartbeat's age at the kill (printed too) after it. A heartbeat the agent answered just
  before the kill may be written just after it, so the time from the last heartbeat written
  (read once the API has called the host down) to that verdict is printed as well: it is the
  figure to hold against ``host_down_after``.

Every process, the database and the vhost are removed at the end, on an error and on Ctrl-C.

    .venv/bin/python bench/scale.py [--hosts 100,250,500,1000] [--agents 2] [--capacity 2] [--fill 0.9]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bus_rpc import scheduling_decisions, table  # noqa: E402
from bench.compute_create import setup  # noqa: E402
from bench.procmem import by_command, cpu_seconds, machine_busy_seconds, tree_cpu_seconds  # noqa: E402

BROKER = "amqp://guest:guest@127.0.0.1:5672/"
COMPUTE = "/compute/v2.1"
HEADERS = {"OpenStack-API-Version": "compute 2.37"}
#: warm-up creates (then deleted) through each controller before the clock starts
WARM_UP_PER_CONTROLLER = 8


# --- throwaway broker namespace ------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_bus(hosts: list[str], processes: list[list[str]]) -> Iterator[tuple[str, str]]:
    """(amqp url, [bus] prefix): a vhost of our own if rabbitmqctl can make one, else a unique
    prefix on ``/`` whose durable queues and exchanges are deleted afterwards."""
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    vhost = prefix

    def ctl(*args: str) -> bool:
        try:
            return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    if ctl("add_vhost", vhost) and ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"):
        try:
            yield BROKER + quote(vhost, safe=""), prefix
        finally:
            if not ctl("delete_vhost", vhost):
                print(f"could not delete RabbitMQ vhost {vhost}: run 'rabbitmqctl delete_vhost {vhost}'", flush=True)
        return
    ctl("delete_vhost", vhost)  # half made (permissions refused): do not leave it
    from overcast.testing.agents import cloud_topics, delete_amqp_names

    url = BROKER + "/"
    try:
        yield url, prefix
    finally:
        delete_amqp_names(url, prefix, cloud_topics(hosts, processes))


# --- the cloud --------------------------------------------------------------------------------------


@dataclass
class Cloud:
    controllers: list[Any]  # RunningCloud, one per controller process
    agents: list[Any]  # overcast.testing.agents.AgentProcess
    victim: Any  # the AgentProcess of the victim host alone
    runtime: Any  # a controller runtime in this process: scheduler, database, agent stubs
    hosts: list[str]
    start_s: float


def wait_agents_serving(agents: list[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for agent in agents:
        while "agent serving" not in agent.log_path.read_text(errors="replace"):
            if agent.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agent {agent.host} did not start:\n{agent.log_tail()}")
            time.sleep(0.2)


@contextlib.contextmanager
def cloud_of(n_hosts: int, args: argparse.Namespace) -> Iterator[Cloud]:
    from overcast.config import load_config
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.testing.agents import start_agent_process, stop_agent_process
    from overcast.testing.cloud import start_another_controller, start_running_cloud, stop_running_cloud
    from overcast.testing.fakes import FakeDriversPlugin
    from overcast.testing.postgres import fresh_database

    names = [f"s{i:04d}" for i in range(n_hosts)]
    shared = names[:-1]
    k = max(1, min(args.agents, len(shared)))
    processes = [shared[i::k] for i in range(k)] + [names[-1:]]  # the hosts of each agent process
    cap = args.capacity
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(fresh_database("overcast_scale"))
        amqp, prefix = stack.enter_context(throwaway_bus(names, processes))
        data_dir = Path(tempfile.mkdtemp(prefix="oc-scale-"))
        stack.callback(shutil.rmtree, data_dir, True)
        extra = {
            "database": {"url": db_url},
            "bus": {
                "url": amqp,
                "prefix": prefix,
                "heartbeat_interval": args.heartbeat_interval,
                "host_down_after": args.down_after,
                "rpc_timeout": 60,
            },
            # each host holds ``cap`` servers of the bench's flavor (1 vCPU, 64 MB, 1 GB)
            "hosts": {n: {"driver": "fake", "vcpus": cap, "memory_mb": 4096, "local_gb": 100} for n in names},
            "image_store": {"driver": "fs", "path": str(data_dir / "images")},
            "compute": {
                "quota_instances": -1,
                "quota_cores": -1,
                "quota_ram": -1,
                "cpu_allocation_ratio": 1.0,
                "ram_allocation_ratio": 1.0,
                "disk_allocation_ratio": 1.0,
            },
        }
        agents: list[Any] = []

        def stop_agents() -> None:
            for agent in agents:
                stop_agent_process(agent)

        stack.callback(stop_agents)

        def start_agents(config_path: Path, env: dict[str, str]) -> None:
            for hosts in processes:
                agents.append(start_agent_process(config_path, hosts if len(hosts) > 1 else hosts[0], env=env))
            wait_agents_serving(agents, 300)

        t0 = time.perf_counter()
        first = start_running_cloud(
            data_dir, extra, timeout=900, fake_hosts=False, role="controller", before_start=start_agents
        )
        stack.callback(stop_running_cloud, first)
        second = start_another_controller(first, "2", timeout=900)
        stack.callback(stop_running_cloud, second)
        start_s = time.perf_counter() - t0
        pm = load_plugin_manager(extra_plugins=[("fake", FakeDriversPlugin())])
        runtime = build_runtime(load_config(first.config_path), pm=pm, migrate=False, role="controller")
        stack.callback(runtime.close)
        yield Cloud([first, second], agents, agents[-1], runtime, names, start_s)


# --- measurements ------------------------------------------------------------------------------------


class HeartbeatAges:
    """Every ``every`` seconds: each live host's heartbeat age (now - ``services.last_seen_at``)."""

    def __init__(self, runtime: Any, every: float = 1.0) -> None:
        self.runtime = runtime
        self.every = every
        self.skip: set[str] = set()
        self.p50: list[float] = []
        self.max: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat-ages", daemon=True)

    def _run(self) -> None:
        from sqlalchemy import select

        from overcast.compute.hosts import COMPUTE_BINARY
        from overcast.db.models.base import utcnow
        from overcast.db.models.hosts import ServiceRecord

        stmt = select(ServiceRecord.host, ServiceRecord.last_seen_at).where(ServiceRecord.binary == COMPUTE_BINARY)
        while not self._stop.wait(self.every):
            rows = self.runtime.db.read(lambda s: s.execute(stmt).all())
            now = utcnow()
            ages = [(now - seen).total_seconds() for host, seen in rows if seen is not None and host not in self.skip]
            if ages:
                self.p50.append(statistics.median(ages))
                self.max.append(max(ages))

    def __enter__(self) -> HeartbeatAges:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class Row:
    hosts: int
    values: dict[str, str] = field(default_factory=dict)


async def fire(
    urls: list[str], headers: dict[str, str], requests: list[tuple[str, str, Any]], concurrency: int
) -> list:
    """Send ``(method, path, json)`` requests, ``concurrency`` in flight, alternating between
    the controllers' ``urls``; the responses (or the exception) in order."""
    # a kept-alive connection is dropped well before uvicorn closes it (5 s idle): reusing one the
    # server is closing fails the request with a ReadError that says nothing about the server
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    clients = [httpx.AsyncClient(base_url=u, headers=headers, limits=limits, timeout=120) for u in urls]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int, method: str, path: str, body: Any) -> Any:
        async with gate:
            try:
                return await clients[i % len(clients)].request(method, path, json=body)
            except httpx.HTTPError as exc:
                return exc

    try:
        return await asyncio.gather(*(one(i, *r) for i, r in enumerate(requests)))
    finally:
        for c in clients:
            await c.aclose()


def instances(runtime: Any, uuids: list[str]) -> list[Any]:
    from sqlalchemy import select

    from overcast.db.models.compute import InstanceRecord

    c = InstanceRecord
    stmt = select(c.uuid, c.vm_state, c.host, c.created_at, c.launched_at, c.deleted).where(c.uuid.in_(uuids))
    return runtime.db.read(lambda s: s.execute(stmt).all())


def wait_settled(runtime: Any, uuids: list[str], done: Any, timeout: float) -> list[Any]:
    """Poll the database every 0.2 s until ``done(row)`` holds for every server, or ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        rows = instances(runtime, uuids)
        if all(done(r) for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def oversubscription(runtime: Any, hosts: list[str], capacity: int) -> tuple[int, int, int, int]:
    """(hosts over capacity by live servers, by claimed vcpus_used, by their hypervisor's own
    report; guests the hypervisors run)."""
    from sqlalchemy import func, select

    from overcast.db.models.compute import InstanceRecord
    from overcast.db.models.hosts import HostRecord

    def read(s: Any) -> tuple[dict[str, int], list[tuple[str, int, int]]]:
        live = select(InstanceRecord.host, func.count()).where(InstanceRecord.deleted.is_(False))
        per_host = dict(s.execute(live.group_by(InstanceRecord.host)).all())
        claims = s.execute(select(HostRecord.name, HostRecord.vcpus_used, HostRecord.vcpus)).all()
        return per_host, claims

    per_host, claims = runtime.db.read(read)
    by_servers = sum(1 for h, n in per_host.items() if h and n > capacity)
    by_claims = sum(1 for _, used, vcpus in claims if used > vcpus)

    def report(host: str) -> Any:
        return runtime.agents.compute(host, timeout=30).report().resources

    with ThreadPoolExecutor(16) as pool:
        reports = list(pool.map(report, hosts))
    by_hypervisor = sum(1 for r in reports if r is None or r.vcpus_used > r.vcpus)
    return by_servers, by_claims, by_hypervisor, sum(r.running_vms for r in reports if r is not None)


def cpu_split(cloud: Cloud) -> dict[str, float]:
    """CPU seconds so far: the whole machine's, and the agents', RabbitMQ's, PostgreSQL's
    (its backends included) and this process's (the HTTP client and the runtime it reads
    with). On two cores, creates/s cannot exceed 2 / (the machine's CPU per create)."""
    return {
        "machine": machine_busy_seconds(),
        "agents": sum(tree_cpu_seconds(a.process.pid) for a in cloud.agents),
        "broker": by_command("beam.smp"),
        "db": by_command("postgres"),
        "bench": cpu_seconds(os.getpid()),
    }


def last_heartbeat(runtime: Any, host: str) -> datetime:
    """When ``host``'s last heartbeat was written (its ``nova-compute`` service row)."""
    from sqlalchemy import select

    from overcast.compute.hosts import COMPUTE_BINARY
    from overcast.db.models.hosts import ServiceRecord

    stmt = select(ServiceRecord.last_seen_at).where(ServiceRecord.binary == COMPUTE_BINARY, ServiceRecord.host == host)
    return runtime.db.read(lambda s: s.scalar(stmt))


def heartbeat_age(runtime: Any, host: str) -> float:
    """Seconds since ``host``'s last heartbeat."""
    from overcast.db.models.base import utcnow

    return (utcnow() - last_heartbeat(runtime, host)).total_seconds()


def service_state(client: httpx.Client, host: str) -> str:
    r = client.get(f"{COMPUTE}/os-services", params={"binary": "nova-compute", "host": host})
    r.raise_for_status()
    return str(r.json()["services"][0]["state"])


def idle_cpu(cloud: Cloud, settle: float, window: float) -> tuple[float, float]:
    """The CPU the controllers (both, with their API workers) and the agent processes burn with
    nothing to do but heartbeats, in cores (CPU seconds a second) over ``window`` seconds, once
    ``settle`` seconds have passed after the start (its first heartbeat rounds, the reconciles)."""
    time.sleep(settle)
    ctl0 = sum(tree_cpu_seconds(c.process.pid) for c in cloud.controllers)
    agents0 = sum(tree_cpu_seconds(a.process.pid) for a in cloud.agents)
    t0 = time.perf_counter()
    time.sleep(window)
    elapsed = time.perf_counter() - t0
    ctl = sum(tree_cpu_seconds(c.process.pid) for c in cloud.controllers) - ctl0
    agents = sum(tree_cpu_seconds(a.process.pid) for a in cloud.agents) - agents0
    return ctl / elapsed, agents / elapsed


def measure(n_hosts: int, args: argparse.Namespace) -> Row:
    from overcast.types import Flavor, ImageRef

    row = Row(n_hosts)
    v = row.values
    load0 = os.getloadavg()[0]
    with cloud_of(n_hosts, args) as cloud:
        rt = cloud.runtime
        v["start s"] = f"{cloud.start_s:.0f}"
        idle = idle_cpu(cloud, args.heartbeat_interval, args.idle_window) if args.idle_window > 0 else None
        if idle is not None:
            v["idle ctl CPU %"] = f"{idle[0] * 100:.1f}"
            v["idle agents CPU %"] = f"{idle[1] * 100:.1f}"
            v["idle load avg"] = f"{os.getloadavg()[0]:.1f}"
        token, _ = cloud.controllers[0].admin_token()
        headers = {"X-Auth-Token": token, **HEADERS}
        urls = [c.url for c in cloud.controllers]
        with httpx.Client(base_url=urls[0], headers=headers, timeout=60) as client, HeartbeatAges(rt) as ages:
            flavor_id, image_id = setup(client)
            flavor = Flavor(flavor_id, "bench.tiny", 1, 64, 1)
            # at most half the cloud's capacity: decisions that find every host full are not decisions
            decisions = min(args.decisions, n_hosts * args.capacity // 2)
            rate = scheduling_decisions(rt, flavor, ImageRef(image_id, "bench", "raw"), decisions)
            v["decisions/s"] = f"{rate:,.0f}"
            body = {"flavorRef": flavor_id, "imageRef": image_id, "networks": "none"}

            # warm-up: creates and deletes through every API process of each controller (first-use
            # imports, statement compilation, caches; each controller serves on 2 processes here, and
            # a connection reaches whichever accepts it: 8 at once per controller reach both)
            warm_n = WARM_UP_PER_CONTROLLER * len(urls)
            warm = asyncio.run(fire(urls, headers, [("POST", f"{COMPUTE}/servers", {"server": body})] * warm_n, warm_n))
            warm_ids = [
                r.json()["server"]["id"] for r in warm if isinstance(r, httpx.Response) and r.status_code == 202
            ]
            wait_settled(rt, warm_ids, lambda r: r.vm_state != "building", 120)
            asyncio.run(fire(urls, headers, [("DELETE", f"{COMPUTE}/servers/{u}", None) for u in warm_ids], warm_n))
            wait_settled(rt, warm_ids, lambda r: r.deleted, 120)

            # creates
            n = int(args.fill * args.capacity * len(cloud.hosts))
            posts = [("POST", f"{COMPUTE}/servers", {"server": {**body, "name": f"s{i}"}}) for i in range(n)]
            cpu0 = [tree_cpu_seconds(c.process.pid) for c in cloud.controllers]
            where0 = cpu_split(cloud)
            t0 = time.perf_counter()
            answers = asyncio.run(fire(urls, headers, posts, args.concurrency))
            uuids = [
                r.json()["server"]["id"] for r in answers if isinstance(r, httpx.Response) and r.status_code == 202
            ]
            refused = n - len(uuids)
            rows = wait_settled(rt, uuids, lambda r: r.vm_state != "building", args.timeout)
            wall = time.perf_counter() - t0
            cpu = sum(tree_cpu_seconds(c.process.pid) for c in cloud.controllers) - sum(cpu0)
            where = {k: x - where0[k] for k, x in cpu_split(cloud).items()}
            active = [r for r in rows if r.vm_state == "active"]
            span = (
                (max(r.launched_at for r in active) - min(r.created_at for r in rows)).total_seconds() if active else 0
            )
            v["creates"] = str(n)
            v["creates/s"] = f"{len(active) / span:,.1f}" if span else "n/a"
            v["client wall s"] = f"{wall:.1f}"
            v["ctl CPU ms/create"] = f"{cpu / max(1, n) * 1000:.1f}"
            if idle is not None:
                v["ctl CPU ms/create net of idle"] = f"{(cpu - idle[0] * wall) / max(1, n) * 1000:.1f}"
            per = {k: f"{x / max(1, n) * 1000:.1f}" for k, x in where.items()}
            v["machine CPU ms/create (agents/broker/db/bench)"] = (
                f"{per['machine']} ({per['agents']}/{per['broker']}/{per['db']}/{per['bench']})"
            )
            v["create errors"] = str(refused + len(rows) - len(active))
            if refused:
                bad = next(r for r in answers if not (isinstance(r, httpx.Response) and r.status_code == 202))
                what = f"{bad.status_code} {bad.text[:300]}" if isinstance(bad, httpx.Response) else repr(bad)
                print(f"  {n_hosts} hosts: {refused} creates refused; the first: {what}", flush=True)

            by_servers, by_claims, by_hv, guests = oversubscription(rt, cloud.hosts, args.capacity)
            v["oversubscribed (servers/claims/hypervisor)"] = f"{by_servers}/{by_claims}/{by_hv}"
            v["guests / ACTIVE"] = f"{guests}/{len(active)}"

            # deletes
            t0 = time.perf_counter()
            answers = asyncio.run(
                fire(urls, headers, [("DELETE", f"{COMPUTE}/servers/{u}", None) for u in uuids], args.concurrency)
            )
            accepted = [u for u, r in zip(uuids, answers) if isinstance(r, httpx.Response) and r.status_code == 204]
            refused = len(uuids) - len(accepted)
            if refused:
                bad = next(r for r in answers if not (isinstance(r, httpx.Response) and r.status_code == 204))
                what = f"{bad.status_code} {bad.text[:300]}" if isinstance(bad, httpx.Response) else repr(bad)
                print(f"  {n_hosts} hosts: {refused} deletes refused; the first: {what}", flush=True)
            rows = wait_settled(rt, accepted, lambda r: r.deleted, args.timeout)
            elapsed = time.perf_counter() - t0
            gone = sum(1 for r in rows if r.deleted)
            v["deletes/s"] = f"{gone / elapsed:,.1f}"
            v["delete errors"] = str(refused + len(rows) - gone)

            # dead host
            victim = cloud.victim.host
            ages.skip.add(victim)
            seen = rt.compute.hosts.statuses({victim})
            assert seen[victim] == "UP", seen
            age_at_kill = heartbeat_age(rt, victim)
            killed = time.monotonic()
            cloud.victim.process.send_signal(signal.SIGKILL)
            from overcast.db.models.base import utcnow

            api_s = scheduler_s = None
            api_at: datetime | None = None
            deadline = killed + args.down_after * 2 + 30
            while (api_s is None or scheduler_s is None) and time.monotonic() < deadline:
                now = time.monotonic() - killed
                if api_s is None and service_state(client, victim) == "down":
                    api_s, api_at = now, utcnow()
                if scheduler_s is None:
                    rt.compute.scheduler.cache.invalidate()
                    with rt.compute.scheduler.cache.lock:
                        entries, _ = rt.compute.scheduler.cache.view()
                        if not entries[victim].up:
                            scheduler_s = now
                time.sleep(0.1)
            v["dead host: heartbeat age at kill s"] = f"{age_at_kill:.1f}"
            v["dead host: API down s"] = f"{api_s:.1f}" if api_s is not None else "never"
            # a heartbeat answered just before the kill may be written just after it: the verdict
            # is due host_down_after after the last heartbeat written, whenever that was
            last = last_heartbeat(rt, victim)
            v["dead host: API down after its last heartbeat s"] = (
                f"{(api_at - last).total_seconds():.1f}" if api_at is not None else "never"
            )
            v["dead host: scheduler skips s"] = f"{scheduler_s:.1f}" if scheduler_s is not None else "never"
        # heartbeats an agent left unanswered (each logged once per host until it answers again)
        missed = sum(
            1
            for c in cloud.controllers
            for line in c.log_path.read_text(errors="replace").splitlines()
            if "did not report" in line and f"host {cloud.victim.host} " not in line
        )
        v["heartbeats missed"] = str(missed)
        # agent processes that did not answer for all their hosts (logged once until they do)
        v["process asks missed"] = str(
            sum(
                1
                for c in cloud.controllers
                for line in c.log_path.read_text(errors="replace").splitlines()
                if "agent process" in line and "did not answer for" in line
            )
        )
        interval = args.heartbeat_interval
        v["heartbeat age p50/max s"] = f"{statistics.median(ages.p50):.1f}/{max(ages.max):.1f}" if ages.max else "n/a"
        v["heartbeat lag s"] = f"{max(0.0, max(ages.max, default=0) - interval):.1f}"
    v["load avg"] = f"{load0:.1f}->{os.getloadavg()[0]:.1f}"
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="100,250,500,1000", help="host counts, one row each")
    parser.add_argument("--agents", type=int, default=2, help="agent processes sharing the hosts (plus the victim's)")
    parser.add_argument("--capacity", type=int, default=2, help="servers each host holds")
    parser.add_argument("--fill", type=float, default=0.9, help="creates = fill x hosts x capacity")
    parser.add_argument("--concurrency", type=int, default=64, help="HTTP requests in flight")
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--heartbeat-interval", type=float, default=10.0, help="[bus] heartbeat_interval")
    parser.add_argument("--down-after", type=float, default=30.0, help="[bus] host_down_after")
    parser.add_argument(
        "--idle-window", type=float, default=30.0, help="seconds of idle CPU measured after the start (0: none)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait for creates or deletes to settle")
    args = parser.parse_args()
    if not 0 < args.fill <= 1:
        parser.error("--fill must be in (0, 1]")

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # SIGTERM cleans up as Ctrl-C does

    signal.signal(signal.SIGTERM, interrupted)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    rows = []
    for n in (int(x) for x in args.hosts.split(",")):
        rows.append(measure(n, args))
        print(f"  {n} hosts: {rows[-1].values}", flush=True)
    header = ["hosts", *rows[0].values]
    table(
        f"Scale: two controllers (PostgreSQL, RabbitMQ), {args.agents} agent processes + 1 (the victim); "
        f"fake hosts of {args.capacity} servers, {args.fill:.0%} filled over HTTP with {args.concurrency} in "
        f"flight; heartbeat_interval {args.heartbeat_interval:g} s, host_down_after {args.down_after:g} s",
        header,
        [[str(r.hosts), *(r.values.get(h, "") for h in header[1:])] for r in rows],
    )
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
