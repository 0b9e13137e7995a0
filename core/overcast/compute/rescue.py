"""Nova's ``rescue`` / ``unrescue`` server actions (issue 18).

``rescue`` (ACTIVE, SHUTOFF or ERROR; 409 otherwise): the guest boots from the rescue image
(``rescue_image_ref``, else the server's own image) with its own root disk attached second;
the server is RESCUE when the rescue guest runs. A volume-backed server is refused with
Nova's 400 (before 2.87's bfv rescue, which this cloud does not offer), a host whose driver has
no ``hv_rescue`` with a 501. The answer carries ``adminPass`` (given or generated), as Nova's
does; like Nova's libvirt driver without password injection, it is not set in the guest.
``unrescue`` (RESCUE only) boots the guest as it was.
"""

from __future__ import annotations

from typing import Any

from overcast.agent.hypervisor import image_to_fetch
from overcast.compute.action_events import compute_event
from overcast.compute import states as st
from overcast.compute.peers import lookup_image
from overcast.compute.records import get_instance, image_snapshot, instance_of
from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound, NotImplementedByBackend
from overcast.types import ImageRef

RESCUE_STATES = (st.ACTIVE, st.STOPPED, st.ERROR)
RESCUE_FIELDS = frozenset({"adminPass", "rescue_image_ref"})
RESCUE_RPC = 900  # seconds: the rescue image is fetched to the host and a guest booted


class Rescues:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime

    # --- requests -------------------------------------------------------------------------------

    def rescue(self, ctx: RequestContext, uuid: str, args: Any) -> str:
        """Start rescuing ``uuid``; returns the ``adminPass`` to answer with."""
        from overcast.compute.server_fields import admin_password

        if args is not None and not isinstance(args, dict):
            raise BadRequest(
                f"Invalid input for field/attribute rescue. Value: {args!r}. {args!r} is not of type 'object'"
            )
        args = dict(args or {})
        unknown = sorted(set(args) - RESCUE_FIELDS)
        if unknown:
            raise BadRequest(
                f"Additional properties are not allowed ({', '.join(repr(k) for k in unknown)} were unexpected)"
            )
        password = admin_password(args)
        with self.runtime.db.session() as s:
            rec = get_instance(s, ctx, uuid)
        image = self._rescue_image(ctx, rec, args.get("rescue_image_ref"))
        if self.svc.boot_volumes.root_image(uuid)[0]:
            raise BadRequest(f"Instance {uuid} cannot be rescued: Cannot rescue a volume-backed instance")
        self._require_driver(rec, "rescue")

        self.svc.transitions.begin(ctx, uuid, "rescue", RESCUE_STATES, st.RESCUING)
        self.svc.runner.submit(f"rescue {uuid}", self.run_rescue, uuid, image)
        return password

    def unrescue(self, ctx: RequestContext, uuid: str) -> None:
        with self.runtime.db.session() as s:
            rec = get_instance(s, ctx, uuid)
        if rec.vm_state == st.RESCUED:
            self._require_driver(rec, "unrescue")
        self.svc.transitions.begin(ctx, uuid, "unrescue", (st.RESCUED,), st.UNRESCUING)
        self.svc.runner.submit(f"unrescue {uuid}", self.run_unrescue, uuid)

    def _rescue_image(self, ctx: RequestContext, rec: Any, ref: Any) -> ImageRef:
        if ref is not None:
            if not isinstance(ref, str) or not ref:
                raise BadRequest(f"Invalid input for field/attribute rescue_image_ref. Value: {ref!r}.")
            image_id = ref.rstrip("/").rsplit("/", 1)[-1]
        else:
            image_id = rec.image_ref
            if not image_id:  # a volume-backed server has no image of its own
                raise BadRequest(f"Instance {rec.uuid} cannot be rescued: Cannot rescue a volume-backed instance")
        try:
            return lookup_image(self.runtime, ctx, image_id)
        except BadRequest:
            if ref is None and image_snapshot(rec) is not None:
                raise BadRequest(
                    f"Instance {rec.uuid} cannot be rescued: its image {image_id} is gone; give rescue_image_ref"
                ) from None
            raise NotFound(f"Image {image_id} could not be found.") from None

    def _require_driver(self, rec: Any, operation: str) -> None:
        host = self.runtime.drivers.hosts.get(rec.host) if rec.host else None
        if host is not None and not self.runtime.plugins.driver("hypervisor", host.driver).supports(operation):
            raise NotImplementedByBackend(
                f"Cannot '{operation}' instance {rec.uuid}: the hypervisor driver '{host.driver}' of its host "
                f"{rec.host} does not support it."
            )

    # --- tasks ----------------------------------------------------------------------------------

    def run_rescue(self, uuid: str, image: ImageRef) -> None:
        tasks = self.svc.tasks
        rec = tasks._load(uuid)
        if rec is None or not rec.host or rec.task_state != st.RESCUING:
            return
        with self.svc.events.event(uuid, compute_event("rescue_instance"), rec.host, actions=("rescue",)) as step:
            try:
                info = tasks.hv(RESCUE_RPC).rescue(
                    host=tasks.host(rec.host), instance=instance_of(rec), image=image_to_fetch(image)
                )
            except Exception as exc:  # noqa: BLE001 - recorded; the guest's state is read back
                step.failed(exc)
                self.svc.transitions.fault(uuid, exc)
                tasks.sync_power_state(uuid)
                return
            self.svc.transitions.advance(
                uuid, st.RESCUING, vm_state=st.RESCUED, task_state=None, power_state=info.state.value
            )

    def run_unrescue(self, uuid: str) -> None:
        tasks = self.svc.tasks
        rec = tasks._load(uuid)
        if rec is None or not rec.host or rec.task_state != st.UNRESCUING:
            return
        event = compute_event("unrescue_instance")
        with self.svc.events.event(uuid, event, rec.host, actions=("unrescue",)) as step:
            try:
                info = tasks.hv(RESCUE_RPC).unrescue(host=tasks.host(rec.host), instance=instance_of(rec))
            except Exception as exc:  # noqa: BLE001 - stays RESCUE with the fault
                step.failed(exc)
                self.svc.transitions.fault(uuid, exc, task_state=None)
                return
            self.svc.transitions.advance(
                uuid, st.UNRESCUING, vm_state=st.vm_state_for_power(info.state), task_state=None,
                power_state=info.state.value,
            )  # fmt: skip
