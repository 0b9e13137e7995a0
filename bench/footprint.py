"""Memory of the all-in-one cloud, idle after booting one server: PSS per process and in all.

What ``scripts/demo.sh`` leaves running, in a scratch data dir: ``overcast init`` (KVM host
under TCG, ``fs`` stores, Linux-bridge networking, 4 object-API workers) and ``overcast up``,
then the unmodified ``openstack`` CLI uploads the tiny guest and boots one server; once it is
ACTIVE and ``--settle`` seconds have passed, every process of the server (the API process, the
object-API zygote and its workers) is read from ``/proc/PID/smaps_rollup``. PSS (proportional
set size) splits a page shared by N processes N ways, so the sum is what the cloud costs the
machine; QEMU itself (the guest's memory) is not the cloud's and is left out, as are the
host's libvirtd and dnsmasq.

Ceiling: 300 MiB in all (issue 23). Not measured here yet: Keystone + Swift proxy + Placement
from PyPI side by side (the issue's peer).

    .venv/bin/python bench/footprint.py [--settle 20] [--keep]

Root, libvirtd running (``scripts/start-host-services.sh``), the tiny guest built. Takes the
machine lock like the tests (it makes bridges and a libvirt domain).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CEILING_MIB = 300.0
LOCK = os.environ.get("OVERCAST_MACHINE_LOCK", "/run/lock/overcast-machine-tests.lock")
BIN = Path(sys.executable).parent


def memory_mib(pid: int) -> tuple[float, float]:
    """(PSS, USS): the proportional share, and what is the process's alone (private pages)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0])
    except (OSError, ValueError):
        return 0.0, 0.0
    return fields.get("Pss", 0) / 1024, (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024


def descendants(root: int) -> list[int]:
    found, i = [root], 0
    while i < len(found):
        for task in Path(f"/proc/{found[i]}/task").glob("*/children"):
            try:
                found += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
        i += 1
    return found


def title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()[:70]
    except OSError:
        return "?"


def run(*argv: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=check, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=20.0, help="seconds idle after the server is ACTIVE")
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
        total = sum(r[2] for r in rows)
        load = os.getloadavg()
        print(
            f"\nOvercast all-in-one, idle {args.settle:.0f} s after one server went ACTIVE ({active:.1f} s to ACTIVE)"
        )
        print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
        print(f"{'pid':>8}  {'PSS MiB':>8}  {'USS MiB':>8}  process")
        for pid, name, pss, uss in rows:
            print(f"{pid:>8}  {pss:8.1f}  {uss:8.1f}  {name}")
        verdict = "within" if total <= CEILING_MIB else "OVER"
        print(f"{'':>8}  {total:8.1f}  {'':>8}  total PSS ({verdict} the {CEILING_MIB:.0f} MiB ceiling)")
        print(json.dumps({"total_pss_mib": round(total, 1), "ceiling_mib": CEILING_MIB, "processes": len(rows)}))
    finally:
        run("openstack", "server", "delete", "--wait", "demo", env=env, check=False)
        run("overcast", "down", env=env, check=False)
        run("overcast", "cleanup", "--yes", env=env, check=False)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
        lock.close()


if __name__ == "__main__":
    main()
