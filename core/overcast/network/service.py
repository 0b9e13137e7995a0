"""``NetworkService``: the network service's interface, for the API and for compute.

The API calls the resource managers (``service.networks``, ``.subnets``, ``.ports``,
``.security_groups``, ``.routers``, ``.floating_ips``, ``.quotas``), which return Neutron
resource dicts. Compute uses the few methods below: make or take a port for a server,
bind it on a host (``VifDetails`` for the hypervisor), list a server's addresses, and
release its ports.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from sqlalchemy import select

from overcast.context import RequestContext
from overcast.db.models.network import (
    FloatingIpRecord,
    IpAllocationRecord,
    NetworkRecord,
    PortRecord,
    PortSecurityGroupRecord,
    SecurityGroupRecord,
)
from overcast.errors import Conflict, NotFound
from overcast.network import contracts
from overcast.network.floatingips import FloatingIpManager
from overcast.network.lookup import get_owned
from overcast.network.networks import NetworkManager
from overcast.network.plumbing import Plumbing
from overcast.network.ports import PortManager
from overcast.network.quotas import Quotas
from overcast.network.rpc import NETWORK_TOPIC, NetworkRpc
from overcast.network.routers import RouterManager
from overcast.network.secgroups import SecurityGroupManager
from overcast.network.subnetpools import SubnetPoolManager
from overcast.network.subnets import SubnetManager
from overcast.types import Network, Port, VifDetails

log = logging.getLogger(__name__)

COMPUTE_OWNER = "compute:nova"


class NetworkService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.quotas = Quotas(runtime)
        self.plumbing = Plumbing(runtime)
        self.networks = NetworkManager(runtime, self)
        self.subnets = SubnetManager(runtime, self)
        self.subnet_pools = SubnetPoolManager(runtime)
        self.ports = PortManager(runtime, self)
        self.security_groups = SecurityGroupManager(runtime, self)
        self.routers = RouterManager(runtime, self)
        self.floating_ips = FloatingIpManager(runtime, self)
        self._serving = False

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Serve the ``network`` topic (agents ask it for their state) and push every host
        its state, so plumbing lost while the controller was down comes back."""
        self.runtime.bus.serve(NETWORK_TOPIC, NetworkRpc(self))
        self._serving = True
        self.plumbing.push_all()

    def close(self) -> None:
        if self._serving:
            self.runtime.bus.stop_serving("network")
            self._serving = False

    # --- for compute ---------------------------------------------------------------------

    def allocate_port_for_instance(
        self,
        ctx: RequestContext,
        instance_uuid: str,
        host: str,
        network_id: str | None = None,
        port_id: str | None = None,
        fixed_ip: str | None = None,
        security_groups: list[str] | None = None,
    ) -> Port:
        """Make a port on ``network_id`` (or take the caller's ``port_id``) for the server; a
        port made here gets ``security_groups`` (None: the project's default group)."""
        if port_id:
            with self.runtime.db.session() as s:
                port = get_owned(s, ctx, PortRecord, port_id)
                if port.device_id and port.device_id != instance_uuid:
                    raise Conflict(f"Port {port_id} is still in use.", code="PortInUse")
            self.ports.update(ctx, port_id, {"port": {"device_id": instance_uuid, "device_owner": COMPUTE_OWNER}})
        else:
            body: dict[str, Any] = {"network_id": network_id, "device_id": instance_uuid, "device_owner": COMPUTE_OWNER}
            if fixed_ip:
                body["fixed_ips"] = [{"ip_address": fixed_ip}]
            if security_groups is not None:
                body["security_groups"] = security_groups
            port_id = self.ports.create(ctx, {"port": body}, delete_with_device=True)["id"]
        with self.runtime.db.session() as s:
            port = s.get(PortRecord, port_id)
            port.binding_host = host
            port.revision_number += 1
            s.flush()
            return contracts.port_contract(s, port)

    def bind_port(self, ctx: RequestContext, port_id: str, host: str) -> VifDetails:
        """Plumb the port's network on ``host`` and ask the driver how to plug it."""
        with self.runtime.db.session() as s:
            port = get_owned(s, ctx, PortRecord, port_id)
            old_host, network_id = port.binding_host, port.network_id
            gone = contracts.port_contract(s, port, with_rules=False)
            port.binding_host = host
        if old_host and old_host != host and self.plumbing.enabled():  # moved (a migration): clean the old host
            self.plumbing._call(old_host, lambda agent: agent.teardown_port(port=gone))
        vif = self.plumbing.bind(port_id, host)
        if old_host and old_host != host:
            self.plumbing.sync_network(network_id)
        if vif is None:
            from overcast.errors import DriverError

            raise DriverError(f"no network driver could bind port {port_id} on host {host}", code="PortBindingFailed")
        return vif

    def get_instance_vifs(self, instance_uuid: str) -> list[VifDetails]:
        """The bound ports of a server as ``VifDetails`` (to re-plug after a host restart)."""
        with self.runtime.db.session() as s:
            ports = s.scalars(
                select(PortRecord).where(PortRecord.device_id == instance_uuid).order_by(PortRecord.created_at)
            )
            return [
                VifDetails(
                    vif_type=p.binding_vif_type,
                    port_id=p.id,
                    mac_address=p.mac_address,
                    network_id=p.network_id,
                    mtu=s.get(NetworkRecord, p.network_id).mtu,
                    details=dict(p.binding_vif_details),
                )
                for p in ports
                if p.binding_vif_type not in ("unbound", "binding_failed")
            ]

    def get_instance_addresses(self, instance_uuid: str) -> dict[str, list[dict[str, Any]]]:
        """Nova's ``addresses``: network name -> fixed (and floating) addresses of the server."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.runtime.db.session() as s:
            ports = s.scalars(
                select(PortRecord).where(PortRecord.device_id == instance_uuid).order_by(PortRecord.created_at)
            )
            for port in ports:
                net = s.get(NetworkRecord, port.network_id)
                entries = out.setdefault(net.name or net.id, [])
                for alloc in port.fixed_ips:
                    entries.append(
                        {
                            "version": ipaddress.ip_address(alloc.ip_address).version,
                            "addr": alloc.ip_address,
                            "OS-EXT-IPS:type": "fixed",
                            "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                        }
                    )
                for fip in s.scalars(select(FloatingIpRecord).where(FloatingIpRecord.fixed_port_id == port.id)):
                    entries.append(
                        {
                            "version": 4,
                            "addr": fip.floating_ip_address,
                            "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": port.mac_address,
                        }
                    )
        return out

    def instance_security_groups(self, instance_uuids: list[str]) -> dict[str, list[str]]:
        """Nova's ``security_groups`` of each server: the names of the groups on its ports
        (a server without any is left out)."""
        out: dict[str, set[str]] = {}
        if not instance_uuids:
            return {}
        with self.runtime.db.session() as s:
            rows = s.execute(
                select(PortRecord.device_id, SecurityGroupRecord.name)
                .join(PortSecurityGroupRecord, PortSecurityGroupRecord.port_id == PortRecord.id)
                .join(SecurityGroupRecord, SecurityGroupRecord.id == PortSecurityGroupRecord.security_group_id)
                .where(PortRecord.device_id.in_(instance_uuids))
            )
            for device_id, name in rows:
                out.setdefault(device_id, set()).add(name)
        return {uuid: sorted(names) for uuid, names in out.items()}

    # --- for the load-balancer service ---------------------------------------------------

    def port_and_network(self, port_id: str) -> tuple[Port, Network]:
        """A port with its firewall rules and its network, as the drivers take them."""
        with self.runtime.db.session() as s:
            port = s.get(PortRecord, port_id)
            if port is None:
                raise NotFound(f"Port {port_id} could not be found.", code="PortNotFound")
            return contracts.port_contract(s, port), contracts.network_contract(s.get(NetworkRecord, port.network_id))

    def routed_subnets(self, subnet_id: str) -> set[str]:
        """The subnets a host on ``subnet_id`` reaches through its gateway: those on an
        interface of a router that also has an interface on ``subnet_id``."""
        with self.runtime.db.session() as s:
            on_subnet = select(PortRecord.device_id).where(
                PortRecord.device_owner == "network:router_interface",
                PortRecord.fixed_ips.any(IpAllocationRecord.subnet_id == subnet_id),
            )
            interfaces = s.scalars(
                select(PortRecord).where(
                    PortRecord.device_owner == "network:router_interface", PortRecord.device_id.in_(on_subnet)
                )
            )
            return {alloc.subnet_id for port in interfaces for alloc in port.fixed_ips}

    def deallocate_ports(self, ctx: RequestContext, instance_uuid: str) -> None:
        """Release a deleted server's ports: delete those made for it, unbind the user's own."""
        with self.runtime.db.session() as s:
            ports = [
                (p.id, p.delete_with_device)
                for p in s.scalars(select(PortRecord).where(PortRecord.device_id == instance_uuid))
            ]
        for port_id, made_for_it in ports:
            if made_for_it:
                self.ports.delete(ctx, port_id, internal=True)
            else:
                self.ports.update(ctx, port_id, {"port": {"device_id": "", "device_owner": "", "binding:host_id": ""}})

    def instance_ports(self, instance_uuid: str) -> list[dict[str, Any]]:
        """The server's ports as Neutron shows them, oldest first (Nova's ``os-interface``)."""
        from overcast.network.views import port_view

        with self.runtime.db.session() as s:
            ports = s.scalars(
                select(PortRecord).where(PortRecord.device_id == instance_uuid).order_by(PortRecord.created_at)
            )
            return [port_view(p) for p in ports]

    def release_port(self, ctx: RequestContext, instance_uuid: str, port_id: str) -> None:
        """Take one port off a server (an interface detach): delete it if it was made for the
        server, unbind the user's own, as :meth:`deallocate_ports` does for all of them."""
        with self.runtime.db.session() as s:
            port = s.get(PortRecord, port_id)
            if port is None or port.device_id != instance_uuid:
                raise NotFound(f"Port {port_id} is not attached", code="PortNotFound")
            made_for_it = port.delete_with_device
        if made_for_it:
            self.ports.delete(ctx, port_id, internal=True)
        else:
            self.ports.update(ctx, port_id, {"port": {"device_id": "", "device_owner": "", "binding:host_id": ""}})

    # --- for the metadata service (issue 17) ----------------------------------------------

    def metadata_device_at(self, ip_address: str, network_id: str | None, router_id: str | None) -> str | None:
        """The server whose port holds ``ip_address`` on the network (or behind the router)."""
        from overcast.network.guestinfo import device_at

        with self.runtime.db.session() as s:
            return device_at(s, ip_address, network_id=network_id, router_id=router_id)

    def guest_ports(self, instance_uuid: str) -> list[Any]:
        """The server's ports with subnets and floating IPs (``guestinfo.GuestPort``)."""
        from overcast.network.guestinfo import guest_ports

        with self.runtime.db.session() as s:
            return guest_ports(s, instance_uuid)
