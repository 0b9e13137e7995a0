"""Interface attachments (Nova's ``os-interface``; issue 18): a server's ports, and a NIC
hot-plugged into it or taken out of it.

Attach, in the order Nova's compute manager does it, so a refusal changes nothing:

1. the server exists for the caller, is not locked, is ``active``, ``paused`` or ``stopped``
   with no task (409 "Cannot 'attach_interface' instance ... while it is in vm_state ...");
2. its host's driver implements ``hv_attach_interface`` (else Nova's 400 "Attaching
   interfaces is not supported for instance ..."), and a ``tag`` is refused (no driver here
   exposes device tags: Nova's 400 "Tagged network interface attach is not supported ...");
3. the network service makes a port on the network (or takes the caller's port) and binds it
   on the host, which plumbs the tap's bridge there, as before a spawn;
4. the host's agent runs ``hv_attach_interface`` (KVM: libvirt ``attachDeviceFlags`` with
   ``LIVE | CONFIG``); if that fails the port is released again (deleted if it was made here).

Detach takes the NIC out of the guest (``hv_detach_interface``) and then releases the port
with Nova's rule: deleted if Nova made it, unbound and kept if the user gave it.

One attach or detach at a time per server (a lock in this process, the controller's), as
Nova's compute manager serializes them per instance.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import uuid as uuidlib
from collections import defaultdict
from typing import Any

from overcast.compute import states as st
from overcast.compute.action_events import compute_event
from overcast.compute.peers import require
from overcast.compute.records import configured_host, get_instance, instance_of
from overcast.context import RequestContext
from overcast.db.models.compute import InstanceAction, InstanceRecord
from overcast.errors import BadRequest, Conflict, DriverError, Forbidden, NotFound, NotImplementedByBackend
from overcast.hookspecs import HypervisorHooks
from overcast.types import Instance, VifDetails

log = logging.getLogger(__name__)

#: Nova's ``check_instance_state`` for attach_interface and detach_interface (task_state None)
ALLOWED = (st.ACTIVE, st.PAUSED, st.STOPPED)
INTERFACE_RPC = 120.0  # seconds to wait for a host to plug or unplug a NIC

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def _server_lock(uuid: str) -> threading.Lock:
    with _locks_guard:
        return _locks[uuid]


def _uuid(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. {value!r} is not of type 'string'"
        )
    try:
        uuidlib.UUID(value)
    except ValueError:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. '{value}' is not a 'uuid'"
        ) from None
    return value


def parse_request(body: Any, version: tuple[int, int]) -> tuple[str | None, str | None, str | None, str | None]:
    """``(net_id, port_id, fixed_ip, tag)`` from a ``POST .../os-interface`` body, checked as
    Nova's schema (``create``; ``create_v249`` adds ``tag``)."""
    if not isinstance(body, dict):
        raise BadRequest(
            f"Invalid input for field/attribute request body. Value: {body}. {body!r} is not of type 'object'"
        )
    extra = sorted(set(body) - {"interfaceAttachment"})
    if extra:
        raise BadRequest(f"Additional properties are not allowed ('{extra[0]}' was unexpected)")
    att = body.get("interfaceAttachment", {})
    if not isinstance(att, dict):
        raise BadRequest(
            f"Invalid input for field/attribute interfaceAttachment. Value: {att}. {att!r} is not of type 'object'"
        )
    allowed = {"net_id", "port_id", "fixed_ips"} | ({"tag"} if version >= (2, 49) else set())
    extra = sorted(set(att) - allowed)
    if extra:
        raise BadRequest(f"Additional properties are not allowed ('{extra[0]}' was unexpected)")
    net_id = _uuid(att["net_id"], "net_id") if "net_id" in att else None
    port_id = _uuid(att["port_id"], "port_id") if "port_id" in att else None
    fixed_ip = None
    if "fixed_ips" in att:
        ips = att["fixed_ips"]
        if not isinstance(ips, list) or len(ips) != 1:
            raise BadRequest(
                f"Invalid input for field/attribute fixed_ips. Value: {ips}. "
                + (f"{ips!r} is not of type 'array'" if not isinstance(ips, list) else "must hold exactly one item")
            )
        item = ips[0]
        if not isinstance(item, dict) or "ip_address" not in item or set(item) - {"ip_address"}:
            raise BadRequest(
                f"Invalid input for field/attribute fixed_ips. Value: {ips}. 'ip_address' is a required property"
            )
        try:
            fixed_ip = str(ipaddress.ip_address(item["ip_address"]))
        except (ValueError, TypeError):
            raise BadRequest(
                f"Invalid input for field/attribute ip_address. Value: {item['ip_address']}. "
                f"'{item['ip_address']}' is not a 'ip-address'"
            ) from None
    tag = att.get("tag")
    if tag is not None and (not isinstance(tag, str) or not 1 <= len(tag) <= 60 or "/" in tag or "," in tag):
        raise BadRequest(f"Invalid input for field/attribute tag. Value: {tag}. {tag!r} does not match '^[^,/]*$'")
    return net_id, port_id, fixed_ip, tag


