"""``overcast objects audit`` over a real fs backend."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from overcast.cli.objects import objects_group
from overcast.config import load_config
from overcast.context import system_context
from overcast.runtime import build_runtime


def test_audit_reports_and_quarantines_corruption(tmp_path: Path) -> None:
    config_file = tmp_path / "overcast.toml"
    config_file.write_text(f'data_dir = "{tmp_path}"\n[object_store]\ndriver = "fs"\npath = "{tmp_path / "objects"}"\n')
    runtime = build_runtime(load_config(config_file))
    ctx = system_context()  # an admin: the service lets it act on any account
    svc = runtime.objectstore
    svc.put_container(ctx, "p1", "c", {})
    for name in ("a", "b", "c"):
        svc.put_object(ctx, "p1", "c", name, {}, [name.encode() * 10], 10, {})
    runtime.close()

    result = CliRunner().invoke(objects_group, ["audit", "--config", str(config_file), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["Policy-0"]
    assert report["objects"] == 3 and report["ok"] == 3

    victim = next((tmp_path / "objects" / "data").rglob("*.data"))
    victim.write_bytes(b"X" * 10)
    result = CliRunner().invoke(objects_group, ["audit", "--config", str(config_file)])
    assert result.exit_code == 1
    assert "checksum mismatch; quarantined" in result.output
    result = CliRunner().invoke(objects_group, ["audit", "--config", str(config_file), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["Policy-0"]["ok"] == 2
