"""Clone and snapshot time of the ``fs`` volume driver at 1 GiB and 10 GiB, beside a full
copy of the same volume in the same run (the peer: what a driver without copy-on-write
does). Target: snapshot and clone <= 50 ms at any size.

    .venv/bin/python bench/volume_clone.py [--sizes 1,10] [--fill 1.0] [--runs 3] [--dir DIR]

Two setups, each a real file system:
* ``reflink/xfs``: raw volumes on a loop-mounted XFS with reflink (needs root, xfsprogs);
* ``qcow2-chain``: qcow2 volumes on the directory given by ``--dir`` (default: a temp dir),
  where a snapshot or clone is a qcow2 backing-chain step.
``--fill`` is the fraction of each volume written with data before copying (1.0: all of it,
so the full copy moves every byte).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from overcast.plugins import DriverCaller, PluginManager
from overcast.types import Backend, DriverKind, SnapshotRef, VolumeRef

GiB = 1024**3
CHUNK = 8 * 1024 * 1024


def fs_driver() -> DriverCaller:
    from overcast_storage_fs import plugin

    pm = PluginManager()
    pm.register_plugin(plugin, name="storage_fs")
    return pm.driver("volume", "fs")


@contextmanager
def xfs_mount(parent: Path, size_gb: int) -> Iterator[Path]:
    image, mnt = parent / "bench-xfs.img", parent / "bench-xfs"
    mnt.mkdir(exist_ok=True)
    with open(image, "wb") as f:
        f.truncate(size_gb * GiB)
    subprocess.run(["mkfs.xfs", "-q", "-f", "-m", "reflink=1", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        image.unlink(missing_ok=True)


def fill(path: Path, fmt: str, nbytes: int) -> None:
    """Write ``nbytes`` of non-zero data at the start of the volume."""
    if nbytes <= 0:
        return
    if fmt == "raw":
        block = b"overcast" * (CHUNK // 8)
        with open(path, "r+b") as f:
            left = nbytes
            while left > 0:
                left -= f.write(block[: min(CHUNK, left)])
            f.flush()
            os.fsync(f.fileno())
        return
    step = GiB
    for offset in range(0, nbytes, step):
        length = min(step, nbytes - offset)
        subprocess.run(
            ["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a {offset} {length}", str(path)],
            check=True,
            capture_output=True,
        )


def timed(func: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    return (time.perf_counter() - start) * 1000, result


def bench_setup(name: str, directory: Path, fmt: str, sizes: list[int], fill_fraction: float, runs: int) -> list[tuple]:
    driver = fs_driver()
    backend = Backend(
        DriverKind.VOLUME, name, "fs", {"path": str(directory / "vols"), "format": fmt, "full_copy": True}
    )
    driver.init_backend(backend=backend)
    rows = []
    for size in sizes:
        vid = str(uuid.uuid4())
        loc = driver.create(backend=backend, volume=VolumeRef(vid, "bench", size))
        src = VolumeRef(vid, "bench", size, location=loc.location)
        src_path = directory / "vols" / loc.location
        fill(src_path, fmt, int(size * GiB * fill_fraction))
        snap_ms, clone_ms, cow = [], [], True
        for _ in range(runs):
            ms, snap_loc = timed(
                lambda: driver.create_snapshot(backend=backend, snapshot=SnapshotRef(str(uuid.uuid4()), src))
            )
            snap_ms.append(ms)
            cow &= snap_loc.copy_on_write
            clone = VolumeRef(str(uuid.uuid4()), "clone", size)
            ms, clone_loc = timed(lambda: driver.clone(backend=backend, volume=clone, source=src))
            clone_ms.append(ms)
            cow &= clone_loc.copy_on_write
            driver.delete(backend=backend, volume=VolumeRef(clone.id, "clone", size, location=clone_loc.location))
            driver.delete_snapshot(backend=backend, snapshot=SnapshotRef("x", src, location=snap_loc.location))
        src_path = directory / "vols" / src.location  # chain steps keep the volume's name
        dest = directory / "vols" / f"fullcopy-{vid}"
        if fmt == "raw":  # what the driver's reported full copy does
            full = ["cp", "--reflink=never", "--sparse=always", str(src_path), str(dest)]
        else:  # a qcow2 volume's content is its whole chain: flatten it
            full = ["qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", str(src_path), str(dest)]
        copy_ms, _ = timed(lambda: subprocess.run(full, check=True))
        dest.unlink()
        driver.delete(backend=backend, volume=src)
        rows.append(
            (name, size, f"{fill_fraction:.0%}", statistics.median(snap_ms), statistics.median(clone_ms), copy_ms, cow)
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10", help="volume sizes in GiB, comma separated")
    ap.add_argument("--fill", type=float, default=1.0, help="fraction of each volume written before copying")
    ap.add_argument("--runs", type=int, default=3, help="snapshot/clone repetitions (median shown)")
    ap.add_argument("--dir", default="", help="directory for the qcow2-chain setup (default: a temp dir)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="overcast-bench-") as tmp:
        work = Path(args.dir) if args.dir else Path(tmp)
        if os.geteuid() == 0 and shutil.which("mkfs.xfs"):
            need = max(4, int(max(sizes) * (2 * args.fill + 1)) + 2)
            with xfs_mount(Path(tmp), need) as mnt:
                rows += bench_setup("reflink/xfs (raw)", mnt, "raw", sizes, args.fill, args.runs)
        else:
            print("(skipping reflink/xfs: needs root and xfsprogs)", file=sys.stderr)
        rows += bench_setup("qcow2-chain", work, "qcow2", sizes, args.fill, args.runs)
    header = ("setup", "size", "data", "snapshot ms", "clone ms", "full copy ms", "copy-on-write", "target <=50 ms")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, size, data, snap, clone, copy, cow in rows:
        ok = "yes" if cow and snap <= 50 and clone <= 50 else "NO"
        print(f"| {name} | {size} GiB | {data} | {snap:.1f} | {clone:.1f} | {copy:.0f} | {cow} | {ok} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
