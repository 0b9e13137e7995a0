"""Real-boot overhead of the API path over a raw ``qemu-system-x86_64`` boot (same run).

Both boot the same tiny guest disk (``$OVERCAST_GUEST_DIR/tinyguest.qcow2``: SYSLINUX, the
same kernel, initrd and baked-in cmdline) as a qcow2 overlay, under TCG, with the same
machine type (``pc``), CPU model (``qemu64``), memory, one vCPU, virtio disk with
``cache=none``, virtio-rng, a QMP monitor, and the serial port written to a file. The raw
QEMU runs in a cpu cgroup next to libvirt's guests (``/machine/...``), so the host scheduler
weighs both alike. Each is timed from its start to the guest's ``TINYGUEST-READY`` line in
that file, polled every 10 ms the same way:

* raw: ``qemu-img create`` of the overlay + ``qemu-system-x86_64`` started directly;
* API: ``POST /compute/v2.1/servers`` (token, flavor, image, ``networks: none``) to a running
  ``overcast up`` with one KVM host (libvirt ``qemu:///system``, ``virt_type = "qemu"``); the
  console file is the one the driver gives libvirt (``<instances_dir>/oc-<uuid>/console.log``).

In each round the raw boot and the API boot run at the same time, so both see the same
machine load (TCG boots are CPU-bound and this machine is shared); the overhead of a round is
API - raw. On a quiet machine ``--sequential`` boots them one after the other instead (the
first alternating by round), so that neither guest takes CPU time from the other. It is split at the moment each guest's vCPU starts running:

* raw: QEMU answers on its QMP socket (it enters its main loop after starting the vCPUs);
* API: libvirt's ``STARTED`` lifecycle event for the domain (sent after libvirt's ``cont``;
  received by this process a little later, so this errs against the API path).

"start" is the control plane: Overcast's part (API, scheduling, overlay, domain definition,
until libvirt logs "starting up" in ``/var/log/libvirt/qemu/<domain>.log``) and libvirt's
(QEMU's start-up, libvirt's QMP set-up of the paused guest, then ``cont``). "boot" is the
rest (firmware, kernel, init), where the two guests differ only by what their virtual
hardware makes them do (``info qtree`` of both lists the same devices), plus noise.

With libvirt 9.0 and QEMU 7.2 libvirt's part dominates: before ``cont`` it sends about 410
QMP commands, ~395 of them one ``qom-get`` per CPU feature property (its guest-CPU check,
done for every x86 guest whatever the ``<cpu>`` element says), and QEMU reads QMP input one
byte at a time; on a loaded host that takes seconds. Target: median overhead <= 0.5 s.
Needs root, libvirtd, and the tiny guest.

    .venv/bin/python bench/compute_boot_overhead.py [--rounds 3] [--sequential]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import libvirt

from overcast.testing.cloud import start_running_cloud, stop_running_cloud

GUEST_DIR = Path(os.environ.get("OVERCAST_GUEST_DIR") or "/var/lib/overcast/tinyguest")
MARKER = b"TINYGUEST-READY"
COMPUTE = "/compute/v2.1"
MEMORY_MB = 256


def wait_marker(path: Path, start: float, timeout: float = 300.0) -> float:
    """Seconds from ``start`` until the serial file contains the READY marker (10 ms polls)."""
    while time.perf_counter() - start < timeout:
        try:
            if MARKER in path.read_bytes():
                return time.perf_counter() - start
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"no {MARKER.decode()} in {path} after {timeout:.0f} s")


def wait_qmp(path: Path, timeout: float = 60.0) -> float:
    """The moment (perf_counter) QEMU's QMP socket at ``path`` sends its greeting: QEMU
    serves the socket from its main loop, which it enters after starting the vCPUs."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(timeout)
                sock.connect(str(path))
                if sock.recv(64):
                    return time.perf_counter()
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        time.sleep(0.005)
    raise TimeoutError(f"no QMP greeting on {path} after {timeout:.0f} s")


LIBVIRT_QEMU_LOGS = Path("/var/log/libvirt/qemu")


