"""Bus benchmark: RPC on the in-process bus vs RabbitMQ, and scheduling at 1,000 hosts
registered through agents (run on demand; prints tables).

1. RPC round trip (p50, p95; sequential calls) and throughput (concurrent callers) of one
   ``call`` carrying an ``Instance`` there and an ``InstanceInfo`` back, on ``memory://``
   and ``amqp://`` (RabbitMQ at 127.0.0.1:5672, guest/guest) in the same run. On amqp the
   caller and the server are two bus instances (two connections), as two processes are.
2. Hosts registered through agents: one agent process-equivalent (an agent runtime with its
   own bus connection, no database) serves ``agent.<host>`` for every simulated host with
   the fake hypervisor; a controller runtime (SQLite, its own bus connection) registers them
   with one heartbeat round (``compute_report`` to every host), then measures scheduling
   decisions/s (select + atomic claim) and server create -> ACTIVE throughput (scheduler,
   claim, spawn RPC to the host's agent). Run at 10 hosts (the peer) and at 1,000 hosts, on
   both buses, in the same run.

Every amqp name gets a unique ``[bus] prefix``; the benchmark deletes its queues and
exchanges afterwards.

    .venv/bin/python bench/bus_rpc.py [--calls 2000] [--hosts 1000] [--decisions 2000] [--creates 200]
"""

from __future__ import annotations

import argparse
from collections import Counter
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from overcast.types import Flavor, ImageRef, Instance, InstanceInfo, PowerState  # noqa: E402

