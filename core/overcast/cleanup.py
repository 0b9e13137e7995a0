"""What a stopped cloud leaves on its hosts, and removing it (``overcast cleanup``).

``overcast down`` stops the API and the services but, as a data plane should, leaves guests
running and their networks plumbed (bridges, VXLAN devices, namespaces, dnsmasq, firewall
chains, libvirt domains). To take a stopped cloud off a host for good, this reads the
cloud's own database for what it made (so another cloud's plumbing on the same host is
never touched) and asks each host's drivers, through their agents, to undo it: guests are
destroyed with their disks kept, then routers, ports, DHCP and networks are torn down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from overcast.agent import agent_topic
from overcast.errors import DriverError, OvercastError
from overcast.types import Host, Instance, Network, Port, Router

log = logging.getLogger(__name__)


@dataclass
class Leftovers:
    """The cloud's data plane, by host: what its database says it made."""

    instances: list[tuple[str, Instance]] = field(default_factory=list)
    routers: list[Router] = field(default_factory=list)
    ports: list[tuple[str, Port]] = field(default_factory=list)
    networks: list[Network] = field(default_factory=list)

    def rows(self, network_host: str | None) -> list[dict[str, str]]:
        """One row per item, for the listing."""
        out = [
            {"kind": "guest (libvirt domain)", "host": host, "name": i.name, "id": i.uuid} for host, i in self.instances
        ]
        out += [
            {"kind": "router (namespace, veths, NAT)", "host": network_host or "", "name": "", "id": r.id}
            for r in self.routers
        ]
        out += [
            {"kind": "port (tap, firewall chains)", "host": host, "name": p.device_owner, "id": p.id}
            for host, p in self.ports
        ]
        out += [
            {"kind": "network (bridge, VXLAN, DHCP, dnsmasq)", "host": "every host", "name": n.name, "id": n.id}
            for n in self.networks
        ]
        return out


def leftovers(runtime: Any) -> Leftovers:
    from overcast.compute.records import instance_of
    from overcast.db.models.compute import InstanceRecord
    from overcast.db.models.network import NetworkRecord, PortRecord, RouterRecord
    from overcast.network.contracts import network_contract, port_contract, router_contract

    found = Leftovers()
    with runtime.db.session() as s:
        found.instances = [(r.host, instance_of(r)) for r in s.scalars(select(InstanceRecord)) if r.host]
        found.routers = [router_contract(s, r) for r in s.scalars(select(RouterRecord))]
        found.ports = [
            (p.binding_host, port_contract(s, p, with_rules=False))
            for p in s.scalars(select(PortRecord))
            if p.binding_host and not p.device_owner.startswith("network:")
        ]
        found.networks = [network_contract(n) for n in s.scalars(select(NetworkRecord))]
    return found


def remove(runtime: Any, found: Leftovers, network_host: str | None, timeout: float = 120) -> list[str]:
    """Undo ``found`` through the hosts' agents; returns one line per item (what failed says
    why; nothing else is stopped by a failure)."""
    report = []

    def call(host: str, method: str, what: str, **args: Any) -> None:
        try:
            runtime.bus.call(agent_topic(host), method, timeout=timeout, **args)
            report.append(f"removed {what} on {host}")
        except OvercastError as exc:
            report.append(f"FAILED {what} on {host}: {exc}")

    hosts: dict[str, Host] = runtime.drivers.hosts
    hv = runtime.agents.hypervisor(timeout)
    for host, instance in found.instances:
        try:
            if host not in hosts:
                raise DriverError(f"host {host} is not configured")
            hv.destroy(host=hosts[host], instance=instance, destroy_disks=False)
            report.append(f"removed guest {instance.name} on {host}")
        except OvercastError as exc:
            report.append(f"FAILED guest {instance.name} on {host}: {exc}")
    if runtime.drivers.network is not None and network_host:
        for router in found.routers:
            call(network_host, "network_teardown_router", f"router {router.id}", router=router)
        for host, port in found.ports:
            call(host, "network_teardown_port", f"port {port.id}", port=port)
        for network in found.networks:
            call(network_host, "network_teardown_dhcp", f"DHCP of network {network.id}", network=network)
            for host in runtime.drivers.hosts:
                call(host, "network_teardown_network", f"network {network.id}", network=network)
        for host in runtime.drivers.hosts:  # issue 17: host bridges (br-ex) the driver made
            call(host, "network_cleanup_host", "the network driver's host plumbing")
    return report