class InterfaceAttachments:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.db = runtime.db

    def _hv(self) -> HypervisorHooks:
        return self.runtime.agents.hypervisor(timeout=INTERFACE_RPC)

    def _net(self) -> Any:
        return require(self.runtime, "network", "instance_ports", "Attaching a network interface")

    # --- reading ------------------------------------------------------------------------------

    def list(self, ctx: RequestContext, uuid: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
        return self._net().instance_ports(uuid)

    def get(self, ctx: RequestContext, uuid: str, port_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
        try:
            port = self._net().ports.get(ctx, port_id)
        except NotFound:
            raise NotFound(f"Port id {port_id} could not be found.") from None
        if port["device_id"] != uuid:
            raise NotFound(f"Instance {uuid} does not have a port with id {port_id}")
        return port

    # --- changing -----------------------------------------------------------------------------

    def _gate(self, ctx: RequestContext, uuid: str, action: str) -> tuple[Instance, str]:
        """The server as the driver gets it and its host, if ``action`` may run now (409 if not)."""
        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            if rec.locked and not ctx.is_admin:
                raise Conflict(f"Instance {uuid} is locked")
            if rec.vm_state not in ALLOWED:
                raise Conflict(f"Cannot '{action}' instance {uuid} while it is in vm_state {rec.vm_state}")
            if rec.task_state is not None:
                raise Conflict(f"Cannot '{action}' instance {uuid} while it is in task_state {rec.task_state}")
            if not rec.host:
                raise Conflict(f"Cannot '{action}' instance {uuid} while it is in vm_state {rec.vm_state}")
            return instance_of(rec), rec.host

    def _supports(self, host: str, operation: str) -> bool:
        return bool(self.runtime.agents.compute(host).supports(operation=operation))

    def _record(self, ctx: RequestContext, uuid: str, action: str, project_id: str) -> None:
        with self.db.session() as s:
            s.add(
                InstanceAction(
                    instance_uuid=uuid,
                    action=action,
                    request_id=ctx.request_id,
                    user_id=ctx.user_id,
                    project_id=project_id,
                )
            )

    def _refresh_addresses(self, uuid: str) -> None:
        addresses = self._net().get_instance_addresses(uuid)
        with self.db.session() as s:
            row = s.get(InstanceRecord, uuid)
            if row is not None:
                row.addresses = dict(addresses or {})

    def _pick_network(self, ctx: RequestContext, net: Any) -> str:
        """Nova's choice when neither a network nor a port is given: the one network the
        project may use (its own, or shared; never an external one)."""
        usable = [
            n
            for n in net.networks.list(ctx)
            if not n.get("router:external") and (n.get("shared") or n.get("project_id") == ctx.project_id)
        ]
        if not usable:
            raise BadRequest(
                f"No specific network was requested and none are available for project '{ctx.project_id}'."
            )
        if len(usable) > 1:
            raise BadRequest(
                "More than one possible network found. Specify network ID(s) to select which one(s) to connect to."
            )
        return str(usable[0]["id"])

    def _allocate(
        self,
        ctx: RequestContext,
        net: Any,
        uuid: str,
        host: str,
        net_id: str | None,
        port_id: str | None,
        fixed_ip: str | None,
    ) -> str:
        """Nova's ``allocate_port_for_instance`` with Nova's errors; the port's id."""
        if port_id:
            try:
                port = net.ports.get(ctx, port_id)
            except NotFound:
                raise NotFound(f"Port id {port_id} could not be found.") from None
            if port["device_id"]:
                raise Conflict(f"Port {port_id} is still in use.")
            if not port["fixed_ips"]:
                raise BadRequest(f"Port {port_id} requires a FixedIP in order to be used.")
        else:
            assert net_id is not None
            net.networks.get(ctx, net_id)  # 404 "Network ... could not be found."
        try:
            return str(
                net.allocate_port_for_instance(
                    ctx, uuid, host, network_id=net_id, port_id=port_id, fixed_ip=fixed_ip
                ).id
            )
        except Conflict as exc:
            if exc.code == "IpAddressAlreadyAllocated":
                raise Conflict(f"Fixed IP address {fixed_ip} is already in use on instance {uuid}.") from None
            if exc.code == "OverQuota":
                raise Forbidden("Maximum number of ports exceeded") from None
            if exc.code == "IpAddressGenerationFailure":
                raise BadRequest(f"No fixed IP addresses available for network: {net_id}") from None
            raise

    def attach(
        self,
        ctx: RequestContext,
        uuid: str,
        net_id: str | None,
        port_id: str | None,
        fixed_ip: str | None,
        tag: str | None,
    ) -> dict[str, Any]:
        net = self._net()
        with self.db.session() as s:
            get_instance(s, ctx, uuid)  # 404 first, as Nova
        if net_id and port_id:
            raise BadRequest("Must not input both network_id and port_id")
        if fixed_ip and not net_id:
            raise BadRequest("Must input network_id when request IP address")
        with _server_lock(uuid):
            instance, host = self._gate(ctx, uuid, "attach_interface")
            if not self._supports(host, "attach_interface"):
                raise BadRequest(f"Attaching interfaces is not supported for instance {uuid}.")
            if tag is not None:
                raise BadRequest(f"Tagged network interface attach is not supported for instance {uuid}.")
            if not net_id and not port_id:
                net_id = self._pick_network(ctx, net)
            events = self.runtime.compute.events
            request_id = events.record_action(uuid, "attach_interface", ctx, instance.project_id)
            with events.event(uuid, compute_event("attach_interface"), host, request_id=request_id):
                return self._plug(ctx, net, uuid, instance, host, net_id, port_id, fixed_ip)

    def _plug(
        self,
        ctx: RequestContext,
        net: Any,
        uuid: str,
        instance: Instance,
        host: str,
        net_id: str | None,
        port_id: str | None,
        fixed_ip: str | None,
    ) -> dict[str, Any]:
        """Allocate (or take) the port, bind it on the host and plug it into the guest."""
        made = self._allocate(ctx, net, uuid, host, net_id, port_id, fixed_ip)
        try:
            vif = net.bind_port(ctx, made, host)  # plumbs the port's network on the host first
            self._hv().attach_interface(host=configured_host(self.runtime, host), instance=instance, vif=vif)
        except Exception as exc:
            log.warning("attaching port %s to %s failed: %s", made, uuid, exc)
            try:
                net.release_port(ctx, uuid, made)
            except Exception:  # noqa: BLE001 - the attach failure is what the caller needs
                log.exception("could not release port %s after a failed attach", made)
            if isinstance(exc, DriverError):
                raise DriverError(f"Failed to attach network adapter device to {uuid}") from exc
            raise
        self._refresh_addresses(uuid)
        return net.ports.get(ctx, made)

    def detach(self, ctx: RequestContext, uuid: str, port_id: str) -> None:
        net = self._net()
        with _server_lock(uuid):
            instance, host = self._gate(ctx, uuid, "detach_interface")
            if not any(p["id"] == port_id for p in net.instance_ports(uuid)):
                raise NotFound(f"Port {port_id} is not attached")
            if not self._supports(host, "detach_interface"):
                raise NotImplementedByBackend("The requested functionality is not supported.")
            events = self.runtime.compute.events
            request_id = events.record_action(uuid, "detach_interface", ctx, instance.project_id)
            with events.event(uuid, compute_event("detach_interface"), host, request_id=request_id):
                vif = self._vif(net, uuid, port_id)
                if vif is not None:
                    self._hv().detach_interface(host=configured_host(self.runtime, host), instance=instance, vif=vif)
                net.release_port(ctx, uuid, port_id)
                self._refresh_addresses(uuid)

    # --- Nova's multinic actions (addFixedIp / removeFixedIp, before 2.44) ----------------------

    def add_fixed_ip(self, ctx: RequestContext, uuid: str, args: Any) -> None:
        """Nova's ``add_fixed_ip_to_instance``: one more fixed IP, from the first subnet of
        ``networkId`` that has one to give, on the server's port on that network."""
        if not isinstance(args, dict) or "networkId" not in args:
            raise BadRequest("Invalid input for field/attribute addFixedIp. 'networkId' is a required property")
        network_id = args["networkId"]
        if isinstance(network_id, bool) or not isinstance(network_id, (str, int)):
            raise BadRequest(f"Invalid input for field/attribute networkId. Value: {network_id}.")
        net = self._net()
        with _server_lock(uuid):
            instance, _host = self._gate(ctx, uuid, "add_fixed_ip")
            ports = [p for p in net.instance_ports(uuid) if p["network_id"] == str(network_id)]
            subnets = [x["id"] for x in net.subnets.list(ctx) if x["network_id"] == str(network_id)]
            if not ports or not subnets:
                raise BadRequest(f"Network could not be found for instance {uuid}.")
            for port in ports:
                for subnet_id in subnets:
                    kept = [{"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]} for f in port["fixed_ips"]]
                    try:
                        net.ports.update(ctx, port["id"], {"port": {"fixed_ips": [*kept, {"subnet_id": subnet_id}]}})
                    except (BadRequest, Conflict) as exc:  # that subnet is full: try the next, as Nova
                        log.debug("no fixed IP from subnet %s for port %s: %s", subnet_id, port["id"], exc)
                        continue
                    self._refresh_addresses(uuid)
                    self._record(ctx, uuid, "add_fixed_ip", instance.project_id)
                    return
            raise BadRequest(f"Zero fixed IPs available on network {network_id} for instance {uuid}.")

    def remove_fixed_ip(self, ctx: RequestContext, uuid: str, args: Any) -> None:
        """Nova's ``remove_fixed_ip_from_instance``: the address off the server's port holding it."""
        if not isinstance(args, dict) or "address" not in args:
            raise BadRequest("Invalid input for field/attribute removeFixedIp. 'address' is a required property")
        address = args["address"]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise BadRequest(f"Invalid input for field/attribute address. Value: {address}.") from None
        net = self._net()
        with _server_lock(uuid):
            instance, _host = self._gate(ctx, uuid, "remove_fixed_ip")
            for port in net.instance_ports(uuid):
                held = [f for f in port["fixed_ips"] if f["ip_address"] == address]
                if not held:
                    continue
                kept = [
                    {"subnet_id": f["subnet_id"], "ip_address": f["ip_address"]}
                    for f in port["fixed_ips"]
                    if f["ip_address"] != address
                ]
                net.ports.update(ctx, port["id"], {"port": {"fixed_ips": kept}})
                self._refresh_addresses(uuid)
                self._record(ctx, uuid, "remove_fixed_ip", instance.project_id)
                return
        raise BadRequest(f"Instance {uuid} doesn't have fixed IP '{address}'.")

    @staticmethod
    def _vif(net: Any, uuid: str, port_id: str) -> VifDetails | None:
        """The bound port as the driver plugged it (``None`` if it was never bound)."""
        for vif in net.get_instance_vifs(uuid):
            if vif.port_id == port_id:
                return vif
        return None
