"""Compute scheduler and create->ACTIVE benchmark (run on demand; prints a table).

1. Scheduling decisions/s (select + atomic DB claim) at 10,000 hosts with 16 concurrent
   requesters, against a named peer in the same run: a "full-scan" scheduler that re-reads
   every host row for each decision (what a cache-less filter scheduler does).
2. Server create -> ACTIVE latency (p50, p95) and throughput, 100 concurrent creates,
   fake hypervisor, through ComputeService (API validation, quota, build task, agent RPC).

    .venv/bin/python bench/compute_scheduler.py [--hosts 10000] [--decisions 4000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import insert  # noqa: E402

from overcast.compute.claims import Ratios  # noqa: E402
from overcast.compute.scheduler import Scheduler  # noqa: E402
from overcast.db import Database, upgrade  # noqa: E402
from overcast.db.models.base import new_id, utcnow  # noqa: E402
from overcast.db.models.hosts import HostRecord  # noqa: E402
from overcast.errors import NoValidHost  # noqa: E402
from overcast.plugins import PluginManager  # noqa: E402
from overcast.types import Flavor, HvCapabilities, ImageRef, ScheduleRequest, to_dict  # noqa: E402

FLAVOR = Flavor(id="1", name="m1.tiny", vcpus=1, memory_mb=512, root_gb=1)
IMAGE = ImageRef(id="img", name="img", disk_format="qcow2")


def seed_hosts(db: Database, n: int) -> None:
    caps = to_dict(HvCapabilities(hypervisor_type="fake", image_types=frozenset({"qcow2", "raw"})))
    now = utcnow()
    rows = [
        dict(
            id=new_id(),
            name=f"host{i:05d}",
            driver="fake",
            availability_zone=f"az{i % 4}",
            enabled=True,
            capabilities=caps,
            hypervisor_type="fake",
            hypervisor_version=1,
            vcpus=64,
            memory_mb=262144,
            local_gb=4000,
            vcpus_used=0,
            memory_mb_used=(i * 37) % 65536,
            local_gb_used=0,
            running_vms=0,
            last_heartbeat=now,
            created_at=now,
            updated_at=now,
        )
        for i in range(n)
    ]
    with db.session() as s:
        s.execute(insert(HostRecord), rows)


class FullScanScheduler(Scheduler):
    """The peer: no host cache, every decision reads every host row."""

    def select(self, request, exclude=frozenset()):
        self.cache.invalidate(full=True)
        return super().select(request, exclude)


def run_decisions(scheduler: Scheduler, total: int, threads: int) -> tuple[float, int]:
    errors = 0
    lock = threading.Lock()
    per = total // threads

    def worker(k: int) -> None:
        nonlocal errors
        for i in range(per):
            req = ScheduleRequest(
                instance_uuid=f"{k}-{i}", project_id="p", flavor=FLAVOR, image=IMAGE, availability_zone=f"az{i % 4}"
            )
            try:
                scheduler.select_and_claim(req)
            except NoValidHost:
                with lock:
                    errors += 1

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    start = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return per * threads / (time.perf_counter() - start), errors


def bench_scheduler(hosts: int, decisions: int, threads: int) -> list[tuple[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db", pool_size=threads)
        upgrade(db)
        seed_hosts(db, hosts)
        pm = PluginManager()
        ratios = Ratios(4.0, 1.0, 1.0)
        for ttl in (1.0, 10.0):  # [compute] scheduler_cache_seconds: default 1, and a longer one
            ours = Scheduler(db, pm, ratios, "spread", down_after=3600, cache_seconds=ttl)
            rate, errors = run_decisions(ours, decisions, threads)
            rows.append(
                (
                    f"overcast scheduler, {hosts} hosts, {threads} threads, cache {ttl:g}s",
                    f"{rate:,.0f} decisions/s, {errors} errors",
                )
            )
        peer = FullScanScheduler(db, pm, ratios, "spread", down_after=3600, cache_seconds=1.0)
        rate, errors = run_decisions(peer, max(threads * 4, decisions // 50), threads)
        rows.append((f"peer: full-scan scheduler, {hosts} hosts", f"{rate:,.1f} decisions/s, {errors} errors"))
        db.dispose()
    return rows


def bench_creates(count: int) -> list[tuple[str, str]]:
    from compute.conftest import IMAGE_ID, make_ctx
    from compute.fake_peers import FakeImageService

    from overcast.config import parse_config
    from overcast.runtime import build_runtime
    from overcast.testing.fakes import FakeDriversPlugin
    from overcast.testing.fixtures import fake_config_data

    with tempfile.TemporaryDirectory() as tmp:
        data = fake_config_data(Path(tmp), hosts=4)
        data["compute"] = {"quota_instances": -1, "quota_cores": -1, "quota_ram": -1, "task_workers": 16}
        data["bus"] = {"heartbeat_interval": 3600}
        pm = PluginManager()
        pm.register_plugin(FakeDriversPlugin(), name="fake")
        runtime = build_runtime(parse_config(data, Path(tmp) / "overcast.toml"), pm=pm)
        images = FakeImageService()
        images.add(IMAGE_ID)
        runtime._services["image"] = images
        compute = runtime.compute
        compute.start()
        admin = make_ctx("admin", "admin", admin=True)
        flavor = compute.flavors.create(admin, {"name": "m1.tiny", "vcpus": 1, "ram": 256, "disk": 1})
        ctx = make_ctx("p1")
        started: dict[str, float] = {}
        latencies: list[float] = []
        done = threading.Event()
        lock = threading.Lock()

        def listener(instance_uuid, project_id, old_status, new_status):
            if new_status in ("ACTIVE", "ERROR"):
                with lock:
                    latencies.append(time.perf_counter() - started.pop(instance_uuid, time.perf_counter()))
                    if new_status == "ERROR":
                        errors.append(instance_uuid)
                    if len(latencies) == count:
                        done.set()

        errors: list[str] = []

        class Listener:
            from overcast.hookspecs import hookimpl

            @hookimpl
            def overcast_instance_state_changed(self, instance_uuid, project_id, old_status, new_status):
                listener(instance_uuid, project_id, old_status, new_status)

        body = {"flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"}
        sequential = []
        for i in range(30):  # one at a time: the latency of the path itself, no queueing
            t0 = time.perf_counter()
            compute.create_server(ctx, {**body, "name": f"seq{i}"})
            compute.runner.wait_idle()
            sequential.append(time.perf_counter() - t0)
        pm.hooks.register(Listener(), name="bench-listener")

        def create(i: int) -> None:
            t0 = time.perf_counter()
            rec = compute.create_server(ctx, {**body, "name": f"b{i}"})
            with lock:
                if rec.uuid not in [None]:
                    started.setdefault(rec.uuid, t0)

        threads = [threading.Thread(target=create, args=(i,)) for i in range(count)]
        t_start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.wait(120)
        elapsed = time.perf_counter() - t_start
        runtime.close()
    lat = sorted(latencies)
    return [
        ("create -> ACTIVE, one at a time, fake driver", f"p50 {statistics.median(sequential) * 1000:.1f} ms"),
        (
            f"create -> ACTIVE, {count} concurrent, fake driver",
            f"p50 {statistics.median(lat) * 1000:.1f} ms, p95 {lat[int(len(lat) * 0.95) - 1] * 1000:.1f} ms",
        ),
        (
            "create throughput",
            f"{len(lat) / elapsed:,.1f} servers/s, {len(errors)} errors, {count - len(lat)} unfinished",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--decisions", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--creates", type=int, default=100)
    args = parser.parse_args()
    rows = bench_scheduler(args.hosts, args.decisions, args.threads) + bench_creates(args.creates)
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)} | result")
    print(f"{'-' * width}-+-{'-' * 40}")
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
