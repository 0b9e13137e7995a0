"""Volume backup and restore throughput through the whole API, beside ``dd`` of the same
volume file in the same run (the peers). Target: a full backup at >= 50% of the rate of ``dd``
copying the volume to a new file, sparse and fsynced (column "vs dd copy"): a backup too reads
the volume, skips its zeros and stores the rest durably. "vs dd read" is against ``dd``
reading the volume to ``/dev/null`` (the page cache's read ceiling, which stores nothing).

    .venv/bin/python bench/volume_backup.py [--size-gb 1] [--data-mib 512] [--runs 1]

A real ``overcast up`` (loopback, a free port, a temp dir) with an ``fs`` volume backend
(raw files), the ``fs`` object store and the built-in ``objectstore`` backup target: a
volume of ``--size-gb`` gets ``--data-mib`` of random data (incompressible: the worst case
for the compressor) in 32 MiB runs spread over it; then, timed from the API call until the
status says done, a full backup (Cinder's API: chunk, xxh3_128, zstd, Swift PUT with the
user's token), and a restore into a new volume. The peers read and copy the same file with
``dd bs=32M``: to ``/dev/null`` (the read ceiling) and to a new file with
``conv=sparse,fsync`` (a copy that, like the backup, skips zeros and is durable).
Rates are MiB of volume data moved per second (``--data-mib`` / seconds); the load average
is printed, as the machine is shared. A backup's and a restore's seconds are the server's own:
from the backup's (the restored volume's) ``created_at`` to its ``updated_at`` when it became
available, with the status polled every 0.25 s (each poll costs the API a few ms of CPU,
which a 50 ms poll added to the operation's CPU). CPU per MiB is given twice: of the
processes doing the work (the cloud's, or ``dd``, or this one for the chunker), which other
load on the machine does not change, and of the whole machine (``/proc/stat``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procmem import cpu_of, stat  # noqa: E402

MiB = 1024 * 1024


POLL = 0.25  # seconds between two status reads


def wait(client: httpx.Client, url: str, key: str, want: str, timeout: float = 1800) -> dict[str, Any]:
    """Poll ``url`` until its ``key`` has status ``want``; that body."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(url).json()[key]
        if body["status"] == want:
            return body
        if body["status"].startswith("error"):
            raise RuntimeError(f"{url}: {body}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} stayed {body['status']}")
        time.sleep(POLL)


def server_seconds(body: dict[str, Any], elapsed: float) -> float:
    """From ``created_at`` to ``updated_at`` (the server's clock, microseconds); no more than
    ``elapsed``, what the client saw."""
    took = (datetime.fromisoformat(body["updated_at"]) - datetime.fromisoformat(body["created_at"])).total_seconds()
    if not 0 < took <= elapsed:
        raise RuntimeError(f"server timestamps say {took:.3f} s, the client saw {elapsed:.3f} s: {body}")
    return took


def dd(src: Path, dst: str, *conv: str) -> float:
    started = time.perf_counter()
    args = ["dd", f"if={src}", f"of={dst}", "bs=32M", "status=none"]
    if conv:
        args.append("conv=" + ",".join(conv))
    subprocess.run(args, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=int, default=1)
    parser.add_argument("--data-mib", type=int, default=512, help="random data written into the volume")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--object-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="[objectstore] workers, the processes serving the Swift API (default: one per CPU, as overcast init "
        "writes; 0 serves it in the API process)",
    )
    parser.add_argument(
        "--backup-workers", type=int, default=None, help="[volume] backup_workers (default: the config's default)"
    )
    args = parser.parse_args()

    from overcast.testing.cloud import free_port, start_running_cloud, stop_running_cloud

    objectstore = {"workers": args.object_workers, "port": free_port()} if args.object_workers else {}

    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        root = Path(tmp)
        vols, objs = root / "volumes", root / "objects"
        cloud = start_running_cloud(
            root / "cloud",
            {
                "volume_backends": {"files": {"driver": "fs", "path": str(vols), "format": "raw"}},
                "object_store": {"driver": "fs", "path": str(objs)},
                "backup": {"driver": "objectstore"},
                "objectstore": objectstore,
                "volume": {
                    "quota_gigabytes": -1,
                    "quota_backup_gigabytes": -1,
                    "quota_backups": -1,
                    **({"backup_workers": args.backup_workers} if args.backup_workers else {}),
                },
            },
        )
        try:
            rows = run(cloud, vols, root, args, lambda: session_cpu(cloud.process.pid))
        finally:
            stop_running_cloud(cloud)
    load = os.getloadavg()
    print(
        f"\nvolume {args.size_gb} GiB with {args.data_mib} MiB of random data; runs {args.runs}; "
        f"object-API workers {args.object_workers}; backup workers {args.backup_workers or 'default'}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'operation':<48} {'seconds':>8} {'MiB/s':>8} {'vs dd read':>10} {'vs dd copy':>10} "
        f"{'CPU ms/MiB':>10} {'machine CPU':>11}"
    )
    read_rate = rows["dd read (to /dev/null)"][0]
    copy_rate = rows["dd copy (conv=sparse,fsync)"][0]
    for name, (rate, cpu, machine) in rows.items():
        secs = args.data_mib / rate
        print(
            f"{name:<48} {secs:>8.2f} {rate:>8.1f} {rate / read_rate:>9.0%} {rate / copy_rate:>10.0%} "
            f"{cpu:>10.2f} {machine:>11.2f}"
        )
    print(
        "CPU: user + system time per MiB of data over the operation (its best run), of the cloud's processes "
        "and this one's (with dd, its child); machine CPU: of every process on the machine"
    )


