"""Reverting a volume to its latest snapshot (Cinder 3.40, ``revert`` action; issue 18).

Checked as Cinder does before anything changes: the snapshot must be the volume's latest,
of the volume's size, both available. The volume is ``reverting`` and the snapshot
``restoring`` while the driver's ``vol_revert_to_snapshot`` runs; a failure leaves the
volume in ``error`` with the reason (Cinder's outcome) and the snapshot available.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeSnapshot
from overcast.errors import BadRequest, OvercastError
from overcast.volume.parts import Parts, check_ref, find_volume, snapshot_ref, volume_ref
from overcast.volume.state import transition

log = logging.getLogger(__name__)


class Revert:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    def revert(self, ctx: RequestContext, volume_id: str, snapshot_id: object) -> None:
        snapshot_id = check_ref(snapshot_id, "snapshot_id")
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            latest = s.execute(
                select(VolumeSnapshot)
                .where(VolumeSnapshot.volume_id == vol.id)
                .order_by(VolumeSnapshot.created_at.desc(), VolumeSnapshot.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if latest is None:
                raise BadRequest(f"Volume {vol.id} doesn't have any snapshots.")
            if snapshot_id != latest.id:
                raise BadRequest(f"Specified snapshot {snapshot_id} is not the latest one of volume {vol.id}.")
            if vol.size != latest.size:
                raise BadRequest(
                    f"Can't revert volume {vol.id} to its latest snapshot {latest.id}. "
                    "The volume size must be equal to the snapshot size."
                )
            if vol.backend and not self.p.backends.supports(vol.backend, "revert_to_snapshot"):
                raise BadRequest(
                    f"Invalid volume: backend {vol.backend} of volume {vol.id} cannot revert to a snapshot."
                )
            if vol.status != "available":
                raise BadRequest(
                    f"Invalid volume: Volume {vol.id} status must be available, but current status is: {vol.status}."
                )
            if latest.status != "available":
                raise BadRequest(
                    f"Invalid snapshot: Snapshot {latest.id} status must be available, "
                    f"but current status is: {latest.status}."
                )
            if not transition(s, Volume, vol.id, ["available"], "reverting"):
                raise BadRequest(f"Invalid volume: Volume {vol.id} status must be available.")
            if not transition(s, VolumeSnapshot, latest.id, ["available"], "restoring"):
                transition(s, Volume, vol.id, ["reverting"], "available")
                raise BadRequest(f"Invalid snapshot: Snapshot {latest.id} status must be available.")
        self.p.tasks.submit(f"revert volume {volume_id}", self._revert, volume_id, latest.id)

    def _revert(self, volume_id: str, snapshot_id: str) -> None:
        with self.p.db.session() as s:
            vol = s.get(Volume, volume_id)
            snap = s.get(VolumeSnapshot, snapshot_id)
            ref, sref, backend = volume_ref(vol), snapshot_ref(snap, vol), vol.backend
        try:
            self.p.backends.on(backend).revert_to_snapshot(backend, volume=ref, snapshot=sref)
        except Exception as exc:  # noqa: BLE001 - recorded on the volume
            log.warning("reverting volume %s to snapshot %s failed: %s", volume_id, snapshot_id, exc)
            text = str(exc) if isinstance(exc, OvercastError) else f"{type(exc).__name__}: {exc}"
            with self.p.db.session() as s:
                transition(s, Volume, volume_id, ["reverting"], "error", error=text)
                transition(s, VolumeSnapshot, snapshot_id, ["restoring"], "available")
            return
        with self.p.db.session() as s:
            transition(s, Volume, volume_id, ["reverting"], "available")
            transition(s, VolumeSnapshot, snapshot_id, ["restoring"], "available")
