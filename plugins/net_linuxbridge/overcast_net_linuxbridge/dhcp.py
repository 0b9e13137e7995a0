"""DHCP: one dnsmasq per network, in its own namespace, with a static lease per port.

dnsmasq hands out only the addresses IPAM chose (``static`` ranges plus a hosts file of
``MAC,IP`` lines). When the ports change, the hosts and options files are rewritten and
dnsmasq is sent SIGHUP; when the subnets change, it is restarted. ``--no-ping`` avoids a
3 s wait per lease. DNS is off (``--port=0``): guests get the subnet's nameservers.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import time
from pathlib import Path

from overcast.errors import DriverError
from overcast.types import Network, Port, Subnet, from_dict, to_dict

from overcast_net_linuxbridge import links, metadata, names
from overcast_net_linuxbridge.cmd import run

DHCP_OWNER = "network:dhcp"


def state_dir(base: str, network_id: str) -> Path:
    return Path(base) / "dhcp" / network_id


def _dhcp_subnets(network: Network) -> list[Subnet]:
    return [s for s in network.subnets if s.enable_dhcp and s.ip_version == 4]


def _server_addresses(network: Network, ports: list[Port]) -> tuple[str | None, list[str]]:
    """The DHCP server's MAC and ``ip/prefix`` list: its ``network:dhcp`` port's, or, when the
    core sent none, the highest address of each subnet outside its pools and gateway."""
    own = next((p for p in ports if p.device_owner == DHCP_OWNER), None)
    subnets = {s.id: s for s in _dhcp_subnets(network)}
    if own is not None:
        cidrs = [
            f"{ip.ip_address}/{ipaddress.ip_network(subnets[ip.subnet_id].cidr).prefixlen}"
            for ip in own.fixed_ips
            if ip.subnet_id in subnets
        ]
        return own.mac_address, cidrs
    cidrs = []
    for sub in subnets.values():
        net = ipaddress.ip_network(sub.cidr)
        pools = [(ipaddress.ip_address(p.start), ipaddress.ip_address(p.end)) for p in sub.allocation_pools]
        taken = {ipaddress.ip_address(ip.ip_address) for p in ports for ip in p.fixed_ips}
        candidate = net.broadcast_address - 1
        while candidate > net.network_address and (
            any(a <= candidate <= b for a, b in pools) or str(candidate) == sub.gateway_ip or candidate in taken
        ):
            candidate -= 1
        if candidate > net.network_address:
            cidrs.append(f"{candidate}/{net.prefixlen}")
    return None, cidrs


def _hosts_lines(network: Network, ports: list[Port]) -> list[str]:
    subnet_ids = {s.id for s in _dhcp_subnets(network)}
    lines = []
    for port in ports:
        if port.device_owner.startswith("network:"):
            continue
        for ip in port.fixed_ips:
            if ip.subnet_id in subnet_ids:
                lines.append(f"{port.mac_address},host-{ip.ip_address.replace('.', '-')},{ip.ip_address}")
    return sorted(lines)


ROUTER_INTERFACE_OWNERS = ("network:router_interface", "network:router_interface_distributed")


def _isolated_metadata_hops(network: Network, ports: list[Port], cidrs: list[str]) -> dict[str, str]:
    """Subnet id -> the DHCP server's address on it, for subnets no router serves (Neutron's
    ``enable_isolated_metadata``: their guests reach 169.254.169.254 through the DHCP port)."""
    routed = {ip.subnet_id for p in ports if p.device_owner in ROUTER_INTERFACE_OWNERS for ip in p.fixed_ips}
    ours = [ipaddress.ip_interface(c) for c in cidrs]
    hops = {}
    for sub in _dhcp_subnets(network):
        net = ipaddress.ip_network(sub.cidr)
        own = next((str(i.ip) for i in ours if i.ip in net), None)
        if sub.id not in routed and own is not None:
            hops[sub.id] = own
    return hops


def _option_lines(network: Network, metadata_hops: dict[str, str] | None = None) -> list[str]:
    lines = []
    for index, sub in enumerate(_dhcp_subnets(network)):
        tag = f"tag:subnet{index}"
        routes = [(r.destination, r.nexthop) for r in sub.host_routes]
        hop = (metadata_hops or {}).get(sub.id)
        if hop:
            routes.append((f"{metadata.METADATA_IP}/32", hop))
        if sub.gateway_ip:
            lines.append(f"{tag},option:router,{sub.gateway_ip}")
            routes.append(("0.0.0.0/0", sub.gateway_ip))
        if routes and (sub.host_routes or hop):  # option 121 replaces option 3, so it repeats the default
            lines.append(f"{tag},option:classless-static-route," + ",".join(f"{d},{h}" for d, h in routes))
        if sub.dns_nameservers:
            lines.append(f"{tag},option:dns-server," + ",".join(sub.dns_nameservers))
        lines.append(f"{tag},option:mtu,{network.mtu}")
    return lines


def _argv(network: Network, where: Path, lease_time: int) -> list[str]:
    argv = [
        "dnsmasq",
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        "--port=0",
        "--no-ping",
        "--bind-interfaces",
        f"--interface={names.DHCP_INNER}",
        "--except-interface=lo",
        "--dhcp-authoritative",
        f"--pid-file={where / 'pid'}",
        f"--dhcp-hostsfile={where / 'hosts'}",
        f"--dhcp-optsfile={where / 'opts'}",
        f"--dhcp-leasefile={where / 'leases'}",
        f"--log-facility={where / 'log'}",
        "--log-dhcp",
        "--user=root",
    ]
    for index, sub in enumerate(_dhcp_subnets(network)):
        net = ipaddress.ip_network(sub.cidr)
        argv.append(f"--dhcp-range=set:subnet{index},{net.network_address},static,{net.netmask},{lease_time}s")
    return argv


def _write(path: Path, lines: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    os.replace(tmp, path)


def stale_leases(leases: Path, hosts: list[str]) -> list[str]:
    """Lease-file lines held by a MAC and address that are no longer a host: a deleted port's,
    whose address IPAM may already have given to a new port. dnsmasq re-reads its hosts file on
    SIGHUP but not its leases, and will not hand out an address leased to another MAC ("not
    using configured address ... because it is leased to ...")."""
    current = {(line.split(",")[0].lower(), line.split(",")[-1]) for line in hosts}
    try:
        lines = leases.read_text().splitlines()
    except FileNotFoundError:
        return []
    stale = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and (fields[1].lower(), fields[2]) not in current:
            stale.append(line)
    return stale


def running_pid(where: Path) -> int | None:
    """dnsmasq's pid if it is running with our pid file (a recycled pid is not ours)."""
    try:
        pid = int((where / "pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    if "dnsmasq" not in cmdline or str(where / "pid") not in cmdline:
        return None
    status = Path(f"/proc/{pid}/status").read_text()
    if "\nState:\tZ" in status:
        return None
    return pid


def _stop(where: Path) -> None:
    pid = running_pid(where)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if running_pid(where) is None:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)


def setup(base: str, network: Network, ports: list[Port], lease_time: int) -> None:
    where = state_dir(base, network.id)
    if not _dhcp_subnets(network):
        teardown(base, network.id)
        return
    mac, cidrs = _server_addresses(network, ports)
    if not cidrs:
        raise DriverError(f"linuxbridge: no address for the DHCP server of network {network.id}")
    where.mkdir(parents=True, exist_ok=True)
    namespace = names.dhcp_namespace(network.id)
    links.ensure_namespace(namespace)
    links.ensure_veth(
        names.dhcp_veth(network.id), names.DHCP_INNER, namespace, names.bridge(network.id), network.mtu, mac
    )
    hops = None
    if metadata.network_enabled(base, network.id):  # the metadata proxy binds here (issue 17)
        hops = _isolated_metadata_hops(network, ports, cidrs)
        cidrs = [*cidrs, f"{metadata.METADATA_IP}/32"]
    links.set_addresses(namespace, names.DHCP_INNER, cidrs)
    (where / "contract.json").write_text(json.dumps({"network": to_dict(network), "ports": to_dict(ports)}))
    _write(where / "hosts", _hosts_lines(network, ports))
    _write(where / "opts", _option_lines(network, hops))
    argv = _argv(network, where, lease_time)
    previous = (where / "argv.json").read_text() if (where / "argv.json").exists() else ""
    pid = running_pid(where)
    stale = stale_leases(where / "leases", _hosts_lines(network, ports))
    if pid is not None and previous == json.dumps(argv) and not stale:
        os.kill(pid, signal.SIGHUP)  # re-reads the hosts and options files
        return
    _stop(where)
    if stale:  # dropped while dnsmasq is stopped: it reads the lease file when it starts
        kept = [line for line in (where / "leases").read_text().splitlines() if line not in stale]
        _write(where / "leases", kept)
    (where / "argv.json").write_text(json.dumps(argv))
    run(argv, namespace=namespace)
    for _ in range(100):
        if running_pid(where) is not None:
            return
        time.sleep(0.02)
    log = (where / "log").read_text()[-500:] if (where / "log").exists() else ""
    raise DriverError(f"linuxbridge: dnsmasq for network {network.id} did not start: {log}")


def refresh(base: str, network_id: str, lease_time: int) -> bool:
    """Set DHCP up again from the last ``setup``'s network and ports (the metadata proxy
    came or went: the address and route follow). ``False`` if DHCP is not set up here."""
    try:
        saved = json.loads((state_dir(base, network_id) / "contract.json").read_text())
    except (OSError, ValueError):
        return False
    setup(base, from_dict(saved["network"]), from_dict(saved["ports"]), lease_time)
    return True


def teardown(base: str, network_id: str) -> None:
    where = state_dir(base, network_id)
    _stop(where)
    links.delete_namespace(names.dhcp_namespace(network_id))
    links.delete_link(names.dhcp_veth(network_id))
    shutil.rmtree(where, ignore_errors=True)


def our_processes(base: str) -> list[str]:
    """Every running dnsmasq started from our state directory (pids as strings)."""
    marker = str(Path(base) / "dhcp")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if cmdline.startswith("dnsmasq") and marker in cmdline and "\nState:\tZ" not in status:
            found.append(entry.name)
    return sorted(found)
