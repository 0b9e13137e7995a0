"""The pieces every volume resource module shares, and small helpers between rows and
contract values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeSnapshot
from overcast.errors import BadRequest, NotFound
from overcast.types import SnapshotRef, VolumeRef
from overcast.volume.backends import BackendCalls
from overcast.volume.images import ImageClient
from overcast.volume.messages import Messages
from overcast.volume.quotas import Quotas
from overcast.volume.scheduler import VolumeScheduler
from overcast.volume.tasks import TaskRunner
from overcast.volume.volume_types import VolumeTypes

MAX_SIZE_GB = 16 * 1024
MAX_NAME = 255


@dataclass
class Parts:
    runtime: Any
    backends: BackendCalls
    scheduler: VolumeScheduler
    quotas: Quotas
    tasks: TaskRunner
    types: VolumeTypes
    images: ImageClient
    work_dir: Path
    messages: Messages = field(default_factory=Messages)  # user messages (issues 16 and 18)

    @property
    def db(self) -> Any:
        return self.runtime.db


def volume_ref(row: Volume) -> VolumeRef:
    return VolumeRef(
        id=row.id,
        name=row.name or "",
        size_gb=row.size,
        project_id=row.project_id,
        location=row.location or "",
        multiattach=row.multiattach,
        metadata=dict(row.metadata_ or {}),
    )


def snapshot_ref(row: VolumeSnapshot, volume: Volume) -> SnapshotRef:
    return SnapshotRef(id=row.id, volume=volume_ref(volume), name=row.name or "", location=row.location or "")


def find_volume(session: Any, ctx: RequestContext, volume_id: str, for_update: bool = False) -> Volume:
    """The caller's volume (any project's for admins), else Cinder's 404."""
    row = session.get(Volume, volume_id, with_for_update=for_update) if _is_uuidish(volume_id) else None
    if row is None or not ctx.can_see(row.project_id):
        raise NotFound(f"Volume {volume_id} could not be found.", code="VolumeNotFound")
    return row


def find_snapshot(session: Any, ctx: RequestContext, snapshot_id: str) -> VolumeSnapshot:
    row = session.get(VolumeSnapshot, snapshot_id) if _is_uuidish(snapshot_id) else None
    if row is None or not ctx.can_see(row.project_id):
        raise NotFound(f"Snapshot {snapshot_id} could not be found.", code="SnapshotNotFound")
    return row


def _is_uuidish(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 36


def check_size(value: Any, what: str = "size") -> int:
    """A positive whole number of GiB (Cinder also takes numeric strings)."""
    if isinstance(value, bool):
        raise BadRequest(f"Invalid input received: {what} must be an integer and greater than 0, got {value!r}.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 1 or value > MAX_SIZE_GB:
        raise BadRequest(
            f"Invalid input received: {what} must be an integer between 1 and {MAX_SIZE_GB}, got {value!r}."
        )
    return value


def check_ref(value: Any, what: str) -> str | None:
    """An id or name naming another resource (a type, a snapshot, a server): a string or
    nothing; anything else (an object, a list) is a 400, never a query parameter."""
    if value is None or isinstance(value, str):
        return value
    raise BadRequest(f"Invalid input received: {what} must be a string, got {value!r}.")


def check_text(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise BadRequest(f"Invalid input received: {what} must be a string of at most {MAX_NAME} characters.")
    return value


def apply_descriptive_changes(row: Any, changes: Mapping[str, Any]) -> None:
    """Set the ``name``, ``description`` and ``metadata`` that ``changes`` carries on a volume or
    snapshot row, each checked first (what a PUT on either may change)."""
    if "name" in changes:
        row.name = check_text(changes["name"], "name")
    if "description" in changes:
        row.description = check_text(changes["description"], "description")
    if "metadata" in changes:
        row.metadata_ = check_metadata(changes["metadata"])


def merge_metadata(row: Any, items: Any, replace: bool) -> dict[str, str]:
    """Set a volume's or snapshot's metadata (``replace``) or merge ``items`` into it; the result."""
    new = check_metadata(items)
    row.metadata_ = new if replace else {**(row.metadata_ or {}), **new}
    return dict(row.metadata_)


def drop_metadata_key(row: Any, key: str, what: str) -> None:
    from overcast.errors import NotFound

    meta = dict(row.metadata_ or {})
    if key not in meta:
        raise NotFound(f"{what} {row.id} has no metadata with key {key}.")
    del meta[key]
    row.metadata_ = meta


def check_metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest("Invalid input received: metadata must be an object of strings.")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 255 or not isinstance(item, str) or len(item) > 255:
            raise BadRequest("Invalid input received: metadata keys and values must be strings of 1-255 characters.")
        out[key] = item
    return out
