"""Service-level tests with the fake hypervisor: faults, reconciliation, volumes, groups."""

from __future__ import annotations

import socket
import subprocess
import uuid
from datetime import timedelta

import pytest

from overcast.compute import states as st
from overcast.db.models.base import utcnow
from overcast.db.models.hosts import TaskRunnerRecord
from overcast.errors import BadRequest, DriverError, NotFound
from overcast.db.values import load
from overcast.types import ConnectionInfo, PowerState

from .conftest import IMAGE_ID, boot, make_ctx, wait_status


def test_driver_failure_records_fault_and_frees_claim(compute, ctx, flavor, fake_drivers, monkeypatch):
    def broken(*args, **kwargs):
        raise DriverError("disk image is corrupt")

    monkeypatch.setattr(compute.runtime.service("image"), "fetch_to_cache", broken)
    rec = compute.create_server(ctx, {"name": "bad", "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"})
    rec = wait_status(compute, ctx, rec.uuid, "ERROR")
    fault = compute.faults([rec.uuid])[rec.uuid]
    assert "disk image is corrupt" in fault.message and rec.host is None
    from overcast.db.models.hosts import HostRecord

    with compute.runtime.db.session() as s:
        assert all(h.vcpus_used == 0 for h in s.query(HostRecord))


def crashed_task_owner(db) -> str:
    """The task owner id of a process of this machine that died a moment ago (its row not
    expired yet, as right after a crash of the only process of an all-in-one cloud)."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    owner = str(uuid.uuid4())
    now = utcnow()
    with db.session() as s:
        s.add(
            TaskRunnerRecord(
                id=owner,
                hostname=socket.gethostname(),
                pid=dead.pid,
                started_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
    return owner


def test_reconcile_after_restart(compute, ctx, flavor, fake_drivers):
    done = boot(compute, ctx, flavor, "done")
    stuck = boot(compute, ctx, flavor, "stuck")
    lost = boot(compute, ctx, flavor, "lost")
    # simulate a crash: rows left in transitional states the old process never finished
    gone = crashed_task_owner(compute.runtime.db)
    compute.transitions.finish(stuck.uuid, vm_state=st.BUILDING, task_state=st.SPAWNING, task_owner=gone)
    compute.transitions.finish(done.uuid, task_state=st.POWERING_OFF, task_owner=gone)
    fake_drivers.hypervisor.guests[done.host][done.hv_name]["state"] = PowerState.SHUTDOWN
    compute.transitions.finish(lost.uuid, vm_state=st.BUILDING, task_state=st.SPAWNING, task_owner=gone)
    fake_drivers.hypervisor.guests[lost.host].pop(lost.hv_name)
    counts = compute.reconciler.run()
    assert counts["active"] == 1 and counts["error"] == 1 and counts["synced"] == 1
    assert wait_status(compute, ctx, stuck.uuid, "ACTIVE")
    assert wait_status(compute, ctx, done.uuid, "SHUTOFF")
    assert "interrupted by a restart" in compute.faults([lost.uuid])[lost.uuid].message


def test_delete_while_building(compute, ctx, flavor, fake_drivers):
    rec = compute.create_server(ctx, {"name": "x", "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"})
    compute.delete_server(ctx, rec.uuid)
    wait_status(compute, ctx, rec.uuid, "DELETED")
    assert not any(rec.hv_name in g for g in fake_drivers.hypervisor.guests.values())


def test_volume_attach_handshake(compute, ctx, flavor, fake_drivers):
    vols = compute.runtime.service("volume")
    vols.add("vol-1", "p1")
    server = boot(compute, ctx, flavor)
    bdm = compute.volumes.attach(ctx, server.uuid, "vol-1")
    assert bdm.device_name == "/dev/vdb" and vols.volumes["vol-1"]["status"] == "in-use"
    assert vols.calls == ["reserve_attach", f"initialize_connection {server.host}", "complete_attach"]
    guest = fake_drivers.hypervisor.guests[server.host][server.hv_name]
    assert guest["volumes"]["/dev/vdb"].data["host"] == server.host  # connector came from the host
    with pytest.raises(BadRequest, match="Invalid volume: volume vol-1 already attached"):  # Nova's InvalidVolume
        compute.volumes.attach(ctx, server.uuid, "vol-1")
    with pytest.raises(NotFound):
        compute.volumes.attach(make_ctx("p2"), server.uuid, "vol-1")
    compute.volumes.detach(ctx, server.uuid, "vol-1")  # in the background, as Nova's 202
    compute.runner.wait_idle()
    assert vols.volumes["vol-1"]["status"] == "available" and "/dev/vdb" not in guest["volumes"]


def test_anti_affinity_group(compute, ctx, flavor):
    group = compute.server_groups.create(ctx, {"name": "g", "policy": "anti-affinity"})
    a = boot(compute, ctx, flavor, "a", **{"os:scheduler_hints": {"group": group.id}})
    b = boot(compute, ctx, flavor, "b", **{"os:scheduler_hints": {"group": group.id}})
    assert a.host != b.host
    c = compute.create_server(
        ctx,
        {
            "name": "c",
            "flavorRef": flavor.id,
            "imageRef": IMAGE_ID,
            "networks": "none",
            "os:scheduler_hints": {"group": group.id},
        },
    )
    c = wait_status(compute, ctx, c.uuid, "ERROR")
    assert "ServerGroupAntiAffinityFilter rejected 2" in compute.faults([c.uuid])[c.uuid].message


def test_cold_migration_revert(compute, ctx, flavor, admin_ctx, fake_drivers):
    rec = boot(compute, ctx, flavor)
    compute.migrate(admin_ctx, rec.uuid)
    moved = wait_status(compute, ctx, rec.uuid, "VERIFY_RESIZE")
    assert moved.host != rec.host
    compute.revert_resize(ctx, rec.uuid)
    back = wait_status(compute, ctx, rec.uuid, "ACTIVE")
    assert back.host == rec.host and rec.hv_name not in fake_drivers.hypervisor.guests[moved.host]


def test_networks_ports_bound_and_moved(compute, ctx, flavor, admin_ctx, fake_drivers):
    from overcast.errors import BadRequest

    from .fake_peers import FakeNetworkService

    net = FakeNetworkService()
    compute.runtime._services["network"] = net
    with pytest.raises(BadRequest, match="Network net-x could not be found"):
        compute.create_server(
            ctx, {"name": "n", "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": [{"uuid": "net-x"}]}
        )
    rec = boot(compute, ctx, flavor, networks=[{"uuid": "net-1"}])
    assert rec.addresses == {"private": [{"version": 4, "addr": "10.0.0.10"}]}
    guest = fake_drivers.hypervisor.guests[rec.host][rec.hv_name]
    assert list(guest["vifs"]) == ["port-1"] and guest["vifs"]["port-1"].details["bridge"] == f"brq-{rec.host}"
    compute.live_migrate(admin_ctx, rec.uuid)
    moved = wait_status(compute, ctx, rec.uuid, "ACTIVE")
    assert moved.host != rec.host and net.bindings[-1] == ("port-1", moved.host)
    compute.delete_server(ctx, rec.uuid)
    wait_status(compute, ctx, rec.uuid, "DELETED")
    assert net.ports == {}


def test_detach_retries_a_guest_that_does_not_release_the_disk(compute, ctx, flavor, monkeypatch):
    from overcast.errors import DriverError

    vols = compute.runtime.service("volume")
    vols.add("vol-2", "p1")
    server = boot(compute, ctx, flavor)
    compute.volumes.attach(ctx, server.uuid, "vol-2")
    real, asked = compute.volumes._hv, []

    class BusyGuest:
        """The hosts' hypervisor operations, but the guest keeps the disk through the first two detaches."""

        def __init__(self):
            self.hv = real()

        def detach_volume(self, **kw):
            asked.append("detach_volume")
            if len(asked) < 3:
                raise DriverError("the guest did not release /dev/vdb within 20 s")
            return self.hv.detach_volume(**kw)

        def get_volume_connector(self, **kw):
            return self.hv.get_volume_connector(**kw)

    monkeypatch.setattr(compute.volumes, "_hv", BusyGuest)
    compute.volumes.detach(ctx, server.uuid, "vol-2")
    assert vols.volumes["vol-2"]["status"] in ("detaching", "in-use", "available")
    compute.runner.wait_idle()
    assert len(asked) == 3 and vols.volumes["vol-2"]["status"] == "available"
    assert compute.volumes.list(ctx, server.uuid) == []


