"""Converting compute rows to contract values, and scoped lookups shared by the managers."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from overcast.context import RequestContext
from overcast.db.models.compute import FlavorRecord, InstanceRecord
from overcast.errors import DriverError, NotFound
from overcast.db.values import store
from overcast.types import Flavor, Host, ImageRef, Instance


def configured_host(runtime: object, name: str) -> Host:
    """The controller's ``[hosts.NAME]`` record of host ``name``: the ``host`` argument of a
    hypervisor operation, which picks the agent that runs it (the record itself stays here)."""
    hosts: dict[str, Host] = runtime.drivers.hosts  # type: ignore[attr-defined]
    try:
        return hosts[name]
    except KeyError:
        raise DriverError(f"host {name} is not configured") from None


def instance_of(rec: InstanceRecord) -> Instance:
    """The contract ``Instance`` a driver gets for this row."""
    return Instance(
        uuid=rec.uuid,
        name=rec.hv_name,
        display_name=rec.name,
        project_id=rec.project_id,
        flavor=flavor_snapshot(rec),
        image=image_snapshot(rec),
        metadata=dict(rec.metadata_ or {}),
        user_data=rec.user_data,
        key_data=rec.key_data,
        host=rec.host or "",
        config_drive=bool(rec.config_drive),
        config_drive_files=dict(rec.config_drive_files or {}),
    )


def flavor_snapshot(rec: InstanceRecord) -> Flavor:
    return flavor_from(rec.flavor)


def flavor_from(data: dict) -> Flavor:
    """A ``Flavor`` from its stored form (``store``, or ``to_dict`` before it)."""
    return _plain(Flavor, data)


def image_snapshot(rec: InstanceRecord) -> ImageRef | None:
    return _plain(ImageRef, rec.image) if rec.image else None


def _plain(cls, data: dict):
    """``from_dict`` for dataclasses without nested contract types (Flavor, ImageRef): the
    same result without resolving type hints on every call (this runs on every task)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    return cls(**{k: v for k, v in data.items() if k in names})


_FIELDS: dict[type, frozenset[str]] = {}


def flavor_of(rec: FlavorRecord, extra_specs: dict[str, str]) -> Flavor:
    return Flavor(
        id=rec.id,
        name=rec.name,
        vcpus=rec.vcpus,
        memory_mb=rec.memory_mb,
        root_gb=rec.root_gb,
        ephemeral_gb=rec.ephemeral_gb,
        swap_mb=rec.swap_mb,
        extra_specs=extra_specs,
    )


def encode(value) -> dict:
    return store(value)


def get_instance(session, ctx: RequestContext, uuid: str, include_deleted: bool = False) -> InstanceRecord:
    """The caller's server ``uuid`` (any project's for admins), or 404."""
    rec = session.get(InstanceRecord, uuid) if _looks_like_uuid(uuid) else None
    if rec is None or (rec.deleted and not include_deleted) or not ctx.can_see(rec.project_id):
        raise NotFound(f"Instance {uuid} could not be found.")
    return rec


def _looks_like_uuid(value: str) -> bool:
    return isinstance(value, str) and len(value) == 36 and value.count("-") == 4


def lock_instance(session, uuid: str) -> InstanceRecord | None:
    """Re-read a server row inside ``session`` (FOR UPDATE on PostgreSQL)."""
    stmt = select(InstanceRecord).where(InstanceRecord.uuid == uuid)
    if session.bind.dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()