def cpu_seconds() -> float:
    """User + system time of the whole machine so far (``/proc/stat``), in seconds."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system = (int(x) for x in fields[:3])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def session_cpu(session: int) -> float:
    """User + system time so far of the live processes of ``session`` (the cloud's: ``overcast
    up`` starts one, its workers stay in it), of this process and of its waited-for children."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = stat(Path(entry.path, "stat"))[1]
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == session:
            total += cpu_of(fields)
    own = os.times()
    return total + own.user + own.system + own.children_user + own.children_system


def run(
    cloud: Any, vols: Path, root: Path, args: argparse.Namespace, process_cpu: Callable[[], float]
) -> dict[str, tuple[float, float, float]]:
    token, project = cloud.admin_token()
    base = f"{cloud.url}/volume/v3/{project}"
    client = httpx.Client(headers={"X-Auth-Token": token}, timeout=60)
    client.post(
        f"{base}/types", json={"volume_type": {"name": "files", "extra_specs": {"volume_backend_name": "files"}}}
    ).raise_for_status()
    r = client.post(f"{base}/volumes", json={"volume": {"size": args.size_gb, "volume_type": "files", "name": "src"}})
    r.raise_for_status()
    vid = r.json()["volume"]["id"]
    wait(client, f"{base}/volumes/{vid}", "volume", "available")
    path = vols / f"volume-{vid}.raw"
    runs = args.data_mib // 32
    spacing = max(32 * MiB, (args.size_gb * 1024 * MiB // max(runs, 1)) // (32 * MiB) * 32 * MiB)
    with open(path, "r+b") as f:
        for i in range(runs):
            f.seek(i * spacing)
            f.write(os.urandom(32 * MiB))
        os.fsync(f.fileno())
    best: dict[str, tuple[float, float, float]] = {}

    def keep(name: str, operation: Callable[[], float]) -> None:
        """Run ``operation`` (it returns its seconds); keep the best rate of ``name`` and the
        CPU time per MiB of that run: the working processes' and the machine's."""
        machine_before, process_before = cpu_seconds(), process_cpu()
        rate = args.data_mib / operation()
        process = (process_cpu() - process_before) * 1000 / args.data_mib
        machine = (cpu_seconds() - machine_before) * 1000 / args.data_mib
        if rate > best.get(name, (0.0, 0.0, 0.0))[0]:
            best[name] = (rate, process, machine)

    def backup() -> float:
        started = time.perf_counter()
        r = client.post(f"{base}/backups", json={"backup": {"volume_id": vid, "name": "bench"}})
        r.raise_for_status()
        ids["backup"] = r.json()["backup"]["id"]
        body = wait(client, f"{base}/backups/{ids['backup']}", "backup", "available")
        return server_seconds(body, time.perf_counter() - started)

    def restore() -> float:
        started = time.perf_counter()
        r = client.post(f"{base}/backups/{ids['backup']}/restore", json={"restore": {"name": "restored"}})
        r.raise_for_status()
        ids["restored"] = r.json()["restore"]["volume_id"]
        body = wait(client, f"{base}/volumes/{ids['restored']}", "volume", "available")
        return server_seconds(body, time.perf_counter() - started)

    ids: dict[str, str] = {}
    copy = root / "dd-copy.raw"
    for _ in range(args.runs):
        keep("chunker alone (xxh3_128, zstd; in-memory target)", lambda: chunker_alone(path))
        keep("dd read (to /dev/null)", lambda: dd(path, "/dev/null"))
        keep("dd copy (conv=sparse,fsync)", lambda: dd(path, str(copy), "sparse", "fsync"))
        copy.unlink()
        keep("backup (chunk, xxh3_128, zstd, Swift PUT)", backup)
        keep("restore into a new volume (GET, verify, write)", restore)
        bid, new = ids["backup"], ids["restored"]
        if not same_bytes(path, vols / f"volume-{new}.raw"):
            raise RuntimeError("the restored volume differs from the backed-up one")
        client.delete(f"{base}/volumes/{new}").raise_for_status()
        r = client.delete(f"{base}/backups/{bid}")
        if r.status_code != 202:
            raise RuntimeError(f"deleting backup {bid}: {r.status_code} {r.text}")
        wait_gone(client, f"{base}/backups/{bid}")
    return best


def same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            block = fa.read(32 * MiB)
            if block != fb.read(32 * MiB):
                return False
            if not block:
                return True


def chunker_alone(path: Path) -> float:
    """The same volume through the core's chunker into the in-memory fake target: where the
    time goes without HTTP and the object store's own work (md5, fsync)."""
    from overcast.plugins import PluginManager
    from overcast.testing.fakes.backup import FakeBackupTarget
    from overcast.types import Backend, BackupJob, BackupTarget, DriverKind, LocalDevice
    from overcast.volume.backup_chunks import ChunkStore, backup_device

    pm = PluginManager()
    pm.registry.add(DriverKind.BACKUP, "fake", FakeBackupTarget())
    target = BackupTarget("bench", "volumebackups")
    store = ChunkStore(
        pm.driver("backup", "fake"), Backend(DriverKind.BACKUP, "backup", "fake"), BackupJob("b", target, "v/b")
    )
    store.driver.prepare(backend=store.backend, target=target)
    started = time.perf_counter()
    backup_device(LocalDevice(str(path), path.stat().st_size), store, "v")
    return time.perf_counter() - started


def wait_gone(client: httpx.Client, url: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while (r := client.get(url)).status_code != 404:
        if r.json()["backup"]["status"] == "error_deleting":
            raise RuntimeError(f"{url}: {r.json()['backup']['fail_reason']}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} was not deleted")
        time.sleep(0.1)


if __name__ == "__main__":
    main()
