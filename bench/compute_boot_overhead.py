"""Real-boot overhead of the API path over a raw ``qemu-system-x86_64`` boot (same run).

Both boot the same tiny guest disk (``$OVERCAST_GUEST_DIR/tinyguest.qcow2``: SYSLINUX, the
same kernel, initrd and baked-in cmdline) as a qcow2 overlay, under TCG, with the same
machine type (``pc``), CPU model (``qemu64``), memory, one vCPU, virtio disk with
``cache=none``, and the serial port written to a file. The raw QEMU runs in a cpu cgroup
next to libvirt's guests (``/machine/...``), so the host scheduler weighs both alike. Each is timed from its start to the
guest's ``TINYGUEST-READY`` line in that file, polled every 10 ms the same way:

* raw: ``qemu-img create`` of the overlay + ``qemu-system-x86_64`` started directly;
* API: ``POST /compute/v2.1/servers`` (token, flavor, image, ``networks: none``) to a running
  ``overcast up`` with one KVM host (libvirt ``qemu:///system``, ``virt_type = "qemu"``); the
  console file is the one the driver gives libvirt (``<instances_dir>/oc-<uuid>/console.log``).

In each round the raw boot and the API boot run at the same time, so both see the same
machine load (TCG boots are CPU-bound and this machine is shared); the overhead of a round is
API - raw. Also printed: the time until QEMU has opened the serial file (the control-plane
part: API, scheduling, overlay, domain definition, QEMU start), which TCG speed hardly affects. Target: median overhead <= 0.5 s. Needs root, libvirtd, and the tiny guest.

    .venv/bin/python bench/compute_boot_overhead.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from overcast.testing.cloud import start_running_cloud, stop_running_cloud

GUEST_DIR = Path(os.environ.get("OVERCAST_GUEST_DIR") or "/var/lib/overcast/tinyguest")
MARKER = b"TINYGUEST-READY"
COMPUTE = "/compute/v2.1"
MEMORY_MB = 256


def wait_marker(path: Path, start: float, timeout: float = 300.0) -> tuple[float, float]:
    """Seconds from ``start`` until QEMU has opened the serial file (it exists), and until it
    contains the READY marker (10 ms polls)."""
    opened = None
    while time.perf_counter() - start < timeout:
        try:
            data = path.read_bytes()
            if opened is None:
                opened = time.perf_counter() - start
            if MARKER in data:
                return opened, time.perf_counter() - start
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"no {MARKER.decode()} in {path} after {timeout:.0f} s")


MACHINE_CGROUP = Path("/sys/fs/cgroup/cpu/machine")  # cgroup v1: where libvirt puts its guests


def same_cgroup_as_libvirt(i: int) -> Path | None:
    """A sibling of libvirt's per-guest cpu cgroups for the raw QEMU. libvirt's guests share
    ``/machine`` (one weight for all of them); a raw QEMU left in ``/`` would weigh as much as
    that whole group on a loaded machine and boot faster for that reason alone."""
    if not MACHINE_CGROUP.is_dir():
        return None
    group = MACHINE_CGROUP / f"oc-compute-bench-raw{i}-{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
    except OSError:
        return None
    return group


def raw_boot(work: Path, i: int) -> tuple[float, float]:
    overlay, console = work / f"raw{i}.qcow2", work / f"raw{i}.console"
    start = time.perf_counter()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(GUEST_DIR / "tinyguest.qcow2"), "-F", "qcow2",
                    str(overlay)], check=True)
    group = same_cgroup_as_libvirt(i)
    enter = ["sh", "-c", f'echo $$ > {group / "cgroup.procs"} && exec "$@"', "sh"] if group else []
    proc = subprocess.Popen(
        [*enter, "qemu-system-x86_64", "-name", f"oc-compute-bench-raw{i}", "-machine", "pc", "-accel", "tcg", "-cpu", "qemu64",
         "-m", str(MEMORY_MB), "-smp", "1", "-nodefaults", "-display", "none", "-no-user-config",
         "-drive", f"file={overlay},if=virtio,format=qcow2,cache=none",
         "-device", "virtio-rng-pci", "-serial", f"file:{console}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        return wait_marker(console, start)
    finally:
        proc.kill()
        proc.wait()
        if group is not None:
            group.rmdir()


def token(cloud) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    r = httpx.post(cloud.auth_url + "/v3/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


def api_boot(client: httpx.Client, body: dict, instances: Path, i: int) -> tuple[float, float]:
    start = time.perf_counter()
    r = client.post(f"{COMPUTE}/servers", json={"server": {**body, "name": f"oc-compute-bench{i}"}})
    r.raise_for_status()
    uuid = r.json()["server"]["id"]
    try:
        return wait_marker(instances / f"oc-{uuid}" / "console.log", start)
    except TimeoutError as exc:
        server = client.get(f"{COMPUTE}/servers/{uuid}").json().get("server", {})
        raise TimeoutError(f"{exc}; server {server.get('status')} {server.get('fault')}") from None
    finally:
        client.delete(f"{COMPUTE}/servers/{uuid}")
        deadline = time.monotonic() + 60
        while client.get(f"{COMPUTE}/servers/{uuid}").status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (GUEST_DIR / "tinyguest.qcow2").exists():
        raise SystemExit(f"no tiny guest in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")

    work = Path(tempfile.mkdtemp(prefix="oc-compute-bench-boot-", dir="/var/tmp"))
    os.chmod(work, 0o755)  # QEMU under libvirt runs as libvirt-qemu
    extra = {
        "image_store": {"driver": "fs", "path": "images"},
        "hosts": {"kvm1": {"driver": "kvm", "virt_type": "qemu", "instances_dir": str(work / "instances")}},
    }
    cloud = start_running_cloud(work / "cloud", extra)
    os.chmod(work / "cloud", 0o755)
    rows = []
    try:
        headers = {"X-Auth-Token": token(cloud), "OpenStack-API-Version": "compute 2.37"}
        with httpx.Client(base_url=cloud.url, headers=headers, timeout=120) as client:
            r = client.post(f"{COMPUTE}/flavors", json={"flavor": {"name": "bench.boot", "vcpus": 1, "ram": MEMORY_MB,
                                                                   "disk": 1}})
            r.raise_for_status()
            flavor = r.json()["flavor"]["id"]
            r = client.post("/image/v2/images", json={"name": "tinyguest", "disk_format": "qcow2",
                                                      "container_format": "bare", "hypervisor_type": "qemu"})
            r.raise_for_status()
            image = r.json()["id"]
            client.put(f"/image/v2/images/{image}/file", content=(GUEST_DIR / "tinyguest.qcow2").read_bytes(),
                       headers={"Content-Type": "application/octet-stream"}).raise_for_status()
            body = {"flavorRef": flavor, "imageRef": image, "networks": "none"}
            api_boot(client, body, work / "instances", 0)  # warm: the image cache fills once, not per boot
            for i in range(1, args.rounds + 1):
                # both at once: they share whatever the machine's load is at that moment
                with ThreadPoolExecutor(2) as pool:
                    raw_f = pool.submit(raw_boot, work, i)
                    api_f = pool.submit(api_boot, client, body, work / "instances", i)
                    rows.append((i, raw_f.result(), api_f.result(), os.getloadavg()[0]))
    finally:
        stop_running_cloud(cloud)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'round':>5} | {'raw: QEMU up':>12} | {'API: QEMU up':>12} | {'raw: READY':>10} | {'API: READY':>10} | "
          f"{'overhead to READY':>17} | load")
    print("------+--------------+--------------+------------+------------+-------------------+-----")
    for i, (raw_up, raw), (api_up, api), load in rows:
        print(f"{i:>5} | {raw_up:>10.2f} s | {api_up:>10.2f} s | {raw:>8.2f} s | {api:>8.2f} s | {api - raw:>15.2f} s | {load:.1f}")
    up = [a[0] - r[0] for _, r, a, _ in rows]
    ready = [a[1] - r[1] for _, r, a, _ in rows]
    print(f"median overhead, API - raw: until QEMU is up {statistics.median(up):.2f} s; until READY "
          f"{statistics.median(ready):.2f} s (target <= 0.5 s)")


if __name__ == "__main__":
    main()
