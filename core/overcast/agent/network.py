"""The host side of the network service: runs the ``net_*`` hooks of the ``[network]``
driver for this host, as the controller asks (agents never read the database).

On :meth:`NetworkAgent.start` (agent start or restart) it asks the controller's ``network``
topic for this host's whole desired state and re-creates it; every driver hook is
idempotent, so replaying is safe. When the controller is not up yet, the controller pushes
the same state with ``network_apply_state`` when it starts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from overcast.bus.rpc import client, rpc
from overcast.errors import OvercastError
from overcast.network.rpc import NETWORK_TOPIC, HostNetworkState, NetworkRpc
from overcast.types import Network, Port, Router, VifDetails

log = logging.getLogger(__name__)


class NetworkAgent:
    """The network RPC interface of one host (``network_<method>`` on ``agent.<host>``)."""

    RPC_PREFIX = "network_"

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.runtime = runtime
        self.host_name = host_name

    @property
    def _backend(self) -> Any:
        return self.runtime.drivers.network

    def _driver(self) -> Any:
        return self.runtime.plugins.driver("network", self._backend.driver)

    def _run(self, operation: str, **args: Any) -> Any:
        if self._backend is None:
            return True  # no network backend configured: nothing to plumb
        return self._driver().call(operation, backend=self._backend, host=self.host_name, **args)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._backend is None:
            return
        if self._driver().supports("init_host"):
            self._run("init_host")  # a host missing the driver's tools fails here, loudly
        try:
            controller = client(self.runtime.bus, NETWORK_TOPIC, NetworkRpc, timeout=self.runtime.config.bus.probe_timeout)
            state = controller.host_state(host=self.host_name)
        except OvercastError as exc:
            log.info("network agent %s: controller not reachable yet (%s); it pushes the state when it starts", self.host_name, exc)
            return
        self.apply_state(state)

    @rpc
    def apply_state(self, state: HostNetworkState) -> bool:
        """Re-create everything in ``state`` (networks, ports, DHCP, routers) idempotently."""
        failures = []
        steps: list[tuple[str, dict[str, Any]]] = []
        steps += [("setup_network", {"network": n}) for n in state.networks]
        steps += [("setup_dhcp", {"network": d.network, "ports": list(d.ports)}) for d in state.dhcp]
        steps += [("setup_port", {"network": p.network, "port": p.port}) for p in state.ports]
        steps += [("setup_router", {"router": r}) for r in state.routers]
        for operation, args in steps:
            try:
                self._run(operation, **args)
            except OvercastError as exc:
                failures.append(f"{operation}: {exc}")
                log.error("network agent %s: %s failed while replaying state: %s", self.host_name, operation, exc)
        if failures:
            log.error("network agent %s: %d of %d replay steps failed", self.host_name, len(failures), len(steps))
        return not failures

    # --- RPCs from the controller ------------------------------------------------------

    @rpc
    def bind_port(self, port: Port) -> VifDetails | None:
        if self._backend is None:
            return None
        return self._driver().call("bind_port", backend=self._backend, host=self.host_name, port=port)

    @rpc
    def setup_network(self, network: Network) -> bool:
        return self._run("setup_network", network=network)

    @rpc
    def teardown_network(self, network: Network) -> bool:
        return self._run("teardown_network", network=network)

    @rpc
    def setup_port(self, network: Network, port: Port) -> bool:
        return self._run("setup_port", network=network, port=port)

    @rpc
    def teardown_port(self, port: Port) -> bool:
        return self._run("teardown_port", port=port)

    @rpc
    def setup_dhcp(self, network: Network, ports: Sequence[Port]) -> bool:
        return self._run("setup_dhcp", network=network, ports=list(ports))

    @rpc
    def teardown_dhcp(self, network: Network) -> bool:
        return self._run("teardown_dhcp", network=network)

    @rpc
    def setup_router(self, router: Router) -> bool:
        return self._run("setup_router", router=router)

    @rpc
    def teardown_router(self, router: Router) -> bool:
        return self._run("teardown_router", router=router)

    @rpc
    def list_resources(self) -> Mapping[str, Sequence[str]]:
        if self._backend is None:
            return {}
        return self._run("list_resources")
