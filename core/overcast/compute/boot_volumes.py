"""The volumes of a server's block device mappings (issue 18): boot from volume and volumes
attached at create.

* ``check`` (at create, before anything is made): each mapping's source exists and can be
  used, as Nova's ``_validate_bdm`` answers (its 400 texts), the root volume is bootable, and
  some host's hypervisor can boot from a volume.
* ``prepare`` (the build, on the chosen host): a volume is created for each ``image`` /
  ``snapshot`` / ``blank`` -> ``volume`` mapping and waited for, then every volume is reserved
  for the server and exported to the host (the attach handshake of
  :mod:`overcast.compute.volumes` up to ``initialize_connection``); the ``BlockDevice`` list
  goes to ``hv_spawn``, the root one on ``/dev/vda``.
* ``complete`` once the guest runs: the volume service records the attachments (``in-use``).
* ``release`` after a failed build: the reservations are undone (the rows stay, so the
  server's delete still honours ``delete_on_termination``).
* ``delete_volumes`` after a server's volumes are detached at delete: the
  ``delete_on_termination`` ones are deleted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from overcast.compute.records import configured_host
from overcast.compute.bdm import ROOT_DEVICE, Mapping, invalid, volume_mappings
from overcast.compute.hoststate import reported_capabilities
from overcast.compute.peers import lookup_image, optional_service, require
from overcast.context import RequestContext, system_context
from overcast.db.models.compute import BlockDeviceMapping, InstanceRecord
from overcast.errors import BadRequest, DriverError, NotFound, OvercastError
from overcast.db.values import store
from overcast.types import BlockDevice, ImageRef

log = logging.getLogger(__name__)

#: Nova's block_device_allocate_retries (60) x block_device_allocate_retries_interval (3 s)
VOLUME_WAIT_SECONDS = 180.0
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class BootSource:
    """What a volume-backed server boots: for the create checks (``min_ram``) and the
    scheduler's image filters (the image's ``properties``, e.g. ``hypervisor_type``)."""

    min_ram: int = 0
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of_volume(cls, metadata: dict[str, Any] | None) -> BootSource:
        """From a volume's ``volume_image_metadata``."""
        meta = {str(k): str(v) for k, v in (metadata or {}).items()}
        return cls(min_ram=_int(meta.get("min_ram")), properties={k: v for k, v in meta.items() if k not in _VIM_BASE})


#: volume_image_metadata keys that describe the image itself rather than its properties
_VIM_BASE = frozenset(
    {"image_id", "image_name", "disk_format", "container_format", "checksum", "min_disk", "min_ram", "size"}
)


def _image_id(data: dict[str, Any] | None) -> str | None:
    return (data or {}).get("image_id") or None


