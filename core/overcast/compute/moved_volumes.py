"""A server's attached volumes across a move to another host (cold migration, resize, live
migration, evacuate): Nova's "migrate the volume connections" steps.

Before the guest is defined on the destination, every attached volume (a volume root
included) is exported to the destination's connector (``initialize_connection``, which also
moves the Cinder attachment to that host), and the destination gets them as
``block_devices``. The source's export is ended only once the move is final (after a live
migration or an evacuation at once; after a cold migration or resize at confirm), and a
move that fails or is reverted puts every attachment back on the source's connector and
unexports the destination. The server's ``BlockDeviceMapping`` rows keep the connection the
guest uses now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from overcast.compute.peers import optional_service
from overcast.compute.records import configured_host
from overcast.context import system_context
from overcast.db.models.compute import BlockDeviceMapping
from overcast.db.values import load, store
from overcast.errors import OvercastError
from overcast.types import BlockDevice, ConnectionInfo, Connector

log = logging.getLogger(__name__)


@dataclass
class VolumeMove:
    """The volumes exported to a move's destination, and the connectors they had before."""

    dest: str
    devices: list[BlockDevice] = field(default_factory=list)
    previous: dict[str, tuple[Connector | None, ConnectionInfo | None]] = field(default_factory=dict)


class MovedVolumes:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.db = runtime.db

    def attached(self, uuid: str) -> list[BlockDeviceMapping]:
        """The server's attached volumes' rows, by device name."""
        with self.db.session() as s:
            rows = list(
                s.scalars(
                    select(BlockDeviceMapping)
                    .where(BlockDeviceMapping.instance_uuid == uuid, BlockDeviceMapping.status == "attached")
                    .order_by(BlockDeviceMapping.device_name)
                )
            )
            for row in rows:
                s.expunge(row)
            return rows

    def devices(self, uuid: str) -> list[BlockDevice]:
        """The server's attached volumes as ``hv_spawn`` takes them, on the host they are
        exported to now (a guest made anew in place: rebuild)."""
        return [_device(r) for r in self.attached(uuid)]

    def _connector(self, host: str) -> Connector:
        return self.runtime.agents.hypervisor(300).get_volume_connector(host=configured_host(self.runtime, host))

    def to(self, uuid: str, dest: str) -> VolumeMove:
        """Export every attached volume to ``dest``; the block devices its guest gets.
        On failure, what was exported is put back before the error is raised."""
        move = VolumeMove(dest)
        rows = self.attached(uuid)
        volumes = optional_service(self.runtime, "volume")
        if not rows or volumes is None:
            return move
        ctx = system_context()
        connector = self._connector(dest)
        try:
            for row in rows:
                att = volumes.attachment_of(ctx, row.volume_id, uuid)
                before = load(Connector, att.connector) if att is not None and att.connector else None
                move.previous[row.volume_id] = (before, load(ConnectionInfo, row.connection_info))
                info = volumes.initialize_connection(ctx, row.volume_id, connector, instance_uuid=uuid)
                move.devices.append(
                    BlockDevice(volume_id=row.volume_id, mountpoint=row.device_name, connection_info=info)
                )
        except Exception:
            self.back(uuid, move)
            raise
        return move

    def finish(self, uuid: str, move: VolumeMove, end_source: bool = True) -> None:
        """The guest runs on the destination: keep its connections and (``end_source``)
        unexport the source (best effort: a source that is down is logged)."""
        self._record(uuid, {d.volume_id: d.connection_info for d in move.devices})
        if end_source:
            self.end_previous(move)

    def end_previous(self, move: VolumeMove) -> None:
        volumes = optional_service(self.runtime, "volume")
        if volumes is None:
            return
        for volume_id, (before, _info) in move.previous.items():
            if before is None or before.host == move.dest:
                continue
            try:
                volumes.terminate_connection(system_context(), volume_id, before)
            except OvercastError as exc:
                log.warning("volume %s: could not unexport it from %s after a move: %s", volume_id, before.host, exc)

    def back(self, uuid: str, move: VolumeMove) -> None:
        """The move failed or was reverted: every attachment back on its previous connector,
        the destination's exports ended (best effort, logged)."""
        volumes = optional_service(self.runtime, "volume")
        if volumes is None:
            return
        ctx = system_context()
        dest_connector = None
        restored: dict[str, ConnectionInfo] = {}
        for volume_id, (before, info) in move.previous.items():
            try:
                if before is not None:
                    restored[volume_id] = volumes.initialize_connection(ctx, volume_id, before, instance_uuid=uuid)
                elif info is not None:
                    restored[volume_id] = info
            except OvercastError as exc:
                log.warning("volume %s: could not export it to its previous host again: %s", volume_id, exc)
        for device in move.devices:
            try:
                dest_connector = dest_connector or self._connector(move.dest)
                volumes.terminate_connection(ctx, device.volume_id, dest_connector)
            except Exception as exc:  # noqa: BLE001 - best effort: the destination may be why it failed
                log.warning("volume %s: could not unexport it from %s: %s", device.volume_id, move.dest, exc)
        self._record(uuid, restored)

    def revert(self, uuid: str, source: str, dest: str) -> list[BlockDevice]:
        """A cold migration or resize reverted: the attachments back on ``source`` (which kept
        its export), ``dest`` unexported; the source's block devices."""
        rows = self.attached(uuid)
        if not rows or optional_service(self.runtime, "volume") is None:
            return []
        if source != dest:
            back_to = self._connector(source)  # one RPC for every volume
            move = VolumeMove(dest, previous={r.volume_id: (back_to, None) for r in rows})
            move.devices = [_device(r) for r in rows]
            self.back(uuid, move)
            rows = self.attached(uuid)
        return [_device(r) for r in rows]

    def confirm(self, uuid: str, source: str, dest: str) -> None:
        """A cold migration or resize confirmed: the source's exports end."""
        rows = self.attached(uuid)
        if not rows or source == dest or optional_service(self.runtime, "volume") is None:
            return
        before = self._connector(source)
        self.end_previous(VolumeMove(dest, previous={r.volume_id: (before, None) for r in rows}))

    def _record(self, uuid: str, infos: dict[str, ConnectionInfo]) -> None:
        if not infos:
            return
        with self.db.session() as s:
            for row in s.scalars(
                select(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == uuid, BlockDeviceMapping.volume_id.in_(list(infos))
                )
            ):
                row.connection_info = store(infos[row.volume_id])


def _device(row: BlockDeviceMapping) -> BlockDevice:
    """The block device a mapping row describes, with the connection it holds now."""
    return BlockDevice(row.volume_id, row.device_name, load(ConnectionInfo, row.connection_info))
