"""The host side of the network service: runs the ``net_*`` hooks of the ``[network]``
driver for this host, as the controller asks (agents never read the database).

On :meth:`NetworkAgent.start` (agent start or restart) it asks the controller's ``network``
topic for this host's whole desired state and re-creates it; every driver hook is
idempotent, so replaying is safe. When the controller is not up yet, the controller pushes
the same state with ``network_apply_state`` when it starts. In an agent process serving many
hosts, once the controller has let one host's question time out the others do not ask again
for ``probe_timeout`` seconds (each would wait that long, one after the other: a thousand
hosts would take hours to start); the controller's push covers them all the same.
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from overcast.bus.rpc import client, rpc
from overcast.errors import OvercastError
from overcast.hookspecs import NetworkHooks
from overcast.network.rpc import NETWORK_TOPIC, HostNetworkState, NetworkRpc
from overcast.types import Backend, MetadataProxy, Network, Port, Router, VifDetails

log = logging.getLogger(__name__)

T = TypeVar("T")

#: bus -> when the controller last left a host's state question unanswered (shared by the
#: network agents of every host one process serves)
_controller_silent: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


class NetworkAgent:
    """The network RPC interface of one host (``network_<method>`` on ``agent.<host>``)."""

    RPC_PREFIX = "network_"

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.runtime = runtime
        self.host_name = host_name

    @property
    def _backend(self) -> Backend | None:
        backend: Backend | None = self.runtime.drivers.network
        return backend

    def _plumb(self, call: Callable[[NetworkHooks, Backend], T], default: T) -> T:
        """``call`` with the ``[network]`` driver and its table; ``default`` when no network
        backend is configured (then there is nothing to plumb)."""
        backend = self._backend
        if backend is None:
            return default
        return call(self.runtime.plugins.driver("network", backend.driver), backend)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._backend is None:
            return
        # a host missing the driver's tools fails here, loudly
        self._plumb(lambda d, b: d.init_host(backend=b, host=self.host_name) if d.supports("init_host") else True, True)
        timeout = self.runtime.config.bus.probe_timeout
        silent_at = _controller_silent.get(self.runtime.bus)
        if silent_at is not None and time.monotonic() - silent_at < timeout:
            log.info(
                "network agent %s: controller not reachable yet; it pushes the state when it starts", self.host_name
            )
            return
        asked_at = time.monotonic()
        try:
            state = client(self.runtime.bus, NETWORK_TOPIC, NetworkRpc, timeout=timeout).host_state(host=self.host_name)
        except OvercastError as exc:
            if time.monotonic() - asked_at >= timeout / 2:
                # only a question that cost the wait is not asked again: an immediate refusal
                # ("nothing is serving 'network'" before the controller starts) costs nothing,
                # and the controller may be serving a moment later
                _controller_silent[self.runtime.bus] = time.monotonic()
            log.info(
                "network agent %s: controller not reachable yet (%s); it pushes the state when it starts",
                self.host_name,
                exc,
            )
            return
        _controller_silent.pop(self.runtime.bus, None)
        self.apply_state(state)

    @rpc
    def apply_state(self, state: HostNetworkState) -> bool:
        """Re-create everything in ``state`` (networks, ports, DHCP, routers) idempotently."""
        failures = []
        steps: list[tuple[str, Callable[[], bool]]] = []
        steps += [("setup_network", functools.partial(self.setup_network, network=n)) for n in state.networks]
        steps += [
            ("setup_dhcp", functools.partial(self.setup_dhcp, network=d.network, ports=d.ports)) for d in state.dhcp
        ]
        steps += [
            ("setup_port", functools.partial(self.setup_port, network=p.network, port=p.port)) for p in state.ports
        ]
        steps += [("setup_router", functools.partial(self.setup_router, router=r)) for r in state.routers]
        for operation, step in steps:
            try:
                step()
            except OvercastError as exc:
                failures.append(f"{operation}: {exc}")
                log.error("network agent %s: %s failed while replaying state: %s", self.host_name, operation, exc)
        if failures:
            log.error("network agent %s: %d of %d replay steps failed", self.host_name, len(failures), len(steps))
        return not failures

    # --- RPCs from the controller ------------------------------------------------------

    @rpc
    def bind_port(self, port: Port) -> VifDetails | None:
        return self._plumb(lambda d, b: d.bind_port(backend=b, host=self.host_name, port=port), None)

    @rpc
    def setup_network(self, network: Network) -> bool:
        return self._plumb(lambda d, b: d.setup_network(backend=b, host=self.host_name, network=network), True)

    @rpc
    def teardown_network(self, network: Network) -> bool:
        return self._plumb(lambda d, b: d.teardown_network(backend=b, host=self.host_name, network=network), True)

    @rpc
    def setup_port(self, network: Network, port: Port) -> bool:
        return self._plumb(lambda d, b: d.setup_port(backend=b, host=self.host_name, network=network, port=port), True)

    @rpc
    def teardown_port(self, port: Port) -> bool:
        return self._plumb(lambda d, b: d.teardown_port(backend=b, host=self.host_name, port=port), True)

    @rpc
    def setup_dhcp(self, network: Network, ports: Sequence[Port]) -> bool:
        done = self._plumb(
            lambda d, b: d.setup_dhcp(backend=b, host=self.host_name, network=network, ports=list(ports)), True
        )
        self._metadata_proxy(MetadataProxy(upstream="", secret_b64="", network_id=network.id), up=True)
        return done

    @rpc
    def teardown_dhcp(self, network: Network) -> bool:
        self._metadata_proxy(MetadataProxy(upstream="", secret_b64="", network_id=network.id), up=False)
        return self._plumb(lambda d, b: d.teardown_dhcp(backend=b, host=self.host_name, network=network), True)

    @rpc
    def setup_router(self, router: Router) -> bool:
        done = self._plumb(lambda d, b: d.setup_router(backend=b, host=self.host_name, router=router), True)
        self._metadata_proxy(MetadataProxy(upstream="", secret_b64="", router_id=router.id), up=True)
        return done

    @rpc
    def teardown_router(self, router: Router) -> bool:
        self._metadata_proxy(MetadataProxy(upstream="", secret_b64="", router_id=router.id), up=False)
        return self._plumb(lambda d, b: d.teardown_router(backend=b, host=self.host_name, router=router), True)

    def _metadata_proxy(self, target: MetadataProxy, up: bool) -> None:
        """Start (or stop) the metadata proxy of a network's DHCP or a router (issue 17), if
        the driver has one. With ``[metadata] port`` 0 there is no metadata API: a proxy
        left from before is stopped."""
        import dataclasses

        from overcast.compute.metadata.signing import secret_b64, shared_secret

        section = self.runtime.config.metadata
        if up and section.port:
            host = "127.0.0.1" if section.host in ("0.0.0.0", "") else "::1" if section.host == "::" else section.host
            proxy = dataclasses.replace(
                target,
                upstream=f"[{host}]:{section.port}" if ":" in host else f"{host}:{section.port}",
                secret_b64=secret_b64(shared_secret(self.runtime.config)),
            )
            self._plumb(
                lambda d, b: (
                    d.setup_metadata_proxy(backend=b, host=self.host_name, proxy=proxy)
                    if d.supports("setup_metadata_proxy")
                    else True
                ),
                True,
            )
        else:
            self._plumb(
                lambda d, b: (
                    d.teardown_metadata_proxy(backend=b, host=self.host_name, proxy=target)
                    if d.supports("teardown_metadata_proxy")
                    else True
                ),
                True,
            )

    @rpc
    def cleanup_host(self) -> bool:
        """``overcast cleanup``: what the driver made for its own configuration (issue 17)."""
        return self._plumb(
            lambda d, b: d.cleanup_host(backend=b, host=self.host_name) if d.supports("cleanup_host") else True, True
        )

    @rpc
    def plug_namespace(self, network: Network, port: Port, namespace: str) -> str:
        """Plug ``port`` into ``namespace`` (a load balancer's VIP); the device's name inside."""
        return self._plumb(
            lambda d, b: d.plug_namespace(
                backend=b, host=self.host_name, network=network, port=port, namespace=namespace
            ),
            "",
        )

    @rpc
    def unplug_namespace(self, port: Port, namespace: str) -> bool:
        return self._plumb(
            lambda d, b: d.unplug_namespace(backend=b, host=self.host_name, port=port, namespace=namespace), True
        )

    @rpc
    def list_resources(self) -> Mapping[str, Sequence[str]]:
        return self._plumb(lambda d, b: d.list_resources(backend=b, host=self.host_name), {})
