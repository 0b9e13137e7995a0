"""A host claim and a quota are given back exactly once, whatever the database connection does
at the end of a failed build or of a delete, on PostgreSQL.

The connection is lost for real (the server process of the transaction that gives the claim
back is terminated in the middle of it: the transaction is gone, as in a restart or failover),
or the commit goes through and only its answer is lost (the client is told the connection
broke after the server committed): the first must be written again once the database
answers, the second must not give the usage back a second time. Before each create the host
already holds another server's claim, so a second give-back would show (usage never goes
below zero)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import psycopg
from sqlalchemy import select, text

from overcast.compute import scheduler as scheduler_module
from overcast.compute import tasks as tasks_module
from overcast.config import Config, parse_config
from overcast.db.models.hosts import HostRecord
from overcast.errors import DriverError
from overcast.testing.fixtures import fake_config_data
from overcast.testing.postgres import fresh_database

from .conftest import IMAGE_ID, boot, wait_status

pytestmark = pytest.mark.postgres
HOST = "fake1"


@pytest.fixture
def overcast_config(tmp_path: Path) -> Iterator[Config]:
    """One fake host (every claim on it) on a fresh PostgreSQL database."""
    with fresh_database("overcast_claim_lost") as url:
        data = fake_config_data(tmp_path, hosts=1)
        data["database"] = {"url": url}
        data["compute"] = {"scheduler_cache_seconds": 0}
        data["bus"] = {"heartbeat_interval": 3600}
        yield parse_config(data, tmp_path / "overcast.toml")


def host_usage(compute: Any) -> tuple[int, int, int]:
    with compute.runtime.db.session() as s:
        h = s.scalars(select(HostRecord).where(HostRecord.name == HOST)).one()
        return h.vcpus_used, h.memory_mb_used, h.local_gb_used


def quota_usage(compute: Any, project_id: str) -> dict[str, int]:
    with compute.runtime.db.session() as s:
        return compute.quotas.usage(s, project_id)


class LoseConnection:
    """Wraps ``module.name`` (a statement of a claim's or a give-back's transaction, called with
    the session first) to lose the connection on its first call: ``mode`` ``"before"`` ends the
    transaction's server process before it commits, ``"after"`` lets the COMMIT go through,
    then closes the connection and raises what psycopg raises for a broken one, as if the
    server's answer had been lost on the way."""

    def __init__(self, compute: Any, monkeypatch: pytest.MonkeyPatch, module: Any, name: str, mode: str) -> None:
        self.mode = mode
        self.calls = 0
        self.lost_answers = 0
        self.real = getattr(module, name)
        self._armed: list[Any] = []
        dialect = compute.runtime.db.engine.dialect
        real_commit = dialect.do_commit

        def do_commit(connection: Any) -> None:  # the pool's proxy of psycopg's connection
            real_commit(connection)
            if connection.dbapi_connection in self._armed:
                self._armed.remove(connection.dbapi_connection)
                self.lost_answers += 1
                connection.dbapi_connection.close()
                raise psycopg.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(dialect, "do_commit", do_commit)
        monkeypatch.setattr(module, name, self)

    def __call__(self, session: Any, *args: Any) -> Any:
        result = self.real(session, *args)
        self.calls += 1
        if self.calls > 1:
            return result
        if self.mode == "before":
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            raise AssertionError("the terminated connection answered")
        self._armed.append(session.connection().connection.dbapi_connection)
        return result


def fail_spawn(compute: Any, monkeypatch: pytest.MonkeyPatch, seen: list[tuple[int, int, int]]) -> None:
    """The build fails on the host (its image cannot be fetched), after its claim; ``seen``
    gets the host's usage at that moment."""

    def broken(*args: Any, **kwargs: Any) -> None:
        seen.append(host_usage(compute))
        raise DriverError("disk image is corrupt")

    monkeypatch.setattr(compute.runtime.service("image"), "fetch_to_cache", broken)


def create(compute: Any, ctx: Any, flavor: Any, name: str) -> Any:
    return compute.create_server(ctx, {"name": name, "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"})


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_failed_build_gives_its_claim_back_once_whatever_the_connection_does(compute, ctx, flavor, monkeypatch, mode):
    boot(compute, ctx, flavor, "keeps-a-claim")
    host_before, quota_before = host_usage(compute), quota_usage(compute, ctx.project_id)
    assert host_before == (2, 2048, 10)
    at_spawn: list[tuple[int, int, int]] = []
    fail_spawn(compute, monkeypatch, at_spawn)
    hook = LoseConnection(compute, monkeypatch, tasks_module, "release", mode)

    rec = wait_status(compute, ctx, create(compute, ctx, flavor, "bad").uuid, "ERROR")
    assert at_spawn == [(4, 4096, 20)]  # claimed when it failed
    assert "disk image is corrupt" in compute.faults([rec.uuid])[rec.uuid].message
    assert rec.host is None and rec.task_state is None
    assert host_usage(compute) == host_before
    assert hook.calls == (2 if mode == "before" else 1)  # written again only if it had not committed
    assert hook.lost_answers == (0 if mode == "before" else 1)
    # the server in ERROR still counts against the quota (as in Nova) until it is deleted
    assert quota_usage(compute, ctx.project_id) == {**quota_before, "instances": 2, "cores": 4, "ram": 4096}

    compute.delete_server(ctx, rec.uuid)
    wait_status(compute, ctx, rec.uuid, "DELETED")
    assert host_usage(compute) == host_before
    assert quota_usage(compute, ctx.project_id) == quota_before


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_delete_gives_the_claim_and_quota_back_once_whatever_the_connection_does(
    compute, ctx, flavor, monkeypatch, mode
):
    boot(compute, ctx, flavor, "keeps-a-claim")
    host_before, quota_before = host_usage(compute), quota_usage(compute, ctx.project_id)
    rec = boot(compute, ctx, flavor, "doomed")
    assert host_usage(compute) == (4, 4096, 20)
    hook = LoseConnection(compute, monkeypatch, tasks_module, "release", mode)

    compute.delete_server(ctx, rec.uuid)
    gone = wait_status(compute, ctx, rec.uuid, "DELETED")
    assert gone.deleted
    assert host_usage(compute) == host_before
    assert quota_usage(compute, ctx.project_id) == quota_before
    assert hook.calls == (2 if mode == "before" else 1)
    assert hook.lost_answers == (0 if mode == "before" else 1)


def test_a_claim_whose_commit_answer_was_lost_is_given_back_by_the_failed_build(compute, ctx, flavor, monkeypatch):
    """The claim (with the server's move to spawning) commits but the build never learns its
    host: the build fails, and the claim the server's row names is given back with its fault."""
    boot(compute, ctx, flavor, "keeps-a-claim")
    host_before = host_usage(compute)
    hook = LoseConnection(compute, monkeypatch, scheduler_module, "claim", "after")

    rec = wait_status(compute, ctx, create(compute, ctx, flavor, "unsure").uuid, "ERROR")
    assert hook.calls == hook.lost_answers == 1
    assert "server closed the connection" in compute.faults([rec.uuid])[rec.uuid].message
    assert rec.host is None
    assert host_usage(compute) == host_before
