"""What this machine allows an object store at all, measured in the run that measures the
stores: fsync'd file creates (the least a durable PUT does: write, fsync the file, fsync its
directory, no index, no HTTP) at the benchmark's concurrency, and MD5 on one core (a PUT
hashes every byte, a verified GET too; an image upload also SHA-512, :func:`hash_mib_per_s`).

    python bench/machine_ceilings.py [--dir DIR] [--concurrency 16] [--seconds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import threading
import time
from pathlib import Path

DIRS = 256


def fsync_creates(root: Path, size: int, concurrency: int, seconds: float) -> float:
    """Files of ``size`` bytes per second, each written, fsynced and its directory fsynced,
    by ``concurrency`` threads spread over 256 directories."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(DIRS):
        (root / f"{i:02x}").mkdir(exist_ok=True)
    data = os.urandom(size)
    done = [0] * concurrency
    stop = time.monotonic() + seconds

    def worker(k: int) -> None:
        n = 0
        while time.monotonic() < stop:
            directory = str(root / f"{(k * 97 + n * 31) % DIRS:02x}")
            fd = os.open(f"{directory}/{k}.{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            n += 1
        done[k] = n

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    shutil.rmtree(root, ignore_errors=True)
    return sum(done) / elapsed


def hash_rates(algo: str, seconds: float = 1.0) -> tuple[float, float]:
    """One stream of ``algo`` (a hashlib name) on one core: MiB/s by the clock (what the core
    gave it, less on a busy machine) and MiB per CPU second (what a core of its own gives)."""
    block = os.urandom(1024 * 1024)
    h = hashlib.new(algo)
    n = 0
    stop = time.monotonic() + seconds
    started, cpu = time.monotonic(), time.thread_time()
    while time.monotonic() < stop:
        h.update(block)
        n += 1
    return n / (time.monotonic() - started), n / (time.thread_time() - cpu)


def md5_mib_per_s(seconds: float = 1.0) -> float:
    """MD5 throughput of one core, in MiB/s."""
    return hash_rates("md5", seconds)[0]


def ceilings(root: Path, concurrency: int, seconds: float) -> dict[str, float]:
    """``4k_put`` (creates/s), ``1m_put`` (MiB/s) and ``md5`` (MiB/s on one core)."""
    return {
        "4k_put": fsync_creates(root / "small", 4096, concurrency, seconds),
        "1m_put": fsync_creates(root / "large", 1024 * 1024, concurrency, seconds),
        "md5": md5_mib_per_s(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/tmp/overcast-bench/ceilings")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    out = ceilings(Path(args.dir), args.concurrency, args.seconds)
    print(
        f"4 KiB create+fsync+dir fsync: {out['4k_put']:.0f}/s; 1 MiB: {out['1m_put']:.0f} MiB/s; "
        f"md5: {out['md5']:.0f} MiB/s per core (concurrency {args.concurrency})"
    )


if __name__ == "__main__":
    main()
