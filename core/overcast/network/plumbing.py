"""Keeping the hosts' plumbing in line with the database, through the host agents.

The controller owns state; after each change it tells the agents what should exist
(``network_setup_*`` / ``network_teardown_*`` RPCs on ``agent.<host>``). Every call is
idempotent, so repeating one, or replaying a host's whole state when its agent starts
(:meth:`Plumbing.host_state`), converges. DHCP and routers run on one *network host*
(``[networking] network_host``, default the first configured host); a network's bridge
exists on that host when it serves DHCP or a router, and on every host with a bound port.

An unreachable agent is logged, not fatal: the API change is committed and the agent
replays the whole state when it (re)starts. Set ``strict = True`` (tests) to raise instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from overcast.agent.network import NetworkAgent
from overcast.db.models.network import (
    IpAllocationRecord,
    NetworkRecord,
    PortRecord,
    PortSecurityGroupRecord,
    RouterRecord,
    SecurityGroupRuleRecord,
)
from overcast.errors import OvercastError, ServiceUnavailable
from overcast.network import contracts, ipam
from overcast.network.db import run_in_transaction
from overcast.network.rpc import BoundPort, DhcpState, HostNetworkState
from overcast.types import Network, Port, Router

log = logging.getLogger(__name__)

T = TypeVar("T")

DHCP_OWNER = "network:dhcp"


class Plumbing:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.strict = False
        # (host, network id) pairs already torn down since this process started, so that
        # every port change does not tear down again what is not there
        self._absent: set[tuple[str, str]] = set()

    # --- where ---------------------------------------------------------------------------

    def hosts(self) -> list[str]:
        return list(self.runtime.drivers.hosts)

    def network_host(self) -> str | None:
        configured = self.runtime.config.networking.network_host
        if configured:
            return configured
        hosts = self.hosts()
        return hosts[0] if hosts else None

    def enabled(self) -> bool:
        return self.runtime.drivers.network is not None and self.network_host() is not None

    def _call(self, host: str, call: Callable[[NetworkAgent], T], timeout: float | None = None) -> T | None:
        """``call`` on ``host``'s network agent; a failure is logged (raised when ``strict``)."""
        try:
            return call(self.runtime.agents.network(host, timeout=timeout))
        except ServiceUnavailable as exc:  # the agent is not up: it asks for its state when it starts
            if self.strict:
                raise
            log.info("network plumbing on %s deferred until its agent starts: %s", host, exc)
            return None
        except OvercastError as exc:
            if self.strict:
                raise
            log.warning("network plumbing on %s failed (the agent replays its state on start): %s", host, exc)
            return None

    # --- contracts (also used by the managers before deleting rows) ----------------------

    def network_contract(self, session: Session, net: NetworkRecord) -> Network:
        return contracts.network_contract(net)

    def port_contract(self, session: Session, port: PortRecord) -> Port:
        """Enough of a port to tear it down (no firewall rules)."""
        return contracts.port_contract(session, port, with_rules=False)

    def router_contract(self, session: Session, router: RouterRecord) -> Router:
        return contracts.router_contract(session, router)

    # --- networks and DHCP ---------------------------------------------------------------

    @staticmethod
    def _dhcp_subnets(net: NetworkRecord) -> list[str]:
        return sorted(s.id for s in net.subnets if s.enable_dhcp and s.ip_version == 4)

    def _needs_network_host(self, session: Session, net: NetworkRecord) -> bool:
        if self._dhcp_subnets(net):
            return True
        owners = session.scalars(select(PortRecord.device_owner).where(PortRecord.network_id == net.id))
        return any(o in ("network:router_interface", "network:router_gateway") for o in owners)

    def _hosts_for(self, session: Session, net: NetworkRecord) -> set[str]:
        hosts = set(
            session.scalars(
                select(PortRecord.binding_host).where(PortRecord.network_id == net.id, PortRecord.binding_host != "")
            )
        )
        if self._needs_network_host(session, net):
            hosts.add(cast(str, self.network_host()))  # callers checked enabled(): there is one
        return hosts

    def _ensure_dhcp_port(self, network_id: str) -> None:
        """One ``network:dhcp`` port with an address on each DHCP-enabled IPv4 subnet."""
        host = self.network_host()

        def work(session: Session, attempt: int) -> None:
            net = session.get(NetworkRecord, network_id)
            if net is None:
                return
            wanted = self._dhcp_subnets(net)
            ports = list(
                session.scalars(
                    select(PortRecord).where(PortRecord.network_id == network_id, PortRecord.device_owner == DHCP_OWNER)
                )
            )
            current = ports[0] if ports else None
            for extra in ports[1:]:
                session.delete(extra)
            if current is not None and sorted(a.subnet_id for a in current.fixed_ips) == wanted:
                return
            if current is not None:
                session.delete(current)
                session.flush()
            if not wanted:
                return
            port = PortRecord(
                project_id=net.project_id,
                network_id=net.id,
                mac_address=self.runtime.network.ports.new_mac(),
                device_id=f"dhcp-{host}",
                device_owner=DHCP_OWNER,
                port_security_enabled=False,
                status="ACTIVE",
                binding_host=host or "",
                binding_vif_details={},
                binding_profile={},
                allowed_address_pairs=[],
            )
            allocations = []
            for sub in net.subnets:
                if sub.id in wanted:
                    ip = ipam.pick_free_address(session, sub, spread=1 + attempt)
                    if ip is None:
                        log.warning("no free address for the DHCP server on subnet %s; DHCP skips it", sub.id)
                        continue
                    allocations.append(IpAllocationRecord(subnet_id=sub.id, ip_address=str(ip), network_id=net.id))
            if allocations:
                port.fixed_ips = allocations
                session.add(port)

        run_in_transaction(self.runtime.db, work)

    def sync_network(self, network_id: str) -> None:
        """Bridge on the hosts that need it (torn down elsewhere), and DHCP matching the ports."""
        if not self.enabled():
            return
        self._ensure_dhcp_port(network_id)
        with self.runtime.db.session() as s:
            net = s.get(NetworkRecord, network_id)
            if net is None:
                return
            network = contracts.network_contract(net)
            wanted = self._hosts_for(s, net)
            dhcp = bool(self._dhcp_subnets(net))
            ports = [
                contracts.port_contract(s, p, with_rules=False)
                for p in s.scalars(
                    select(PortRecord)
                    .options(selectinload(PortRecord.fixed_ips))
                    .where(PortRecord.network_id == network_id)
                )
                if p.fixed_ips
            ]
        net_host = self.network_host()
        for host in self.hosts():
            if host in wanted:
                self._absent.discard((host, network_id))
                self._call(host, lambda agent: agent.setup_network(network=network))
            elif (host, network_id) not in self._absent:
                if host == net_host:
                    self._call(host, lambda agent: agent.teardown_dhcp(network=network))
                if self._call(host, lambda agent: agent.teardown_network(network=network)):
                    self._absent.add((host, network_id))
        if net_host in wanted:
            if dhcp:
                self._call(net_host, lambda agent: agent.setup_dhcp(network=network, ports=ports))
            else:
                self._call(net_host, lambda agent: agent.teardown_dhcp(network=network))

    def teardown_network(self, network: Network) -> None:
        if not self.enabled():
            return
        for host in self.hosts():
            self._absent.discard((host, network.id))
            if host == self.network_host():
                self._call(host, lambda agent: agent.teardown_dhcp(network=network))
            self._call(host, lambda agent: agent.teardown_network(network=network))

    # --- ports ---------------------------------------------------------------------------

    def bind(self, port_id: str, host: str) -> Any:
        """Bind on ``host``: its bridge exists, the driver says how to plug, the firewall is set."""
        with self.runtime.db.session() as s:
            port = s.get(PortRecord, port_id)
            contract = contracts.port_contract(s, port)
            network_id = port.network_id
        self.sync_network(network_id)
        vif = self.runtime.agents.network(host).bind_port(port=contract)
        with self.runtime.db.session() as s:
            port = s.get(PortRecord, port_id)
            port.binding_vif_type = vif.vif_type if vif else "binding_failed"
            port.binding_vif_details = dict(vif.details) if vif else {}
            port.status = "ACTIVE" if vif else "DOWN"
            port.revision_number += 1
        self._setup_port(port_id)
        return vif

    def _setup_port(self, port_id: str) -> None:
        with self.runtime.db.session() as s:
            port = s.get(PortRecord, port_id)
            if port is None or not port.binding_host or port.device_owner.startswith("network:"):
                return
            host, contract = port.binding_host, contracts.port_contract(s, port)
            network = contracts.network_contract(s.get(NetworkRecord, port.network_id))
        self._call(host, lambda agent: agent.setup_port(network=network, port=contract))

    def port_changed(self, port_id: str, old_host: str, old_groups: Iterable[str]) -> None:
        if not self.enabled():
            return
        with self.runtime.db.session() as s:
            port = s.get(PortRecord, port_id)
            if port is None:
                return
            contract = contracts.port_contract(s, port, with_rules=False)
            groups = set(old_groups) | {g.security_group_id for g in port.security_groups}
            network_id, host = port.network_id, port.binding_host
            needs_binding = (
                bool(host)
                and port.binding_vif_type in ("unbound", "binding_failed")
                and not port.device_owner.startswith("network:")
            )
        if old_host and old_host != host:
            self._call(old_host, lambda agent: agent.teardown_port(port=contract))
        if needs_binding:  # a binding host set through the API (as Nova does): bind there
            self.bind(port_id, host)
        else:
            self.sync_network(network_id)
            if host:
                self._setup_port(port_id)
        self.groups_changed(groups, skip={port_id})

    def port_deleted(
        self, port: Port, host: str, network_id: str, groups: Iterable[str], routers: Iterable[str]
    ) -> None:
        if not self.enabled():
            return
        if host and not port.device_owner.startswith("network:"):
            self._call(host, lambda agent: agent.teardown_port(port=port))
        self.sync_network(network_id)
        self.groups_changed(set(groups))
        for router_id in routers:
            self.sync_router(router_id)

    def groups_changed(self, group_ids: set[str], skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Re-apply the firewall of every bound port whose rules depend on these groups."""
        if not self.enabled() or not group_ids:
            return
        with self.runtime.db.session() as s:
            referencing = set(
                s.scalars(
                    select(SecurityGroupRuleRecord.security_group_id).where(
                        SecurityGroupRuleRecord.remote_group_id.in_(group_ids)
                    )
                )
            )
            affected_groups = set(group_ids) | referencing
            port_ids = set(
                s.scalars(
                    select(PortSecurityGroupRecord.port_id)
                    .join(PortRecord, PortRecord.id == PortSecurityGroupRecord.port_id)
                    .where(
                        PortSecurityGroupRecord.security_group_id.in_(affected_groups), PortRecord.binding_host != ""
                    )
                )
            )
        for port_id in sorted(port_ids - set(skip)):
            self._setup_port(port_id)

    # --- routers -------------------------------------------------------------------------

    def _router_networks(self, router: Router) -> set[str]:
        nets = {i.port.network_id for i in router.interfaces}
        if router.external_network is not None:
            nets.add(router.external_network.id)
        return nets

    def sync_router(self, router_id: str) -> None:
        if not self.enabled():
            return
        with self.runtime.db.session() as s:
            record = s.get(RouterRecord, router_id)
            if record is None:
                return
            router = contracts.router_contract(s, record)
        for network_id in sorted(self._router_networks(router)):
            self.sync_network(network_id)
        if (net_host := self.network_host()) is not None:  # enabled() says there is one
            self._call(net_host, lambda agent: agent.setup_router(router=router))

    def teardown_router(self, router: Router) -> None:
        if not self.enabled():
            return
        if (net_host := self.network_host()) is not None:  # enabled() says there is one
            self._call(net_host, lambda agent: agent.teardown_router(router=router))
        for network_id in sorted(self._router_networks(router)):
            self.sync_network(network_id)

    # --- a host's whole state, replayed when its agent starts -----------------------------

    def host_state(self, host: str) -> HostNetworkState:
        networks: list[Network] = []
        dhcp: list[DhcpState] = []
        with self.runtime.db.session() as s:
            for net in s.scalars(select(NetworkRecord).order_by(NetworkRecord.created_at)):
                if host not in self._hosts_for(s, net):
                    continue
                network = contracts.network_contract(net)
                networks.append(network)
                if host == self.network_host() and self._dhcp_subnets(net):
                    ports = [
                        contracts.port_contract(s, p, with_rules=False)
                        for p in s.scalars(select(PortRecord).where(PortRecord.network_id == net.id))
                        if p.fixed_ips
                    ]
                    dhcp.append(DhcpState(network, tuple(ports)))
            bound = s.scalars(
                select(PortRecord).where(
                    PortRecord.binding_host == host,
                    or_(PortRecord.device_owner == "", ~PortRecord.device_owner.startswith("network:")),
                )
            )
            ports_bound = tuple(
                BoundPort(
                    contracts.network_contract(s.get(NetworkRecord, port.network_id)), contracts.port_contract(s, port)
                )
                for port in bound
            )
            routers: tuple[Router, ...] = ()
            if host == self.network_host():
                routers = tuple(
                    contracts.router_contract(s, r)
                    for r in s.scalars(select(RouterRecord).order_by(RouterRecord.created_at))
                )
        return HostNetworkState(tuple(networks), tuple(dhcp), ports_bound, routers)

    def push_all(self) -> None:
        """Send every host its whole state (controller start)."""
        if not self.enabled():
            return
        # a short timeout: an agent that is not up asks for its state itself when it starts
        for host in self.hosts():
            state = self.host_state(host)
            self._call(
                host, lambda agent: agent.apply_state(state=state), timeout=self.runtime.config.bus.probe_timeout
            )
