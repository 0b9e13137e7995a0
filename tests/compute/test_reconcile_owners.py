"""A controller that starts next to a live one leaves that one's builds alone, takes over
those of a controller that is gone, and rebuilds host usage without erasing a claim
committed meanwhile (PostgreSQL, two controller runtimes and one agent on one bus, as in
``test_two_controllers``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from overcast.agent import start_local_agents
from overcast.bus import InProcessBus
from overcast.compute import states as st
from overcast.config import parse_config
from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceRecord
from overcast.db.models.hosts import HostRecord, TaskRunnerRecord
from overcast.plugins import PluginManager
from overcast.runtime import Runtime, build_agent_runtime, build_runtime
from overcast.testing.fakes import FakeDriversPlugin
from overcast.testing.fixtures import fake_config_data
from overcast.testing.postgres import fresh_database
from overcast.testing.waiting import wait_until

from .conftest import IMAGE_ID, make_ctx
from .fake_peers import FakeImageService, FakeVolumeService

pytestmark = pytest.mark.postgres


@dataclass
class Cloud:
    config: Any
    pm: PluginManager
    bus: InProcessBus
    images: FakeImageService
    runtimes: list[Runtime]

    def controller(self, migrate: bool = False) -> Runtime:
        rt = build_runtime(self.config, pm=self.pm, migrate=migrate, role="controller")
        rt.bus.close()
        rt.bus = self.bus
        rt._services["image"] = self.images
        rt._services["volume"] = FakeVolumeService()
        self.runtimes.append(rt)
        rt.compute.start()
        return rt


@contextmanager
def cloud(tmp_path: Path, name: str) -> Iterator[Cloud]:
    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    bus = InProcessBus(rpc_timeout=30)
    images = FakeImageService()
    images.add(IMAGE_ID)
    with fresh_database(name) as url:
        data = fake_config_data(tmp_path, hosts=1)
        data["database"] = {"url": url}
        data["bus"] = {"heartbeat_interval": 3600}
        config = parse_config(data, tmp_path / "overcast.toml")
        c = Cloud(config, pm, bus, images, [])
        try:
            agent = build_agent_runtime(config, "fake1", pm=pm, bus=bus)
            agent._services["image"] = images
            c.runtimes.append(agent)
            start_local_agents(agent, ["fake1"])
            yield c
        finally:
            for rt in c.runtimes[1:]:
                rt.compute.runner.wait_idle(30)  # the builds held in their fetch end before the database goes
            for rt in reversed(c.runtimes):
                rt.close()


@contextmanager
def held_image_fetch(images: FakeImageService) -> Iterator[threading.Event]:
    """Builds stop in their image fetch (on the host, after their claim) until the event is set."""
    release = threading.Event()
    fetch = images.fetch_to_cache

    def held(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return fetch(*args, **kwargs)

    images.fetch_to_cache = held  # type: ignore[method-assign]
    try:
        yield release
    finally:
        release.set()


def spawning(rt: Runtime, uuid: str) -> InstanceRecord:
    def read(s: Session) -> InstanceRecord | None:
        return s.get(InstanceRecord, uuid)

    return wait_until(
        lambda: (r := rt.db.read(read)) is not None and r.task_state == st.SPAWNING and r,
        f"server {uuid} spawning",
        timeout=20,
        every=0.05,
    )


def usage(rt: Runtime) -> int:
    return rt.db.read(lambda s: s.scalars(select(HostRecord.vcpus_used).where(HostRecord.name == "fake1")).one())


def start_build(a: Runtime) -> tuple[Any, str]:
    admin = make_ctx("admin", "admin", admin=True)
    flavor = a.compute.flavors.create(admin, {"name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1})
    rec = a.compute.create_server(
        make_ctx("p1"), {"name": "vm", "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"}
    )
    return flavor, rec.uuid


def test_a_starting_controller_leaves_a_live_controllers_build_alone(tmp_path: Path) -> None:
    with cloud(tmp_path, "overcast_owner_live") as c, held_image_fetch(c.images) as release:
        a = c.controller(migrate=True)
        _, uuid = start_build(a)
        assert spawning(a, uuid).task_owner == a.compute.owners.id and usage(a) == 1
        b = c.controller()  # reconciles at start
        rec = b.db.read(lambda s: s.get(InstanceRecord, uuid))
        assert (rec.vm_state, rec.task_state) == (st.BUILDING, st.SPAWNING)
        assert b.compute.faults([uuid]) == {}
        assert usage(b) == 1  # the build's claim is kept
        release.set()
        assert a.compute.runner.wait_idle(30)
        rec = b.db.read(lambda s: s.get(InstanceRecord, uuid))
        assert (rec.vm_state, rec.task_state, rec.host) == (st.ACTIVE, None, "fake1")


def expire(rt: Runtime, owner: str) -> None:
    """The owner stops beating (as a controller that was killed): its row expires."""
    with rt.db.session() as s:
        s.execute(
            update(TaskRunnerRecord).where(TaskRunnerRecord.id == owner).values(expires_at=utcnow() - timedelta(1))
        )


def test_a_starting_controller_takes_over_a_gone_controllers_build(tmp_path: Path) -> None:
    with cloud(tmp_path, "overcast_owner_gone") as c, held_image_fetch(c.images):
        a = c.controller(migrate=True)
        _, uuid = start_build(a)
        spawning(a, uuid)
        expire(a, a.compute.owners.id)
        b = c.controller()
        rec = b.db.read(lambda s: s.get(InstanceRecord, uuid))
        assert (rec.vm_state, rec.task_state) == (st.ERROR, None)
        assert "interrupted by a restart" in b.compute.faults([uuid])[uuid].message
        assert usage(b) == 0  # its claim is given back
        assert b.db.read(lambda s: s.get(TaskRunnerRecord, a.compute.owners.id)) is None  # taken over


def test_a_running_controller_takes_over_when_the_other_one_goes(tmp_path: Path) -> None:
    with cloud(tmp_path, "overcast_owner_sweep") as c, held_image_fetch(c.images):
        a = c.controller(migrate=True)
        b = c.controller()
        _, uuid = start_build(a)
        spawning(a, uuid)
        assert b.compute.reconciler.take_over() == {}  # a is alive
        expire(a, a.compute.owners.id)
        assert b.compute.reconciler.take_over()["error"] == 1
        assert a.compute.reconciler.take_over() == {}  # taken over once
        rec = b.db.read(lambda s: s.get(InstanceRecord, uuid))
        assert (rec.vm_state, rec.task_state) == (st.ERROR, None)


def test_recompute_usage_counts_a_claim_committed_meanwhile(tmp_path: Path) -> None:
    with cloud(tmp_path, "overcast_owner_usage") as c:
        a = c.controller(migrate=True)
        flavor, uuid = start_build(a)
        assert a.compute.runner.wait_idle(30) and usage(a) == 1
        booted = a.db.read(lambda s: s.get(InstanceRecord, uuid))
        with a.db.session() as s:  # claims a crash left behind, for the recompute to heal
            s.execute(update(HostRecord).where(HostRecord.name == "fake1").values(vcpus_used=5))
        # another controller's claim, in flight: its host's row and its server's row, uncommitted
        claim = Session(a.db.engine)
        claim.execute(update(HostRecord).where(HostRecord.name == "fake1").values(vcpus_used=HostRecord.vcpus_used + 1))
        claim.add(
            InstanceRecord(
                name="other",
                hv_name="oc-other",
                project_id="p1",
                user_id="u",
                vm_state=st.BUILDING,
                task_state=st.SPAWNING,
                host="fake1",
                flavor_id=flavor.id,
                flavor=booted.flavor,  # the same m1.tiny
            )
        )
        claim.flush()
        done = threading.Event()
        recompute = threading.Thread(target=lambda: (a.compute.hosts.recompute_usage(), done.set()))
        recompute.start()
        time.sleep(1.0)  # the recompute is under way, waiting for the claim's transaction
        claim.commit()
        claim.close()
        recompute.join(30)
        assert done.is_set()
        assert usage(a) == 2  # the server booted and the one claimed meanwhile
