"""Volume attachments (``os-volume_attachments``) through the attach handshake:
``hv_get_volume_connector`` (on the host's agent) -> the volume service's
``initialize_connection`` -> ``hv_attach_volume`` (agent) -> the volume service records it.

Online extend (Nova's ``volume-extended`` event): the volume service asks
``check_volume_extend`` before it accepts an in-use extend, grows the volume on its backend,
then calls ``volume_extended`` for each server, which runs ``hv_extend_volume`` on the host.
"""

from __future__ import annotations

import builtins
import logging
import string
import uuid as uuidlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from overcast.compute import states as st
from overcast.compute.action_events import API_HOST, compute_event
from overcast.compute.peers import optional_service, require
from overcast.compute.records import configured_host, get_instance, instance_of
from overcast.context import RequestContext, system_context
from overcast.db.models.compute import BlockDeviceMapping, InstanceRecord
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.hookspecs import HypervisorHooks
from overcast.db.values import load, store
from overcast.types import ConnectionInfo, Host

log = logging.getLogger(__name__)

ATTACHABLE = (st.ACTIVE, st.PAUSED, st.STOPPED, st.SUSPENDED)
DETACHABLE = (*ATTACHABLE, st.RESIZED)  # Nova's states for detach (issue 16: not rescued)
_DEVICE_LETTERS = string.ascii_lowercase[1:]  # vda is the root disk


DETACH_ATTEMPTS = 8  # Nova's [libvirt] device_detach_attempts
VOLUME_RPC = 300.0  # seconds to wait for a host to attach, detach or extend a disk


def _offloaded(rec: InstanceRecord, version: tuple[int, int]) -> bool:
    """A SHELVED_OFFLOADED server with no task, which takes and gives volumes from 2.20."""
    return rec.vm_state == st.SHELVED_OFFLOADED and rec.task_state is None and version >= (2, 20)