AMQP = os.environ.get("OVERCAST_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
INSTANCE = Instance("u-1", "oc-u-1", "vm", "p", Flavor("1", "m1.tiny", 1, 512, 1), ImageRef("i", "img", "qcow2"))


class Echo:
    def compute_get_info(self, instance: Instance) -> InstanceInfo:
        return InstanceInfo(PowerState.RUNNING, 524288, 524288, instance.flavor.vcpus, instance.uuid)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def make_buses(kind: str, prefix: str) -> tuple[Any, Any]:
    """(server bus, client bus): one shared object in process, two connections on amqp."""
    if kind == "memory":
        from overcast.bus import InProcessBus

        bus = InProcessBus(rpc_timeout=30)
        return bus, bus
    from overcast.bus.amqp import AmqpBus

    return AmqpBus(AMQP, rpc_timeout=30, prefix=prefix), AmqpBus(AMQP, rpc_timeout=30, prefix=prefix)


def close_buses(server: Any, client: Any) -> None:
    server.close()
    if client is not server:
        client.close()


def delete_amqp_names(prefix: str, topics: list[str]) -> None:
    from overcast.testing.agents import delete_amqp_names as delete

    delete(AMQP, prefix, topics)


# --- 1. RPC ----------------------------------------------------------------------------------


def bench_rpc(kind: str, calls: int, threads: int) -> dict[str, float]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    server, client = make_buses(kind, prefix)
    try:
        server.serve("agent.bench", Echo())
        if hasattr(server, "wait_ready"):
            server.wait_ready(30)
            client.wait_ready(30)
        for _ in range(20):  # warm up connections and code paths
            client.call("agent.bench", "compute_get_info", instance=INSTANCE)
        latencies = []
        for _ in range(calls):
            t0 = time.perf_counter()
            client.call("agent.bench", "compute_get_info", instance=INSTANCE)
            latencies.append(time.perf_counter() - t0)
        per = max(1, calls // threads)

        def worker(_: int) -> None:
            for _ in range(per):
                client.call("agent.bench", "compute_get_info", instance=INSTANCE)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(worker, range(threads)))
        rate = per * threads / (time.perf_counter() - t0)
    finally:
        close_buses(server, client)
        if kind == "amqp":
            delete_amqp_names(prefix, ["agent.bench"])
    return {"p50": statistics.median(latencies) * 1000, "p95": pct(latencies, 0.95) * 1000, "rate": rate}


# --- 2. hosts registered through agents ---------------------------------------------------------------


def bench_hosts(kind: str, hosts: int, decisions: int, creates: int) -> dict[str, float]:
    from compute.conftest import IMAGE_ID, make_ctx
    from compute.fake_peers import FakeImageService, FakeVolumeService

    from overcast.agent import start_local_agents
    from overcast.testing.agents import cloud_topics
    from overcast.config import parse_config
    from overcast.plugins import PluginManager
    from overcast.runtime import build_agent_runtime, build_runtime
    from overcast.testing.fakes import FakeDriversPlugin
    from overcast.testing.fixtures import fake_config_data

    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    names = [f"h{i:04d}" for i in range(hosts)]
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = fake_config_data(Path(tmp), hosts=0)
        data["hosts"] = {n: {"driver": "fake", "vcpus": 64, "memory_mb": 262144, "local_gb": 4000} for n in names}
        data.pop("network")
        data["compute"] = {"quota_instances": -1, "quota_cores": -1, "quota_ram": -1, "task_workers": 16}
        data["bus"] = {
            "url": "memory://" if kind == "memory" else AMQP,
            "prefix": prefix,
            "heartbeat_interval": 3600,
            "rpc_timeout": 60,
            "host_down_after": 3600,
        }
        config = parse_config(data, Path(tmp) / "overcast.toml")
        pm = PluginManager()
        pm.register_plugin(FakeDriversPlugin(), name="fake")
        images = FakeImageService()
        images.add(IMAGE_ID)
        agent_bus, controller_bus = make_buses(kind, prefix)
        agents = build_agent_runtime(config, names[0], pm=pm, bus=agent_bus)
        agents._services["image"] = images
        controller = build_runtime(config, pm=pm, role="controller")
        controller.bus.close()
        controller.bus = controller_bus
        controller._services["image"] = images
        controller._services["volume"] = FakeVolumeService()
        try:
            t0 = time.perf_counter()
            start_local_agents(agents, names)  # one process serving every host's topic
            if hasattr(agent_bus, "wait_ready"):
                agent_bus.wait_ready(300)
            out["serve_s"] = time.perf_counter() - t0
            compute = controller.compute
            t0 = time.perf_counter()
            compute.start()  # registers every host: one compute_report RPC to each agent
            out["register_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            compute.hosts.refresh_all()
            out["heartbeat_s"] = time.perf_counter() - t0
            from sqlalchemy import func, select

            from overcast.db.models.hosts import HostRecord

            with controller.db.session() as s:
                out["registered"] = s.scalar(select(func.count()).where(HostRecord.last_heartbeat.is_not(None)))

            admin = make_ctx("admin", "admin", admin=True)
            flavor = compute.flavors.create(admin, {"name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1})
            fl = Flavor(flavor.id, flavor.name, 1, 512, 1)
            out["decisions_s"] = scheduling_decisions(controller, fl, ImageRef(IMAGE_ID, "img", "qcow2"), decisions)

            # creates through the API layer's service: schedule, claim, spawn RPC on the agent
            ctx = make_ctx("p1")
            body = {"flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"}
            t0 = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda i: compute.create_server(ctx, {**body, "name": f"b{i}"}), range(creates)))
            compute.runner.wait_idle(600)
            elapsed = time.perf_counter() - t0
            with controller.db.session() as s:
                from overcast.db.models.compute import InstanceRecord

                active = s.scalar(select(func.count()).where(InstanceRecord.vm_state == "active"))
            out["creates_s"] = active / elapsed
            out["create_errors"] = creates - active
        finally:
            controller.close()
            agents.close()
            if kind == "amqp":
                agent_bus.close()
                delete_amqp_names(prefix, cloud_topics(names, [names]))
    return out


def scheduling_decisions(controller: Any, flavor: Flavor, image: ImageRef, decisions: int, threads: int = 16) -> float:
    """Scheduling decisions/s of ``controller``'s scheduler: select + atomic claim in the
    database, from ``threads`` threads; every claim is released afterwards (a decision that
    finds no host is not counted)."""
    from overcast.compute.claims import Usage, release
    from overcast.errors import NoValidHost
    from overcast.types import ScheduleRequest

    scheduler = controller.compute.scheduler
    claimed: list[str] = []
    lock = threading.Lock()
    per = max(1, decisions // threads)

    def decide(k: int) -> None:
        for i in range(per):
            req = ScheduleRequest(instance_uuid=f"{k}-{i}", project_id="p", flavor=flavor, image=image)
            try:
                host = scheduler.select_and_claim(req)
            except NoValidHost:
                continue
            with lock:
                claimed.append(host)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(decide, range(threads)))
    rate = len(claimed) / (time.perf_counter() - t0)
    # a transaction per host: one that held a thousand rows' locks for a second, taken in the
    # claims' random order, could deadlock with a heartbeat batch writing the same rows
    for host, n in Counter(claimed).items():
        usage = Usage.of(flavor)
        with controller.db.session() as s:
            release(s, host, Usage(usage.vcpus * n, usage.memory_mb * n, usage.disk_gb * n))
    scheduler.cache.invalidate(full=True)
    return rate


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--peer-hosts", type=int, default=10)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--buses", default="memory,amqp")
    args = parser.parse_args()
    buses = args.buses.split(",")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    rpc = {kind: bench_rpc(kind, args.calls, args.threads) for kind in buses}
    rows = [[kind, f"{r['p50']:.3f}", f"{r['p95']:.3f}", f"{r['rate']:,.0f}"] for kind, r in rpc.items()]
    if "memory" in rpc and "amqp" in rpc:
        rows.append(
            [
                "amqp / memory",
                f"{rpc['amqp']['p50'] / rpc['memory']['p50']:.1f}x",
                f"{rpc['amqp']['p95'] / rpc['memory']['p95']:.1f}x",
                f"{rpc['amqp']['rate'] / rpc['memory']['rate']:.2f}x",
            ]
        )
    table(
        f"RPC call (Instance out, InstanceInfo back): {args.calls} sequential calls; throughput with "
        f"{args.threads} concurrent callers",
        ["bus", "p50 ms", "p95 ms", "calls/s"],
        rows,
    )

    rows = []
    for kind in buses:
        for n in (args.peer_hosts, args.hosts):
            r = bench_hosts(kind, n, args.decisions, args.creates)
            rows.append(
                [
                    kind,
                    str(n),
                    f"{r['serve_s']:.1f}",
                    f"{r['register_s']:.1f}",
                    f"{r['heartbeat_s']:.2f}",
                    str(int(r["registered"])),
                    f"{r['decisions_s']:,.0f}",
                    f"{r['creates_s']:,.1f}",
                    str(int(r["create_errors"])),
                ]
            )
    table(
        f"Hosts registered through agents (fake hypervisor; one agent runtime serves every host's topic; "
        f"{args.decisions} decisions with 16 threads; {args.creates} creates with 16 threads)",
        [
            "bus",
            "hosts",
            "serve s",
            "register s",
            "heartbeat round s",
            "registered",
            "decisions/s",
            "create->ACTIVE/s",
            "errors",
        ],
        rows,
    )
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
