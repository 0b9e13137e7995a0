"""Two controllers against one PostgreSQL database and one bus never double-schedule.

Two controller runtimes (each with its own scheduler and host-state cache, no local
drivers) and one agent runtime for a small host share a bus, as they would share RabbitMQ.
Twelve creates race through both controllers onto a host with room for four: the atomic
claim in the database lets exactly four through, whatever the controllers' caches think.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from overcast.agent import start_local_agents
from overcast.bus import InProcessBus
from overcast.config import parse_config
from overcast.db.models.compute import InstanceRecord
from overcast.db.models.hosts import HostRecord
from overcast.plugins import PluginManager
from overcast.runtime import build_agent_runtime, build_runtime
from overcast.testing.fakes import FakeDriversPlugin
from overcast.testing.fixtures import fake_config_data
from overcast.testing.postgres import fresh_database

from .conftest import IMAGE_ID, make_ctx
from .fake_peers import FakeImageService, FakeVolumeService

pytestmark = pytest.mark.postgres
CREATES = 12
ROOM = 4


def test_two_controllers_never_oversubscribe_a_host(tmp_path: Path) -> None:
    fakes = FakeDriversPlugin()
    pm = PluginManager()
    pm.register_plugin(fakes, name="fake")
    bus = InProcessBus(rpc_timeout=30)
    images = FakeImageService()
    images.add(IMAGE_ID)
    runtimes = []
    with fresh_database("overcast_controllers") as url:
        data = fake_config_data(tmp_path, hosts=1)
        data["hosts"]["fake1"].update(vcpus=ROOM, memory_mb=ROOM * 512, local_gb=ROOM)
        data["database"] = {"url": url}
        data["compute"] = {
            "cpu_allocation_ratio": 1.0,
            "ram_allocation_ratio": 1.0,
            "disk_allocation_ratio": 1.0,
            "quota_instances": -1,
            "quota_cores": -1,
            "quota_ram": -1,
        }
        data["bus"] = {"heartbeat_interval": 3600}
        config = parse_config(data, tmp_path / "overcast.toml")
        try:
            agent_rt = build_agent_runtime(config, "fake1", pm=pm, bus=bus)
            agent_rt._services["image"] = images
            runtimes.append(agent_rt)
            start_local_agents(agent_rt, ["fake1"])
            for i in range(2):
                rt = build_runtime(config, pm=pm, migrate=i == 0, role="controller")
                rt.bus.close()
                rt.bus = bus  # one broker for everyone
                rt._services["image"] = images
                rt._services["volume"] = FakeVolumeService()
                runtimes.append(rt)
                rt.compute.start()
            a, b = runtimes[1].compute, runtimes[2].compute
            admin = make_ctx("admin", "admin", admin=True)
            flavor = a.flavors.create(admin, {"name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1})
            ctx = make_ctx("p1")
            barrier = threading.Barrier(CREATES)
            errors: list[BaseException] = []

            def create(i: int) -> None:
                controller = a if i % 2 else b
                barrier.wait()
                try:
                    controller.create_server(
                        ctx, {"name": f"vm{i}", "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"}
                    )
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=create, args=(i,)) for i in range(CREATES)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors
            assert a.runner.wait_idle(60) and b.runner.wait_idle(60)

            db = runtimes[1].db
            with db.session() as s:
                by_state = dict(
                    s.execute(select(InstanceRecord.vm_state, func.count()).group_by(InstanceRecord.vm_state)).all()
                )
                host = s.scalars(select(HostRecord).where(HostRecord.name == "fake1")).one()
                placed = s.scalar(select(func.count()).where(InstanceRecord.host == "fake1"))
            assert by_state == {"active": ROOM, "error": CREATES - ROOM}
            assert placed == ROOM
            assert (host.vcpus_used, host.memory_mb_used, host.local_gb_used) == (ROOM, ROOM * 512, ROOM)
            assert len(fakes.hypervisor.guests["fake1"]) == ROOM
        finally:
            for rt in reversed(runtimes):
                rt.close()  # services, the shared bus (closing twice is harmless), the database pool
