"""Nova's ``shelve`` / ``shelveOffload`` / ``unshelve`` server actions (issue 18).

``shelve`` (ACTIVE, SHUTOFF, PAUSED, SUSPENDED): the guest is shut down and, unless the server
is volume-backed, its root disk is snapshotted into a private image ``<name>-shelved``; the
server is SHELVED. With ``[compute] shelved_offload_time = 0`` (Nova's default) it is offloaded
at once: the guest and its local disks are removed from the host, the volumes are unexported
from it, the host's claim is given back and the server has no host (SHELVED_OFFLOADED).
``shelveOffload`` does that for a SHELVED server. ``unshelve`` powers a SHELVED server on
again; a SHELVED_OFFLOADED one is scheduled anew (any fitting host), its ports are bound
there, its volumes exported there, and it is spawned from the shelved image. The shelved
image is deleted once the server runs again (and with the server).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy.orm import Session

from overcast.compute.action_events import Step, compute_event
from overcast.compute import states as st
from overcast.compute.claims import Usage
from overcast.compute.tasks import LONG_RPC
from overcast.compute.moved_volumes import MovedVolumes
from overcast.compute.outcomes import Failure, Moved, Outcome, fail_in
from overcast.compute.peers import create_snapshot_image, discard_image, lookup_image, optional_service
from overcast.compute.records import flavor_snapshot, instance_of
from overcast.context import RequestContext, system_context
from overcast.db.models.base import utcnow
from overcast.db.models.compute import BlockDeviceMapping, InstanceRecord
from overcast.db.values import store
from overcast.types import BlockDevice

log = logging.getLogger(__name__)

SHELVE_STATES = (st.ACTIVE, st.STOPPED, st.PAUSED, st.SUSPENDED)


class Shelving:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime
        self.db = svc.runtime.db

    # --- requests -------------------------------------------------------------------------------

    def shelve(self, ctx: RequestContext, uuid: str) -> None:
        rec = self.svc.transitions.begin(ctx, uuid, "shelve", SHELVE_STATES, st.SHELVING)
        volume_backed = self.svc.boot_volumes.root_image(uuid)[0]
        image_id = None
        if not volume_backed:
            try:
                properties = {
                    **dict((rec.image or {}).get("properties") or {}),
                    "instance_uuid": uuid,
                    "image_type": "snapshot",
                    "base_image_ref": rec.image_ref,
                }
                image_id = create_snapshot_image(self.runtime, ctx, f"{rec.name}-shelved", properties)
            except Exception:
                self.svc.transitions.finish(uuid, task_state=None)
                raise
        self.svc.runner.submit(f"shelve {uuid}", self.run_shelve, uuid, image_id)

    def shelve_offload(self, ctx: RequestContext, uuid: str) -> None:
        self.svc.transitions.begin(ctx, uuid, "shelveOffload", (st.SHELVED,), st.SHELVING_OFFLOADING)
        self.svc.runner.submit(f"shelve-offload {uuid}", self.run_offload, uuid)

    def unshelve(self, ctx: RequestContext, uuid: str, args: Any) -> None:
        from overcast.compute.server_fields import no_arguments

        no_arguments("unshelve", args)  # availability_zone (2.77) and host (2.91) are not offered here
        self.svc.transitions.begin(ctx, uuid, "unshelve", (st.SHELVED, st.SHELVED_OFFLOADED), st.UNSHELVING)
        self.svc.runner.submit(f"unshelve {uuid}", self.run_unshelve, uuid, ctx)

    # --- tasks ----------------------------------------------------------------------------------

    def run_shelve(self, uuid: str, image_id: str | None) -> None:
        tasks = self.svc.tasks
        rec = tasks._load(uuid)
        if rec is None or not rec.host or rec.task_state != st.SHELVING:
            return
        # Nova offloads at once (shelved_offload_time 0) within its shelve_instance's event
        with self.svc.events.event(uuid, compute_event("shelve_instance"), rec.host, actions=("shelve",)) as step:
            self._shelve(rec, image_id, step)

    def _shelve(self, rec: InstanceRecord, image_id: str | None, step: Step) -> None:
        tasks, t, uuid = self.svc.tasks, self.svc.transitions, rec.uuid
        instance = instance_of(rec)
        try:
            host = tasks.host(str(rec.host))
            tasks.power_off(host, instance)
            if image_id is not None:
                t.advance(uuid, st.SHELVING, task_state=st.SHELVING_IMAGE_UPLOADING)
                self.runtime.agents.compute(str(rec.host), LONG_RPC).snapshot(
                    instance=instance, image_id=image_id, image_name=f"{rec.name}-shelved"
                )
            info = tasks.hv().get_info(host=host, instance=instance)
        except Exception as exc:  # noqa: BLE001 - the image is dropped, the state read back
            step.failed(exc)
            if image_id is not None:
                discard_image(self.runtime, image_id)
            t.fault(uuid, exc)
            tasks.sync_power_state(uuid)
            return
        task = st.SHELVING_IMAGE_UPLOADING if image_id is not None else st.SHELVING
        offload = self.runtime.config.compute.shelved_offload_time == 0
        done = t.advance(
            uuid,
            task,
            vm_state=st.SHELVED,
            task_state=st.SHELVING_OFFLOADING if offload else None,
            power_state=info.state.value,
            shelved_image_id=image_id,
        )
        if done is not None and offload:
            self._offload(uuid, step)

    def run_offload(self, uuid: str) -> None:
        """The guest and its local disks leave the host; volumes are unexported from it."""
        rec = self.svc.tasks._load(uuid)
        if rec is None or rec.task_state != st.SHELVING_OFFLOADING:
            return
        event = compute_event("shelve_offload_instance")
        with self.svc.events.event(uuid, event, rec.host, actions=("shelveOffload",)) as step:
            self._offload(uuid, step)

    def _offload(self, uuid: str, step: Step) -> None:
        tasks, t = self.svc.tasks, self.svc.transitions
        rec = tasks._load(uuid)
        if rec is None or rec.task_state != st.SHELVING_OFFLOADING:
            return
        host = rec.host
        if host:
            try:
                tasks.hv(LONG_RPC).destroy(host=tasks.host(host), instance=instance_of(rec), destroy_disks=True)
                self._unexport_volumes(uuid, host)
            except Exception as exc:  # noqa: BLE001 - stays SHELVED on its host, with the fault
                step.failed(exc)
                t.fault(uuid, exc, task_state=None)
                return
        usage = Usage.of(flavor_snapshot(rec))
        values = {"vm_state": st.SHELVED_OFFLOADED, "task_state": None, "host": None, "power_state": "nostate"}

        def offloaded(s: Session, out: Outcome) -> None:
            """Off its host and the host's claim given back, in one transaction, if still
            offloading from that host (a delete meanwhile gives the claim back with the row)."""
            out.moved = t.advance_in(s, uuid, st.SHELVING_OFFLOADING, {"host": host, "deleted": False}, rec, values)
            if out.moved is not None and host:
                out.give_back(s, host, usage)

        self.svc.outcomes.write(offloaded, f"the offload of server {uuid}")

    def _unexport_volumes(self, uuid: str, host: str) -> None:
        rows = MovedVolumes(self.runtime).attached(uuid)
        volumes = optional_service(self.runtime, "volume")
        if not rows or volumes is None:
            return
        connector = self.svc.tasks.hv().get_volume_connector(host=self.svc.tasks.host(host))
        for row in rows:
            volumes.terminate_connection(system_context(), row.volume_id, connector)

    def run_unshelve(self, uuid: str, ctx: RequestContext) -> None:
        tasks, t = self.svc.tasks, self.svc.transitions
        rec = tasks._load(uuid)
        if rec is None or rec.task_state != st.UNSHELVING:
            return
        if rec.vm_state == st.SHELVED:  # still on its host: power it on (Nova's start_instance)
            event = compute_event("start_instance")
            with self.svc.events.event(uuid, event, rec.host, actions=("unshelve",)) as step:
                try:
                    on = tasks.host(str(rec.host))
                    tasks.hv(LONG_RPC).power_on(host=on, instance=instance_of(rec))
                    info = tasks.hv().get_info(host=on, instance=instance_of(rec))
                except Exception as exc:  # noqa: BLE001
                    step.failed(exc)
                    t.fault(uuid, exc, task_state=None)
                    return
                if t.advance(uuid, st.UNSHELVING, vm_state=st.ACTIVE, task_state=None, power_state=info.state.value):
                    self._drop_image(rec.shelved_image_id, uuid)
            return
        host = None
        try:
            zones = self.runtime.drivers.hosts

            def place(s: Session, chosen: str) -> Moved | None:
                zone = zones[chosen].availability_zone if chosen in zones else None
                values = {"host": chosen, "availability_zone": zone}
                return t.advance_in(s, uuid, st.UNSHELVING, {"host": None, "deleted": False}, rec, values)

            # the host's claim and the server's move to it in one transaction
            chosen, placed = self.svc.scheduler.claim_and(tasks.schedule_request(rec), place)
            if placed is None:  # deleted meanwhile (its own task runs): the claim was given back
                return
            host = chosen
            rec = t.advanced(*placed)
            with self.svc.events.event(uuid, compute_event("unshelve_instance"), host, actions=("unshelve",)):
                vifs = self.svc.migrations.vifs_on(uuid, host)
                devices = self._export_volumes(ctx, uuid, host)
                instance = instance_of(rec)
                if rec.shelved_image_id:
                    image = lookup_image(self.runtime, ctx, rec.shelved_image_id)
                    instance = dataclasses.replace(instance, image=image)
                info = tasks.spawn(tasks.host(host), instance, vifs, devices)
        except Exception as exc:  # noqa: BLE001 - back to SHELVED_OFFLOADED, the claim given back
            if host:
                try:
                    tasks.hv().destroy(host=tasks.host(host), instance=instance_of(rec), destroy_disks=True)
                except Exception:  # noqa: BLE001
                    log.debug("cleanup after failed unshelve of %s", uuid, exc_info=True)
            self._unshelve_failed(uuid, exc)
            return
        values = {
            "vm_state": st.ACTIVE,
            "task_state": None,
            "power_state": info.state.value,
            "launched_at": utcnow(),
        }

        def active(s: Session, out: Outcome) -> None:
            out.moved = t.advance_in(s, uuid, st.UNSHELVING, {"host": host}, rec, values)

        if self.svc.outcomes.write(active, f"server {uuid} ACTIVE") is not None:
            self._drop_image(rec.shelved_image_id, uuid)

    def _unshelve_failed(self, uuid: str, exc: BaseException) -> None:
        """A failed unshelve's fault, the server back off the host it was given (still
        SHELVED_OFFLOADED) and that host's claim given back: one outcome transaction, unless a
        delete took the server over. The host is the one the row names: the claim's
        transaction may have committed with its answer lost."""
        log.warning("server %s: %s", uuid, str(exc) or type(exc).__name__)
        self.svc.outcomes.write(lambda s, out: self._unshelve_failed_in(s, out, uuid, exc), f"the fault of {uuid}")

    def _unshelve_failed_in(self, s: Session, out: Outcome, uuid: str, exc: BaseException) -> None:
        def failure(rec: InstanceRecord) -> Failure | None:
            if rec.task_state != st.UNSHELVING:
                return None
            return st.UNSHELVING, {}, {"task_state": None, "host": None}

        fail_in(s, out, self.svc.transitions, uuid, exc, "failed unshelve", failure)

    def _export_volumes(self, ctx: RequestContext, uuid: str, host: str) -> list[BlockDevice]:
        """The server's volumes exported to the new host, as ``hv_spawn`` takes them."""
        rows = MovedVolumes(self.runtime).attached(uuid)
        volumes = optional_service(self.runtime, "volume")
        if not rows or volumes is None:
            return []
        connector = self.svc.tasks.hv().get_volume_connector(host=self.svc.tasks.host(host))
        devices = []
        for row in rows:
            info = volumes.initialize_connection(system_context(), row.volume_id, connector, instance_uuid=uuid)
            with self.db.session() as s:
                s.get(BlockDeviceMapping, row.id).connection_info = store(info)
            devices.append(BlockDevice(volume_id=row.volume_id, mountpoint=row.device_name, connection_info=info))
        return devices

    def _drop_image(self, image_id: str | None, uuid: str) -> None:
        if not image_id:
            return
        try:
            discard_image(self.runtime, image_id)
        except Exception:  # noqa: BLE001 - an image left behind is not worth a fault
            log.exception("server %s: could not delete its shelved image %s", uuid, image_id)
        self.svc.transitions.finish(uuid, shelved_image_id=None)
