"""What host agents ask of the network service over the bus (topic ``network``): a host's
whole desired plumbing, which its agent replays on start. Agents never read the database.

Served by :class:`~overcast.network.service.NetworkService` from ``start()``; the same
:class:`HostNetworkState` is what the controller pushes with ``network_apply_state``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overcast.bus.rpc import rpc
from overcast.types import Network, Port, Router

NETWORK_TOPIC = "network"


@dataclass(frozen=True)
class DhcpState:
    """DHCP served on the network host for ``network``, with the ports it hands addresses to."""

    network: Network
    ports: tuple[Port, ...] = ()


@dataclass(frozen=True)
class BoundPort:
    """A port bound to the host, with its network."""

    network: Network
    port: Port


@dataclass(frozen=True)
class HostNetworkState:
    """Everything one host's network agent plumbs; every step is idempotent to replay."""

    networks: tuple[Network, ...] = ()
    dhcp: tuple[DhcpState, ...] = ()
    ports: tuple[BoundPort, ...] = ()
    routers: tuple[Router, ...] = ()


class NetworkRpc:
    """The ``network`` topic's interface (its methods run on the controller)."""

    def __init__(self, service: Any) -> None:
        self._service = service

    @rpc
    def host_state(self, host: str) -> HostNetworkState:
        state: HostNetworkState = self._service.plumbing.host_state(host)
        return state
