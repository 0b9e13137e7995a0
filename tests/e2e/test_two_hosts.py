"""Issue 11 end to end: a controller and two hypervisor hosts, each in its own network
namespace with its own address, on PostgreSQL and a (private) RabbitMQ node.

* ``ctl`` runs ``overcast up --role controller`` and the RabbitMQ node;
* ``h1`` and ``h2`` each run a privileged libvirtd of their own (own socket, host UUID, state)
  and ``overcast agent --host hN``; guests' taps and the VXLAN tunnel endpoints live there.

The unmodified ``openstack`` CLI (from the root namespace, over the namespaces' bridge) boots
servers spread over both hosts (anti-affinity) on one VXLAN tenant network whose DHCP runs on
h1, live-migrates one, survives a broker restart and a killed agent.

What crosses the bridge is encrypted: the API is served over HTTPS (verified through
``cacert``), the bus is ``amqps://`` to the node's TLS listener, which asks every process for
a client certificate; PostgreSQL is a private server in namespace ``db`` reached across the
bridge with ``sslmode=verify-full`` (its certificate names its address). A capture on the
bridge during a token request holds neither the password nor the token, and every connection
the controller holds to the database is encrypted (``pg_stat_ssl``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from overcast.pki import init_tls, issue_certificate

from overcast.testing.agents import AgentProcess, start_agent_process, stop_agent_process
from overcast.testing.cloud import RunningCloud, start_running_cloud, stop_running_cloud
from overcast.testing.postgres import PrivatePostgres
from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until
from tests.e2e.multihost import (
    BrokerTls,
    NetnsLab,
    PrivateLibvirtd,
    RabbitNode,
    in_netns,
    kill_netns_processes,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.netns,
    pytest.mark.libvirt,
    pytest.mark.postgres,
    pytest.mark.clients,
    pytest.mark.slow,
]

HOSTS = ("h1", "h2")
# down within 20 s (< 30); probes wait host_down_after/3, enough for an agent on a loaded machine
HEARTBEAT = {"heartbeat_interval": 2.0, "host_down_after": 20.0, "rpc_timeout": 60.0}


# vm-b's user data: wait for the DHCP address, then ping vm-a (at most ~45 s)
PING_SCRIPT = """#!/bin/sh
i=0
while [ ! -s /run/ip.eth0 ] && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done
end=$(( $(cut -d. -f1 /proc/uptime) + 45 ))
while [ $(cut -d. -f1 /proc/uptime) -lt $end ]; do
  if ping -c 3 -W 2 @IP@ > /tmp/ping.out 2>&1; then echo "PING-OK @IP@"; exit 0; fi
  sleep 1
