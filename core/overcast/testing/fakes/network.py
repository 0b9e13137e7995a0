"""A network driver that records the plumbing asked of it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from overcast.errors import DriverError
from overcast.hookspecs import hookimpl
from overcast.types import (
    Backend,
    MetadataProxy,
    Network,
    Port,
    Router,
    VifDetails,
)


class FakeNetworkDriver:
    """Records the plumbing it was asked for, so tests can check set-up and tear-down."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))

    @hookimpl
    def net_init_host(self, backend: Backend, host: str) -> bool:
        self.state[host]
        return True

    @hookimpl
    def net_bind_port(self, backend: Backend, host: str, port: Port) -> VifDetails | None:
        return VifDetails(
            vif_type="bridge",
            port_id=port.id,
            mac_address=port.mac_address,
            network_id=port.network_id,
            details={"bridge": f"ocbr-{port.network_id[:8]}", "devname": f"octap{port.id[:8]}"},
        )

    @hookimpl
    def net_setup_network(self, backend: Backend, host: str, network: Network) -> bool:
        self.state[host]["networks"][network.id] = network
        return True

    @hookimpl
    def net_teardown_network(self, backend: Backend, host: str, network: Network) -> bool:
        self.state[host]["networks"].pop(network.id, None)
        return True

    @hookimpl
    def net_setup_port(self, backend: Backend, host: str, network: Network, port: Port) -> bool:
        self.state[host]["ports"][port.id] = port
        return True

    @hookimpl
    def net_teardown_port(self, backend: Backend, host: str, port: Port) -> bool:
        self.state[host]["ports"].pop(port.id, None)
        return True

    @hookimpl
    def net_setup_dhcp(self, backend: Backend, host: str, network: Network, ports: Sequence[Port]) -> bool:
        self.state[host]["dhcp"][network.id] = tuple(ports)
        return True

    @hookimpl
    def net_teardown_dhcp(self, backend: Backend, host: str, network: Network) -> bool:
        self.state[host]["dhcp"].pop(network.id, None)
        return True

    @hookimpl
    def net_setup_router(self, backend: Backend, host: str, router: Router) -> bool:
        self.state[host]["routers"][router.id] = router
        return True

    @hookimpl
    def net_teardown_router(self, backend: Backend, host: str, router: Router) -> bool:
        self.state[host]["routers"].pop(router.id, None)
        return True

    @hookimpl
    def net_setup_metadata_proxy(self, backend: Backend, host: str, proxy: MetadataProxy) -> bool:
        self.state[host]["metadata_proxies"][proxy.network_id or proxy.router_id] = proxy
        return True

    @hookimpl
    def net_teardown_metadata_proxy(self, backend: Backend, host: str, proxy: MetadataProxy) -> bool:
        self.state[host]["metadata_proxies"].pop(proxy.network_id or proxy.router_id, None)
        return True

    @hookimpl
    def net_plug_namespace(self, backend: Backend, host: str, network: Network, port: Port, namespace: str) -> str:
        if not port.fixed_ips:
            raise DriverError(f"port {port.id} has no fixed IP to serve in namespace {namespace}")
        self.state[host]["networks"][network.id] = network
        self.state[host]["namespaces"][namespace] = port
        return "vip0"

    @hookimpl
    def net_unplug_namespace(self, backend: Backend, host: str, port: Port, namespace: str) -> bool:
        self.state[host]["namespaces"].pop(namespace, None)
        self.state[host]["ports"].pop(port.id, None)
        return True

    @hookimpl
    def net_list_resources(self, backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
        return {kind: sorted(items) for kind, items in self.state[host].items() if items}
