"""The ``linuxbridge`` network driver: the ``net_*`` hooks, over the modules that do the work.

One bridge per network (``ocnb…``); VXLAN networks add a VXLAN device (``ocnx…``) with
unicast flood entries to the other hosts' VTEPs (``vteps``); flat networks attach the
physical interface mapped to their physical network, if any. Calls are serialised per
process (iptables and namespaces are shared state) and idempotent.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from overcast.errors import ConfigError, DriverError
from overcast.hookspecs import hookimpl
from overcast.types import Backend, MetadataProxy, Network, Port, Router, VifDetails

from overcast_net_linuxbridge import arpfilter, dhcp, firewall, hostbridge, links, metadata, names
from overcast_net_linuxbridge import router as routers
from overcast_net_linuxbridge.cmd import run

TOOLS = ("ip", "bridge", "iptables", "iptables-restore", "ip6tables", "ip6tables-restore", "ebtables", "dnsmasq")
# haproxy (the metadata proxies) is checked when one is set up: a cloud without a metadata API needs none


def _pairs(backend: Backend, option: str, sep: str) -> dict[str, str]:
    out = {}
    for entry in backend.options.get(option) or []:
        key, found, value = str(entry).partition(sep)
        if not found or not key or not value:
            raise ConfigError(f"[network] {option}: entry {entry!r} must look like 'name{sep}value'")
        out[key] = value
    return out


def _state_base(backend: Backend) -> str:
    return backend.state_dir or "/var/lib/overcast/network"


class LinuxBridgeDriver:
    def __init__(self) -> None:
        self.lock = threading.RLock()

    # --- hosts and networks --------------------------------------------------------------

    @hookimpl
    def net_init_host(self, backend: Backend, host: str) -> bool:
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise DriverError(f"linuxbridge on {host}: missing {', '.join(missing)} (run scripts/install-host-deps.sh)")
        Path(_state_base(backend)).mkdir(parents=True, exist_ok=True)
        for name, cidr in hostbridge.parse(backend.options.get("host_bridges")).items():
            with self.lock:
                hostbridge.ensure(name, cidr)
        return True

    @hookimpl
    def net_cleanup_host(self, backend: Backend, host: str) -> bool:
        with self.lock:
            for name in hostbridge.parse(backend.options.get("host_bridges")):
                hostbridge.remove(name)
        return True

    def _setup_network(self, backend: Backend, host: str, network: Network) -> None:
        vteps = _pairs(backend, "vteps", "=")  # options first: a bad one makes nothing
        mappings = _pairs(backend, "physical_interface_mappings", ":")
        if network.network_type not in ("vxlan", "flat"):
            raise DriverError(f"linuxbridge: network type {network.network_type!r} is not supported here")
        if network.network_type == "vxlan" and network.segmentation_id is None:
            raise DriverError(f"linuxbridge: VXLAN network {network.id} has no segmentation id")
        bridge = names.bridge(network.id)
        links.ensure_bridge(bridge, network.mtu)
        if network.network_type == "vxlan":
            device = names.vxlan(network.id)
            links.ensure_vxlan(
                device,
                network.segmentation_id,
                int(backend.options.get("vxlan_port") or 4789),
                network.mtu,
                vteps.get(host),
                backend.options.get("vxlan_interface") or None,
            )
            links.attach(device, bridge)
            links.set_flood_peers(device, [ip for name, ip in sorted(vteps.items()) if name != host])
        else:
            interface = mappings.get(network.physical_network or "")
            host_bridges = hostbridge.parse(backend.options.get("host_bridges"))
            if interface in host_bridges:
                hostbridge.ensure(interface, host_bridges[interface])
                hostbridge.patch(network.id, interface, bridge, network.mtu)
            elif interface:
                if not links.link_exists(interface):
                    raise DriverError(
                        f"linuxbridge on {host}: interface {interface} for physical network "
                        f"{network.physical_network} does not exist"
                    )
                links.attach(interface, bridge)

    @hookimpl
    def net_setup_network(self, backend: Backend, host: str, network: Network) -> bool:
        with self.lock:
            self._setup_network(backend, host, network)
        return True

    @hookimpl
    def net_teardown_network(self, backend: Backend, host: str, network: Network) -> bool:
        with self.lock:
            metadata.teardown(_state_base(backend), _network_proxy(network.id))
            dhcp.teardown(_state_base(backend), network.id)
            hostbridge.unpatch(network.id)
            links.delete_link(names.vxlan(network.id))
            links.delete_link(names.bridge(network.id))
        return True

    # --- ports ---------------------------------------------------------------------------

    @hookimpl
    def net_bind_port(self, backend: Backend, host: str, port: Port) -> VifDetails | None:
        bridge = names.bridge(port.network_id)
        mtu = links.mtu_of(bridge) if links.link_exists(bridge) else 1500
        return VifDetails(
            vif_type="bridge",
            port_id=port.id,
            mac_address=port.mac_address,
            network_id=port.network_id,
            mtu=mtu,
            details={"bridge": bridge, "devname": names.tap(port.id), "port_filter": True},
        )

    @hookimpl
    def net_setup_port(self, backend: Backend, host: str, network: Network, port: Port) -> bool:
        with self.lock:
            tap = names.tap(port.id)
            if links.link_exists(tap):  # plugged already (e.g. the bridge was re-created after a restart)
                self._setup_network(backend, host, network)
                links.attach(tap, names.bridge(network.id))
            if port.port_security_enabled:
                firewall.apply_port(port)
                arpfilter.apply(port)
            else:
                firewall.remove_port(port.id)
                arpfilter.remove(port.id)
        return True

    @hookimpl
    def net_teardown_port(self, backend: Backend, host: str, port: Port) -> bool:
        with self.lock:
            firewall.remove_port(port.id)
            arpfilter.remove(port.id)
        return True

    # --- ports plugged into a service's namespace (a load balancer's VIP) ------------------

    @hookimpl
    def net_plug_namespace(self, backend: Backend, host: str, network: Network, port: Port, namespace: str) -> str:
        """The port as a veth: its host side named like a guest's tap (``ocnt…``) in the
        network's bridge, so the port's security groups apply to it; inside, ``vip0`` with
        the port's MAC and addresses and a default route through the subnet's gateway."""
        cidrs = {s.id: s for s in network.subnets}
        addresses = [
            f"{ip.ip_address}/{cidrs[ip.subnet_id].cidr.split('/')[1]}"
            for ip in port.fixed_ips
            if ip.subnet_id in cidrs
        ]
        if not addresses:
            raise DriverError(
                f"linuxbridge: port {port.id} has no address on network {network.id} to plug into {namespace}"
            )
        gateway = next(
            (
                cidrs[ip.subnet_id].gateway_ip
                for ip in port.fixed_ips
                if ip.subnet_id in cidrs and cidrs[ip.subnet_id].gateway_ip
            ),
            None,
        )
        with self.lock:
            self._setup_network(backend, host, network)
            links.ensure_namespace(namespace)
            inner = names.SERVICE_INNER
            links.ensure_veth(
                names.tap(port.id), inner, namespace, names.bridge(network.id), network.mtu, port.mac_address
            )
            links.set_addresses(namespace, inner, addresses)
            if gateway:
                run(["ip", "-n", namespace, "route", "replace", "default", "via", gateway, "dev", inner])
            if port.port_security_enabled:
                firewall.apply_port(port)
                arpfilter.apply(port)
        return inner

    @hookimpl
    def net_unplug_namespace(self, backend: Backend, host: str, port: Port, namespace: str) -> bool:
        with self.lock:
            links.delete_link(names.tap(port.id))
            firewall.remove_port(port.id)
            arpfilter.remove(port.id)
            links.delete_namespace(namespace)
        return True

    # --- DHCP and routers ----------------------------------------------------------------

    @hookimpl
    def net_setup_dhcp(self, backend: Backend, host: str, network: Network, ports: Sequence[Port]) -> bool:
        with self.lock:
            self._setup_network(backend, host, network)
            dhcp.setup(_state_base(backend), network, list(ports), int(backend.options.get("dhcp_lease_time") or 86400))
        return True

    @hookimpl
    def net_teardown_dhcp(self, backend: Backend, host: str, network: Network) -> bool:
        with self.lock:
            metadata.teardown(_state_base(backend), _network_proxy(network.id))
            dhcp.teardown(_state_base(backend), network.id)
        return True

    @hookimpl
    def net_setup_router(self, backend: Backend, host: str, router: Router) -> bool:
        with self.lock:
            if router.external_network is not None:
                self._setup_network(backend, host, router.external_network)
            routers.setup(router, metadata.router_nat_rules(_state_base(backend), router.id))
        return True

    @hookimpl
    def net_teardown_router(self, backend: Backend, host: str, router: Router) -> bool:
        with self.lock:
            metadata.teardown(_state_base(backend), MetadataProxy(upstream="", secret_b64="", router_id=router.id))
            routers.teardown(router)
        return True

    # --- the metadata service (issue 17) --------------------------------------------------

    @hookimpl
    def net_setup_metadata_proxy(self, backend: Backend, host: str, proxy: MetadataProxy) -> bool:
        base = _state_base(backend)
        lease = int(backend.options.get("dhcp_lease_time") or 86400)
        with self.lock:
            if proxy.network_id:
                # the DHCP interface takes 169.254.169.254 (and hands out the route) first
                metadata.setup(base, proxy, before_start=lambda: dhcp.refresh(base, proxy.network_id, lease))
            else:
                metadata.setup(base, proxy)
        return True

    @hookimpl
    def net_teardown_metadata_proxy(self, backend: Backend, host: str, proxy: MetadataProxy) -> bool:
        base = _state_base(backend)
        with self.lock:
            was = metadata.state_dir(base, proxy).exists()
            metadata.teardown(base, proxy)
            if was and proxy.network_id:
                dhcp.refresh(base, proxy.network_id, int(backend.options.get("dhcp_lease_time") or 86400))
        return True

    @hookimpl
    def net_list_resources(self, backend: Backend, host: str) -> Mapping[str, Sequence[str]]:
        ours = sorted(n for n in links.link_names() if names.is_ours(n))
        return {
            "bridges": [n for n in ours if n.startswith(f"{names.PREFIX}b")],
            "vxlan": [n for n in ours if n.startswith(f"{names.PREFIX}x")],
            "veths": [n for n in ours if n[len(names.PREFIX)] in "drgpq"],
            "namespaces": [n for n in links.namespaces() if names.is_ours(n)],
            "dnsmasq": dhcp.our_processes(_state_base(backend)),
            "haproxy": metadata.our_processes(_state_base(backend)),
            "iptables_chains": firewall.our_chains(4),
            "ip6tables_chains": firewall.our_chains(6),
            "ebtables_chains": arpfilter.our_chains(),
        }


def _network_proxy(network_id: str) -> MetadataProxy:
    return MetadataProxy(upstream="", secret_b64="", network_id=network_id)


def fdb_entries(device: str) -> list[str]:
    """The VXLAN device's flood entries (for tests and diagnostics)."""
    return [
        line
        for line in run(["bridge", "fdb", "show", "dev", device]).stdout.splitlines()
        if line.startswith("00:00:00:00:00:00")
    ]