def test_moves_carry_attached_volumes(compute, ctx, flavor, admin_ctx, fake_drivers):
    """Cold and live migration re-export every attached volume to the destination, which
    gets them as block devices; the source's export ends once the move is final, and a
    revert puts the attachment back on the source (issue 18: migration keeps volumes)."""
    vols = compute.runtime.service("volume")
    vols.add("vol-m", "p1")
    server = boot(compute, ctx, flavor)
    source = server.host
    compute.volumes.attach(ctx, server.uuid, "vol-m")
    guests = fake_drivers.hypervisor.guests

    compute.migrate(admin_ctx, server.uuid)
    moved = wait_status(compute, ctx, server.uuid, "VERIFY_RESIZE")
    dest = moved.host
    assert dest != source
    assert guests[dest][server.hv_name]["volumes"]["/dev/vdb"].data["host"] == dest
    assert vols.volumes["vol-m"]["connector"].host == dest
    assert f"terminate_connection {source}" not in vols.calls  # kept for a revert
    compute.revert_resize(ctx, server.uuid)
    wait_status(compute, ctx, server.uuid, "ACTIVE")
    assert vols.volumes["vol-m"]["connector"].host == source
    assert vols.calls[-1] == f"terminate_connection {dest}"

    compute.migrate(admin_ctx, server.uuid)
    wait_status(compute, ctx, server.uuid, "VERIFY_RESIZE")
    compute.confirm_resize(ctx, server.uuid)
    done = wait_status(compute, ctx, server.uuid, "ACTIVE")
    assert done.host == dest and vols.calls[-1] == f"terminate_connection {source}"
    bdm = compute.volumes.get(ctx, server.uuid, "vol-m")
    assert load(ConnectionInfo, bdm.connection_info).data["host"] == dest

    compute.live_migrate(admin_ctx, server.uuid)
    live = wait_status(compute, ctx, server.uuid, "ACTIVE")
    assert live.host == source and vols.volumes["vol-m"]["connector"].host == source
    assert vols.calls[-1] == f"terminate_connection {dest}"
    assert guests[source][server.hv_name]["volumes"]["/dev/vdb"].data["host"] == dest  # live: shared, same disk


