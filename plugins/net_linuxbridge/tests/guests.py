"""Network namespaces standing in for guests and for the outside world.

A "guest" is what a hypervisor would make of a bound port: its host end is named by the
port's ``VifDetails`` (``devname``) and joins the bridge it names; the guest end (``eth0``,
with the port's MAC) lives in a namespace, gets its address from dnsmasq with busybox
``udhcpc``, and serves a page with busybox ``httpd``.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import textwrap
import time
from pathlib import Path

from overcast.types import VifDetails

_counter = itertools.count()

UDHCPC_SCRIPT = textwrap.dedent("""\
    #!/bin/sh
    case "$1" in
      bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
        echo "$ip" > "$LEASE_FILE"
        ;;
    esac
    exit 0
""")


def sh(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {done.stderr or done.stdout}")
    return done


class Namespace:
    """A test namespace (``octest-…``), removed with everything in it by :meth:`close`."""

    def __init__(self, workdir: Path, role: str) -> None:
        self.name = f"octest-{role}-{os.getpid()}-{next(_counter)}"
        self.workdir = workdir / self.name
        self.workdir.mkdir(parents=True)
        self.processes: list[subprocess.Popen[bytes]] = []
        sh("ip", "netns", "add", self.name)
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.name, *args, check=check, timeout=timeout)

    def plug(self, host_end: str, bridge: str, mac: str | None = None, mtu: int = 1500) -> None:
        sh("ip", "link", "add", host_end, "mtu", str(mtu), "type", "veth", "peer", "name", "eth0", "netns", self.name)
        if mac:
            self.run("ip", "link", "set", "eth0", "address", mac)
        self.run("ip", "link", "set", "eth0", "mtu", str(mtu), "up")
        sh("ip", "link", "set", host_end, "master", bridge, "up")
        self.host_end = host_end

    def serve_http(self, text: str) -> None:
        root = self.workdir / "www"
        root.mkdir(exist_ok=True)
        (root / "index.html").write_text(text)
        self.processes.append(
            subprocess.Popen(["ip", "netns", "exec", self.name, "busybox", "httpd", "-f", "-p", "80", "-h", str(root)])
        )
        for _ in range(100):  # listening before anyone is told it is there
            if ":80 " in self.run("ss", "-Hltn", check=False).stdout:
                return
            time.sleep(0.05)
        raise AssertionError(f"httpd in {self.name} is not listening")

    def fetch(self, url: str, timeout: int = 2) -> str | None:
        done = self.run("wget", "-q", "-T", str(timeout), "-t", "1", "-O", "-", url, check=False, timeout=timeout + 10)
        return done.stdout if done.returncode == 0 else None

    def ping(self, address: str, source: str | None = None) -> bool:
        args = ["busybox", "ping", "-c", "1", "-W", "2"]
        if source:
            args += ["-I", source]
        return self.run(*args, address, check=False).returncode == 0

    def close(self) -> None:
        for proc in self.processes:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        sh("ip", "netns", "del", self.name, check=False)
        if getattr(self, "host_end", None):
            sh("ip", "link", "del", self.host_end, check=False)


class Guest(Namespace):
    def __init__(self, workdir: Path, vif: VifDetails) -> None:
        super().__init__(workdir, "guest")
        self.vif = vif
        self.plug(vif.details["devname"], vif.details["bridge"], vif.mac_address, vif.mtu)

    def dhcp(self) -> str | None:
        """Ask dnsmasq for an address (busybox udhcpc); returns the leased address."""
        script = self.workdir / "udhcpc.sh"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        lease = self.workdir / "lease"
        done = sh(
            "ip",
            "netns",
            "exec",
            self.name,
            "env",
            f"LEASE_FILE={lease}",
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "6",
            "-T",
            "1",
            "-s",
            str(script),
            check=False,
            timeout=30,
        )
        return lease.read_text().strip() if done.returncode == 0 and lease.exists() else None
