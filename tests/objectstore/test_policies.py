"""Storage policies: ``[objectstore.policies.NAME]`` routes a container to its own backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overcast.config import parse_config
from overcast.context import system_context
from overcast.testing.fixtures import fake_config_data
from tests.objectstore.conftest import fs_plugin_manager


def test_container_policy_routes_objects_to_its_backend(tmp_path: Path) -> None:
    from overcast.runtime import build_runtime

    data: dict[str, Any] = fake_config_data(tmp_path)
    data["object_store"] = {"driver": "fs", "path": str(tmp_path / "standard")}
    data["objectstore"] = {
        "container_cache_ttl": 0,
        "policies": {"gold": {"driver": "fs", "path": str(tmp_path / "gold")}},
    }
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=fs_plugin_manager())
    try:
        svc, ctx = runtime.objectstore, system_context()
        assert sorted(svc.backends) == ["Policy-0", "gold"]
        svc.put_container(ctx, "p1", "plain", {})
        svc.put_container(ctx, "p1", "precious", {"x-storage-policy": "gold"})
        svc.put_object(ctx, "p1", "plain", "a", {}, [b"standard bytes"], 14, {})
        svc.put_object(ctx, "p1", "precious", "b", {}, [b"gold bytes"], 10, {})
        assert len(list((tmp_path / "standard" / "data").rglob("*.data"))) == 1
        assert len(list((tmp_path / "gold" / "data").rglob("*.data"))) == 1
        assert b"".join(svc.get_object(ctx, "p1", "precious", "b", {}, {}).body) == b"gold bytes"
        assert svc.container_stats(ctx, "p1", "precious").record.policy == "gold"
        reports = svc.audit()
        assert reports["gold"]["ok"] == 1 and reports["Policy-0"]["ok"] == 1
    finally:
        runtime.close()
