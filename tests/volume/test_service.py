"""VolumeService logic: concurrency, quotas, the compute handshake, agents, restarts."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from .conftest import make_ctx
from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeSnapshot
from overcast.errors import BadRequest, NotFound
from overcast.types import Connector
from overcast.volume.quotas import VolumeOverQuota

FAKE_HOST = Connector(host="fake1", connection_types=frozenset({"fake"}))


def make_volume(volumes: Any, ctx: RequestContext, settle: Any, **kw: Any) -> Volume:
    row = volumes.volumes.create(ctx, size=kw.pop("size", 1), **kw)
    settle()
    return volumes.volumes.get(ctx, row.id)


def test_compute_handshake_and_isolation(
    volumes: Any, ctx: RequestContext, other_ctx: RequestContext, settle: Any
) -> None:
    """The calls overcast.compute.volumes makes, in its order."""
    vol = make_volume(volumes, ctx, settle)
    with pytest.raises(NotFound):
        volumes.reserve_attach(other_ctx, vol.id, "srv-b")
    volumes.reserve_attach(ctx, vol.id, "srv-1")
    assert volumes.get_volume(ctx, vol.id).status == "attaching"
    info = volumes.initialize_connection(ctx, vol.id, FAKE_HOST)
    assert info.driver_volume_type == "fake"
    volumes.complete_attach(ctx, vol.id, "srv-1", "/dev/vdb", "fake1")
    assert volumes.get_volume(ctx, vol.id).status == "in-use"
    assert volumes.attachment_of(ctx, vol.id, "srv-1").mountpoint == "/dev/vdb"
    volumes.begin_detach(ctx, vol.id, "srv-1")
    volumes.roll_detaching(ctx, vol.id)  # the hypervisor failed: back to in-use
    assert volumes.get_volume(ctx, vol.id).status == "in-use"
    volumes.begin_detach(ctx, vol.id, "srv-1")
    volumes.terminate_connection(ctx, vol.id, FAKE_HOST)
    volumes.complete_detach(ctx, vol.id, "srv-1")
    assert volumes.get_volume(ctx, vol.id).status == "available"


def test_failed_attach_is_unreserved(volumes: Any, ctx: RequestContext, settle: Any) -> None:
    vol = make_volume(volumes, ctx, settle)
    volumes.reserve_attach(ctx, vol.id, "srv-1")
    with pytest.raises(Exception, match="cannot attach"):
        volumes.initialize_connection(ctx, vol.id, Connector("node", frozenset({"iscsi"})))
    volumes.unreserve(ctx, vol.id)
    assert volumes.get_volume(ctx, vol.id).status == "available"


def test_multiattach_detach_keeps_the_export_other_servers_use(
    volumes: Any, ctx: RequestContext, settle: Any, fake_drivers: Any, overcast_runtime: Any
) -> None:
    with overcast_runtime.db.session() as s:
        volumes.types.create(s, "multi", None, True, {"multiattach": "<is> True"})
    vol = make_volume(volumes, ctx, settle, volume_type="multi")
    for server in ("srv-1", "srv-2"):
        volumes.reserve_attach(ctx, vol.id, server)
        volumes.initialize_connection(ctx, vol.id, FAKE_HOST)
        volumes.complete_attach(ctx, vol.id, server, "/dev/vdb", "fake1")
    volumes.begin_detach(ctx, vol.id, "srv-1")
    volumes.terminate_connection(ctx, vol.id, FAKE_HOST)
    volumes.complete_detach(ctx, vol.id, "srv-1")
    assert fake_drivers.volume.exports[vol.location] == {"fake1"}  # srv-2 on the same host still uses it
    assert volumes.get_volume(ctx, vol.id).status == "in-use"
    volumes.begin_detach(ctx, vol.id, "srv-2")
    volumes.terminate_connection(ctx, vol.id, FAKE_HOST)
    volumes.complete_detach(ctx, vol.id, "srv-2")
    assert not fake_drivers.volume.exports[vol.location]
    assert volumes.get_volume(ctx, vol.id).status == "available"


def test_only_one_of_two_racing_servers_gets_the_volume(volumes: Any, ctx: RequestContext, settle: Any) -> None:
    vol = make_volume(volumes, ctx, settle)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def grab(i: int) -> None:
        barrier.wait()
        try:
            volumes.reserve_attach(ctx, vol.id, f"srv-{i}")
            results.append("ok")
        except BadRequest:
            results.append("refused")

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("refused") == 7


def test_quota_holds_under_concurrent_creates(volumes: Any, overcast_runtime: Any, settle: Any) -> None:
    ctx = make_ctx("proj-q")
    with overcast_runtime.db.session() as s:
        volumes.quotas.set_limits(s, "proj-q", {"volumes": 3})
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        barrier.wait()
        try:
            volumes.volumes.create(ctx, size=1)
            outcomes.append("ok")
        except VolumeOverQuota:
            outcomes.append("over")

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    settle()
    assert outcomes.count("ok") == 3
    assert len(volumes.volumes.list(ctx)) == 3
    with overcast_runtime.db.session() as s:
        assert volumes.quotas.usage(s, "proj-q") == {
            "volumes": 3,
            "gigabytes": 3,
            "snapshots": 0,
            "backups": 0,
            "backup_gigabytes": 0,
            "groups": 0,
        }


def test_driver_failure_lands_in_status_with_reason(
    volumes: Any, ctx: RequestContext, settle: Any, overcast_runtime: Any
) -> None:
    overcast_runtime.drivers.volume_backends["fake"].options  # the fake backend has 1000 GiB
    row = volumes.volumes.create(ctx, size=1)
    settle()
    vol = volumes.volumes.get(ctx, row.id)
    # a snapshot of a volume whose data vanished fails cleanly
    with overcast_runtime.db.session() as s:
        s.get(Volume, vol.id).location = "fake://fake/missing"
    snap = volumes.snapshots.create(ctx, vol.id)
    settle()
    failed = volumes.snapshots.get(ctx, snap.id)
    assert failed.status == "error" and "no data" in failed.error
    volumes.snapshots.delete(ctx, snap.id)
    settle()


def test_restart_reconciles_transitional_states(
    volumes: Any, ctx: RequestContext, settle: Any, overcast_runtime: Any
) -> None:
    a = make_volume(volumes, ctx, settle)
    b = make_volume(volumes, ctx, settle)
    c = make_volume(volumes, ctx, settle)
    with overcast_runtime.db.session() as s:
        s.get(Volume, a.id).status = "creating"
        s.get(Volume, b.id).status = "deleting"
        s.get(Volume, c.id).status = "attaching"
        s.add(VolumeSnapshot(project_id=ctx.project_id, user_id="u", volume_id=c.id, size=1, status="creating"))
    volumes.reconcile()
    settle()
    assert volumes.volumes.get(ctx, a.id).status == "error"
    with pytest.raises(NotFound):
        volumes.volumes.get(ctx, b.id)  # the delete was resumed and finished
    assert volumes.volumes.get(ctx, c.id).status == "available"
    assert [x.status for x in volumes.snapshots.list(ctx)] == ["error"]


def test_backend_on_a_host_agent_goes_over_the_bus(
    volumes: Any, ctx: RequestContext, settle: Any, overcast_runtime: Any, fake_drivers: Any
) -> None:
    from overcast.agent import start_local_agents

    overcast_runtime.config.volume.backend_hosts["fake"] = "fake1"
    start_local_agents(overcast_runtime, ["fake1"])
    calls: list[str] = []
    real_request = overcast_runtime.bus.request  # what the typed stubs send with (and bus.call too)

    def spy(topic: str, method: str, args: Any, timeout: float | None = None) -> Any:
        calls.append(f"{topic}:{method}")
        return real_request(topic, method, args, timeout)

    overcast_runtime.bus.request = spy
    vol = make_volume(volumes, ctx, settle)
    assert vol.status == "available"
    assert "agent.fake1:volume_create" in calls and "agent.fake1:volume_get_stats" in calls
    assert fake_drivers.volume.volumes["fake"][vol.location]["size_gb"] == 1


def test_no_room_anywhere_leaves_an_error_volume_and_a_message(volumes: Any, ctx: RequestContext) -> None:
    """As Cinder: quota first (413), then a volume no backend can take is accepted in error,
    with the scheduler's reason and a user message."""
    with pytest.raises(VolumeOverQuota):
        volumes.volumes.create(ctx, size=5000)
    assert volumes.volumes.list(ctx) == []
    with volumes.runtime.db.session() as s:
        volumes.quotas.set_limits(s, ctx.project_id, {"gigabytes": -1})
    row = volumes.volumes.create(ctx, size=5000)
    assert row.status == "error" and "no room" in (row.error or "")
    with volumes.runtime.db.session() as s:
        assert [m.resource_uuid for m in volumes.parts.messages.all(s, ctx)] == [row.id]