def test_failed_move_puts_the_volumes_back(compute, ctx, flavor, admin_ctx, fake_drivers, monkeypatch):
    vols = compute.runtime.service("volume")
    vols.add("vol-f", "p1")
    server = boot(compute, ctx, flavor)
    compute.volumes.attach(ctx, server.uuid, "vol-f")

    def broken(*args, **kwargs):
        raise DriverError("the destination's ports cannot be bound")

    monkeypatch.setattr(compute.migrations, "vifs_on", broken)  # after the volumes went to the destination
    compute.migrate(admin_ctx, server.uuid)
    compute.runner.wait_idle()
    after = compute.get_server(ctx, server.uuid)
    assert after.host == server.host and after.task_state is None
    assert "ports cannot be bound" in compute.faults([server.uuid])[server.uuid].message
    assert vols.volumes["vol-f"]["connector"].host == server.host
    assert (
        vols.calls[-1].startswith("terminate_connection ") and vols.calls[-1] != f"terminate_connection {server.host}"
    )


def test_flavors_with_ephemeral_or_swap_disks_are_refused_not_ignored(compute, ctx, flavor, admin_ctx):
    """No driver makes ephemeral or swap disks: creating or resizing to such a flavor is a 400
    with nothing made, never a server without the disk it asked for."""
    from overcast.errors import BadRequest

    for extra in ({"OS-FLV-EXT-DATA:ephemeral": 1}, {"swap": 64}):
        big = compute.flavors.create(
            admin_ctx,
            {"name": f"x-{list(extra)[0]}", "ram": 128, "vcpus": 1, "disk": flavor.root_gb, "id": None, **extra},
        )
        with pytest.raises(BadRequest, match="ephemeral and swap disks are not supported"):
            compute.create_server(ctx, {"name": "e", "flavorRef": big.id, "imageRef": IMAGE_ID, "networks": "none"})
        server = boot(compute, ctx, flavor)
        with pytest.raises(BadRequest, match="ephemeral and swap disks are not supported"):
            compute.resize(ctx, server.uuid, big.id)
        assert compute.get_server(ctx, server.uuid).flavor_id == flavor.id
    assert len(compute.list_servers(ctx, {})) == 2