done
echo "PING-FAIL @IP@"
tail -n 3 /tmp/ping.out
"""


@dataclass
class TwoHostCloud:
    cloud: RunningCloud
    lab: NetnsLab
    daemons: dict[str, PrivateLibvirtd]
    agents: dict[str, AgentProcess]
    rabbit: RabbitNode
    postgres: PrivatePostgres

    def nova(self, *args: str, **kw):
        return self.cloud.openstack(*COMPUTE_VERSION, *args, **kw)

    def start_agent(self, host: str) -> AgentProcess:
        agent = start_agent_process(
            self.cloud.config_path, host, env=self.cloud.env, fake_drivers=False, wrapper=in_netns(self.lab.ns(host))
        )
        self.agents[host] = agent
        return agent


@pytest.fixture
def two_hosts() -> Iterator[TwoHostCloud]:
    pytest.importorskip("overcast_hv_kvm", reason="the kvm driver plugin is not installed")
    pytest.importorskip("overcast_net_linuxbridge", reason="the linuxbridge plugin is not installed")
    if not (GUEST_DIR / "tinyguest.qcow2").exists():
        pytest.skip(f"no tiny guest in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")
    if not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        pytest.skip("rabbitmq-server is not installed")
    tag = secrets.token_hex(3)
    work = Path(tempfile.mkdtemp(prefix=f"oc-multihost-{tag}-", dir="/var/tmp"))
    os.chmod(work, 0o755)  # QEMU (libvirt-qemu) traverses it to the instance disks
    run_root = Path("/run") / f"oc-multihost-{tag}"
    lab = NetnsLab()
    daemons: dict[str, PrivateLibvirtd] = {}
    agents: dict[str, AgentProcess] = {}
    cleanups: list = []  # run last-in first-out, each guarded: one failure must not leak the rest
    try:
        cleanups.append(lambda: shutil.rmtree(run_root, ignore_errors=True))
        cleanups.append(lambda: shutil.rmtree(work, ignore_errors=True))
        cleanups.append(lab.close)
        lab.start(["ctl", *HOSTS, "db"])
        ctl_ip, db_ip = lab.namespaces["ctl"], lab.namespaces["db"]
        # anything left in the namespaces (epmd, a crashed daemon's children) goes before them
        cleanups.append(lambda: [kill_netns_processes(lab.ns(n)) for n in ("ctl", *HOSTS, "db")])
        for host in HOSTS:
            daemons[host] = PrivateLibvirtd(run_root / host, netns=lab.ns(host))
            cleanups.append(daemons[host].stop)
            daemons[host].start()
        bus_pki = init_tls(work / "bus-pki", [ctl_ip])  # the broker's CA and certificate
        client_cert = (work / "bus-pki" / "client.pem", work / "bus-pki" / "client-key.pem")
        issue_certificate(bus_pki, ["overcast"], *client_cert, client=True)
        rabbit = RabbitNode(
            work / "rabbit",
            netns=lab.ns("ctl"),
            port=5671,
            tls=BrokerTls(bus_pki.ca_cert, bus_pki.cert, bus_pki.key, require_client_cert=True),
        )
        cleanups.append(rabbit.stop)
        rabbit.start()
        # PostgreSQL in its own namespace, across the bridge, verified by CA and address
        postgres = PrivatePostgres(work / "pg", init_tls(work / "pg-pki", [db_ip]), db_ip, in_netns(lab.ns("db")))
        cleanups.append(postgres.stop)
        postgres.start(5432)
        extra = {
            "database": {"url": postgres.create_database("overcast")},
            "bus": {
                "url": f"amqps://guest:guest@{ctl_ip}:{rabbit.port}//",
                "prefix": f"mh{tag}",
                **HEARTBEAT,
                "tls_ca": str(bus_pki.ca_cert),
                "tls_cert": str(client_cert[0]),
                "tls_key": str(client_cert[1]),
            },
            "image_store": {"driver": "fs", "path": "images"},
            "network": {
                "driver": "linuxbridge",
                "vxlan_interface": "eth0",
                "vteps": [f"{h}={lab.namespaces[h]}" for h in HOSTS],
            },
            "networking": {"network_host": "h1"},
            "hosts": {
                h: {
                    "driver": "kvm",
                    "virt_type": "qemu",
                    "uri": daemons[h].uri,
                    "instances_dir": str(work / h / "instances"),
                    "migration_address": lab.namespaces[h],
                }
                for h in HOSTS
            },
        }
        cloud = start_running_cloud(
            work / "cloud",
            extra,
            role="controller",
            api_host=ctl_ip,
            wrapper=in_netns(lab.ns("ctl")),
            fake_hosts=False,
            tls=True,
        )
        cleanups.append(lambda: stop_running_cloud(cloud))
        os.chmod(work / "cloud", 0o755)
        env = TwoHostCloud(cloud, lab, daemons, agents, rabbit, postgres)
        cleanups.append(lambda: [stop_agent_process(a) for a in agents.values()])
        cleanups.append(lambda: print_logs(cloud, agents))
        for host in HOSTS:
            env.start_agent(host)
        cleanups.append(lambda: delete_everything(cloud))
        yield env
    finally:
        for step in reversed(cleanups):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - report, and go on cleaning
                print(f"clean-up step failed: {exc!r}")


class Capture:
    """Every frame on ``interface`` (an AF_PACKET socket, like tcpdump) while it runs."""

    def __init__(self, interface: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
        self.sock.bind((interface, 0))
        self.sock.settimeout(0.2)
        self.frames: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.frames.append(self.sock.recv(65535))
            except TimeoutError:
                continue

    def __enter__(self) -> Capture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    @property
    def data(self) -> bytes:
        return b"".join(self.frames)


def delete_everything(cloud: RunningCloud) -> None:
    """Servers, then networks (their bridges, DHCP namespaces and dnsmasq go with them)."""
    Observer(cloud).delete_all(timeout=180)


def print_logs(cloud: RunningCloud, agents: dict[str, AgentProcess]) -> None:
    """The tails of the controller's and agents' logs (shown by pytest when the test failed)."""
    interesting = ("warning", "error", "migrat")
    for name, path in [("controller", cloud.log_path), *((f"agent {h}", a.log_path) for h, a in agents.items())]:
        try:
            lines = [
                ln
                for ln in path.read_text(errors="replace").splitlines()
                if any(w in ln.lower() for w in interesting) and "api.access" not in ln
            ]
        except OSError:
            continue
        print(f"--- {name} ({path}) ---")
        print("\n".join(ln[:600] for ln in lines[-25:]))


def test_two_hosts_in_namespaces(two_hosts: TwoHostCloud) -> None:
    env, cloud = two_hosts, two_hosts.cloud
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    def mark(what: str) -> None:
        timings[what] = round(time.monotonic() - t0, 1)
        print(f"[{timings[what]:6.1f} s] {what}", flush=True)

    def show(name: str) -> dict:
        return env.nova("server", "show", name, "-f", "json")

    def host_of(name: str) -> str:
        return show(name)["OS-EXT-SRV-ATTR:host"]

    def console(name: str) -> str:
        return cloud.openstack("console", "log", "show", name)

    def services() -> dict[str, dict]:
        rows = env.nova("compute", "service", "list", "-f", "json")
        return {r["Host"]: r for r in rows if r["Binary"] == "nova-compute"}

    # waits poll the API over HTTP (a CLI start-up per poll costs seconds); the CLI does the
    # actions and reads what is asserted
    api = Observer(cloud)

    def polled(name: str) -> dict:
        return api.server_named(name)

    def polled_console(name: str) -> str:
        return api.console(polled(name)["id"])

    def host_states() -> dict[str, str]:
        rows = api.get("/compute/v2.1/os-services")["services"]
        return {r["host"]: r["state"] for r in rows if r["binary"] == "nova-compute"}

    def hosts_up() -> bool:
        return all(host_states().get(h) == "up" for h in HOSTS)

    # both agents report in (over amqps://, with client certificates)
    wait_until(hosts_up, "both hosts up", timeout=60, every=0.2)
    assert all(services()[h]["State"] == "up" for h in HOSTS)
    mark("hosts up")

    # what crosses the network is encrypted: a token request seen on the bridge
    assert cloud.url.startswith("https://")
    with Capture(env.lab.bridge) as capture:
        token = cloud.openstack("token", "issue", "-f", "json")["id"]
        time.sleep(0.5)
    assert len(capture.data) > 2000, "the capture saw no traffic"
    for secret in (cloud.admin_password, token):
        assert secret.encode() not in capture.data
    assert b"\x17\x03\x03" in capture.data  # TLS application data records
    ssl_by_connection = env.postgres.query(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'overcast'"
    )
    assert ssl_by_connection and set(ssl_by_connection) == {"t"}, ssl_by_connection
    mark(f"a token request crosses the bridge encrypted; {len(ssl_by_connection)} database connections, all TLS")

    cloud.openstack(
        "image",
        "create",
        "--file",
        str(GUEST_DIR / "tinyguest.qcow2"),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--property",
        "hypervisor_type=qemu",
        "tinyguest",
        "-f",
        "json",
    )
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")
    net = cloud.openstack("network", "create", "mh-net", "-f", "json")
    assert net["provider:network_type"] == "vxlan"
    cloud.openstack("subnet", "create", "--network", "mh-net", "--subnet-range", "10.93.0.0/24", "mh-sub", "-f", "json")
    group = env.nova("server", "group", "create", "--policy", "anti-affinity", "spread", "-f", "json")
    # vm-a at a fixed address; vm-b (on the other host) gets user data on its config drive:
    # a script that pings vm-a across hosts over the VXLAN network (the default security
    # group lets its members reach each other)
    ping_ip = "10.93.0.50"
    user_data = Path(cloud.config_path).parent / "ping-user-data.sh"
    user_data.write_text(PING_SCRIPT.replace("@IP@", ping_ip))
    created = {}
    for name, extra in (
        ("vm-a", ["--nic", f"net-id={net['id']},v4-fixed-ip={ping_ip}"]),
        ("vm-b", ["--network", "mh-net", "--user-data", str(user_data)]),
    ):
        created[name] = env.nova(
            "server",
            "create",
            "--image",
            "tinyguest",
            "--flavor",
            "t1",
            *extra,
            "--hint",
            f"group={group['id']}",
            name,
            "-f",
            "json",
        )
    for name in ("vm-a", "vm-b"):
        wait_until(lambda: polled(name)["status"] == "ACTIVE", f"{name} ACTIVE", timeout=180, every=0.2)
    placed = {name: host_of(name) for name in ("vm-a", "vm-b")}
    assert sorted(placed.values()) == sorted(HOSTS), placed
    mark("two servers ACTIVE on two hosts")

    # the VXLAN network spans both hosts: the guest on h2 gets its lease from dnsmasq on h1
    ips = {}
    for name in ("vm-a", "vm-b"):
        wait_until(lambda: "TINYGUEST-READY" in polled_console(name), f"{name} READY", timeout=180, every=0.2)
        text = console(name)
        assert "TINYGUEST-DHCP eth0 10.93.0." in text, text[-2000:]
        ips[name] = text.split("TINYGUEST-DHCP eth0 ")[1].split("/")[0]
    assert ips["vm-a"] == ping_ip
    mark("both guests have DHCP leases")

    # guest to guest across hosts: vm-b's user data (from its config drive) pings vm-a
    text = console("vm-b")
    assert f"TINYGUEST-CONFIGDRIVE uuid={created['vm-b']['id']}" in text, text[-2000:]
    assert "TINYGUEST-CONFIGDRIVE" not in console("vm-a")  # no user data, no config drive
    wait_until(
        lambda: "TINYGUEST-USERDATA PING-" in polled_console("vm-b"), "vm-b's ping result", timeout=120, every=0.2
    )
    text = console("vm-b")
    assert f"TINYGUEST-USERDATA PING-OK {ping_ip}" in text, text[-2000:]
    mark("vm-b pings vm-a across hosts")

    # data plane across hosts: from the network's DHCP namespace on h1, over VXLAN, to each
    # guest's web page (port 80 opened in the default security group)
    cloud.openstack(
        "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "default", "-f", "json"
    )
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    dhcp_ns = [line.split()[0] for line in listing.splitlines() if net["id"][:8] in line]
    assert dhcp_ns, f"no DHCP namespace for {net['id']} in: {listing}"

    def page(ip: str) -> str:
        code = f"import urllib.request; print(urllib.request.urlopen('http://{ip}/', timeout=3).read().decode())"
        return subprocess.run(
            ["ip", "netns", "exec", dhcp_ns[0], sys.executable, "-c", code], capture_output=True, text=True
        ).stdout

    for name in ("vm-a", "vm-b"):
        wait_until(lambda: ips[name] in page(ips[name]), f"{name}'s web page from h1", timeout=60, every=0.5)
    mark("both guests answer over the tenant network")

    # live migration of the guest on h2 to h1, and back is not needed: it keeps its address
    mover = next(n for n, h in placed.items() if h == "h2")
    domain = show(mover)["OS-EXT-SRV-ATTR:instance_name"]
    # the anti-affinity group placed them on two hosts; as in Nova, it would now refuse to move
    # one onto the other's host (No valid host), so the group goes first
    env.nova("server", "group", "delete", group["id"])
    env.nova("server", "migrate", "--live-migration", "--host", "h1", mover, timeout=120)
    wait_until(
        lambda: (
            lambda s: (
                s["status"] == "ACTIVE" and not s.get("OS-EXT-STS:task_state") and s["OS-EXT-SRV-ATTR:host"] == "h1"
            )
        )(polled(mover)),
        f"{mover} live on h1",
        timeout=180,
        every=0.2,
    )
    assert host_of(mover) == "h1"
    assert env.daemons["h1"].domain_state(domain) == "running"
    assert env.daemons["h2"].domain_state(domain) is None
    if mover == "vm-b":  # its config drive was rebuilt in h1's instance directory
        drives = [
            line.split()[-1]
            for line in env.daemons["h1"].virsh("domblklist", domain).splitlines()
            if line.endswith("disk.config")
        ]
        assert len(drives) == 1 and drives[0].startswith(str(Path(cloud.config_path).parents[1] / "h1")), drives
        assert os.path.exists(drives[0])
    # the guest, running on its new host, answers there
    wait_until(lambda: ips[mover] in page(ips[mover]), f"{mover}'s web page after the migration", timeout=60, every=0.5)
    mark(f"live migration h2 -> h1 ({mover})")

    # RabbitMQ restart: a request acknowledged just before is not lost, the cloud recovers
    stopped = next(n for n in ("vm-a", "vm-b") if n != mover)
    env.nova("server", "stop", stopped)
    env.rabbit.stop()
    env.rabbit.start()
    wait_until(
        lambda: polled(stopped)["status"] == "SHUTOFF",
        f"{stopped} SHUTOFF after the broker restart",
        timeout=120,
        every=0.2,
    )
    assert show(stopped)["status"] == "SHUTOFF"
    wait_until(hosts_up, "both hosts up again", timeout=90, every=0.2)
    mark("broker restart")

    # kill h2's agent: h2 is marked down within 30 s, new servers go to h1
    killed_at = time.monotonic()
    env.agents["h2"].process.send_signal(signal.SIGKILL)
    env.agents["h2"].process.wait(10)
    wait_until(lambda: host_states()["h2"] == "down", "h2 down", timeout=30, every=0.2)
    down_after = time.monotonic() - killed_at
    assert services()["h2"]["State"] == "down"
    assert down_after <= 30
    env.nova(
        "server",
        "create",
        "--image",
        "tinyguest",
        "--flavor",
        "t1",
        "--network",
        "mh-net",
        "--wait",
        "vm-c",
        "-f",
        "json",
        timeout=240,
    )
    assert host_of("vm-c") == "h1"
    mark(f"h2 down after {down_after:.1f} s; vm-c on h1")

    # the agent comes back: h2 is up again and still runs nothing (its guest moved away)
    env.start_agent("h2")
    wait_until(lambda: host_states()["h2"] == "up", "h2 up again", timeout=60, every=0.2)
    assert services()["h2"]["State"] == "up"
    assert env.daemons["h2"].domains() == []
    mark("h2 back")
    print(f"\ntimings (s since start): {timings}; guest addresses {ips}")