def test_volume_agent_offers_every_driver_operation() -> None:
    from overcast.agent.volume import OPERATIONS, VolumeAgent
    from overcast.bus.rpc import declared
    from overcast.hookspecs import hook_names

    assert sorted(OPERATIONS) == sorted(h[len("vol_") :] for h in hook_names("vol_"))
    for op in OPERATIONS:
        assert f"volume_{op}" in declared(VolumeAgent)


def test_front_end_qos_specs_ride_in_the_connection(
    volumes: Any, ctx: RequestContext, admin_ctx: Any, settle: Any
) -> None:
    """As Cinder: a type's QoS specs with a front-end (or both) consumer reach the hypervisor
    in ``connection_info.data.qos_specs``, ``*_per_gb`` scaled by the size; back-end ones do not."""
    with volumes.runtime.db.session() as s:
        front = volumes.qos.create(
            s, {"name": "fe", "consumer": "front-end", "read_iops_sec": "500", "total_bytes_sec_per_gb": "1000"}
        )
        back = volumes.qos.create(s, {"name": "be", "consumer": "back-end", "read_iops_sec": "9"})
        t_front = volumes.types.create(s, "t-front", None, True, {})
        t_back = volumes.types.create(s, "t-back", None, True, {})
        volumes.qos.associate(s, front.id, t_front.id)
        volumes.qos.associate(s, back.id, t_back.id)
        ids = (t_front.id, t_back.id)
    v1 = volumes.volumes.create(ctx, size=3, volume_type=ids[0])
    v2 = volumes.volumes.create(ctx, size=1, volume_type=ids[1])
    settle()
    info = volumes.initialize_connection(ctx, v1.id, FAKE_HOST)
    assert info.data["qos_specs"] == {"read_iops_sec": "500", "total_bytes_sec": "3000"}
    assert "qos_specs" not in volumes.initialize_connection(ctx, v2.id, FAKE_HOST).data
