"""Operator commands of the core: plugins, drivers, hosts, config and database."""

from __future__ import annotations

from datetime import timedelta

import click
from sqlalchemy import select

from overcast.cli.output import config_option, emit, json_option
from overcast.config import IdentitySection, load_config, resolve_drivers
from overcast.db import Database, upgrade
from overcast.db.migrate import head_revision
from overcast.plugins import process_plugin_manager
from overcast.types import DriverKind


@click.group("plugins")
def plugins_group() -> None:
    """Installed plugins."""


@plugins_group.command("list")
@json_option
def plugins_list(as_json: bool) -> None:
    """Every plugin entry point: name, version, drivers, status and error."""
    pm = process_plugin_manager(strict=False)
    rows = [
        {
            "name": r.name,
            "package": r.distribution,
            "version": r.version,
            "drivers": [f"{k.value}:{n}" for k, n in r.drivers],
            "status": r.status,
            "error": r.error,
        }
        for r in pm.records.values()
    ]
    emit(rows, ["name", "package", "version", "drivers", "status", "error"], as_json, title="Plugins")


@click.group("drivers")
def drivers_group() -> None:
    """Drivers the installed plugins provide."""


@drivers_group.command("list")
@json_option
def drivers_list(as_json: bool) -> None:
    """Every driver: kind, name, package and the operations it implements."""
    pm = process_plugin_manager()
    rows = []
    for info in pm.registry:
        prefix = info.kind.hook_prefix
        ops = sorted(h[len(prefix) :] for h in pm.implemented_hooks(info))
        rows.append({"kind": info.kind.value, "name": info.name, "package": info.package, "operations": ops})
    emit(rows, ["kind", "name", "package", "operations"], as_json, title="Drivers")


@click.group("hosts")
def hosts_group() -> None:
    """Compute hosts."""


@hosts_group.command("list")
@config_option
@json_option
def hosts_list(config_path: str | None, as_json: bool) -> None:
    """Each configured host: driver, state and resources."""
    from overcast.db.models.base import utcnow
    from overcast.db.models.hosts import HostRecord

    config = load_config(config_path)
    db = Database(config.database_url)
    with db.session() as s:
        records = {r.name: r for r in s.scalars(select(HostRecord))}
    down_after = timedelta(seconds=config.bus.host_down_after)
    now = utcnow()
    rows = []
    for name in sorted(set(config.hosts) | set(records)):
        rec = records.get(name)
        table = config.hosts.get(name)
        if rec is None:
            state = "unregistered"
        elif rec.error:
            state = "error"
        elif rec.last_heartbeat and now - rec.last_heartbeat <= down_after:
            state = "up"
        else:
            state = "down"
        rows.append(
            {
                "name": name,
                "driver": rec.driver if rec else (table.driver if table else ""),
                "zone": rec.availability_zone if rec else (table.availability_zone if table else ""),
                "state": state,
                "enabled": rec.enabled if rec else None,
                "vcpus": f"{rec.vcpus_used}/{rec.vcpus}" if rec else "",
                "memory_mb": f"{rec.memory_mb_used}/{rec.memory_mb}" if rec else "",
                "disk_gb": f"{rec.local_gb_used}/{rec.local_gb}" if rec else "",
                "instances": rec.running_vms if rec else 0,
                "error": rec.error if rec else "",
            }
        )
    emit(
        rows,
        ["name", "driver", "zone", "state", "enabled", "vcpus", "memory_mb", "disk_gb", "instances", "error"],
        as_json,
        title="Hosts",
    )


@click.group("config")
def config_group() -> None:
    """The config file."""


@config_group.command("check")
@config_option
@click.option(
    "--role",
    type=click.Choice(["all", "controller", "agent"]),
    default="all",
    show_default=True,
    help="Check what this process role loads: all (every driver), controller (no host drivers), "
    "agent (with --host: that host's drivers).",
)
@click.option("--host", default=None, help="With --role agent: the host whose agent runs here.")
def config_check(config_path: str | None, role: str, host: str | None) -> None:
    """Validate the config file and the driver tables a process of ROLE loads against the installed plugins."""
    config = load_config(config_path)
    pm = process_plugin_manager()
    resolved = resolve_drivers(config, pm, role=role, host=host)
    click.echo(f"{config.path}: ok")
    from overcast.tls import cleartext_warnings

    for warning in cleartext_warnings(config):
        click.echo(f"warning: {warning}", err=True)
    for name, host_def in resolved.hosts.items():
        click.echo(f"  host {name}: {DriverKind.HYPERVISOR.value} driver '{host_def.driver}'")
    for name, volume_backend in resolved.volume_backends.items():
        click.echo(f"  volume backend {name}: driver '{volume_backend.driver}'")
    for backend in (resolved.image_store, resolved.object_store, resolved.network):
        if backend is not None:
            click.echo(f"  {backend.name}: driver '{backend.driver}'")
    for line in identity_limits(config.identity):
        click.echo(f"  identity {line}")


def identity_limits(section: IdentitySection) -> list[str]:
    """What ``[identity]`` allows failed logins and new passwords, in words."""
    lockout = (
        f"locked for {section.lockout_duration} s after {section.lockout_failure_attempts} failed password logins in a row"
        if section.lockout_failure_attempts
        else "no lockout after failed logins"
    )
    backoff = f"backoff from {section.login_backoff} s after the second" if section.login_backoff else "no backoff"
    source = (
        f"{section.source_failure_limit} failed logins per {section.source_failure_window} s from one address"
        if section.source_failure_limit
        else "no per-address limit"
    )
    rules = [f"at least {section.password_min_length} characters" if section.password_min_length else "any length"]
    if section.password_regex:
        rules.append(
            f"matching {section.password_regex}"
            + (f" ({section.password_regex_description})" if section.password_regex_description else "")
        )
    return [f"logins: {lockout}; {backoff}; {source}", f"passwords: {', '.join(rules)}"]


@click.group("db")
def db_group() -> None:
    """The database."""


@db_group.command("upgrade")
@config_option
def db_upgrade(config_path: str | None) -> None:
    """Migrate the database to the newest schema."""
    config = load_config(config_path)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(config.database_url)
    revision = upgrade(db)
    click.echo(f"database at revision {revision} (head {head_revision(db)})")


COMMANDS = [plugins_group, drivers_group, hosts_group, config_group, db_group]
