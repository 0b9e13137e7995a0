"""Attaching volumes to servers: the handshake compute drives, and Cinder's attachments API.

Compute's side (``overcast.compute``) runs, for ``server add volume``::

    volume.reserve_attach(ctx, volume_id, instance_uuid)             # volume: attaching
    connector = hv_get_volume_connector(host)
    info = volume.initialize_connection(ctx, volume_id, connector)
    hv_attach_volume(host, instance, info, mountpoint)
    volume.complete_attach(ctx, volume_id, instance_uuid, mountpoint, host.name)  # in-use
    # on failure: volume.unreserve(ctx, volume_id)

and for ``server remove volume``: ``begin_detach(ctx, volume_id, instance_uuid)`` ->
``hv_detach_volume`` -> ``terminate_connection(ctx, volume_id, connector)`` ->
``complete_detach(ctx, volume_id, instance_uuid)`` (``roll_detaching`` on failure).

A volume that is not multi-attach can have one attachment; the volume status moves by
conditional UPDATE, so two servers racing for one volume cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.db.models.volume import Volume, VolumeAttachment
from overcast.volume.migration import refuse_if_migrating
from overcast.errors import BadRequest, NotFound
from overcast.db.values import load, store
from overcast.types import ConnectionInfo, Connector
from overcast.volume.parts import Parts, find_volume, volume_ref
from overcast.volume.qos import front_end_qos
from overcast.volume.state import transition


def connector_from_api(data: Any, default_types: frozenset[str]) -> Connector:
    """A Cinder-style connector dict (``host``, ``ip``, ``platform``, ...) as a Connector.
    Clients that do not say which connection types they take get the backend's."""
    if not isinstance(data, Mapping) or not isinstance(data.get("host"), str) or not data["host"]:
        raise BadRequest("Invalid input received: connector must be an object with a 'host'.")
    types = data.get("connection_types")
    if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
        raise BadRequest("Invalid input received: connector connection_types must be a list of strings.")
    known = {"host", "ip", "platform", "os_type", "connection_types"}
    return Connector(
        host=data["host"],
        connection_types=frozenset(types) if types else default_types,
        ip=data.get("ip"),
        platform=str(data.get("platform") or "x86_64"),
        os_type=str(data.get("os_type") or "linux"),
        extra={k: v for k, v in data.items() if k not in known},
    )


