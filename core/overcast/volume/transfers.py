"""Volume transfers between projects (Cinder's ``os-volume-transfer``; issue 18).

The owner offers an ``available`` volume: it becomes ``awaiting-transfer`` and the answer
carries a random auth key, shown once (only a salted hash is kept). Another project accepts
with the transfer's id and that key: the volume (and its snapshots, unless the transfer
said ``no_snapshots``) changes owner, with the quota moved from one project to the other in
the same transaction, and is ``available`` again. A wrong key is Cinder's 400 and changes
nothing. Deleting the transfer gives the volume back to its owner.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import delete, select

from overcast.context import RequestContext
from overcast.db.models.volume import Volume, VolumeSnapshot
from overcast.db.models.volume_transfers import VolumeTransfer
from overcast.errors import BadRequest, NotFound
from overcast.volume.parts import Parts, check_ref, check_text, find_volume
from overcast.volume.state import transition

KEY_LENGTH = 16  # Cinder's default auth key length (hex characters)


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


def find_transfer(session: Any, ctx: RequestContext, transfer_id: str, any_project: bool = False) -> VolumeTransfer:
    """The caller's transfer (any for admins; any project's for ``accept``, which needs the key)."""
    row = session.get(VolumeTransfer, transfer_id) if isinstance(transfer_id, str) and len(transfer_id) <= 36 else None
    if row is None or not (any_project or ctx.can_see(row.source_project_id)):
        raise NotFound(f"Transfer {transfer_id} could not be found.", code="TransferNotFound")
    return row


class Transfers:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    def create(
        self, ctx: RequestContext, volume_id: Any, name: Any = None, no_snapshots: bool = False
    ) -> tuple[VolumeTransfer, str]:
        """The new transfer and its auth key (shown only now)."""
        volume_id = check_ref(volume_id, "volume_id") or ""
        name = check_text(name, "name")
        key = secrets.token_hex(KEY_LENGTH // 2)
        salt = secrets.token_hex(8)
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            if vol.status != "available":
                raise BadRequest("Invalid volume: status must be available")
            if not transition(s, Volume, vol.id, ["available"], "awaiting-transfer"):
                raise BadRequest("Invalid volume: status must be available")
            row = VolumeTransfer(
                id=str(uuid.uuid4()),
                volume_id=vol.id,
                name=name,
                salt=salt,
                crypt_hash=_hash(salt, key),
                source_project_id=vol.project_id,
                no_snapshots=bool(no_snapshots),
            )
            s.add(row)
        return row, key

    def list(self, ctx: RequestContext, all_projects: bool = False) -> builtins.list[VolumeTransfer]:
        with self.p.db.session() as s:
            stmt = ctx.filter(select(VolumeTransfer), VolumeTransfer.source_project_id, all_projects=all_projects)
            return builtins.list(s.scalars(stmt.order_by(VolumeTransfer.created_at.desc(), VolumeTransfer.id)))

    def get(self, ctx: RequestContext, transfer_id: str) -> VolumeTransfer:
        with self.p.db.session() as s:
            return find_transfer(s, ctx, transfer_id)

    def delete(self, ctx: RequestContext, transfer_id: str) -> None:
        with self.p.db.session() as s:
            row = find_transfer(s, ctx, transfer_id)
            transition(s, Volume, row.volume_id, ["awaiting-transfer"], "available")
            s.execute(delete(VolumeTransfer).where(VolumeTransfer.id == row.id))

    def accept(self, ctx: RequestContext, transfer_id: str, auth_key: Any) -> VolumeTransfer:
        if not isinstance(auth_key, str) or not auth_key:
            raise BadRequest("Invalid input received: auth_key is required.")
        with self.p.db.session() as s:
            row = find_transfer(s, ctx, transfer_id, any_project=True)
            if not hmac.compare_digest(row.crypt_hash, _hash(row.salt, auth_key)):
                raise BadRequest(f"Invalid auth key: Attempt to transfer {row.id} with invalid auth key.")
            vol = s.get(Volume, row.volume_id)
            if vol is None or vol.status != "awaiting-transfer":
                raise BadRequest("Invalid volume: status must be awaiting-transfer")
            dest = ctx.project_id or ""
            snaps = (
                []
                if row.no_snapshots
                else builtins.list(s.scalars(select(VolumeSnapshot).where(VolumeSnapshot.volume_id == vol.id)))
            )
            gigabytes = vol.size + sum(x.size for x in snaps)
            if dest != vol.project_id:  # the destination's quota, checked and taken with the move
                self.p.quotas.consume(s, dest, {"volumes": 1, "gigabytes": gigabytes, "snapshots": len(snaps)})
                self.p.quotas.release(
                    s, vol.project_id, {"volumes": 1, "gigabytes": gigabytes, "snapshots": len(snaps)}
                )
            if not transition(
                s, Volume, vol.id, ["awaiting-transfer"], "available", project_id=dest, user_id=ctx.user_id
            ):
                raise BadRequest("Invalid volume: status must be awaiting-transfer")
            for snap in snaps:
                snap.project_id, snap.user_id = dest, ctx.user_id
            accepted = VolumeTransfer(id=row.id, volume_id=row.volume_id, name=row.name, salt="", crypt_hash="")
            accepted.source_project_id = row.source_project_id
            s.execute(delete(VolumeTransfer).where(VolumeTransfer.id == row.id))
        return accepted
