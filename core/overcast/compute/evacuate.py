"""Evacuate: rebuild a server of a failed host on another host (Nova's ``evacuate`` action).

Allowed only when the server's host is down (its agent stopped answering, or an admin
forced its service down): a host that still runs the guest would end up with two copies.
The server's disk must survive the host, so the server must boot from a volume or its
host's driver must report shared instance storage (``HvCapabilities.shared_storage``);
otherwise the data would be lost and the request is refused with the reason (400).

The destination is scheduled among the hosts of the same driver (or the one named) and
claimed atomically; the guest is spawned there and the ports re-bound. A migration record
of type ``evacuation`` (status ``done``) tells the old host, when its agent answers again,
that its copy of the guest is stale: :meth:`overcast.compute.reconcile.Reconciler.reconcile_host`
destroys it there without touching the shared disks.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.compute import states as st
from overcast.compute.action_events import compute_event
from overcast.compute.claims import Usage
from overcast.compute.hoststate import reported_capabilities
from overcast.compute.migration_records import UNFINISHED, add_migration, set_status_if
from overcast.compute.moved_volumes import MovedVolumes, VolumeMove
from overcast.compute.outcomes import Outcome
from overcast.compute.records import flavor_snapshot, get_instance, instance_of
from overcast.context import RequestContext
from overcast.db.models.compute import BlockDeviceMapping, InstanceRecord
from overcast.errors import BadRequest, NotFound
from overcast.types import InstanceInfo, ScheduleRequest

log = logging.getLogger(__name__)

EVACUABLE_STATES = (st.ACTIVE, st.STOPPED, st.ERROR)
ROOT_DEVICES = ("/dev/vda", "/dev/sda", "/dev/xvda", "/dev/hda", "vda", "sda")


class Evacuations:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime
        self.db = svc.runtime.db
        self.t = svc.transitions
        self.tasks = svc.tasks
        self.volumes = MovedVolumes(svc.runtime)

    # --- the request ---------------------------------------------------------------------

    def request(self, ctx: RequestContext, uuid: str, host: str | None, force: bool = False) -> None:
        """Check everything that can be checked now (400/404/409), then rebuild in the background."""
        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            source = rec.host
            if not source:
                raise BadRequest(f"Cannot evacuate server {uuid}: it is not on any host.")
            source_caps = reported_capabilities(s, source)
            root_volume = s.scalars(
                select(BlockDeviceMapping.id).where(
                    BlockDeviceMapping.instance_uuid == uuid, BlockDeviceMapping.device_name.in_(ROOT_DEVICES)
                )
            ).first()
        hosts = self.runtime.drivers.hosts
        if host is not None:
            if host not in hosts:
                raise NotFound(f"Compute host {host} could not be found.")
            if host == source:
                raise BadRequest("The target host can't be the same one.")
            if source in hosts and hosts[source].driver != hosts[host].driver:
                raise BadRequest(
                    f"Cannot evacuate server {uuid} from host {source} (driver '{hosts[source].driver}') "
                    f"to host {host} (driver '{hosts[host].driver}'): evacuation only moves between "
                    "hosts of the same driver."
                )
        if self.svc.hosts.is_up(source):
            raise BadRequest(
                f"Compute service of {source} is still in use: evacuate only servers of a host that is "
                "down (its agent stopped answering, or its service is forced down)."
            )
        if root_volume is None and not (source_caps is not None and source_caps.shared_storage):
            driver = hosts[source].driver if source in hosts else "unknown"
            raise BadRequest(
                f"Cannot evacuate server {uuid}: its disk is local to host {source} (driver '{driver}' does not "
                "report shared instance storage, and the server does not boot from a volume), so rebuilding it "
                "elsewhere would lose its data. Bring the host back, or delete and re-create the server."
            )
        self.t.begin(ctx, uuid, "evacuate", EVACUABLE_STATES, st.REBUILDING)
        self.svc.runner.submit(f"evacuate {uuid}", self.run, uuid, host, force)

    # --- the work ------------------------------------------------------------------------

    def run(self, uuid: str, target: str | None, force: bool = False) -> None:
        rec = self.tasks._load(uuid)
        if rec is None or not rec.host or rec.task_state != st.REBUILDING:
            return
        source = rec.host
        hosts = self.runtime.drivers.hosts
        request = self.tasks.schedule_request(
            rec,
            ignore_hosts=(source,),
            force_hosts=(target,) if target else (),
            bypass_filters=force and target is not None,
            same_driver_as=hosts[source].driver if source in hosts else None,
        )
        rebuilt = self._claim_and_rebuild(rec, request)
        if rebuilt is None:
            return
        dest, mig_id, info = rebuilt
        values = {
            "host": dest,
            "availability_zone": self.svc.migrations.zone_of(dest),
            "task_state": None,
            "vm_state": st.vm_state_for_power(info.state.value),
            "power_state": info.state.value,
        }
        usage = Usage.of(flavor_snapshot(rec))

        def evacuated(s: Session, out: Outcome) -> None:
            """The server on ``dest`` (the destination's claim now the row's), the source's
            claim given back and the evacuation done, in one transaction, if it is still
            being rebuilt from the source; if it was deleted meanwhile (the delete gave the
            source's claim back), the destination's claim back."""
            out.moved = self.t.advance_in(s, uuid, st.REBUILDING, {"host": source, "deleted": False}, rec, values)
            if out.moved is None:
                self.svc.migrations.end_move_in(s, out, uuid)
                return
            out.give_back(s, source, usage)
            set_status_if(s, mig_id, UNFINISHED, "done")

        done = self.svc.outcomes.write(evacuated, f"the evacuation of server {uuid}")
        if done is not None and done.moved is None:  # deleted while rebuilding
            self.svc.migrations.destroy_left(dest, dataclasses.replace(instance_of(rec), host=dest))
        elif done is not None:
            log.info("server %s evacuated from %s to %s", uuid, source, dest)

    def _claim_and_rebuild(self, rec: InstanceRecord, request: ScheduleRequest) -> tuple[str, int, InstanceInfo] | None:
        """Claim a destination (with the evacuation's migration row, in one transaction) and
        spawn the server there: the host, the row and the guest's state; ``None`` if that
        failed (the claim given back, the fault recorded)."""
        uuid, source = rec.uuid, str(rec.host)

        def add(s: Session, dest: str) -> int:
            return add_migration(s, uuid, "evacuation", source, dest, "accepted")

        try:
            dest, mig_id = self.svc.scheduler.claim_and(request, add)
        except Exception as exc:  # noqa: BLE001 - nowhere to go: nothing changed
            self.svc.migrations.abandon(uuid, exc, st.REBUILDING)
            return None
        assert mig_id is not None  # ``add`` always answers
        instance = dataclasses.replace(instance_of(rec), host=dest)
        move: VolumeMove | None = None
        try:  # Nova rebuilds an evacuated server on the destination (its rebuild_instance)
            with self.svc.events.event(uuid, compute_event("rebuild_instance"), dest, actions=("evacuate",)):
                vifs = self.svc.migrations.vifs_on(uuid, dest)
                on = self.tasks.host(dest)
                move = self.volumes.to(uuid, dest)
                info = self.tasks.spawn(on, instance, vifs, move.devices)
                if rec.vm_state == st.STOPPED:
                    self.tasks.power_off(on, instance)
                    info = self.tasks.hv().get_info(host=on, instance=instance)
        except Exception as exc:  # noqa: BLE001 - the server stays on its (dead) host
            if move is not None:
                self.volumes.back(uuid, move)
            try:
                self.tasks.hv().destroy(host=self.tasks.host(dest), instance=instance, destroy_disks=False)
            except Exception:  # noqa: BLE001 - best effort
                log.debug("cleanup after failed evacuation of %s", uuid, exc_info=True)
            self.svc.migrations.vifs_on(uuid, source)
            self.svc.migrations.abandon(uuid, exc, st.REBUILDING)
            return None
        self.volumes.finish(uuid, move)
        return dest, mig_id, info
