"""Security groups and anti-spoofing for ports, as iptables chains on the host.

Bridged frames pass the host's ``FORWARD`` chain (``br_netfilter``), where ``ocn-FORWARD``
sends each one through the egress chain of the port it came from (``--physdev-in`` its tap)
and the ingress chain of the port it goes to (``--physdev-out``). A port's chains answer
``RETURN`` for allowed traffic and ``DROP`` for the rest, so a frame between two guests is
checked against both. Egress first passes the anti-spoofing chain: only the port's own MAC
with its own addresses (and allowed address pairs) may send. Connections are stateful
(replies to allowed traffic pass). Chains are replaced atomically with ``iptables-restore
--noflush``, for IPv4 (``iptables``) and IPv6 (``ip6tables``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from overcast.types import Port, SecurityGroupRule

from overcast_net_linuxbridge import names
from overcast_net_linuxbridge.cmd import ok, run

TOOLS = {4: ("iptables", "iptables-restore"), 6: ("ip6tables", "ip6tables-restore")}
PORT_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "sctp": "sctp", "132": "sctp"}
# "icmp" in an IPv6 rule means ICMPv6 (as Neutron's iptables driver reads it)
ICMP = {4: ("icmp", "1"), 6: ("icmp", "icmpv6", "ipv6-icmp", "58")}


def _version(address: str) -> int:
    return ipaddress.ip_network(address, strict=False).version


def _eui64(mac: str) -> str:
    """The link-local address a guest derives from its MAC (SLAAC), allowed as a source."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)


def rule_matches(rule: SecurityGroupRule, version: int) -> list[str]:
    """iptables match arguments for one security group rule (several for remote groups)."""
    if rule.ethertype != f"IPv{version}":
        return []
    match = ""
    proto = rule.protocol
    if proto in PORT_PROTOCOLS:
        name = PORT_PROTOCOLS[proto]
        match = f"-p {name} -m {name}"
        if rule.port_range_min is not None:
            match += f" --dport {rule.port_range_min}:{rule.port_range_max or rule.port_range_min}"
    elif proto in ICMP[version]:
        match = "-p icmp" if version == 4 else "-p ipv6-icmp"
        if rule.port_range_min is not None:
            kind = "-m icmp --icmp-type" if version == 4 else "-m icmp6 --icmpv6-type"
            code = f"/{rule.port_range_max}" if rule.port_range_max is not None else ""
            match += f" {kind} {rule.port_range_min}{code}"
    elif proto is not None:
        match = f"-p {proto}"
    side = "-s" if rule.direction == "ingress" else "-d"
    if rule.remote_group_id:
        remotes = [ip for ip in rule.remote_group_ips if _version(ip) == version]
        return [f"{side} {ip} {match}".strip() for ip in remotes]
    if rule.remote_ip_prefix and ipaddress.ip_network(rule.remote_ip_prefix).prefixlen > 0:
        return [f"{side} {rule.remote_ip_prefix} {match}".strip()]
    return [match]


def port_chain_lines(port: Port, version: int) -> list[str]:
    egress, ingress, spoof = names.port_chains(port.id)
    lines = [f":{egress} - [0:0]", f":{ingress} - [0:0]", f":{spoof} - [0:0]"]
    # anti-spoofing: the port's MAC with its own addresses and allowed pairs, nothing else
    sources = [(ip.ip_address, port.mac_address) for ip in port.fixed_ips if _version(ip.ip_address) == version]
    sources += [(ip, mac) for ip, mac in port.allowed_address_pairs if _version(ip) == version]
    if version == 6:
        sources.append((_eui64(port.mac_address), port.mac_address))
    lines += [f"-A {spoof} -s {ip} -m mac --mac-source {mac} -j RETURN" for ip, mac in sources]
    lines.append(f"-A {spoof} -j DROP")
    # egress (from the guest)
    if version == 4:
        lines.append(
            f"-A {egress} -s 0.0.0.0/32 -p udp -m udp --sport 68 --dport 67 -m mac --mac-source {port.mac_address} -j RETURN"
        )
    else:
        lines.append(f"-A {egress} -s ::/128 -p ipv6-icmp -m mac --mac-source {port.mac_address} -j RETURN")  # DAD
        lines.append(f"-A {egress} -p ipv6-icmp -m icmp6 --icmpv6-type 134 -j DROP")  # no router advertisements
    lines.append(f"-A {egress} -j {spoof}")
    dhcp_server = "--sport 67 --dport 68" if version == 4 else "--sport 547 --dport 546"
    lines.append(f"-A {egress} -p udp -m udp {dhcp_server} -j DROP")  # no rogue DHCP servers
    if version == 6:
        lines += [f"-A {egress} -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN" for t in (133, 135, 136)]
    lines.append(f"-A {egress} -m state --state RELATED,ESTABLISHED -j RETURN")
    lines.append(f"-A {egress} -m state --state INVALID -j DROP")
    # ingress (to the guest)
    lines.append(f"-A {ingress} -m state --state RELATED,ESTABLISHED -j RETURN")
    lines.append(f"-A {ingress} -m state --state INVALID -j DROP")
    lines.append(f"-A {ingress} -p udp -m udp {dhcp_server} -j RETURN")
    if version == 6:
        lines += [
            f"-A {ingress} -p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN" for t in (130, 131, 132, 134, 135, 136)
        ]
    for rule in port.security_group_rules:
        chain = ingress if rule.direction == "ingress" else egress
        lines += [f"-A {chain} {m} -j RETURN".replace("  ", " ") for m in rule_matches(rule, version)]
    lines += [f"-A {egress} -j DROP", f"-A {ingress} -j DROP"]
    return lines


