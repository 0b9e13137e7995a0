"""Time to SSH for the Debian cloud image: Overcast's API path against a raw QEMU boot of the
same image, to the same point (``ssh debian@… hostname`` answers), in the same run (issue 17).

* raw: ``qemu-img create`` of an overlay of ``debian-12.qcow2`` + ``qemu-system-x86_64``
  (TCG, 1 vCPU, 1024 MiB, virtio disk and NIC with user networking forwarding a port to 22,
  Nova's SMBIOS identity) with a config drive made by the same function Overcast's drives are
  (``overcast.compute.metadata.content.drive_files``: key pair, network_data with the NIC on
  DHCP), so cloud-init does the same work;
  The raw clock starts before the config drive and the overlay are made (Overcast makes both
  too);
* API: ``POST /servers`` (``config_drive: true``, ``key_name``; what ``openstack server create
  --config-drive True --key-name`` sends, without the CLI's own start-up) on a running
  ``overcast up`` (one KVM host, linuxbridge, ``[metadata]``), on a flat network patched into a
  host bridge (the host reaches the guest's address directly), timed from the request.

Each row splits a boot at the moment QEMU starts: before it (API: scheduling, port, disk,
config drive, domain; raw: drive and overlay) and after it (the guest's own boot to SSH). The
two boot one after the other, in alternating order (TCG boots are CPU-bound; the machine is
shared, so the load average is printed with each row). The overhead is API - raw; its median
and spread over the rounds are printed, since one TCG boot varies by seconds. Needs root,
libvirtd, the image (scripts/build-debian-image.sh), ssh.

    .venv/bin/python bench/guest_ssh_boot.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from overcast.compute.metadata import content
from overcast.testing.cloud import free_port, start_running_cloud, stop_running_cloud

IMAGE = Path(os.environ.get("OVERCAST_DEBIAN_DIR") or "/var/lib/overcast/debian") / "debian-12.qcow2"
BRIDGE = f"obb{os.getpid() % 100000}"
RAW_MAC = "52:54:00:12:34:56"


def ssh_ok(key: Path, address: str, port: int = 22) -> bool:
    try:
        done = subprocess.run(
            ["ssh", "-i", str(key), "-p", str(port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"debian@{address}", "hostname"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def banner(address: str, port: int) -> bool:
    """Whether sshd answers on ``address:port`` with its banner (a short connect and read:
    polled every 0.1 s, so both paths are timed to the same precision; a plain ``ssh`` to an
    address nobody answers ARP for waits seconds, one through QEMU's port forward fails at once)."""
    try:
        with socket.create_connection((address, port), timeout=0.5) as s:
            s.settimeout(2)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def wait_ssh(key: Path, address: str, start: float, port: int = 22, timeout: float = 900) -> float:
    """Seconds from ``start`` until ``ssh … hostname`` succeeds (the key is in, the login works)."""
    while time.monotonic() - start < timeout:
        if banner(address, port) and ssh_ok(key, address, port):
            return time.monotonic() - start
        time.sleep(0.1)
    raise TimeoutError(f"ssh {address}:{port} did not answer in {timeout:.0f} s")


def config_drive(path: Path, key: str) -> None:
    md = content.GuestMetadata(
        uuid="0f8e6a3c-1111-4222-8333-944455556666",
        name="raw",
        project_id="bench",
        availability_zone="nova",
        key=content.KeyPair("k1", key),
        links=(
            content.GuestLink(
                port_id="raw-port",
                network_id="raw-net",
                mac_address=RAW_MAC,
                mtu=1500,
                addresses=(content.GuestAddress("10.0.2.15", "10.0.2.0/24", "10.0.2.2", True),),
            ),
        ),
    )
    subprocess.run(["mkfs.vfat", "-n", "config-2", "-C", str(path), "4096"], check=True, capture_output=True)
    with tempfile.TemporaryDirectory() as src:
        for name, data in content.drive_files(md).items():
            target = Path(src) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        subprocess.run(["mcopy", "-i", str(path), "-s", f"{src}/openstack", f"{src}/ec2", "::/"], check=True)


@dataclass(frozen=True)
class Boot:
    """One boot: seconds from its start until QEMU runs, and until ``ssh … hostname`` answers."""

    qemu: float
    ssh: float


class QemuWatch:
    """Notes when a QEMU process whose command line holds ``needle`` (the instance's uuid)
    first appears, by reading /proc every 20 ms in a thread."""

    def __init__(self, needle: str) -> None:
        self.needle = needle.encode()
        self.seen: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and self.seen is None:
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    cmdline = Path(entry.path, "cmdline").read_bytes()
                except OSError:
                    continue
                if cmdline.startswith(b"/usr/bin/qemu-system") and self.needle in cmdline:
                    self.seen = time.monotonic()
                    return
            self._stop.wait(0.02)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join()
        return self.seen


def raw_boot(work: Path, key: Path) -> Boot:
    overlay, drive = work / "raw.qcow2", work / "raw-config.img"
    for previous in (overlay, drive):  # an earlier round's (mkfs.vfat -C refuses an existing file)
        previous.unlink(missing_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    config_drive(drive, key.with_suffix(".pub").read_text().strip())
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(IMAGE), "-F", "qcow2", str(overlay), "4G"],
                   check=True)  # fmt: skip
    qemu = subprocess.Popen(
        ["qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-cpu", "qemu64", "-m", "1024", "-smp", "1",
         "-display", "none", "-monitor", "none", "-serial", f"file:{work / 'raw-console.log'}",
         "-smbios", "type=1,manufacturer=OpenStack Foundation,product=OpenStack Nova",
         "-drive", f"file={overlay},if=virtio,format=qcow2,cache=none",
         "-drive", f"file={drive},if=virtio,format=raw,readonly=on",
         "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22", "-device", f"virtio-net-pci,netdev=n0,mac={RAW_MAC}",
         "-device", "virtio-rng-pci"],
    )  # fmt: skip
    qemu_at = time.monotonic() - start
    try:
        return Boot(qemu_at, wait_ssh(key, "127.0.0.1", start, port))
    finally:
        qemu.terminate()
        qemu.wait(timeout=30)