class Attachments:
    def __init__(self, parts: Parts) -> None:
        self.p = parts

    # --- lookups ---------------------------------------------------------------------------

    def get(self, ctx: RequestContext, attachment_id: str) -> VolumeAttachment:
        with self.p.db.session() as s:
            return self._find(s, ctx, attachment_id)

    def _find(self, s: Any, ctx: RequestContext, attachment_id: str) -> VolumeAttachment:
        row = (
            s.get(VolumeAttachment, attachment_id)
            if isinstance(attachment_id, str) and len(attachment_id) <= 36
            else None
        )
        if row is None or not ctx.can_see(row.project_id):
            raise NotFound(f"Volume attachment {attachment_id} could not be found.", code="VolumeAttachmentNotFound")
        return row

    def list(
        self,
        ctx: RequestContext,
        all_projects: bool = False,
        volume_id: str | None = None,
        instance_id: str | None = None,
    ) -> list[VolumeAttachment]:
        with self.p.db.session() as s:
            stmt = ctx.filter(select(VolumeAttachment), VolumeAttachment.project_id, all_projects=all_projects)
            if volume_id:
                stmt = stmt.where(VolumeAttachment.volume_id == volume_id)
            if instance_id:
                stmt = stmt.where(VolumeAttachment.instance_uuid == instance_id)
            return list(s.execute(stmt.order_by(VolumeAttachment.created_at)).scalars())

    def _attachment_for(
        self,
        s: Any,
        ctx: RequestContext,
        volume: Volume,
        attachment_id: str | None,
        instance_uuid: str | None = None,
        pending_only: bool = False,
    ) -> VolumeAttachment:
        """The attachment named by id or server, else the volume's only (pending) one."""
        if attachment_id:
            row = self._find(s, ctx, attachment_id)
            if row.volume_id != volume.id:
                raise BadRequest(f"Invalid input received: attachment {attachment_id} is not for volume {volume.id}.")
            return row
        stmt = select(VolumeAttachment).where(VolumeAttachment.volume_id == volume.id)
        if instance_uuid:
            stmt = stmt.where(VolumeAttachment.instance_uuid == instance_uuid)
        rows = list(s.execute(stmt).scalars())
        if pending_only:
            rows = [r for r in rows if r.attach_status != "attached"]
        if len(rows) != 1:
            whose = f" for server {instance_uuid}" if instance_uuid else ""
            raise BadRequest(
                f"Invalid input received: volume {volume.id} has {len(rows)} matching attachments{whose}; "
                "name one (attachment_id)."
            )
        return rows[0]

    # --- reserve / unreserve ----------------------------------------------------------------

    def reserve(
        self, ctx: RequestContext, volume_id: str, instance_uuid: str, mode: str = "rw", status: str = "attaching"
    ) -> VolumeAttachment:
        """Claim the volume for ``instance_uuid`` (a new attachment row)."""
        if not isinstance(instance_uuid, str) or not instance_uuid:
            raise BadRequest("Invalid input received: an instance uuid is required to attach a volume.")
        if mode not in ("rw", "ro"):
            raise BadRequest("Invalid input received: attach mode must be 'rw' or 'ro'.")
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            refuse_if_migrating(vol, "attached")
            if vol.readonly and mode == "rw":
                mode = "ro"
            if vol.multiattach:
                ok = transition(s, Volume, vol.id, ["available"], status) or transition(
                    s, Volume, vol.id, ["in-use", "attaching", "reserved"], vol.status
                )
            else:
                ok = transition(s, Volume, vol.id, ["available"], status)
            if not ok:
                raise BadRequest(
                    f"Invalid volume: Volume {vol.id} status must be available to reserve"
                    f"{' (or in-use: it is multiattach)' if vol.multiattach else ''}, but the current status is {vol.status}."
                )
            row = VolumeAttachment(
                volume_id=vol.id,
                project_id=vol.project_id,
                instance_uuid=instance_uuid,
                attach_mode=mode,
                attach_status="reserved",
            )
            try:
                with s.begin_nested():
                    s.add(row)
            except IntegrityError:
                raise BadRequest(
                    f"Invalid volume: volume {vol.id} is already attached to server {instance_uuid}."
                ) from None
            return row

    def unreserve(
        self, ctx: RequestContext, volume_id: str, attachment_id: str | None = None, instance_uuid: str | None = None
    ) -> None:
        """Give up a reservation that never completed (the attach failed)."""
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            att = self._attachment_for(s, ctx, vol, attachment_id, instance_uuid, pending_only=True)
            if att.attach_status == "attached":
                raise BadRequest(f"Invalid volume: attachment {att.id} is complete; detach it instead.")
            s.delete(att)
            s.flush()
            self._settle(s, vol.id)

    def _settle(self, s: Any, volume_id: str) -> None:
        """The volume's status from its remaining attachments."""
        left = s.execute(
            select(func.count()).where(
                VolumeAttachment.volume_id == volume_id, VolumeAttachment.attach_status.in_(["attached", "detaching"])
            )
        ).scalar_one()
        pending = s.execute(select(func.count()).where(VolumeAttachment.volume_id == volume_id)).scalar_one()
        status = "in-use" if left else ("attaching" if pending else "available")
        transition(s, Volume, volume_id, ["attaching", "reserved", "detaching", "in-use", "available"], status)

    # --- connection --------------------------------------------------------------------------

    def initialize_connection(
        self,
        ctx: RequestContext,
        volume_id: str,
        connector: Connector,
        attachment_id: str | None = None,
        instance_uuid: str | None = None,
    ) -> ConnectionInfo:
        """Export the volume to ``connector``'s host (step 2 of the handshake)."""
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            if vol.status not in ("attaching", "reserved", "in-use", "available", "detaching"):
                raise BadRequest(f"Invalid volume: Volume {vol.id} cannot be connected while {vol.status}.")
            ref, backend = volume_ref(vol), cast(str, vol.backend)  # placed: it is attachable
            qos = front_end_qos(s, vol.volume_type_id, vol.size)
        info = self.p.backends.on(backend).initialize_connection(backend, volume=ref, connector=connector)
        extra: dict = {}
        if "volume_id" not in info.data:  # the guest's disk serial, whatever the backend says
            extra["volume_id"] = ref.id
        if qos:  # as Cinder: the type's front-end QoS specs ride in the connection for the hypervisor
            extra["qos_specs"] = qos
        if extra:
            info = ConnectionInfo(info.driver_volume_type, {**info.data, **extra})
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            att = self._pending_or_named(s, ctx, vol, attachment_id, instance_uuid)
            if att is not None:
                att.connector, att.connection_info = store(connector), store(info)
                att.attached_host = connector.host
                if att.attach_status == "reserved":
                    att.attach_status = "attaching"
                transition(s, Volume, vol.id, ["reserved"], "attaching")
        return info

    def _pending_or_named(
        self, s: Any, ctx: RequestContext, vol: Volume, attachment_id: str | None, instance_uuid: str | None
    ) -> VolumeAttachment | None:
        if attachment_id or instance_uuid:
            return self._attachment_for(s, ctx, vol, attachment_id, instance_uuid)
        pending = [
            r
            for r in s.execute(select(VolumeAttachment).where(VolumeAttachment.volume_id == vol.id)).scalars()
            if r.attach_status in ("reserved", "attaching")
        ]
        return pending[0] if len(pending) == 1 else None  # a bare export (os-initialize_connection)

    def terminate_connection(
        self, ctx: RequestContext, volume_id: str, connector: Connector | None = None, attachment_id: str | None = None
    ) -> None:
        """Unexport the volume from a host, unless another attachment there still uses it."""
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            att = None
            if connector is None or attachment_id:
                att = self._attachment_for(s, ctx, vol, attachment_id)
                connector = connector or (load(Connector, att.connector) if att.connector else None)
            if connector is None:
                return
            still_used = [
                r
                for r in s.execute(select(VolumeAttachment).where(VolumeAttachment.volume_id == vol.id)).scalars()
                if r.attached_host == connector.host
                and r.attach_status in ("attached", "attaching")
                and (att is None or r.id != att.id)
            ]
            ref, backend = volume_ref(vol), cast(str, vol.backend)  # placed: it is attachable
        if not still_used:
            self.p.backends.on(backend).terminate_connection(backend, volume=ref, connector=connector)

    def default_connection_types(self, ctx: RequestContext, volume_id: str) -> frozenset[str]:
        vol = self._volume(ctx, volume_id)
        stats = self.p.backends.refresh(vol.backend) if vol.backend else None
        return stats.connection_types if stats else frozenset()

    def _volume(self, ctx: RequestContext, volume_id: str) -> Volume:
        with self.p.db.session() as s:
            return find_volume(s, ctx, volume_id)

    # --- attach / detach ------------------------------------------------------------------------

    def attach(
        self,
        ctx: RequestContext,
        volume_id: str,
        attachment_id: str | None = None,
        mountpoint: str | None = None,
        host: str | None = None,
        instance_uuid: str | None = None,
    ) -> VolumeAttachment:
        """Record that the guest has the disk (``os-attach`` / ``os-complete``)."""
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            if attachment_id is None and instance_uuid:
                att = s.execute(
                    select(VolumeAttachment).where(
                        VolumeAttachment.volume_id == vol.id, VolumeAttachment.instance_uuid == instance_uuid
                    )
                ).scalar_one_or_none()
                if att is None:
                    raise BadRequest(f"Invalid volume: volume {vol.id} is not reserved for server {instance_uuid}.")
            else:
                att = self._attachment_for(s, ctx, vol, attachment_id)
            att.attach_status, att.attached_at = "attached", utcnow()
            att.mountpoint = mountpoint or att.mountpoint
            att.attached_host = host or att.attached_host
            if not transition(s, Volume, vol.id, ["attaching", "reserved", "in-use"], "in-use"):
                raise BadRequest(
                    f"Invalid volume: Volume {vol.id} status must be attaching to attach (is {vol.status})."
                )
            return att

    def begin_detaching(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None = None) -> None:
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            if instance_uuid:
                att = self._attachment_for(s, ctx, vol, None, instance_uuid)
                if att.attach_status != "attached":
                    raise BadRequest(f"Invalid volume: volume {vol.id} is not attached to server {instance_uuid}.")
                att.attach_status = "detaching"
            if not transition(
                s, Volume, vol.id, ["in-use", "detaching"] if vol.multiattach else ["in-use"], "detaching"
            ):
                raise BadRequest(f"Invalid volume: Volume {vol.id} status must be in-use to detach (is {vol.status}).")

    def roll_detaching(self, ctx: RequestContext, volume_id: str, instance_uuid: str | None = None) -> None:
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            stmt = select(VolumeAttachment).where(
                VolumeAttachment.volume_id == vol.id, VolumeAttachment.attach_status == "detaching"
            )
            if instance_uuid:
                stmt = stmt.where(VolumeAttachment.instance_uuid == instance_uuid)
            for att in s.execute(stmt).scalars():
                att.attach_status = "attached"
            s.flush()
            self._settle(s, vol.id)

    def detach(
        self, ctx: RequestContext, volume_id: str, attachment_id: str | None = None, instance_uuid: str | None = None
    ) -> None:
        """Forget the attachment; the volume is available again when none is left. As Cinder,
        detaching a volume that has no attachment at all (without naming one) is a no-op."""
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            if not attachment_id and not instance_uuid:
                if not s.execute(select(VolumeAttachment.id).where(VolumeAttachment.volume_id == vol.id)).first():
                    return
            att = self._attachment_for(s, ctx, vol, attachment_id, instance_uuid)
            s.delete(att)
            s.flush()
            self._settle(s, vol.id)

    def force_detach(
        self, ctx: RequestContext, volume_id: str, attachment_id: str | None, connector: Connector | None
    ) -> None:
        """os-force_detach (admin): drop the attachment (every one without ``attachment_id``)
        whatever the volume's status, unexporting it first from ``connector``'s host. An
        attachment exported to a host is refused without that connector: detaching a volume a
        guest still uses behind its back is what Cinder's bug 2004555 closed."""
        with self.p.db.session() as s:
            vol = find_volume(s, ctx, volume_id)
            if attachment_id:
                atts = [self._attachment_for(s, ctx, vol, attachment_id)]
            else:
                atts = list(s.execute(select(VolumeAttachment).where(VolumeAttachment.volume_id == vol.id)).scalars())
            exported = [a for a in atts if a.connection_info is not None]
            if exported and connector is None:
                raise BadRequest(
                    f"Invalid volume: volume {vol.id} is exported to host {exported[0].attached_host}; "
                    "force detach needs that host's connector (or detach it through the compute service)."
                )
            ids = [a.id for a in atts]
        if exported and connector is not None:
            for att_id in [a.id for a in exported]:
                self.terminate_connection(ctx, volume_id, connector, att_id)
        with self.p.db.session() as s:
            for att_id in ids:
                row = s.get(VolumeAttachment, att_id)
                if row is not None:
                    s.delete(row)
            s.flush()
            vol = find_volume(s, ctx, volume_id)
            left = s.execute(select(func.count()).where(VolumeAttachment.volume_id == vol.id)).scalar_one()
            vol.status = "in-use" if left else "available"

    # --- Cinder's attachments API (3.27+) ------------------------------------------------------------

    def create_attachment(
        self,
        ctx: RequestContext,
        volume_id: str,
        instance_uuid: str,
        connector: Mapping[str, Any] | None,
        mode: str = "rw",
    ) -> tuple[VolumeAttachment, ConnectionInfo | None]:
        att = self.reserve(ctx, volume_id, instance_uuid, mode=mode, status="reserved")
        if connector is None:
            return att, None
        try:
            conn = connector_from_api(connector, self.default_connection_types(ctx, volume_id))
            info = self.initialize_connection(ctx, volume_id, conn, att.id)
        except Exception:
            self.unreserve(ctx, volume_id, att.id)
            raise
        return self.get(ctx, att.id), info

    def update_attachment(
        self, ctx: RequestContext, attachment_id: str, connector: Mapping[str, Any]
    ) -> tuple[VolumeAttachment, ConnectionInfo]:
        att = self.get(ctx, attachment_id)
        conn = connector_from_api(connector, self.default_connection_types(ctx, att.volume_id))
        info = self.initialize_connection(ctx, att.volume_id, conn, att.id)
        return self.get(ctx, attachment_id), info

    def complete_attachment(self, ctx: RequestContext, attachment_id: str) -> None:
        att = self.get(ctx, attachment_id)
        self.attach(ctx, att.volume_id, att.id)

    def delete_attachment(self, ctx: RequestContext, attachment_id: str) -> None:
        att = self.get(ctx, attachment_id)
        if att.connector:
            self.terminate_connection(ctx, att.volume_id, load(Connector, att.connector), att.id)
        self.detach(ctx, att.volume_id, att.id)
