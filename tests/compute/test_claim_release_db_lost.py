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
from sqlalchemy import select

from overcast.compute import scheduler as scheduler_module
from overcast.compute import outcomes as outcomes_module
from overcast.config import Config, parse_config
from overcast.db.models.hosts import HostRecord
from overcast.errors import DriverError
from overcast.testing.fixtures import fake_config_data
from overcast.testing.postgres import fresh_database

from .conftest import IMAGE_ID, boot, wait_status
from .lose_connection import LoseConnection

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
    hook = LoseConnection(compute, monkeypatch, outcomes_module, "release", mode)

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
    hook = LoseConnection(compute, monkeypatch, outcomes_module, "release", mode)

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