def libvirt_spawned(name: str) -> float | None:
    """The moment (perf_counter) libvirt logged that it starts QEMU for domain ``name``
    (the last "starting up" line of its log, millisecond wall-clock stamps), if readable."""
    try:
        lines = (LIBVIRT_QEMU_LOGS / f"{name}.log").read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if ": starting up " in line:
            stamp = datetime.strptime(line.split(": starting up ", 1)[0], "%Y-%m-%d %H:%M:%S.%f%z")
            return stamp.timestamp() - (time.time() - time.perf_counter())
    return None


class StartedEvents:
    """When libvirt reports each domain started (``VIR_DOMAIN_EVENT_STARTED``), by name."""

    def __init__(self, uri: str = "qemu:///system") -> None:
        libvirt.virEventRegisterDefaultImpl()
        self.conn = libvirt.open(uri)
        self.started: dict[str, float] = {}
        self._changed = threading.Condition()
        self.conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._event, None)
        threading.Thread(target=self._loop, daemon=True, name="libvirt-events").start()

    @staticmethod
    def _loop() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    def _event(self, _conn, dom, event: int, _detail: int, _opaque) -> None:
        if event == libvirt.VIR_DOMAIN_EVENT_STARTED:
            with self._changed:
                self.started.setdefault(dom.name(), time.perf_counter())
                self._changed.notify_all()

    def wait(self, name: str, timeout: float = 60.0) -> float:
        with self._changed:
            if not self._changed.wait_for(lambda: name in self.started, timeout):
                raise TimeoutError(f"libvirt reported no start of {name} in {timeout:.0f} s")
            return self.started[name]


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
    """Seconds from the start until the vCPU runs, and until READY."""
    overlay, console, qmp = work / f"raw{i}.qcow2", work / f"raw{i}.console", work / f"raw{i}.qmp"
    start = time.perf_counter()
    subprocess.run(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            str(GUEST_DIR / "tinyguest.qcow2"),
            "-F",
            "qcow2",
            str(overlay),
        ],
        check=True,
    )
    group = same_cgroup_as_libvirt(i)
    enter = ["sh", "-c", f'echo $$ > {group / "cgroup.procs"} && exec "$@"', "sh"] if group else []
    proc = subprocess.Popen(
        [
            *enter,
            "qemu-system-x86_64",
            "-name",
            f"oc-compute-bench-raw{i}",
            "-machine",
            "pc",
            "-accel",
            "tcg",
            "-cpu",
            "qemu64",
            "-m",
            str(MEMORY_MB),
            "-smp",
            "1",
            "-nodefaults",
            "-display",
            "none",
            "-no-user-config",
            "-drive",
            f"file={overlay},if=virtio,format=qcow2,cache=none",
            "-device",
            "virtio-rng-pci",
            "-serial",
            f"file:{console}",
            "-qmp",
            f"unix:{qmp},server=on,wait=off",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        running = wait_qmp(qmp) - start
        return running, wait_marker(console, start)
    finally:
        proc.kill()
        proc.wait()
        if group is not None:
            group.rmdir()


def api_boot(
    client: httpx.Client, body: dict, instances: Path, events: StartedEvents, i: int
) -> tuple[float, float, float | None]:
    """Seconds from the request until libvirt reports the guest started, until READY, and
    until libvirt started QEMU (None if its log is unreadable)."""
    start = time.perf_counter()
    r = client.post(f"{COMPUTE}/servers", json={"server": {**body, "name": f"oc-compute-bench{i}"}})
    r.raise_for_status()
    uuid = r.json()["server"]["id"]
    try:
        ready = wait_marker(instances / f"oc-{uuid}" / "console.log", start)
        spawned = libvirt_spawned(f"oc-{uuid}")
        return events.wait(f"oc-{uuid}") - start, ready, None if spawned is None else spawned - start
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
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="boot the two one after the other (on a quiet machine: each gets the CPUs alone)",
    )
    args = parser.parse_args()
    if not (GUEST_DIR / "tinyguest.qcow2").exists():
        raise SystemExit(f"no tiny guest in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")

    work = Path(tempfile.mkdtemp(prefix="oc-compute-bench-boot-", dir="/var/tmp"))
    os.chmod(work, 0o755)  # QEMU under libvirt runs as libvirt-qemu
    extra = {
        "image_store": {"driver": "fs", "path": "images"},
        # no VGA/VNC display (issue 17's noVNC console): the raw peer runs -nodefaults -display none
        "hosts": {
            "kvm1": {
                "driver": "kvm",
                "virt_type": "qemu",
                "instances_dir": str(work / "instances"),
                "vnc_console": False,
            }
        },
    }
    cloud = start_running_cloud(work / "cloud", extra)
    os.chmod(work / "cloud", 0o755)
    rows = []
    events = StartedEvents()
    try:
        headers = {"X-Auth-Token": cloud.admin_token()[0], "OpenStack-API-Version": "compute 2.37"}
        with httpx.Client(base_url=cloud.url, headers=headers, timeout=120) as client:
            r = client.post(
                f"{COMPUTE}/flavors", json={"flavor": {"name": "bench.boot", "vcpus": 1, "ram": MEMORY_MB, "disk": 1}}
            )
            r.raise_for_status()
            flavor = r.json()["flavor"]["id"]
            r = client.post(
                "/image/v2/images",
                json={
                    "name": "tinyguest",
                    "disk_format": "qcow2",
                    "container_format": "bare",
                    "hypervisor_type": "qemu",
                },
            )
            r.raise_for_status()
            image = r.json()["id"]
            client.put(
                f"/image/v2/images/{image}/file",
                content=(GUEST_DIR / "tinyguest.qcow2").read_bytes(),
                headers={"Content-Type": "application/octet-stream"},
            ).raise_for_status()
            body = {"flavorRef": flavor, "imageRef": image, "networks": "none"}
            api_boot(client, body, work / "instances", events, 0)  # warm: the image cache fills once, not per boot
            for i in range(1, args.rounds + 1):
                if args.sequential:  # one after the other, which goes first alternating by round
                    if i % 2:
                        raw = raw_boot(work, i)
                        api = api_boot(client, body, work / "instances", events, i)
                    else:
                        api = api_boot(client, body, work / "instances", events, i)
                        raw = raw_boot(work, i)
                    rows.append((i, raw, api, os.getloadavg()[0]))
                    continue
                # both at once: they share whatever the machine's load is at that moment
                with ThreadPoolExecutor(2) as pool:
                    raw_f = pool.submit(raw_boot, work, i)
                    api_f = pool.submit(api_boot, client, body, work / "instances", events, i)
                    rows.append((i, raw_f.result(), api_f.result(), os.getloadavg()[0]))
    finally:
        stop_running_cloud(cloud)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{'round':>5} | {'raw: running':>12} | {'API: QEMU exec':>14} | {'API: running':>12} | {'raw: READY':>10} | "
        f"{'API: READY':>10} | {'overhead: start':>15} | {'boot':>7} | {'total':>7} | load"
    )
    print(
        "------+--------------+----------------+--------------+------------+------------+-----------------+---------+"
        "---------+-----"
    )
    for i, (raw_run, raw), (api_run, api, api_exec), load in rows:
        start_d = api_run - raw_run
        boot_d = (api - api_run) - (raw - raw_run)
        exec_s = "n/a" if api_exec is None else f"{api_exec:.2f} s"
        print(
            f"{i:>5} | {raw_run:>10.2f} s | {exec_s:>14} | {api_run:>10.2f} s | {raw:>8.2f} s | {api:>8.2f} s | "
            f"{start_d:>13.2f} s | {boot_d:>5.2f} s | {api - raw:>5.2f} s | {load:.1f}"
        )
    start_ds = [a[0] - r[0] for _, r, a, _ in rows]
    boot_ds = [(a[1] - a[0]) - (r[1] - r[0]) for _, r, a, _ in rows]
    ready = [a[1] - r[1] for _, r, a, _ in rows]
    print(
        f"median overhead, API - raw: until the vCPU runs {statistics.median(start_ds):.2f} s; from then to READY "
        f"{statistics.median(boot_ds):.2f} s; until READY {statistics.median(ready):.2f} s (target <= 0.5 s)"
    )
    execs = [a[2] for _, _, a, _ in rows if a[2] is not None]
    if execs:
        print(
            f"median API time until libvirt starts QEMU {statistics.median(execs):.2f} s; from then until the vCPU "
            f"runs (libvirt's QEMU start-up) {statistics.median(a[0] - a[2] for _, _, a, _ in rows if a[2] is not None):.2f} s"
        )


if __name__ == "__main__":
    main()
