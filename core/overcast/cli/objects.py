"""``overcast objects ...``: operator commands of the object store."""

from __future__ import annotations

import json
import sys

import click

from overcast.cli.output import config_option, emit, json_option
from overcast.config import load_config


@click.group("objects")
def objects_group() -> None:
    """The Swift-compatible object store."""


@objects_group.command("audit")
@config_option
@json_option
@click.option("--policy", default=None, help="Audit one storage policy only (default: all).")
def objects_audit(config_path: str | None, as_json: bool, policy: str | None) -> None:
    """Re-check every object's checksum and each listing against the data; quarantine
    corrupt objects, drop listing entries whose data is gone, remove orphaned files.
    Exits 1 if anything was corrupt or missing."""
    from overcast.runtime import build_runtime

    runtime = build_runtime(load_config(config_path))
    try:
        reports = runtime.objectstore.audit(policy)
    finally:
        runtime.close()
    rows = [
        {"policy": name, **{k: v for k, v in report.items() if k != "problems"}} for name, report in reports.items()
    ]
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    else:
        columns = [
            "policy",
            "containers",
            "objects",
            "ok",
            "corrupt",
            "missing",
            "orphans_removed",
            "orphans_recent",
            "bytes_checked",
        ]
        emit(rows, columns, False, title="Object audit")
        for name, report in reports.items():
            for problem in report.get("problems", []):
                click.echo(f"{name}: {problem}")
    if any(r.get("corrupt") or r.get("missing") for r in reports.values()):
        sys.exit(1)


COMMANDS = [objects_group]
