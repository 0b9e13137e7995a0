"""``VolumeService``: the volume service's one interface (``runtime.service("volume")``).

The HTTP layer and other services call it; it is composed of one object per resource
(``volumes``, ``snapshots``, ``attachments``, ``types``) over shared parts (quotas,
scheduler, backend calls, background tasks). Compute uses the attach handshake methods
below (see ``overcast.volume.attachments`` for the sequence).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeAttachment, VolumeSnapshot
from overcast.types import ConnectionInfo, Connector
from overcast.volume.attachments import Attachments
from overcast.volume.backends import BackendCalls
from overcast.volume.backups import Backups
from overcast.volume.images import ImageClient
from overcast.volume.parts import Parts
from overcast.volume.groups import Groups, GroupTypes
from overcast.volume.qos import QosSpecs
from overcast.volume.quotas import Quotas
from overcast.volume.migration import VolumeMigration
from overcast.volume.revert import Revert
from overcast.volume.scheduler import VolumeScheduler
from overcast.volume.snapshots import Snapshots
from overcast.volume.state import transition
from overcast.volume.tasks import TaskRunner
from overcast.volume.transfers import Transfers
from overcast.volume.volume_types import VolumeTypes
from overcast.volume.volumes import Volumes

log = logging.getLogger(__name__)


class VolumeService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        cfg = runtime.config.volume
        backends = BackendCalls(runtime)
        self.parts = Parts(
            runtime=runtime,
            backends=backends,
            scheduler=VolumeScheduler(backends),
            quotas=Quotas(
                {
                    "volumes": cfg.quota_volumes,
                    "gigabytes": cfg.quota_gigabytes,
                    "snapshots": cfg.quota_snapshots,
                    "backups": cfg.quota_backups,
                    "backup_gigabytes": cfg.quota_backup_gigabytes,
                }
            ),
            tasks=TaskRunner(cfg.workers),
            types=VolumeTypes(),
            images=ImageClient(runtime),
            work_dir=runtime.config.resolve_path(cfg.work_dir, "volume-work"),
        )
        self.backends = backends
        self.quotas = self.parts.quotas
        self.tasks = self.parts.tasks
        self.types = self.parts.types
        self.qos = QosSpecs(self.types)  # issues 16 and 18
        self.volumes = Volumes(self.parts)
        self.snapshots = Snapshots(self.parts)
        self.group_types = GroupTypes()  # issues 16 and 18
        self.groups = Groups(self.parts, self.group_types, self.volumes, self.snapshots)
        self.attachments = Attachments(self.parts)
        self.backups = Backups(self.parts)  # issue 18
        self.revert = Revert(self.parts)  # issue 18
        self.transfers = Transfers(self.parts)  # issue 18
        self.migration = VolumeMigration(self.parts)  # issue 18

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Initialise every backend and reconcile work a restart interrupted; with API
        workers, drive the in-process backends for them (:data:`LOCAL_BACKENDS_TOPIC`)."""
        if self.runtime.config.api.workers > 1:
            from overcast.agent.volume import VolumeAgent
            from overcast.volume.backends import LOCAL_BACKENDS_TOPIC

            self.runtime.bus.serve(LOCAL_BACKENDS_TOPIC, VolumeAgent(self.runtime, "controller"))
        self.backends.ensure_records()
        for name in self.backends.names():
            self.backends.refresh(name, init=True)
        self.reconcile()

    def reconcile(self) -> None:
        """Nothing stays in a transitional state across a restart: unfinished creates and
        extends become errors (with the reason), unfinished deletes are resumed, and
        attach/detach/upload steps fall back to the state their attachments show."""
        self.migration.reconcile()  # first: a move's target is made "creating", and goes
        resume_volumes: list[str] = []
        resume_snapshots: list[str] = []
        with self.runtime.db.session() as s:
            for vol in s.execute(
                select(Volume).where(
                    Volume.status.in_(
                        [
                            "creating",
                            "extending",
                            "deleting",
                            "attaching",
                            "reserved",
                            "detaching",
                            "uploading",
                            "downloading",
                        ]
                    )
                )
            ).scalars():
                if vol.status in ("creating", "downloading"):
                    transition(
                        s, Volume, vol.id, [vol.status], "error", error="interrupted by a restart while creating"
                    )
                elif vol.status == "extending":
                    transition(
                        s,
                        Volume,
                        vol.id,
                        ["extending"],
                        "error_extending",
                        error="interrupted by a restart while extending",
                    )
                elif vol.status == "deleting":
                    resume_volumes.append(vol.id)
                elif vol.status == "uploading":
                    transition(s, Volume, vol.id, ["uploading"], vol.previous_status or "available")
                else:
                    attached = s.execute(
                        select(VolumeAttachment.id).where(
                            VolumeAttachment.volume_id == vol.id, VolumeAttachment.attach_status == "attached"
                        )
                    ).first()
                    transition(s, Volume, vol.id, [vol.status], "in-use" if attached else "available")
            for snap in s.execute(
                select(VolumeSnapshot).where(VolumeSnapshot.status.in_(["creating", "deleting"]))
            ).scalars():
                if snap.status == "creating":
                    transition(s, VolumeSnapshot, snap.id, ["creating"], "error", error="interrupted by a restart")
                else:
                    resume_snapshots.append(snap.id)
        self.backups.reconcile()
        with self.runtime.db.session() as s:  # a revert a restart interrupted (issue 18)
            for vol in s.execute(select(Volume).where(Volume.status == "reverting")).scalars():
                transition(s, Volume, vol.id, ["reverting"], "error", error="interrupted by a restart while reverting")
            for snap in s.execute(select(VolumeSnapshot).where(VolumeSnapshot.status == "restoring")).scalars():
                transition(s, VolumeSnapshot, snap.id, ["restoring"], "available")
        for vid in resume_volumes:
            self.tasks.submit(f"resume delete of volume {vid}", self.volumes._delete, vid)
        for sid in resume_snapshots:
            self.tasks.submit(f"resume delete of snapshot {sid}", self.snapshots._delete, sid)

    def close(self) -> None:
        self.tasks.close()

    # --- the attach handshake, for compute (overcast.compute.volumes) ---------------------------

    def reserve_attach(self, ctx: RequestContext, volume_id: str, instance_uuid: str) -> str:
        """Claim the volume for a server; returns the attachment id."""
        return self.attachments.reserve(ctx, volume_id, instance_uuid).id

    def initialize_connection(
        self, ctx: RequestContext, volume_id: str, connector: Connector, instance_uuid: str | None = None
    ) -> ConnectionInfo:
        return self.attachments.initialize_connection(ctx, volume_id, connector, instance_uuid=instance_uuid)

    def complete_attach(
        self, ctx: RequestContext, volume_id: str, instance_uuid: str, mountpoint: str, host: str
    ) -> None:
        self.attachments.attach(ctx, volume_id, instance_uuid=instance_uuid, mountpoint=mountpoint, host=host)

    def unreserve(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None = None) -> None:
        """Undo a reservation whose attach failed (the pending one, or that server's)."""
        self.attachments.unreserve(ctx, volume_id, instance_uuid=instance_uuid)

    def begin_detach(self, ctx: RequestContext, volume_id: str, instance_uuid: str) -> None:
        self.attachments.begin_detaching(ctx, volume_id, instance_uuid=instance_uuid)

    def roll_detaching(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None = None) -> None:
        self.attachments.roll_detaching(ctx, volume_id, instance_uuid=instance_uuid)

    def terminate_connection(self, ctx: RequestContext, volume_id: str, connector: Connector) -> None:
        """Unexport from ``connector``'s host unless another attachment there still uses it."""
        self.attachments.terminate_connection(ctx, volume_id, connector)

    def complete_detach(self, ctx: RequestContext, volume_id: str, instance_uuid: str) -> None:
        self.attachments.detach(ctx, volume_id, instance_uuid=instance_uuid)

    def get_volume(self, ctx: RequestContext, volume_id: str) -> Volume:
        """A volume the caller can see (404 otherwise)."""
        return self.volumes.get(ctx, volume_id)

    # --- volumes compute makes for a server's block device mappings (boot from volume) ---------

    def create_volume(
        self,
        ctx: RequestContext,
        size: int | None,
        *,
        image_id: str | None = None,
        snapshot_id: str | None = None,
        volume_type: str | None = None,
        name: str = "",
    ) -> Volume:
        """A new volume (blank, from an image or from a snapshot), ``creating`` until built."""
        return self.volumes.create(
            ctx, size=size, name=name, image_id=image_id, snapshot_id=snapshot_id, volume_type=volume_type
        )

    def get_snapshot(self, ctx: RequestContext, snapshot_id: str) -> VolumeSnapshot:
        """A snapshot the caller can see (404 otherwise)."""
        return self.snapshots.get(ctx, snapshot_id)

    def delete_volume(self, ctx: RequestContext, volume_id: str) -> None:
        """Delete a volume (a server's ``delete_on_termination`` volume once detached)."""
        self.volumes.delete(ctx, volume_id)

    def attachment_of(self, ctx: RequestContext, volume_id: str, instance_uuid: str) -> VolumeAttachment | None:
        rows = self.attachments.list(ctx, all_projects=True, volume_id=volume_id, instance_id=instance_uuid)
        return rows[0] if rows else None
