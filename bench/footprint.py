"""Memory of the all-in-one cloud, idle after booting one server: PSS per process and in all.

What ``scripts/demo.sh`` leaves running, in a scratch data dir: ``overcast init`` (KVM host
under TCG, ``fs`` stores, Linux-bridge networking, 4 object-API workers) and ``overcast up``,
then the unmodified ``openstack`` CLI uploads the tiny guest and boots one server; once it is
ACTIVE and ``--settle`` seconds have passed, every process of the server (the API process, the
object-API zygote and its workers) is read from ``/proc/PID/smaps_rollup``. PSS (proportional
set size) splits a page shared by N processes N ways, so the sum is what the cloud costs the
machine; QEMU itself (the guest's memory) is not the cloud's and is left out, as are the
host's libvirtd and dnsmasq.

Ceiling: 300 MiB in all (issue 23). The peer, in the same run after the cloud is down: Keystone +
Placement + Swift proxy from PyPI, each one process, idle after one request each
(``bench/openstack_peers.py``, which says how they are configured); ``--no-peer`` leaves it out.

    .venv/bin/python bench/footprint.py [--settle 20] [--peer-settle 5] [--no-peer] [--keep]

Root, libvirtd running (``scripts/start-host-services.sh``), the tiny guest built. Takes the
machine lock like the tests (it makes bridges and a libvirt domain).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.openstack_peers import PeerRow, free_port, print_rows  # noqa: E402
from bench.openstack_peers import measure as measure_peer  # noqa: E402
from bench.procmem import descendants, memory_mib, title  # noqa: E402

CEILING_MIB = 300.0
LOCK = os.environ.get("OVERCAST_MACHINE_LOCK", "/run/lock/overcast-machine-tests.lock")
BIN = Path(sys.executable).parent


def run(*argv: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}\n{(done.stdout + done.stderr)[-3000:]}")
    return done


def free_metadata_port(config: Path) -> str:
    """Nova's 8775 for the metadata API, as ``overcast init`` writes it, unless a cloud already
    running on this machine (a conformance run, say) holds it: then a free port, said in the output."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8775)) != 0:
            return ""
    port = free_port()
    text = config.read_text()
    config.write_text(text.replace("[metadata]\nport = 8775\n", f"[metadata]\nport = {port}\n", 1))
    return f" (metadata API on {port}: 8775 was taken by another cloud on this machine)"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--settle", type=float, default=20.0, help="seconds idle after the server is ACTIVE")
    parser.add_argument("--peer-settle", type=float, default=5.0, help="seconds the peer idles after its requests")
    parser.add_argument("--no-peer", action="store_true", help="leave out Keystone + Placement + Swift proxy")
    parser.add_argument("--keep", action="store_true", help="leave the scratch cloud's data dir")
    parser.add_argument("--guest-dir", default=os.environ.get("OVERCAST_GUEST_DIR", "/var/lib/overcast/tinyguest"))
    args = parser.parse_args()

    lock = open(LOCK, "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    data = Path(tempfile.mkdtemp(prefix="oc-footprint-", dir="/var/tmp"))
    os.chmod(data, 0o755)
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OVERCAST_CONFIG": str(data / "overcast.toml")}
    env.update(OS_CLIENT_CONFIG_FILE=str(data / "clouds.yaml"), OS_CLOUD="overcast")
    try:
        run("overcast", "init", "--data-dir", str(data), "--port", "16790", env=env)
        metadata_note = free_metadata_port(data / "overcast.toml")
        run("overcast", "up", "--detach", env=env)
        for _ in range(60):
            if run("openstack", "token", "issue", env=env, check=False).returncode == 0:
                break
            time.sleep(1)
        guest = Path(args.guest_dir) / "tinyguest.qcow2"
        run("openstack", "image", "create", "--file", str(guest), "--disk-format", "qcow2", "tinyguest", env=env)
        run("openstack", "flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "m1.tiny", env=env)
        started = time.monotonic()
        run(
            "openstack",
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "tinyguest",
            "--nic",
            "none",
            "--wait",
            "demo",
            env=env,
        )
        active = time.monotonic() - started
        time.sleep(args.settle)
        server = int((data / "overcast.pid").read_text().split()[0])
        rows = [(pid, title(pid), *memory_mib(pid)) for pid in descendants(server)]
        rows = [r for r in rows if "qemu" not in r[1]]
        load_overcast = os.getloadavg()
    finally:
        run("openstack", "server", "delete", "--wait", "demo", env=env, check=False)
        run("overcast", "down", env=env, check=False)
        run("overcast", "cleanup", "--yes", env=env, check=False)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
        lock.close()

    peer: list[PeerRow] = [] if args.no_peer else measure_peer(args.peer_settle)
    load_peer = os.getloadavg()
    total = sum(r[2] for r in rows)
    print(
        f"\nOvercast all-in-one, idle {args.settle:.0f} s after one server went ACTIVE ({active:.1f} s to ACTIVE)"
        + metadata_note
    )
    if peer:
        print(
            f"then, once it was down, the peer from PyPI (bench/openstack_peers.py), idle {args.peer_settle:.0f} s "
            "after one request each"
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in load_overcast)} (Overcast)", end="")
    print(f", {' '.join(f'{x:.2f}' for x in load_peer)} (peer)" if peer else "")
    print(f"\n{'pid':>8}  {'PSS MiB':>8}  {'USS MiB':>8}  process")
    for pid, name, pss, uss in rows:
        print(f"{pid:>8}  {pss:8.1f}  {uss:8.1f}  {name}")
    verdict = "within" if total <= CEILING_MIB else "OVER"
    print(f"{'':>8}  {total:8.1f}  {sum(r[3] for r in rows):8.1f}  total of Overcast ({verdict} the ceiling)")
    peer_total = print_rows(peer) if peer else None
    print(f"{'':>8}  {CEILING_MIB:8.1f}  {'':>8}  ceiling (issue 23)")
    summary: dict[str, object] = {"total_pss_mib": round(total, 1), "ceiling_mib": CEILING_MIB, "processes": len(rows)}
    if peer_total is not None:
        summary["peer_total_pss_mib"] = round(peer_total, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