def api_boot(client: httpx.Client, create: dict, key: Path, round_no: int) -> Boot:
    """``POST /servers`` and the clock from just before it; the address from the server's
    record once it has one (the port exists before the guest runs)."""
    start = time.monotonic()
    resp = client.post("/compute/v2.1/servers", json={"server": {**create, "name": f"bench{round_no}"}})
    resp.raise_for_status()
    server_id = resp.json()["server"]["id"]
    watch = QemuWatch(server_id)
    try:
        address = ""
        while not address:
            if time.monotonic() - start > 600:
                raise TimeoutError(f"server {server_id} got no address in 600 s")
            server = client.get(f"/compute/v2.1/servers/{server_id}").json()["server"]
            if server["status"] == "ERROR":
                raise RuntimeError(f"server {server_id} went to ERROR: {server.get('fault')}")
            address = next((a["addr"] for addrs in server["addresses"].values() for a in addrs), "")
            if not address:
                time.sleep(0.1)
        ssh = wait_ssh(key, address, start)
        seen = watch.stop()
        if seen is None:
            raise RuntimeError(f"no QEMU process for {server_id} was seen")
        return Boot(seen - start, ssh)
    finally:
        watch.stop()
        client.delete(f"/compute/v2.1/servers/{server_id}").raise_for_status()
        deadline = time.monotonic() + 300
        while client.get(f"/compute/v2.1/servers/{server_id}").status_code != 404:
            if time.monotonic() > deadline:
                raise TimeoutError(f"server {server_id} was not deleted in 300 s")
            time.sleep(0.5)


