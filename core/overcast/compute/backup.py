"""Nova's ``createBackup`` server action (issue 18): a snapshot image of the server with
``image_type=backup``, its ``backup_type`` and the server's ``instance_uuid``; once it is
uploaded, the server's backups of that type beyond ``rotation`` are deleted, oldest first (as
Nova's ``_rotate_backups``: ``rotation`` 0 keeps none). A volume-backed server is Nova's 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overcast.compute import states as st
from overcast.compute.peers import create_snapshot_image, discard_image, require
from overcast.context import RequestContext
from overcast.errors import BadRequest

BACKUP_STATES = (st.ACTIVE, st.STOPPED, st.PAUSED, st.SUSPENDED)
FIELDS = frozenset({"name", "backup_type", "rotation", "metadata"})


@dataclass(frozen=True)
class BackupRequest:
    name: str
    backup_type: str
    rotation: int
    metadata: dict[str, str]


def parse(args: Any) -> BackupRequest:
    """The ``createBackup`` body, validated as Nova's schema does."""
    if not isinstance(args, dict):
        raise BadRequest(
            f"Invalid input for field/attribute createBackup. Value: {args!r}. {args!r} is not of type 'object'"
        )
    for key in ("name", "backup_type", "rotation"):
        if key not in args:
            raise BadRequest(
                f"Invalid input for field/attribute createBackup. Value: {args!r}. '{key}' is a required property"
            )
    unknown = sorted(set(args) - FIELDS)
    if unknown:
        raise BadRequest(
            f"Additional properties are not allowed ({', '.join(repr(k) for k in unknown)} were unexpected)"
        )
    name, backup_type, rotation = args["name"], args["backup_type"], args["rotation"]
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise BadRequest(f"Invalid input for field/attribute name. Value: {name!r}.")
    if not isinstance(backup_type, str):
        raise BadRequest(f"Invalid input for field/attribute backup_type. Value: {backup_type!r}.")
    if isinstance(rotation, bool) or not (
        isinstance(rotation, int) or (isinstance(rotation, str) and rotation.isdigit())
    ):
        raise BadRequest(f"Invalid input for field/attribute rotation. Value: {rotation!r}.")
    if int(rotation) < 0:
        raise BadRequest(
            f"Invalid input for field/attribute rotation. Value: {rotation}. {rotation} is less than the minimum of 0"
        )
    metadata = args.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest("Invalid input for field/attribute metadata.")
    return BackupRequest(name.strip(), backup_type, int(rotation), {str(k): str(v) for k, v in metadata.items()})


class Backups:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime

    def create(self, ctx: RequestContext, uuid: str, args: Any) -> tuple[str, int]:
        """Start a backup of ``uuid``; ``(image id, rotation)``."""
        req = parse(args)
        require(self.runtime, "image", "images_with_properties", "Backing up a server")
        self.svc.get_server(ctx, uuid)  # 404 first
        if self.svc.boot_volumes.root_image(uuid)[0]:
            raise BadRequest("Backup is not supported for volume-backed instances.")
        rec = self.svc.transitions.begin(ctx, uuid, "createBackup", BACKUP_STATES, st.IMAGE_BACKUP)
        try:
            properties = {
                **dict((rec.image or {}).get("properties") or {}),
                **req.metadata,
                "instance_uuid": uuid,
                "image_type": "backup",
                "backup_type": req.backup_type,
                "base_image_ref": rec.image_ref,
            }
            image_id = create_snapshot_image(self.runtime, ctx, req.name, properties)
        except Exception:
            self.svc.transitions.finish(uuid, task_state=None)
            raise
        self.svc.runner.submit(f"backup {uuid}", self.run, uuid, image_id, req)
        return image_id, req.rotation

    def run(self, uuid: str, image_id: str, req: BackupRequest) -> None:
        if self.svc.tasks.snapshot(uuid, image_id, req.name, backup=True):
            self.rotate(uuid, req.backup_type, req.rotation)

    def rotate(self, uuid: str, backup_type: str, rotation: int) -> list[str]:
        """Delete the oldest of the server's ``backup_type`` backups beyond ``rotation``; their ids."""
        images = require(self.runtime, "image", "images_with_properties", "Rotating a server's backups")
        backups = images.images_with_properties(
            {"image_type": "backup", "backup_type": backup_type, "instance_uuid": uuid}
        )
        excess = backups[: max(0, len(backups) - rotation)]
        for image_id in excess:
            discard_image(self.runtime, image_id)
        return excess
