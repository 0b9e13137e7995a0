"""Load balancing on real haproxy (``[loadbalancer] driver = "haproxy"``, Linux-bridge
networking) against a running ``overcast up``, as root.

1. **create -> ACTIVE**: ``POST /load-balancer/v2/lbaas/loadbalancers`` then polling ``GET`` every
   20 ms until ``provisioning_status`` is ACTIVE (VIP port, namespace, veth, security group,
   haproxy start), and the same for a listener (a seamless haproxy reload). Octavia's
   amphora provider boots a VM here (minutes); the target is <= 2 s. Peer in the same run:
   ``GET /load-balancer/v2/lbaas/loadbalancers/{id}`` (one authenticated read).
2. **requests/s through the VIP vs direct**: two members are namespaces on the VIP's network
   (busybox ``httpd``), ``wrk`` runs in a client namespace on the same network, first against
   one member directly, then against the VIP (round robin over both). Target: >= 80 %.

    sudo .venv/bin/python bench/lb.py [--creates 5] [--duration 10]

Everything it makes (cloud, namespaces, veths) is removed at the end. The machine is shared:
the load average is printed with the table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from overcast.testing.cloud import start_running_cloud, stop_running_cloud

LB = "/load-balancer/v2/lbaas"
NET = "/networking/v2.0"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Box:
    """A namespace plugged into a bridge with one address."""

    def __init__(self, name: str, bridge: str, cidr: str) -> None:
        self.ns, self.veth = name, f"ocbv{name[-6:]}"
        ip("netns", "add", self.ns)
        ip("link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        ip("link", "set", self.veth, "master", bridge, "up")
        ip("-n", self.ns, "link", "set", "lo", "up")
        ip("-n", self.ns, "link", "set", "eth0", "up")
        ip("-n", self.ns, "addr", "add", cidr, "dev", "eth0")
        self.procs: list[subprocess.Popen[bytes]] = []

    def serve(self, www: Path) -> None:
        self.procs.append(
            subprocess.Popen(["ip", "netns", "exec", self.ns, "busybox", "httpd", "-f", "-p", "80", "-h", str(www)])
        )

    def wrk(self, url: str, duration: int) -> float:
        out = subprocess.run(
            ["ip", "netns", "exec", self.ns, "wrk", "-t2", "-c16", f"-d{duration}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
            p.wait(timeout=10)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def until_active(client: httpx.Client, path: str, key: str) -> float:
    start = time.monotonic()
    while True:
        body = client.get(path).json()[key]
        if body["provisioning_status"] == "ACTIVE":
            return time.monotonic() - start
        if body["provisioning_status"] == "ERROR":
            raise SystemExit(f"{path} went to ERROR")
        if time.monotonic() - start > 60:
            raise SystemExit(f"{path} not ACTIVE after 60 s")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("wrk") is None or shutil.which("haproxy") is None:
        raise SystemExit("needs root, wrk and haproxy (EXTRA_PACKAGES=wrk bash scripts/install-host-deps.sh)")
    work = Path(tempfile.mkdtemp(prefix="oc-bench-lb-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    cloud = start_running_cloud(
        work / "cloud", {"network": {"driver": "linuxbridge"}, "loadbalancer": {"driver": "haproxy"}}
    )
    boxes: list[Box] = []
    try:
        token, _ = cloud.admin_token()
        client = httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token}, timeout=60)
        net = client.post(f"{NET}/networks", json={"network": {"name": "bench"}}).json()["network"]
        sub = client.post(
            f"{NET}/subnets", json={"subnet": {"network_id": net["id"], "cidr": "10.94.0.0/24", "ip_version": 4}}
        ).json()["subnet"]
        creates, listeners, reads = [], [], []
        lb = None
        for i in range(args.creates):
            r = client.post(f"{LB}/loadbalancers", json={"loadbalancer": {"vip_subnet_id": sub["id"], "name": f"b{i}"}})
            r.raise_for_status()
            lb = r.json()["loadbalancer"]
            creates.append(until_active(client, f"{LB}/loadbalancers/{lb['id']}", "loadbalancer"))
            for _ in range(20):
                t = time.monotonic()
                client.get(f"{LB}/loadbalancers/{lb['id']}").raise_for_status()
                reads.append(time.monotonic() - t)
        assert lb is not None
        r = client.post(
            f"{LB}/listeners", json={"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}}
        )
        listener = r.json()["listener"]
        listeners.append(until_active(client, f"{LB}/loadbalancers/{lb['id']}", "loadbalancer"))
        r = client.post(
            f"{LB}/pools",
            json={"pool": {"listener_id": listener["id"], "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}},
        )
        pool = r.json()["pool"]
        until_active(client, f"{LB}/loadbalancers/{lb['id']}", "loadbalancer")
        from overcast_net_linuxbridge import names

        bridge = names.bridge(net["id"])
        www = work / "www"
        www.mkdir()
        (www / "index.html").write_text("x" * 512)
        os.chmod(www, 0o755)
        for n, addr in enumerate(("10.94.0.201", "10.94.0.202")):
            box = Box(f"ocbench-m{n}{os.getpid() % 1000}", bridge, f"{addr}/24")
            boxes.append(box)
            box.serve(www)
            client.post(
                f"{LB}/pools/{pool['id']}/members", json={"member": {"address": addr, "protocol_port": 80}}
            ).raise_for_status()
            until_active(client, f"{LB}/loadbalancers/{lb['id']}", "loadbalancer")
        probe = Box(f"ocbench-c{os.getpid() % 1000}", bridge, "10.94.0.210/24")
        boxes.append(probe)
        time.sleep(1)
        direct = probe.wrk("http://10.94.0.201/", args.duration)
        via = probe.wrk(f"http://{lb['vip_address']}/", args.duration)
        for item in client.get(f"{LB}/loadbalancers").json()["loadbalancers"]:
            client.delete(f"{LB}/loadbalancers/{item['id']}", params={"cascade": "true"})
        deadline = time.monotonic() + 60
        while client.get(f"{LB}/loadbalancers").json()["loadbalancers"] and time.monotonic() < deadline:
            time.sleep(0.2)
        client.delete(f"{NET}/networks/{net['id']}")  # its bridge goes with it
        load = open("/proc/loadavg").read().split()[:3]
        ms = lambda xs: f"{statistics.median(xs) * 1000:8.1f} ms (max {max(xs) * 1000:.1f})"  # noqa: E731
        print(f"\nload average {' '.join(load)} on {os.cpu_count()} CPUs (a shared machine: read the ratios)")
        print(f"{'what':44} {'result':>30}")
        print(
            f"{'load balancer create -> ACTIVE (median)':44} {ms(creates):>30}   target <= 2 s; Octavia amphora: minutes"
        )
        print(f"{'listener create -> ACTIVE (haproxy reload)':44} {ms(listeners):>30}")
        print(f"{'peer: GET one load balancer':44} {ms(reads):>30}")
        print(f"{'wrk direct to one member (req/s)':44} {direct:30.0f}")
        print(
            f"{'wrk through the VIP, 2 members (req/s)':44} {via:30.0f}   {via / direct * 100:.0f} % of direct (target >= 80 %)"
        )
    finally:
        for box in boxes:
            box.close()
        stop_running_cloud(cloud)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
