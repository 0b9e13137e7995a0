"""A build whose database connection is lost at its end (a PostgreSQL restart or failover)
still records its outcome once the database answers again: the server is never left in BUILD
with nobody to finish it, and a retried write whose first commit went through is not taken for
a delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from overcast.errors import DriverError

from .conftest import IMAGE_ID, wait_status


def lost_connection() -> OperationalError:
    return OperationalError(
        "UPDATE instances ...", {}, Exception("server closed the connection unexpectedly"), connection_invalidated=True
    )


def create(compute: Any, ctx: Any, flavor: Any, name: str) -> Any:
    return compute.create_server(ctx, {"name": name, "flavorRef": flavor.id, "imageRef": IMAGE_ID, "networks": "none"})


def test_activation_waits_for_the_database_to_come_back(compute, ctx, flavor, fake_drivers, monkeypatch):
    writes = compute.writes
    real_run = writes.run
    failures = []

    def run(fn):
        if fn.__name__ == "activate" and len(failures) < 2:  # the database is away for two tries
            failures.append(1)
            raise lost_connection()
        return real_run(fn)

    monkeypatch.setattr(writes, "run", run)
    rec = wait_status(compute, ctx, create(compute, ctx, flavor, "back").uuid, "ACTIVE")
    assert len(failures) == 2
    assert rec.hv_name in fake_drivers.hypervisor.guests[rec.host]


def test_a_commit_whose_answer_was_lost_is_not_taken_for_a_delete(compute, ctx, flavor, fake_drivers, monkeypatch):
    writes = compute.writes
    real_run = writes.run
    lost_after_commit = []

    def run(fn):
        result = real_run(fn)
        if fn.__name__ == "activate" and not lost_after_commit:  # committed, then the answer is lost
            lost_after_commit.append(1)
            raise lost_connection()
        return result

    monkeypatch.setattr(writes, "run", run)
    rec = create(compute, ctx, flavor, "acked")
    compute.runner.wait_idle()
    rec = wait_status(compute, ctx, rec.uuid, "ACTIVE")
    assert lost_after_commit
    assert not rec.deleted and rec.hv_name in fake_drivers.hypervisor.guests[rec.host]


def test_a_failed_build_whose_clean_up_loses_the_database_still_records_its_fault(
    compute, ctx, flavor, fake_drivers, monkeypatch
):
    def broken(*args, **kwargs):
        raise DriverError("disk image is corrupt")

    monkeypatch.setattr(compute.runtime.service("image"), "fetch_to_cache", broken)
    events = compute.events
    real_finish = events.finish

    def finish(event_id, exc=None):
        if exc is not None:
            raise lost_connection()
        return real_finish(event_id, exc)

    monkeypatch.setattr(events, "finish", finish)
    rec = wait_status(compute, ctx, create(compute, ctx, flavor, "bad").uuid, "ERROR")
    assert "disk image is corrupt" in compute.faults([rec.uuid])[rec.uuid].message
    assert rec.task_state is None
