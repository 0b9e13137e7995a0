"""The objectstore's tables (migration 0007) and service on PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from overcast.config import parse_config
from overcast.context import system_context
from overcast.errors import Conflict
from overcast.objectstore.expirer import reap_due
from overcast.testing.fixtures import fake_config_data
from tests.objectstore.conftest import fs_plugin_manager

pytestmark = pytest.mark.postgres
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_runtime(tmp_path: Path) -> Iterator[Any]:
    from overcast.runtime import build_runtime

    name = f"overcast_objects_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    data = fake_config_data(tmp_path)
    data["database"] = {"url": f"postgresql://postgres@127.0.0.1:5432/{name}"}
    data["object_store"] = {"driver": "fs", "path": str(tmp_path / "objects")}
    data["objectstore"] = {"container_cache_ttl": 0}
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=fs_plugin_manager())
    try:
        yield runtime
    finally:
        runtime.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_containers_metadata_acl_and_expiry_on_postgres(pg_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, ctx = pg_runtime.objectstore, system_context()
    assert svc.put_container(ctx, "p1", "c", {"x-container-meta-color": "blue", "x-container-read": "p2:*"}) is True
    assert svc.put_container(ctx, "p1", "c", {"x-container-meta-size": "big"}) is False
    stats = svc.container_stats(ctx, "p1", "c")
    assert stats.record.meta == {"x-container-meta-color": "blue", "x-container-meta-size": "big"}
    assert stats.record.read_acl == "p2:*"
    svc.post_account(ctx, "p1", {"x-account-meta-owner": "ops"})
    assert svc.account_stats(ctx, "p1").meta == {"x-account-meta-owner": "ops"}
    svc.put_object(ctx, "p1", "c", "keep", {}, [b"k"], 1, {})
    svc.put_object(ctx, "p1", "c", "soon", {"x-delete-after": "10"}, [b"s"], 1, {})
    future = time.time() + 20
    monkeypatch.setattr(time, "time", lambda: future)
    assert reap_due(svc) == 1
    assert [o.name for o in svc.list_objects(ctx, "p1", "c", "", "", "", "", 100, False)[1]] == ["keep"]
    with pytest.raises(Conflict):
        svc.delete_container(ctx, "p1", "c")
    svc.delete_object(ctx, "p1", "c", "keep", {})
    svc.delete_container(ctx, "p1", "c")
    assert [c for c in svc.list_containers(ctx, "p1", "", "", "", "", 100, False)] == []