def existing_port_suffixes(version: int) -> set[str]:
    tool = TOOLS[version][0]
    egress_prefix = f"-N {names.PREFIX}-o"
    return {
        line[len(egress_prefix) :]
        for line in run([tool, "-w", "-S"]).stdout.splitlines()
        if line.startswith(egress_prefix)
    }


def our_chains(version: int) -> list[str]:
    tool = TOOLS[version][0]
    return sorted(
        line[3:]
        for line in run([tool, "-w", "-S"]).stdout.splitlines()
        if line.startswith("-N ") and names.is_ours(line[3:])
    )


def _top_lines(suffixes: Iterable[str]) -> list[str]:
    lines = [
        f":{names.TOP_CHAIN} - [0:0]",
        f":{names.EGRESS_CHAIN} - [0:0]",
        f":{names.INGRESS_CHAIN} - [0:0]",
        f"-A {names.TOP_CHAIN} -j {names.EGRESS_CHAIN}",
        f"-A {names.TOP_CHAIN} -j {names.INGRESS_CHAIN}",
        # frames between ports of our bridges that no port chain dropped are fine
        f"-A {names.TOP_CHAIN} -i {names.PREFIX}b+ -o {names.PREFIX}b+ -j ACCEPT",
    ]
    for suffix in sorted(suffixes):
        tap = f"{names.PREFIX}t{suffix}"
        lines.append(
            f"-A {names.EGRESS_CHAIN} -m physdev --physdev-in {tap} --physdev-is-bridged -j {names.PREFIX}-o{suffix}"
        )
        lines.append(
            f"-A {names.INGRESS_CHAIN} -m physdev --physdev-out {tap} --physdev-is-bridged -j {names.PREFIX}-i{suffix}"
        )
    return lines


def _restore(version: int, lines: list[str]) -> None:
    declarations = [line for line in lines if line.startswith(":")]  # every chain before any jump to it
    rules = [line for line in lines if not line.startswith(":")]
    payload = "*filter\n" + "\n".join(declarations + rules) + "\nCOMMIT\n"
    run([TOOLS[version][1], "-w", "--noflush"], input=payload)


def _enable_bridge_netfilter() -> None:
    for name in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
        path = f"/proc/sys/net/bridge/{name}"
        try:
            with open(path) as f:
                if f.read().strip() == "1":
                    continue
            with open(path, "w") as f:
                f.write("1\n")
        except OSError as exc:
            from overcast.errors import DriverError

            raise DriverError(f"linuxbridge: cannot enable {path} (br_netfilter): {exc}") from None


def apply_port(port: Port) -> None:
    """Install or replace the port's chains (both families) and hook them in."""
    _enable_bridge_netfilter()
    suffix = names.short(port.id)
    for version, (tool, _) in TOOLS.items():
        suffixes = existing_port_suffixes(version) | {suffix}
        _restore(version, _top_lines(suffixes) + port_chain_lines(port, version))
        if not ok([tool, "-w", "-C", "FORWARD", "-j", names.TOP_CHAIN]):
            run([tool, "-w", "-I", "FORWARD", "1", "-j", names.TOP_CHAIN])


def remove_port(port_id: str) -> None:
    """Unhook and delete the port's chains; the last port also takes the top chains."""
    suffix = names.short(port_id)
    for version, (tool, _) in TOOLS.items():
        existing = existing_port_suffixes(version)
        remaining = existing - {suffix}
        if suffix in existing or remaining:
            _restore(version, _top_lines(remaining))
        for chain in names.port_chains(port_id):
            if ok([tool, "-w", "-F", chain]):
                run([tool, "-w", "-X", chain], check=False)
        if not remaining:
            while ok([tool, "-w", "-D", "FORWARD", "-j", names.TOP_CHAIN]):
                pass
            for chain in (names.TOP_CHAIN, names.EGRESS_CHAIN, names.INGRESS_CHAIN):
                if ok([tool, "-w", "-F", chain]):
                    run([tool, "-w", "-X", chain], check=False)
