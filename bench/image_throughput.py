"""Image data throughput: upload and download MiB/s of a 1 GiB image through the Glance API
(uvicorn server process, ``fs`` store with fsync; ``curl`` as the client) against the disk's own speed, measured in
the same run with ``dd`` (write: ``conv=fdatasync``; read: ``iflag=direct``, cache bypassed),
each transfer right after its ``dd`` peer, for ``--rounds`` rounds. The upload's source file
stays in the page cache (like dd's ``/dev/zero``, it costs the disk nothing); the stored image
is dropped from the cache before its download. Also printed: the server's CPU time per MiB
(less sensitive to the load of other processes than MiB/s) and the load average.

    .venv/bin/python bench/image_throughput.py [--size-mib 1024] [--rounds 2] [--dir DIR]

The server runs in its own process: the real API, identity and image service (bootstrapped
in a scratch data dir). Target: image upload/download >= 80% of the disk's write/read speed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

CHUNK = 1024 * 1024


def _serve(data_dir: str, port: int, tokens: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import secrets

    import uvicorn

    from overcast.api.app import create_app
    from overcast.config import parse_config
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.server import start_cloud

    config = parse_config(
        {"data_dir": data_dir, "image_store": {"driver": "fs", "path": f"{data_dir}/images"}},
        Path(data_dir) / "overcast.toml",
    )
    runtime = build_runtime(config, pm=load_plugin_manager())
    boot = runtime.identity.bootstrap(secrets.token_urlsafe(12))
    start_cloud(runtime, agents=False)
    tokens.put(runtime.identity.issue_token_for(boot.user_id, boot.project_id).token)
    uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")).run()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dd(args: list[str]) -> float:
    """MiB/s that dd reports."""
    out = subprocess.run(["dd", *args], capture_output=True, text=True, check=True).stderr
    m = re.search(r"copied, ([\d.]+) s", out)
    nbytes = int(re.search(r"^(\d+) bytes", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    return nbytes / float(m.group(1)) / 2**20  # type: ignore[union-attr]


def _curl(args: list[str]) -> str:
    """Run curl (a C client, so the measurement is the server's); returns the HTTP status."""
    proc = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _make_source(path: Path, size_mib: int) -> None:
    block = os.urandom(16 * CHUNK)
    with open(path, "wb") as f:
        for _ in range(size_mib // 16):
            f.write(block)
        f.write(block[: (size_mib % 16) * CHUNK])


def _drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2, help="dd/transfer pairs, interleaved (default 2)")
    parser.add_argument("--dir", default=None, help="scratch directory on the disk to measure (default: a temp dir)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oc-bench-img-", dir=args.dir))
    size = args.size_mib * CHUNK
    server = None
    try:
        source = work / "source.raw"
        _make_source(source, args.size_mib)  # stays in the page cache: the client reads no disk
        port = _free_port()
        tokens: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        server = multiprocessing.Process(target=_serve, args=(str(work / "cloud"), port, tokens), daemon=True)
        server.start()
        token = tokens.get(timeout=120)
        base = f"http://127.0.0.1:{port}/image/v2"
        client = httpx.Client(headers={"X-Auth-Token": token}, timeout=httpx.Timeout(600.0))
        for _ in range(100):
            try:
                client.get(f"{base}/images")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        auth = ["-H", f"X-Auth-Token: {token}"]
        rows = []
        for n in range(1, args.rounds + 1):
            load = _loadavg()
            ddfile = work / "dd.raw"
            disk_write = _dd(["if=/dev/zero", f"of={ddfile}", "bs=1M", f"count={args.size_mib}", "conv=fdatasync"])
            image = client.post(
                f"{base}/images", json={"name": f"bench-{n}", "disk_format": "raw", "container_format": "bare"}
            ).json()
            url = f"{base}/images/{image['id']}/file"
            cpu0, started = _cpu_seconds(server.pid), time.perf_counter()
            status = _curl([*auth, "-H", "Content-Type: application/octet-stream", "-T", str(source), url])
            upload_s, upload_cpu = time.perf_counter() - started, _cpu_seconds(server.pid) - cpu0
            assert status == "204", status
            disk_read = _dd([f"if={ddfile}", "of=/dev/null", "bs=1M", "iflag=direct"])
            ddfile.unlink()
            _drop_cache(work / "cloud" / "images" / image["id"])
            cpu0, started = _cpu_seconds(server.pid), time.perf_counter()
            status = _curl([*auth, "-o", "/dev/null", url])
            download_s, download_cpu = time.perf_counter() - started, _cpu_seconds(server.pid) - cpu0
            assert status == "200", status
            client.delete(f"{base}/images/{image['id']}")
            ms = 1000 / args.size_mib
            rows.append(
                (
                    n,
                    "upload (PUT: md5+sha512+crc32+inspect, fsync)",
                    size / upload_s / 2**20,
                    "disk write (dd conv=fdatasync)",
                    disk_write,
                    upload_cpu * ms,
                    load,
                )
            )
            rows.append(
                (
                    n,
                    "download (GET: CRC-32 verified)",
                    size / download_s / 2**20,
                    "disk read (dd iflag=direct)",
                    disk_read,
                    download_cpu * ms,
                    load,
                )
            )

        print(f"\nimage throughput, {args.size_mib} MiB, scratch dir {work}, {os.cpu_count()} CPUs\n")
        print(
            f"{'#':>2} {'operation':46} {'MiB/s':>7}   {'peer':31} {'MiB/s':>7}  {'ratio':>5}"
            f"  {'srv CPU ms/MiB':>14}  loadavg"
        )
        for n, name, ours, peer, theirs, cpu, load in rows:
            print(f"{n:>2} {name:46} {ours:7.1f}   {peer:31} {theirs:7.1f}  {ours / theirs:5.0%}  {cpu:14.2f}  {load}")
        print(f"\ntarget: >= 80% of the disk's speed; loadavg now {_loadavg()}")
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