class VolumeAttachments:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.db = runtime.db

    def _hv(self) -> HypervisorHooks:
        return self.runtime.agents.hypervisor(timeout=VOLUME_RPC)

    def list(self, ctx: RequestContext, uuid: str) -> list[BlockDeviceMapping]:
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
            return list(
                s.scalars(
                    select(BlockDeviceMapping)
                    .where(BlockDeviceMapping.instance_uuid == uuid)
                    .order_by(BlockDeviceMapping.device_name)
                )
            )

    def get(self, ctx: RequestContext, uuid: str, volume_id: str) -> BlockDeviceMapping:
        for bdm in self.list(ctx, uuid):
            if bdm.volume_id == volume_id:
                return bdm
        raise NotFound(f"Volume {volume_id} is not attached to instance {uuid}.")

    @staticmethod
    def next_device(session, uuid: str, wanted: str | None) -> str:
        """``wanted`` if it is a free device path of the server, else its first free ``/dev/vdX``."""
        used = set(
            session.scalars(select(BlockDeviceMapping.device_name).where(BlockDeviceMapping.instance_uuid == uuid))
        )
        if wanted:
            if not wanted.startswith("/dev/") or len(wanted) > 64:
                raise BadRequest(f"The supplied device path ({wanted}) is invalid.")
            if wanted in used:
                raise Conflict(f"The supplied device path ({wanted}) is in use.")
            return wanted
        for letter in _DEVICE_LETTERS:
            if f"/dev/vd{letter}" not in used:
                return f"/dev/vd{letter}"
        raise Conflict("No free disk device names left on this server.")

    def attach(
        self,
        ctx: RequestContext,
        uuid: str,
        volume_id: str,
        device: str | None = None,
        delete_on_termination: bool = False,
        version: tuple[int, int] = (2, 1),
    ) -> BlockDeviceMapping:
        """Attach through the handshake; from 2.20 a SHELVED_OFFLOADED server (no host) takes
        the volume as reserved and attached without a connection: its unshelve exports it to
        the new host with its other volumes (as Nova does)."""
        volumes = require(self.runtime, "volume", "initialize_connection", "Attaching a volume")
        if not isinstance(volume_id, str) or not volume_id:
            raise BadRequest("Invalid input for field/attribute volumeId.")
        volumes.get_volume(ctx, volume_id)  # 404 for a volume the caller cannot see
        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            offloaded = _offloaded(rec, version)
            if not offloaded and (rec.vm_state not in ATTACHABLE or rec.task_state is not None or not rec.host):
                raise Conflict(f"Cannot 'attach_volume' instance {uuid} while it is in vm_state {rec.vm_state}")
            if s.scalars(
                select(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == uuid, BlockDeviceMapping.volume_id == volume_id
                )
            ).first():
                raise BadRequest(f"Invalid volume: volume {volume_id} already attached")  # Nova's InvalidVolume
            bdm = BlockDeviceMapping(
                instance_uuid=uuid,
                volume_id=volume_id,
                device_name=self.next_device(s, uuid, device),
                delete_on_termination=bool(delete_on_termination),
                status="attaching",
            )
            s.add(bdm)
            try:
                s.flush()
            except IntegrityError:
                raise Conflict(f"The supplied device path ({bdm.device_name}) is in use.") from None
            instance, host, project_id = instance_of(rec), rec.host, rec.project_id
        events = self.runtime.compute.events
        request_id = events.record_action(uuid, "attach_volume", ctx, project_id)
        attachment_id = None
        connector = None
        if offloaded or host is None:  # Nova's API attaches to a shelved offloaded server itself
            with events.event(uuid, "api_attach_volume", API_HOST, request_id=request_id):
                return self._attach_offloaded(ctx, volumes, volume_id, uuid, bdm)
        try:
            with events.event(uuid, compute_event("attach_volume"), host, request_id=request_id):
                attachment_id = volumes.reserve_attach(ctx, volume_id, uuid)
                on = configured_host(self.runtime, host)
                connector = self._hv().get_volume_connector(host=on)
                info = volumes.initialize_connection(ctx, volume_id, connector, instance_uuid=uuid)
                self._hv().attach_volume(host=on, instance=instance, connection_info=info, mountpoint=bdm.device_name)
                volumes.complete_attach(ctx, volume_id, uuid, bdm.device_name, host)
        except Exception:
            self._undo_attach(ctx, volumes, volume_id, uuid, attachment_id, connector, bdm.id)
            raise
        with self.db.session() as s:
            row = s.get(BlockDeviceMapping, bdm.id)
            row.connection_info, row.attachment_id, row.status = store(info), attachment_id, "attached"
        bdm.connection_info, bdm.attachment_id, bdm.status = store(info), attachment_id, "attached"
        return bdm

    def _attach_offloaded(
        self, ctx: RequestContext, volumes: Any, volume_id: str, uuid: str, bdm: BlockDeviceMapping
    ) -> BlockDeviceMapping:
        attachment_id = None
        try:
            attachment_id = volumes.reserve_attach(ctx, volume_id, uuid)
            volumes.complete_attach(ctx, volume_id, uuid, bdm.device_name, "")
        except Exception:
            self._undo_attach(ctx, volumes, volume_id, uuid, attachment_id, None, bdm.id)
            raise
        with self.db.session() as s:
            row = s.get(BlockDeviceMapping, bdm.id)
            row.attachment_id, row.status = attachment_id, "attached"
        bdm.attachment_id, bdm.status = attachment_id, "attached"
        return bdm

    def _undo_attach(self, ctx, volumes, volume_id, uuid, attachment_id, connector, bdm_id) -> None:
        try:
            if attachment_id is not None:
                if connector is not None:
                    volumes.terminate_connection(ctx, volume_id, connector)
                volumes.unreserve(ctx, volume_id, uuid)
        except Exception:  # noqa: BLE001 - the original error is what the caller needs
            log.exception("could not undo the reservation of volume %s", volume_id)
        with self.db.session() as s:
            row = s.get(BlockDeviceMapping, bdm_id)
            if row is not None:
                s.delete(row)

    def check_swap(self, ctx: RequestContext, uuid: str, volume_id: str, body: dict) -> None:
        """Nova's checks of a swap, in its order: the server (404), the volume in the path (404:
        unknown, or not attached to the server), then the volume in the body (400)."""
        volumes = require(self.runtime, "volume", "initialize_connection", "Swapping a volume")
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
        volumes.get_volume(ctx, volume_id)
        extra = sorted(set(body) - {"volumeId"})
        if extra or not isinstance(body.get("volumeId"), str):
            raise BadRequest(
                "Invalid input for field/attribute volumeAttachment: 'volumeId' is required, nothing else."
            )
        self.get(ctx, uuid, volume_id)  # 404 unless attached to this server
        try:
            volumes.get_volume(ctx, body["volumeId"])
        except NotFound as exc:
            raise BadRequest(str(exc)) from None

    def detach(self, ctx: RequestContext, uuid: str, volume_id: str, version: tuple[int, int] = (2, 1)) -> None:
        """Start detaching ``volume_id`` (Nova answers 202 and detaches in the background): the
        guest is asked to release the disk, up to :data:`DETACH_ATTEMPTS` times; the volume is
        ``available`` once it has."""
        bdm = self.get(ctx, uuid, volume_id)
        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            if not _offloaded(rec, version):
                if rec.vm_state not in DETACHABLE:  # a rescued server keeps its volumes (Nova: 409)
                    raise Conflict(f"Cannot 'detach_volume' instance {uuid} while it is in vm_state {rec.vm_state}")
                if rec.task_state is not None or not rec.host:
                    raise Conflict(f"Cannot 'detach_volume' instance {uuid} while it is in task_state {rec.task_state}")
        volumes = require(self.runtime, "volume", "terminate_connection", "Detaching a volume")
        volumes.begin_detach(ctx, bdm.volume_id, rec.uuid)  # "detaching" from now (or refused now)
        request_id = self.runtime.compute.events.record_action(uuid, "detach_volume", ctx, rec.project_id)
        self.runtime.compute.runner.submit(
            f"detach {volume_id} from {uuid}", self._detach_recorded, ctx, rec, bdm, volumes, request_id
        )

    def _detach_recorded(
        self, ctx: RequestContext, rec: InstanceRecord, bdm: BlockDeviceMapping, volumes: Any, request_id: str
    ) -> None:
        """The detach as the event of its action: Nova's compute ``detach_volume``, or its
        API's own for a server with no host (shelved offloaded)."""
        name, host = (compute_event("detach_volume"), rec.host) if rec.host else ("api_detach_volume", API_HOST)
        with self.runtime.compute.events.event(rec.uuid, name, host, request_id=request_id) as step:
            error = self._detach_retrying(ctx, rec, bdm, volumes)
            if error is not None:
                step.failed(error)

    def _detach_retrying(
        self, ctx: RequestContext, rec: InstanceRecord, bdm: BlockDeviceMapping, volumes: Any
    ) -> Exception | None:
        """A guest that is still booting (or busy) may ignore a hot-unplug request; ask again,
        as Nova's libvirt driver does (its ``device_detach_attempts``). The error that left
        the volume attached, if one did."""
        from overcast.errors import DriverError

        for attempt in range(1, DETACH_ATTEMPTS + 1):
            try:
                self._detach(ctx, rec, bdm, volumes, begun=attempt == 1)
                return None
            except DriverError as exc:
                if attempt == DETACH_ATTEMPTS:
                    log.error(
                        "volume %s stays attached to %s after %d attempts: %s", bdm.volume_id, rec.uuid, attempt, exc
                    )
                    return exc
                log.info("volume %s: detach attempt %d from %s: %s; retrying", bdm.volume_id, attempt, rec.uuid, exc)
            except Exception as exc:  # noqa: BLE001 - logged; the volume is back in-use (rolled back)
                log.exception("could not detach volume %s from %s", bdm.volume_id, rec.uuid)
                return exc
        return None

    def _detach(
        self, ctx: RequestContext, rec: InstanceRecord, bdm: BlockDeviceMapping, volumes: Any, begun: bool = False
    ) -> None:
        """Detach now (``begun``: the volume is already ``detaching``); on failure the volume is
        ``in-use`` again."""
        if not begun:
            volumes.begin_detach(ctx, bdm.volume_id, rec.uuid)
        connector = None
        if rec.host:
            info = load(ConnectionInfo, bdm.connection_info)
            try:
                self._hv().detach_volume(
                    host=configured_host(self.runtime, rec.host),
                    instance=instance_of(rec),
                    connection_info=info,
                    mountpoint=bdm.device_name,
                )
            except NotFound:
                pass  # the guest or the disk is already gone
            except Exception:
                volumes.roll_detaching(ctx, bdm.volume_id, rec.uuid)
                raise
            connector = self._hv().get_volume_connector(host=configured_host(self.runtime, rec.host))
        if connector is not None:
            volumes.terminate_connection(ctx, bdm.volume_id, connector)
        volumes.complete_detach(ctx, bdm.volume_id, rec.uuid)
        with self.db.session() as s:
            row = s.get(BlockDeviceMapping, bdm.id)
            if row is not None:
                s.delete(row)

    # --- online extend (called by the volume service) -----------------------------------------

    def _extend_target(self, uuid: str, volume_id: str) -> tuple[InstanceRecord, BlockDeviceMapping, Host]:
        with self.db.session() as s:
            try:
                rec = get_instance(s, system_context(), uuid)
            except NotFound:
                raise BadRequest(
                    f"Volume {volume_id} is attached to {uuid}, which is not a server of this cloud: "
                    "it cannot be extended while in use."
                ) from None
            bdm = s.scalars(
                select(BlockDeviceMapping).where(
                    BlockDeviceMapping.instance_uuid == uuid, BlockDeviceMapping.volume_id == volume_id
                )
            ).first()
        if bdm is None or not rec.host:
            raise BadRequest(f"Volume {volume_id} is not attached to a running host of server {uuid}.")
        host = self.runtime.drivers.hosts.get(rec.host)
        if host is None:
            raise BadRequest(f"Server {uuid} is on host {rec.host}, which is not configured here.")
        return rec, bdm, host

    def check_volume_extend(self, uuid: str, volume_id: str) -> None:
        """Refuse (400) an online extend the server's hypervisor driver cannot do, before
        anything changes: the driver must implement ``hv_extend_volume``."""
        rec, _, host = self._extend_target(uuid, volume_id)
        driver = host.driver
        if not self.runtime.plugins.driver("hypervisor", driver).supports("extend_volume"):
            raise BadRequest(
                f"Volume {volume_id} is attached to server {uuid} on host {rec.host}, whose hypervisor "
                f"driver '{driver}' does not support 'extend_volume' (online extend): detach it first."
            )

    def volume_extended(self, uuid: str, volume_id: str, new_size_gb: int) -> None:
        """The volume grew on its backend: make the server's guest see ``new_size_gb``. The
        volume service's call stands for its ``volume-extended`` external event, so it is
        recorded as Nova records that event: an ``extend_volume`` action (by the cloud itself,
        on the server's project) with the ``compute_extend_volume`` event."""
        rec, _, _ = self._extend_target(uuid, volume_id)
        request_id = self.runtime.compute.events.record_action(
            uuid, "extend_volume", system_context(f"req-{uuidlib.uuid4()}"), rec.project_id
        )
        self.extend_guest(uuid, volume_id, request_id, new_size_gb)

    def extend_guest(self, uuid: str, volume_id: str, request_id: str, new_size_gb: int | None = None) -> None:
        """Nova's compute ``extend_volume`` for the action ``request_id``: the guest is made
        to see the volume's size (``new_size_gb``, else the volume service's)."""
        with self.db.session() as s:
            row = s.get(InstanceRecord, uuid)
            host_name = row.host if row is not None else None
        with self.runtime.compute.events.event(uuid, compute_event("extend_volume"), host_name, request_id=request_id):
            rec, bdm, host = self._extend_target(uuid, volume_id)
            size = new_size_gb
            if size is None:
                volumes = require(self.runtime, "volume", "get_volume", "Extending a volume")
                size = int(volumes.get_volume(system_context(), volume_id).size)
            self._hv().extend_volume(
                host=host,
                instance=instance_of(rec),
                connection_info=load(ConnectionInfo, bdm.connection_info),
                new_size_gb=int(size),
            )

    def detach_all(self, rec: InstanceRecord) -> "builtins.list[str]":
        """Detach every volume of a server being deleted (best effort, logged); the ids of
        those to delete with it (``delete_on_termination``)."""
        stmt = select(BlockDeviceMapping).where(BlockDeviceMapping.instance_uuid == rec.uuid)
        bdms = self.db.read(lambda s: list(s.scalars(stmt)))
        if not bdms:
            return []
        volumes = optional_service(self.runtime, "volume")
        for bdm in bdms:
            try:
                if volumes is not None and bdm.status == "attached":
                    self._detach(system_context(), rec, bdm, volumes)
            except Exception:  # noqa: BLE001 - the server is going away regardless
                log.exception("could not detach volume %s from %s", bdm.volume_id, rec.uuid)
            with self.db.session() as s:
                row = s.get(BlockDeviceMapping, bdm.id)
                if row is not None:
                    s.delete(row)
        return [b.volume_id for b in bdms if b.delete_on_termination]
