"""The volume service's atomic SQL (quota increments, status transitions) on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from overcast.config import parse_config
from overcast.errors import BadRequest
from overcast.testing.fixtures import fake_config_data
from overcast.volume.quotas import VolumeOverQuota

from .conftest import make_ctx

pytestmark = pytest.mark.postgres
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_runtime(tmp_path: Path, overcast_pm: Any) -> Iterator[Any]:
    from overcast.runtime import build_runtime

    name = f"overcast_volume_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    data = fake_config_data(tmp_path)
    data["database"] = {"url": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm)
    try:
        yield runtime
    finally:
        runtime.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def race(n: int, func: Any) -> list[str]:
    results: list[str] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        try:
            func(i)
            results.append("ok")
        except (BadRequest, VolumeOverQuota):
            results.append("refused")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_quota_and_reservation_races_on_postgres(pg_runtime: Any) -> None:
    svc, ctx = pg_runtime.service("volume"), make_ctx("proj-pg")
    with pg_runtime.db.session() as s:
        svc.quotas.set_limits(s, "proj-pg", {"volumes": 3})
    assert race(6, lambda i: svc.volumes.create(ctx, size=1)).count("ok") == 3
    svc.tasks.wait()
    vols = svc.volumes.list(ctx)
    assert len(vols) == 3 and all(v.status == "available" for v in vols)
    with pg_runtime.db.session() as s:
        assert svc.quotas.usage(s, "proj-pg")["volumes"] == 3
    assert race(6, lambda i: svc.reserve_attach(ctx, vols[0].id, f"srv-{i}")).count("ok") == 1
