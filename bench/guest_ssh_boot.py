"""Time to SSH for the Debian cloud image: Overcast's API path against a raw QEMU boot of the
same image, to the same point (``ssh debian@… hostname`` answers), in the same run (issue 17).

* raw: ``qemu-img create`` of an overlay of ``debian-12.qcow2`` + ``qemu-system-x86_64``
  (TCG, 1 vCPU, 1024 MiB, virtio disk and NIC with user networking forwarding a port to 22,
  Nova's SMBIOS identity) with a config drive made by the same function Overcast's drives are
  (``overcast.compute.metadata.content.drive_files``: key pair, network_data with the NIC on
  DHCP), so cloud-init does the same work;
* API: ``server create --config-drive True --key-name`` on a running ``overcast up`` (one KVM
  host, linuxbridge, ``[metadata]``), on a flat network patched into a host bridge (the host
  reaches the guest's address directly), timed from the create request.

Both boot one after the other (TCG boots are CPU-bound; the machine is shared, so the load
average is printed with each row). The overhead is API - raw. Needs root, libvirtd, the image
(scripts/build-debian-image.sh), ssh.

    .venv/bin/python bench/guest_ssh_boot.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

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


def raw_boot(work: Path, key: Path) -> float:
    overlay, drive = work / "raw.qcow2", work / "raw-config.img"
    for previous in (overlay, drive):  # an earlier round's (mkfs.vfat -C refuses an existing file)
        previous.unlink(missing_ok=True)
    config_drive(drive, key.with_suffix(".pub").read_text().strip())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
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
    try:
        return wait_ssh(key, "127.0.0.1", start, port)
    finally:
        qemu.terminate()
        qemu.wait(timeout=30)


def api_boot(cloud, key: Path, round_no: int) -> float:
    def osc(*args: str, timeout: float = 600):
        return cloud.openstack(*args, timeout=timeout)

    start = time.monotonic()
    server = osc("--os-compute-api-version", "2.37", "server", "create", "--image", "debian-12", "--flavor", "d1",
                 "--key-name", "k1", "--network", "bench", "--config-drive", "True", "--wait", f"bench{round_no}",
                 "-f", "json", timeout=900)  # fmt: skip
    addresses = osc("server", "show", server["id"], "-f", "json")["addresses"]
    # the CLI gives {"bench": ["10.94.0.5"]} (older ones "bench=10.94.0.5")
    address = next(iter(addresses.values()))[0] if isinstance(addresses, dict) else str(addresses).split("=")[-1]
    try:
        return wait_ssh(key, address, start)
    finally:
        osc("server", "delete", "--wait", server["id"], timeout=300)


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
        for i in range(1, args.rounds + 1):
            raw = raw_boot(work, key)
            load_raw = os.getloadavg()[0]
            api = api_boot(cloud, key, i)
            rows.append((i, raw, api, load_raw, os.getloadavg()[0]))
    finally:  # the network's DHCP, proxy and bridge go with it; then the cloud
        cloud.openstack("network", "delete", "bench", check=False)
        stop_running_cloud(cloud)
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"rows": rows}))
    print(f"\n{'round':>5} {'raw qemu -> ssh':>16} {'overcast -> ssh':>16} {'overhead':>9} {'load (raw/api)':>15}")
    for i, raw, api, la, lb in rows:
        print(f"{i:>5} {raw:>15.1f}s {api:>15.1f}s {api - raw:>8.1f}s {la:>7.2f}/{lb:<7.2f}")
    print(
        "peer: raw qemu-system-x86_64 (same image, TCG, same memory/vCPU, config drive by the same code); target: <= 1 s"
    )


if __name__ == "__main__":
    main()