def test_concurrent_creates_written_together_keep_the_quota_and_their_own_errors(compute, flavor):
    """Creates queued behind one another are written as one transaction (overcast.db.group):
    at the quota's edge exactly the quota is created, each refused create gets its own
    403 text, and the usage counts only the servers that exist."""
    import threading

    from overcast.errors import OverQuota

    ctx = make_ctx(project="pq")
    with compute.runtime.db.session() as s:
        compute.quotas.set_limits(s, "pq", {"instances": 5})
    body = {"flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"}
    hold = threading.Event()
    blocker = threading.Thread(target=compute.writes.run, args=(lambda s: hold.wait(10),))
    blocker.start()
    while not compute.writes._busy:
        threading.Event().wait(0.001)
    results: list = [None] * 12

    def create(i: int) -> None:
        try:
            results[i] = compute.create_server(ctx, {**body, "name": f"q{i}"})
        except OverQuota as exc:
            results[i] = exc

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    while len(compute.writes._queue) < 12:  # all queued behind the blocker: written in batches
        threading.Event().wait(0.005)
    hold.set()
    for t in [blocker, *threads]:
        t.join(10)
    created = [r for r in results if not isinstance(r, OverQuota)]
    refused = [r for r in results if isinstance(r, OverQuota)]
    assert len(created) == 5 and len(refused) == 7
    assert {str(e) for e in refused} == {"Quota exceeded for instances: Requested 1, but already used 5 of 5 instances"}
    for rec in created:
        wait_status(compute, ctx, rec.uuid, "ACTIVE")
    assert len(compute.list_servers(ctx, {})) == 5
    with compute.runtime.db.session() as s:
        assert compute.quotas.usage(s, "pq")["instances"] == 5
        assert compute.quotas.usage(s, "pq")["cores"] == 5 * flavor.vcpus


def test_conditional_advance_matches_expected_values_and_none(compute, ctx, flavor):
    """``Transitions.advance``'s ``expect``: a value must still be the row's; ``None`` means the
    column is still empty (SQL ``IS NULL``), not a comparison that never holds."""
    rec = boot(compute, ctx, flavor, "cond")
    t = compute.transitions
    compute.transitions.finish(rec.uuid, host=None)
    assert t.advance(rec.uuid, None, expect={"host": "elsewhere"}, power_state="paused") is None
    moved = t.advance(rec.uuid, None, expect={"host": None, "vm_state": st.ACTIVE}, power_state="paused")
    assert moved is not None and moved.power_state == "paused"
    assert t.advance(rec.uuid, st.SPAWNING, power_state="running") is None  # no task is running
    assert compute.get_server(ctx, rec.uuid).power_state == "paused"


def test_the_agent_version_a_heartbeat_records_reaches_the_hypervisor_client(compute, ctx, flavor, monkeypatch):
    """``runtime.agents`` is a new client on every access; the versions the heartbeat
    records must outlive it, or an agent too old for hypervisor operations is never refused."""
    import overcast.agent
    from overcast.errors import DriverError

    runtime = compute.runtime
    host = next(iter(runtime.drivers.hosts))
    monkeypatch.setattr(overcast.agent, "AGENT_RPC_VERSION", "1.2")  # an agent of the previous release
    compute.hosts.refresh(host)
    assert runtime.agents.versions[host] == "1.2"
    with pytest.raises(DriverError, match=r"agent RPC 1.2; this controller needs 2.0 .*upgrade Overcast on"):
        runtime.agents.hypervisor().list_instances(host=runtime.drivers.hosts[host])