class BootVolumes:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.db = runtime.db

    # --- at create ------------------------------------------------------------------------------

    def check(self, ctx: RequestContext, mappings: list[Mapping], max_count: int) -> BootSource:
        """Refuse (400, Nova's texts) a mapping whose source is missing or unusable; returns
        what the root volume boots. Nothing is made or reserved here."""
        wanted = volume_mappings(mappings)
        if not wanted:
            return BootSource()
        volumes = require(self.runtime, "volume", "create_volume", "Booting from or attaching a volume")
        if max_count > 1 and any(m.source_type == "volume" for m in wanted):
            raise BadRequest("Cannot attach one or more volumes to multiple instances")
        root = next((m for m in wanted if m.is_root), None)
        if root is not None:
            self._check_hosts()
        source = BootSource()
        for m in wanted:
            if m.source_type == "image":
                image = self._image(ctx, str(m.uuid))
                if m.is_root:
                    source = BootSource(min_ram=image.min_ram, properties=dict(image.properties or {}))
                    if image.min_disk and (m.volume_size or 0) < image.min_disk:
                        raise BadRequest(
                            "Volume is smaller than the minimum size specified in image metadata. Volume size is "
                            f"{(m.volume_size or 0) * 1024**3} bytes, minimum size is {image.min_disk * 1024**3} bytes."
                        )
            elif m.source_type == "volume":
                vol = self._volume(ctx, volumes, str(m.uuid))
                if m.is_root and not vol.bootable:
                    raise invalid_not_bootable(vol.id)
                if vol.status != "available" and not (vol.multiattach and vol.status == "in-use"):
                    raise BadRequest(
                        f"Invalid volume: Volume {vol.id} status must be available to reserve, "
                        f"but the current status is {vol.status}."
                    )
                if m.is_root:
                    source = BootSource.of_volume(vol.image_metadata)
            elif m.source_type == "snapshot":
                try:
                    snap = volumes.get_snapshot(ctx, str(m.uuid))
                except NotFound:
                    raise invalid(f"failed to get snapshot {m.uuid}.") from None
                if m.is_root:  # as Nova: the snapshot's volume says whether it boots
                    parent = self._volume(ctx, volumes, snap.volume_id)
                    if not parent.bootable:
                        raise invalid_not_bootable(parent.id)
                    source = BootSource.of_volume(parent.image_metadata)
                if m.volume_size is not None and m.volume_size < snap.size:
                    raise BadRequest(
                        f"Invalid input received: Volume size '{m.volume_size}'GB cannot be smaller than the "
                        f"snapshot size {snap.size}GB."
                    )
        return source

    def _check_hosts(self) -> None:
        """Some host's hypervisor driver boots from a volume (``HvCapabilities.boot_from_volume``)."""
        with self.db.session() as s:
            capable = [
                name
                for name in self.runtime.drivers.hosts
                if (caps := reported_capabilities(s, name)) is not None and caps.boot_from_volume
            ]
        if not capable:
            raise invalid(
                "booting from a volume (a volume as the root disk) is not supported by this cloud: "
                "no host's hypervisor driver can boot from a volume."
            )

    def _image(self, ctx: RequestContext, image_id: str) -> ImageRef:
        try:
            return lookup_image(self.runtime, ctx, image_id)
        except BadRequest:
            raise invalid(f"failed to get image {image_id}.") from None

    @staticmethod
    def _volume(ctx: RequestContext, volumes: Any, volume_id: str) -> Any:
        try:
            return volumes.get_volume(ctx, volume_id)
        except NotFound:
            raise invalid(f"failed to get volume {volume_id}.") from None

    # --- the build ------------------------------------------------------------------------------

    def schedule_image(self, rec: InstanceRecord) -> ImageRef | None:
        """What the scheduler's image filters see of a volume-backed server: its root volume's
        image properties (no disk format: the host boots the volume, not an image file)."""
        root = next((m for m in self.requested(rec) if m.is_root), None)
        if root is None or root.image_properties is None:
            return None
        return ImageRef(id="", name="", disk_format="", properties=dict(root.image_properties))

    def requested(self, rec: InstanceRecord) -> list[Mapping]:
        return [Mapping.from_json(m) for m in (rec.block_device_requests or [])]

    def prepare(self, ctx: RequestContext, rec: InstanceRecord, host: str) -> list[BlockDevice]:
        """Make, reserve and export the server's volumes for ``host``; the block devices
        ``hv_spawn`` gets (``[]`` without mappings)."""
        wanted = volume_mappings(self.requested(rec))
        if not wanted:
            return []
        volumes = require(self.runtime, "volume", "create_volume", "Booting from or attaching a volume")
        connector = self.runtime.agents.hypervisor(300).get_volume_connector(host=configured_host(self.runtime, host))
        devices: list[BlockDevice] = []
        for m in wanted:
            bdm_id, volume_id = self._make(ctx, volumes, rec, m)
            self._wait_available(ctx, volumes, volume_id)
            attachment_id = volumes.reserve_attach(ctx, volume_id, rec.uuid)
            self._set(bdm_id, attachment_id=attachment_id, status="reserved")
            info = volumes.initialize_connection(ctx, volume_id, connector, instance_uuid=rec.uuid)
            row = self._set(bdm_id, connection_info=store(info), status="attaching")
            devices.append(BlockDevice(volume_id=volume_id, mountpoint=row.device_name, connection_info=info))
        return devices

    def _make(self, ctx: RequestContext, volumes: Any, rec: InstanceRecord, m: Mapping) -> tuple[str, str]:
        """The mapping's volume (created now unless it exists) and its row; ``(bdm id, volume id)``."""
        if m.source_type == "volume":
            volume_id = str(m.uuid)
        else:
            vol = volumes.create_volume(
                ctx,
                m.volume_size,
                image_id=m.uuid if m.source_type == "image" else None,
                snapshot_id=m.uuid if m.source_type == "snapshot" else None,
                volume_type=m.volume_type,
            )
            volume_id = vol.id
        from overcast.compute.volumes import VolumeAttachments

        with self.db.session() as s:
            device = ROOT_DEVICE if m.is_root else VolumeAttachments.next_device(s, rec.uuid, m.device_name)
            row = BlockDeviceMapping(
                instance_uuid=rec.uuid,
                volume_id=volume_id,
                device_name=device,
                delete_on_termination=m.delete_on_termination,
                status="creating",
            )
            s.add(row)
            s.flush()
            return row.id, volume_id

    def _set(self, bdm_id: str, **values: Any) -> BlockDeviceMapping:
        with self.db.session() as s:
            row = s.get(BlockDeviceMapping, bdm_id)
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            s.expunge(row)
            return row

    @staticmethod
    def _wait_available(ctx: RequestContext, volumes: Any, volume_id: str) -> None:
        """Wait for a volume being made (Nova's ``VolumeNotCreated`` when it does not finish)."""
        deadline = time.monotonic() + VOLUME_WAIT_SECONDS
        attempts = 0
        while True:
            attempts += 1
            vol = volumes.get_volume(ctx, volume_id)
            if vol.status != "creating" and vol.status != "downloading":
                break
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)
        if vol.status not in ("available", "in-use"):
            raise DriverError(
                f"Volume {volume_id} did not finish being created even after we waited "
                f"{int(VOLUME_WAIT_SECONDS)} seconds or {attempts} attempts. And its status is {vol.status}."
            )

    def complete(self, ctx: RequestContext, rec: InstanceRecord, host: str) -> None:
        """The guest runs: the volume service records each attachment (``in-use``). Only
        :meth:`prepare` makes ``attaching`` rows during a build (an attach request is refused
        until the server is built), so a server without volume mappings has none to look up."""
        if not volume_mappings(self.requested(rec)):
            return
        volumes = optional_service(self.runtime, "volume")
        if volumes is None:
            return
        for row in self._rows(rec.uuid, status="attaching"):
            volumes.complete_attach(ctx, row.volume_id, rec.uuid, row.device_name, host)
            self._set(row.id, status="attached")

    def release(self, ctx: RequestContext, rec: InstanceRecord, host: str | None) -> None:
        """A build failed: unexport and unreserve what ``prepare`` reserved (best effort).
        The rows stay, marked ``detached``, for the server's delete."""
        volumes = optional_service(self.runtime, "volume")
        rows = [r for r in self._rows(rec.uuid) if r.status in ("reserved", "attaching", "creating")]
        if volumes is None or not rows:
            return
        connector = None
        if host:
            try:
                connector = self.runtime.agents.hypervisor(60).get_volume_connector(
                    host=configured_host(self.runtime, host)
                )
            except Exception:  # noqa: BLE001 - the host may be why the build failed
                log.warning("server %s: no volume connector from %s to unexport its volumes", rec.uuid, host)
        for row in rows:
            try:
                if row.status == "attaching" and connector is not None:
                    volumes.terminate_connection(ctx, row.volume_id, connector)
                if row.status != "creating":
                    volumes.unreserve(ctx, row.volume_id, rec.uuid)
            except OvercastError as exc:
                log.warning("server %s: could not release volume %s: %s", rec.uuid, row.volume_id, exc)
            self._set(row.id, status="detached")

    def _rows(self, uuid: str, status: str | None = None) -> list[BlockDeviceMapping]:
        with self.db.session() as s:
            stmt = select(BlockDeviceMapping).where(BlockDeviceMapping.instance_uuid == uuid)
            if status is not None:
                stmt = stmt.where(BlockDeviceMapping.status == status)
            rows = list(s.scalars(stmt))
            for row in rows:
                s.expunge(row)
            return rows

    # --- at delete ------------------------------------------------------------------------------

    def delete_volumes(self, volume_ids: list[str]) -> None:
        """Delete the ``delete_on_termination`` volumes of a deleted server (best effort, logged)."""
        volumes = optional_service(self.runtime, "volume")
        if volumes is None:
            return
        for volume_id in volume_ids:
            try:
                volumes.delete_volume(system_context(), volume_id)
            except NotFound:
                pass
            except OvercastError as exc:
                log.warning("could not delete volume %s (delete_on_termination): %s", volume_id, exc)

    # --- rebuild --------------------------------------------------------------------------------

    def root_image(self, uuid: str) -> tuple[bool, str | None]:
        """``(volume_backed, image id in the root volume)`` of a server."""
        rows = [r for r in self._rows(uuid) if r.device_name == ROOT_DEVICE]
        if not rows:
            return False, None
        volumes = optional_service(self.runtime, "volume")
        if volumes is None:
            return True, None
        try:
            vol = volumes.get_volume(system_context(), rows[0].volume_id)
        except NotFound:
            return True, None
        return True, _image_id(vol.image_metadata)


def invalid_not_bootable(volume_id: str) -> BadRequest:
    """Nova's ``InvalidBDMVolumeNotBootable``."""
    return BadRequest(f"Block Device {volume_id} is not bootable.")


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
