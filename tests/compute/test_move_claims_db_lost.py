"""The claims a shelve offload, a resize's confirm and a live migration give back (or move)
are given back exactly once whatever the database connection does at their end, and a
move's destination claim is never seen without its migration row, on PostgreSQL.

As in :mod:`tests.compute.test_claim_release_db_lost`: the give-back's transaction loses its
server process before it commits (it must be written again), or commits and loses only its
answer (it must not be written twice). Another server keeps a claim throughout, so a second
give-back would show."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from overcast.compute import outcomes as outcomes_module
from overcast.compute import scheduler as scheduler_module
from overcast.config import Config, parse_config
from overcast.db.models.compute import MigrationRecord
from overcast.db.models.hosts import HostRecord
from overcast.errors import DriverError
from overcast.testing.fixtures import fake_config_data
from overcast.testing.postgres import fresh_database

from .conftest import boot, wait_status
from .lose_connection import LoseConnection

pytestmark = pytest.mark.postgres


@pytest.fixture
def overcast_config(tmp_path: Path) -> Iterator[Config]:
    """Two fake hosts (a move's two ends) on a fresh PostgreSQL database."""
    with fresh_database("overcast_move_lost") as url:
        data = fake_config_data(tmp_path, hosts=2)
        for host in data["hosts"].values():  # an evacuation keeps the disk
            host["shared_storage"] = True
        data["database"] = {"url": url}
        data["compute"] = {"scheduler_cache_seconds": 0}
        data["bus"] = {"heartbeat_interval": 3600}
        yield parse_config(data, tmp_path / "overcast.toml")


def usage(compute: Any) -> dict[str, tuple[int, int, int]]:
    with compute.runtime.db.session() as s:
        return {h.name: (h.vcpus_used, h.memory_mb_used, h.local_gb_used) for h in s.scalars(select(HostRecord))}


def total(compute: Any) -> tuple[int, ...]:
    return tuple(sum(column) for column in zip(*usage(compute).values()))


def quota_usage(compute: Any, project_id: str) -> dict[str, int]:
    with compute.runtime.db.session() as s:
        return compute.quotas.usage(s, project_id)


def migration_statuses(compute: Any, uuid: str) -> list[str]:
    with compute.runtime.db.session() as s:
        return list(s.scalars(select(MigrationRecord.status).where(MigrationRecord.instance_uuid == uuid)))


def assert_written_once(hook: LoseConnection, mode: str) -> None:
    """The give-back was written again only if its first attempt had not committed."""
    assert hook.calls == (2 if mode == "before" else 1)
    assert hook.lost_answers == (0 if mode == "before" else 1)


@pytest.fixture
def bigger(compute, admin_ctx):
    return compute.flavors.create(admin_ctx, {"name": "m1.bigger", "vcpus": 4, "ram": 4096, "disk": 20})


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_shelve_offload_gives_its_claim_back_once_whatever_the_connection_does(
    compute, ctx, flavor, monkeypatch, mode
):
    boot(compute, ctx, flavor, "keeps-a-claim")
    before = total(compute)
    rec = boot(compute, ctx, flavor, "shelved")
    assert total(compute) == (4, 4096, 20)
    hook = LoseConnection(compute, monkeypatch, outcomes_module, "release", mode)

    compute.shelving.shelve(ctx, rec.uuid)  # offloaded at once (shelved_offload_time 0)
    offloaded = wait_status(compute, ctx, rec.uuid, "SHELVED_OFFLOADED")
    assert offloaded.host is None and offloaded.task_state is None
    assert total(compute) == before
    assert_written_once(hook, mode)

    compute.delete_server(ctx, rec.uuid)  # nothing left to give back
    wait_status(compute, ctx, rec.uuid, "DELETED")
    assert total(compute) == before


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_confirmed_resize_gives_the_source_claim_back_once_whatever_the_connection_does(
    compute, ctx, flavor, bigger, monkeypatch, mode
):
    boot(compute, ctx, flavor, "keeps-a-claim")
    rec = boot(compute, ctx, flavor, "resized")
    source = rec.host
    compute.resize(ctx, rec.uuid, bigger.id)
    resized = wait_status(compute, ctx, rec.uuid, "VERIFY_RESIZE")
    # until confirmed both ends hold a claim: the source the old flavor, the destination the new
    assert total(compute) == (2 + 2 + 4, 2048 + 2048 + 4096, 10 + 10 + 20)
    quota_before = quota_usage(compute, ctx.project_id)
    hook = LoseConnection(compute, monkeypatch, outcomes_module, "release", mode)

    compute.confirm_resize(ctx, rec.uuid)
    confirmed = wait_status(compute, ctx, rec.uuid, "ACTIVE")
    assert confirmed.host == resized.host and confirmed.flavor_id == bigger.id
    assert total(compute) == (2 + 4, 2048 + 4096, 10 + 20)
    assert_written_once(hook, mode)
    assert quota_usage(compute, ctx.project_id) == quota_before
    assert migration_statuses(compute, rec.uuid) == ["confirmed"]
    if resized.host != source:
        assert usage(compute)[resized.host][0] >= 4


@pytest.mark.parametrize("mode", ["before", "after"])
@pytest.mark.parametrize(("move", "status"), [("live_migrate", "completed"), ("evacuate", "done")])
def test_a_move_hands_its_claim_over_once_whatever_the_connection_does(
    compute, ctx, admin_ctx, flavor, monkeypatch, mode, move, status
):
    boot(compute, ctx, flavor, "keeps-a-claim")
    rec = boot(compute, ctx, flavor, "moving")
    source = rec.host
    before = usage(compute)
    if move == "evacuate":  # only off a host that is down
        compute.hosts.set_service(source, "nova-compute", forced_down=True)
    hook = LoseConnection(compute, monkeypatch, outcomes_module, "release", mode)

    getattr(compute, move)(admin_ctx, rec.uuid)
    moved = wait_status(compute, ctx, rec.uuid, "ACTIVE")
    assert moved.host not in (None, source) and moved.task_state is None
    one = (2, 2048, 10)
    expected = {
        **before,
        source: tuple(a - b for a, b in zip(before[source], one)),
        moved.host: tuple(a + b for a, b in zip(before[moved.host], one)),
    }
    assert usage(compute) == expected
    assert_written_once(hook, mode)
    assert migration_statuses(compute, rec.uuid) == [status]


def test_a_usage_recount_right_after_a_destination_claim_keeps_it(compute, ctx, flavor, bigger, monkeypatch):
    """A recount of the hosts' usage (a controller starting, or taking over a gone one's
    servers) runs as soon as the resize's destination claim commits: the claim's migration
    row is in that same transaction, so the recount counts the destination's claim."""
    boot(compute, ctx, flavor, "keeps-a-claim")
    rec = boot(compute, ctx, flavor, "resized")
    dialect = compute.runtime.db.engine.dialect
    real_commit, real_claim = dialect.do_commit, scheduler_module.claim
    armed: list[Any] = []
    recounts: list[dict[str, tuple[int, int, int]]] = []

    def claim(conn: Any, *args: Any) -> bool:
        won = real_claim(conn, *args)
        connection = conn.connection() if callable(conn.connection) else conn  # a Session's, or a Connection
        armed.append(connection.connection.dbapi_connection)
        return won

    def do_commit(connection: Any) -> None:
        real_commit(connection)
        if connection.dbapi_connection in armed:
            armed.remove(connection.dbapi_connection)
            compute.hosts.recompute_usage()
            recounts.append(usage(compute))

    monkeypatch.setattr(dialect, "do_commit", do_commit)
    monkeypatch.setattr(scheduler_module, "claim", claim)

    compute.resize(ctx, rec.uuid, bigger.id)
    wait_status(compute, ctx, rec.uuid, "VERIFY_RESIZE")
    assert len(recounts) == 1
    both_ends = (2 + 2 + 4, 2048 + 2048 + 4096, 10 + 10 + 20)
    assert tuple(sum(c) for c in zip(*recounts[0].values())) == both_ends
    assert total(compute) == both_ends


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_failed_cold_migration_gives_the_destination_claim_back_once_whatever_the_connection_does(
    compute, ctx, admin_ctx, flavor, monkeypatch, mode
):
    boot(compute, ctx, flavor, "keeps-a-claim")
    rec = boot(compute, ctx, flavor, "stays")
    before = usage(compute)

    def broken(*args: Any) -> None:
        assert total(compute) == (6, 6144, 30)  # the destination is claimed
        raise DriverError("the destination cannot reach the volume backend")

    monkeypatch.setattr(compute.migrations.volumes, "to", broken)
    hook = LoseConnection(compute, monkeypatch, outcomes_module, "release", mode)

    compute.migrate(admin_ctx, rec.uuid)
    back = wait_status(compute, ctx, rec.uuid, "SHUTOFF")  # powered off on the source for the move
    assert back.host == rec.host and back.task_state is None
    assert "volume backend" in compute.faults([rec.uuid])[rec.uuid].message
    assert usage(compute) == before
    assert_written_once(hook, mode)
    assert migration_statuses(compute, rec.uuid) == ["error"]


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_failed_unshelve_gives_its_claim_back_once_whatever_the_connection_does(
    compute, ctx, flavor, monkeypatch, mode
):
    boot(compute, ctx, flavor, "keeps-a-claim")
    before = total(compute)
    rec = boot(compute, ctx, flavor, "shelved")
    compute.shelving.shelve(ctx, rec.uuid)
    wait_status(compute, ctx, rec.uuid, "SHELVED_OFFLOADED")
    assert total(compute) == before

    def broken(*args: Any) -> None:
        assert total(compute) == (4, 4096, 20)  # its new host is claimed
        raise DriverError("disk image is corrupt")

    monkeypatch.setattr(compute.tasks, "spawn", broken)
    hook = LoseConnection(compute, monkeypatch, outcomes_module, "release", mode)

    compute.shelving.unshelve(ctx, rec.uuid, None)
    after = wait_status(compute, ctx, rec.uuid, "SHELVED_OFFLOADED")
    assert after.host is None and after.task_state is None
    assert "disk image is corrupt" in compute.faults([rec.uuid])[rec.uuid].message
    assert total(compute) == before
    assert_written_once(hook, mode)
