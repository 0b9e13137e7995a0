"""Network plumbing and IPAM benchmark (run on demand as root; prints a table).

1. A tenant network with DHCP served, from nothing to dnsmasq running, then torn down:
   the ``linuxbridge`` driver (bridge + VXLAN + namespace + veth + dnsmasq) against a named
   peer in the same run, a libvirt isolated network with DHCP (``virsh net-define`` +
   ``net-start``: bridge + libvirt's dnsmasq + its iptables rules), when libvirtd runs.
2. Port firewall: ``net_setup_port`` for N ports (security group + anti-spoofing chains, IPv4
   and IPv6), per port.
3. IPAM: port creates through the network service (fake plumbing) on one /22, sequential and
   with 8 concurrent creators (every address distinct), against a peer in the same run: the
   same inserts with addresses handed out by a process-local counter (no IPAM queries, no
   retries), i.e. what the database costs without allocation.

    sudo .venv/bin/python bench/network_plumbing.py [--rounds 5] [--ports 50] [--creates 200]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from overcast.types import Backend, DriverKind, FixedIp, IpAllocationPool, Network, Port, SecurityGroupRule, Subnet


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sample_network(vni: int) -> Network:
    net_id = str(uuid.uuid4())
    sub = Subnet(
        id=str(uuid.uuid4()),
        network_id=net_id,
        cidr="10.250.0.0/24",
        gateway_ip="10.250.0.1",
        allocation_pools=(IpAllocationPool("10.250.0.2", "10.250.0.200"),),
    )
    return Network(id=net_id, name="bench", project_id="bench", segmentation_id=vni, subnets=(sub,))


def bench_linuxbridge_network(rounds: int, state: Path) -> list[float]:
    from overcast.plugins import PluginManager

    from overcast_net_linuxbridge import plugin

    pm = PluginManager()
    pm.register_plugin(plugin, name="lb")
    driver = pm.driver("network", "linuxbridge")
    backend = Backend(DriverKind.NETWORK, "network", "linuxbridge", {}, str(state))
    times = []
    for i in range(rounds):
        net = sample_network(7000 + i)
        ports = [
            Port(
                id=str(uuid.uuid4()),
                network_id=net.id,
                mac_address=f"fa:16:3e:00:00:{n:02x}",
                fixed_ips=(FixedIp(net.subnets[0].id, f"10.250.0.{n + 10}"),),
            )
            for n in range(20)
        ]

        def up() -> None:
            driver.setup_network(backend=backend, host="bench", network=net)
            driver.setup_dhcp(backend=backend, host="bench", network=net, ports=ports)

        try:
            times.append(timed(up))
        finally:
            driver.teardown_network(backend=backend, host="bench", network=net)
    return times


LIBVIRT_NET = """<network><name>{name}</name><bridge name='{bridge}' stp='off' delay='0'/>
<ip address='10.251.0.1' netmask='255.255.255.0'><dhcp><range start='10.251.0.2' end='10.251.0.254'/>{hosts}</dhcp></ip></network>"""


def bench_libvirt_network(rounds: int, work: Path) -> list[float] | None:
    if (
        shutil.which("virsh") is None
        or subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True).returncode
    ):
        return None
    times = []
    for i in range(rounds):
        name = f"ocbench{i}"
        hosts = "".join(f"<host mac='fa:16:3e:00:01:{n:02x}' ip='10.251.0.{n + 10}'/>" for n in range(20))
        xml = work / f"{name}.xml"
        xml.write_text(LIBVIRT_NET.format(name=name, bridge=f"ocbench{i}", hosts=hosts))

        def up() -> None:
            subprocess.run(["virsh", "-c", "qemu:///system", "net-define", str(xml)], check=True, capture_output=True)
            subprocess.run(["virsh", "-c", "qemu:///system", "net-start", name], check=True, capture_output=True)

        try:
            times.append(timed(up))
        finally:
            subprocess.run(["virsh", "-c", "qemu:///system", "net-destroy", name], capture_output=True)
            subprocess.run(["virsh", "-c", "qemu:///system", "net-undefine", name], capture_output=True)
    return times


def bench_firewall(count: int, state: Path) -> float:
    from overcast_net_linuxbridge import firewall

    rule = SecurityGroupRule(
        id="r",
        security_group_id="g",
        direction="ingress",
        protocol="tcp",
        port_range_min=80,
        port_range_max=80,
        remote_ip_prefix="0.0.0.0/0",
    )
    ports = [
        Port(
            id=str(uuid.uuid4()),
            network_id="n",
            mac_address=f"fa:16:3e:00:02:{n:02x}",
            fixed_ips=(FixedIp("s", f"10.252.0.{n + 10}"),),
            security_group_rules=(rule,),
        )
        for n in range(count)
    ]
    try:
        elapsed = timed(lambda: [firewall.apply_port(p) for p in ports])
    finally:
        for p in ports:
            firewall.remove_port(p.id)
    return elapsed / count


def bench_ipam(creates: int, workers: int) -> tuple[float, float, float]:
    from overcast.config import parse_config
    from overcast.context import RequestContext
    from overcast.db.models.network import IpAllocationRecord, PortRecord
    from overcast.plugins import PluginManager
    from overcast.runtime import build_runtime
    from overcast.testing.fakes import FakeDriversPlugin
    from overcast.testing.fixtures import fake_config_data

    data_dir = Path(tempfile.mkdtemp(prefix="ocbench-"))
    data = fake_config_data(data_dir)
    data["networking"] = {"quota_port": -1}
    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    runtime = build_runtime(
        parse_config(data, data_dir / "overcast.toml"), pm=pm
    )  # no agents: plumbing is skipped quietly
    svc = runtime.network
    ctx = RequestContext(user_id="bench", project_id="bench", roles=frozenset({"member", "reader"}))
    net = svc.networks.create(ctx, {"network": {"name": "bench"}})
    svc.subnets.create(ctx, {"subnet": {"network_id": net["id"], "cidr": "10.128.0.0/20", "enable_dhcp": False}})

    def create(_: int = 0) -> None:
        svc.ports.create(ctx, {"port": {"network_id": net["id"]}})

    sequential = timed(lambda: [create() for _ in range(creates)])
    threads = [threading.Thread(target=lambda: [create() for _ in range(creates // workers)]) for _ in range(workers)]
    concurrent = timed(lambda: ([t.start() for t in threads], [t.join() for t in threads]))
    with runtime.db.session() as s:
        addresses = [a.ip_address for a in s.query(IpAllocationRecord)]
    assert len(addresses) == len(set(addresses)), "duplicate addresses!"
    counter = iter(range(10_000, 20_000))
    sub_id = svc.subnets.list(ctx)[0]["id"]

    def naive() -> None:
        n = next(counter)
        with runtime.db.session() as s:
            port = PortRecord(
                project_id="bench",
                network_id=net["id"],
                mac_address=f"fa:16:3f:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}",
                binding_vif_details={},
                binding_profile={},
                allowed_address_pairs=[],
            )
            port.fixed_ips = [
                IpAllocationRecord(
                    subnet_id=sub_id, ip_address=f"10.128.{8 + n // 256 % 8}.{n % 256}", network_id=net["id"]
                )
            ]
            s.add(port)

    peer = timed(lambda: [naive() for _ in range(creates)])
    runtime.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    return creates / sequential, (creates // workers * workers) / concurrent, creates / peer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ports", type=int, default=50)
    parser.add_argument("--creates", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ocbench-"))
    rows = []
    ours = bench_linuxbridge_network(args.rounds, work / "state")
    rows.append(
        (
            "network + DHCP up (linuxbridge driver)",
            f"{statistics.median(ours) * 1000:.0f} ms median",
            f"{args.rounds} rounds",
        )
    )
    peer = bench_libvirt_network(args.rounds, work)
    rows.append(
        (
            "network + DHCP up (peer: libvirt net-define+net-start)",
            f"{statistics.median(peer) * 1000:.0f} ms median" if peer else "n/a (no libvirtd)",
            f"{args.rounds} rounds",
        )
    )
    rows.append(
        (
            "port firewall (net_setup_port, v4+v6)",
            f"{bench_firewall(args.ports, work) * 1000:.0f} ms/port",
            f"{args.ports} ports",
        )
    )
    seq, conc, naive = bench_ipam(args.creates, 8)
    rows.append(("port create with IPAM, sequential", f"{seq:.0f} ports/s", f"{args.creates} ports"))
    rows.append(("port create with IPAM, 8 concurrent", f"{conc:.0f} ports/s", "all addresses distinct"))
    rows.append(("peer: bare inserts, addresses from a counter", f"{naive:.0f} ports/s", "no IPAM, no checks"))
    shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'result':>22}  notes")
    for name, result, note in rows:
        print(f"{name.ljust(width)}  {result:>22}  {note}")


if __name__ == "__main__":
    main()