def spread(values: list[float]) -> str:
    """Median, then the lowest, the quartiles and the highest."""
    if len(values) < 2:
        return f"{values[0]:+.1f} s (one round)"
    q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return f"median {med:+.1f} s (min {min(values):+.1f}, quartiles {q1:+.1f} .. {q3:+.1f}, max {max(values):+.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not IMAGE.exists():
        raise SystemExit(f"no {IMAGE}: run scripts/build-debian-image.sh")
    work = Path(tempfile.mkdtemp(prefix="oc-bench-ssh-", dir="/var/tmp"))
    os.chmod(work, 0o755)
    key = work / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cloud = start_running_cloud(
        work / "cloud",
        {
            "image_store": {"driver": "fs", "path": "images"},
            "hosts": {"kvm1": {"driver": "kvm", "virt_type": "qemu", "instances_dir": str(work / "instances")}},
            "network": {
                "driver": "linuxbridge",
                "host_bridges": [f"{BRIDGE}=10.94.0.1/24"],
                "physical_interface_mappings": [f"bench:{BRIDGE}"],
            },
            "metadata": {"port": free_port()},
        },
    )
    os.chmod(work / "cloud", 0o755)
    rows = []
    first = Boot(0.0, 0.0)
    try:
        cloud.openstack("keypair", "create", "--public-key", str(key.with_suffix(".pub")), "k1", "-f", "json")
        cloud.openstack("image", "create", "--file", str(IMAGE), "--disk-format", "qcow2", "--container-format",
                        "bare", "--property", "hypervisor_type=qemu", "debian-12", "-f", "json", timeout=600)  # fmt: skip
        cloud.openstack("flavor", "create", "--ram", "1024", "--disk", "4", "--vcpus", "1", "d1", "-f", "json")
        cloud.openstack("network", "create", "--provider-network-type", "flat", "--provider-physical-network", "bench",
                        "bench", "-f", "json")  # fmt: skip
        cloud.openstack("subnet", "create", "--network", "bench", "--subnet-range", "10.94.0.0/24", "--gateway",
                        "10.94.0.1", "bench-subnet", "-f", "json")  # fmt: skip
        cloud.openstack("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "default")
        ids = {kind: cloud.openstack(kind, "show", name, "-f", "json")["id"]
               for kind, name in (("image", "debian-12"), ("flavor", "d1"), ("network", "bench"))}  # fmt: skip
        create = {"imageRef": ids["image"], "flavorRef": ids["flavor"], "networks": [{"uuid": ids["network"]}],
                  "key_name": "k1", "config_drive": True}  # fmt: skip
        token, _project = cloud.admin_token()
        headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}
        with httpx.Client(base_url=cloud.url, headers=headers, timeout=60, verify=cloud.verify) as client:
            # The host's first boot of an image copies it into the host's image cache (as Nova's
            # does); that is printed on its own, and the rounds compare warm boots.
            first = api_boot(client, create, key, 0)
            for i in range(1, args.rounds + 1):
                if i % 2:  # alternate which goes first, so a drift in the machine's speed evens out
                    raw, load_raw = raw_boot(work, key), os.getloadavg()[0]
                    api, load_api = api_boot(client, create, key, i), os.getloadavg()[0]
                else:
                    api, load_api = api_boot(client, create, key, i), os.getloadavg()[0]
                    raw, load_raw = raw_boot(work, key), os.getloadavg()[0]
                rows.append((i, raw, api, load_raw, load_api))
    finally:  # the network's DHCP, proxy and bridge go with it; then the cloud
        cloud.openstack("network", "delete", "bench", check=False)
        stop_running_cloud(cloud)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"rows": [(i, raw.__dict__, api.__dict__, la, lb) for i, raw, api, la, lb in rows]}))
    print(f"\n{'round':>5} {'raw -> ssh':>11} {'(qemu at)':>10} {'API -> ssh':>11} {'(qemu at)':>10} "
          f"{'overhead':>9} {'before qemu':>12} {'guest boot':>11} {'load raw/api':>13}")  # fmt: skip
    for i, raw, api, la, lb in rows:
        before, guest = api.qemu - raw.qemu, (api.ssh - api.qemu) - (raw.ssh - raw.qemu)
        print(f"{i:>5} {raw.ssh:>10.1f}s {raw.qemu:>9.2f}s {api.ssh:>10.1f}s {api.qemu:>9.2f}s "
              f"{api.ssh - raw.ssh:>+8.1f}s {before:>+11.2f}s {guest:>+10.1f}s {la:>6.2f}/{lb:<6.2f}")  # fmt: skip
    print(f"first boot on the host (image into the host's cache): QEMU at {first.qemu:.2f} s, ssh at {first.ssh:.1f} s")
    print(f"overhead (API - raw): {spread([api.ssh - raw.ssh for _, raw, api, _, _ in rows])}")
    print(f"  before QEMU starts: {spread([api.qemu - raw.qemu for _, raw, api, _, _ in rows])}")
    print(
        f"  the guest's boot:   {spread([(api.ssh - api.qemu) - (raw.ssh - raw.qemu) for _, raw, api, _, _ in rows])}"
    )
    print(
        "peer: raw qemu-system-x86_64 (same image, TCG, same memory/vCPU, config drive by the same code); target: <= 1 s"
    )


if __name__ == "__main__":
    main()
