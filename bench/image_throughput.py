"""Image data throughput: upload and download MiB/s of a 1 GiB image through the Glance API
(uvicorn server process with `overcast up`'s HTTP options, ``fs`` store with fsync) against
the disk's own speed and against the hashes an upload must compute, all measured in the same
run, for ``--rounds`` rounds.

Two bounds, two tables. The disk: ``dd`` (write: ``conv=fdatasync``; read: ``iflag=direct``,
cache bypassed), each transfer right after its ``dd`` peer; target >= 80%. The hash: Glance's
contract needs the MD5 (``checksum``) and SHA-512 (``os_hash_value``) of one upload stream, and
one stream's MD5 cannot be split, so an upload is bound by one core's MD5 rate
(``bench/machine_ceilings.py``'s, measured right before each upload, with SHA-512's beside
it); target >= 85%. Uploads are sent by ``curl -T`` and by a client that hands the file to
the socket with ``sendfile`` (no copy in the client: on a small machine the client's CPU is
taken from the server's); ``--clients`` adds ``chunked``, ``curl -T`` with ``Transfer-Encoding:
chunked`` (64 KiB chunks, as glanceclient sends). The upload's source file stays in the page cache (like dd's
``/dev/zero``, it costs the disk nothing); the stored image is dropped from the cache before
its download.

The server process has ``overcast up``'s malloc settings (:func:`overcast.malloc.tune`:
large buffers mapped and unmapped on their own, so a server that allocates a fresh buffer per
body part pays a page fault per 4 KiB, as it would in production). Also printed: the server's
and the client's CPU time per MiB (less sensitive to the load of other processes than MiB/s),
the server's split by thread (hashes, event loop, the upload's worker, the direct writes), the
CPU bound those imply (all cores' time divided by the CPU an upload costs: what an idle machine
of this size would allow), and the load average.

    .venv/bin/python bench/image_throughput.py [--size-mib 1024] [--rounds 2] [--dir DIR] [--clients curl -T,sendfile,chunked]

The server runs in its own process: the real API, identity and image service (bootstrapped
in a scratch data dir).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine_ceilings import hash_rates  # noqa: E402
from bench.procmem import cpu_of, cpu_seconds, stat  # noqa: E402

CHUNK = 1024 * 1024
#: the upload's share of one core's MD5 rate it should reach
HASH_TARGET = 0.85


def _serve(data_dir: str, port: int, tokens: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import secrets

    from overcast import malloc

    malloc.tune()  # the process's malloc settings, as `overcast up` and its API workers set them
    _name_os_threads()

    import uvicorn

    from overcast.api.app import create_app
    from overcast.config import parse_config
    from overcast.plugins import load_plugin_manager
    from overcast.runtime import build_runtime
    from overcast.server import start_cloud
    from overcast.tls import uvicorn_options

    config = parse_config(
        {"data_dir": data_dir, "image_store": {"driver": "fs", "path": f"{data_dir}/images"}},
        Path(data_dir) / "overcast.toml",
    )
    runtime = build_runtime(config, pm=load_plugin_manager())
    boot = runtime.identity.bootstrap(secrets.token_urlsafe(12))
    start_cloud(runtime, agents=False)
    tokens.put(runtime.identity.issue_token_for(boot.user_id, boot.project_id).token)
    app = create_app(runtime)
    # the HTTP protocol and options `overcast up` serves with
    uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(config.api))
    ).run()


def _name_os_threads() -> None:
    """Give each Python thread of this process its name in the OS (``/proc/PID/task/TID/comm``,
    15 characters), so :class:`ThreadCpu` can tell the hash threads from the event loop."""
    import ctypes
    import threading

    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return
    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def named(self: threading.Thread) -> None:
        prctl(15, self.name[:15].encode(), 0, 0, 0)  # PR_SET_NAME
        bootstrap(self)

    threading.Thread._bootstrap_inner = named  # type: ignore[attr-defined]


class ThreadCpu:
    """CPU seconds per thread of process ``pid`` over a ``with`` block, by thread name (the
    threads of an upload end with it: their last figures are sampled every 20 ms)."""

    MAIN = "event loop"

    def __init__(self, pid: int) -> None:
        import threading

        self._pid = pid
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._before: dict[str, tuple[str, float]] = {}
        self._seen: dict[str, tuple[str, float]] = {}

    def _read(self) -> dict[str, tuple[str, float]]:
        out = {}
        for tid in os.listdir(f"/proc/{self._pid}/task"):
            try:
                name, fields = stat(f"/proc/{self._pid}/task/{tid}/stat")
            except FileNotFoundError:
                continue
            if tid == str(self._pid):
                name = self.MAIN
            elif name.startswith("AnyIO worker"):
                name = "worker"  # the upload's: the store's writes are submitted from it
            else:
                name = re.sub(r"_\d+$", "", name)
            out[tid] = (name, cpu_of(fields))
        return out

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._seen.update(self._read())

    def __enter__(self) -> ThreadCpu:
        self._before = self._read()
        self._seen = dict(self._before)
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join()
        self._seen.update(self._read())

    def by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for tid, (name, cpu) in self._seen.items():
            totals[name] = totals.get(name, 0.0) + cpu - self._before.get(tid, (name, 0.0))[1]
        return totals


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


def _put_curl(url: str, token: str, source: Path) -> str:
    return _curl(
        ["-H", f"X-Auth-Token: {token}", "-H", "Content-Type: application/octet-stream", "-T", str(source), url]
    )


def _put_curl_chunked(url: str, token: str, source: Path) -> str:
    """``curl -T`` with ``Transfer-Encoding: chunked``: 64 KiB chunks, as glanceclient sends."""
    return _curl(
        ["-H", f"X-Auth-Token: {token}", "-H", "Content-Type: application/octet-stream"]
        + ["-H", "Transfer-Encoding: chunked", "-T", str(source), url]
    )


def _put_sendfile(url: str, token: str, source: Path) -> str:
    """PUT ``source`` with ``sendfile``: the kernel moves the page-cached file to the socket,
    the client copies nothing. Returns the HTTP status."""
    parts = urlsplit(url)
    size = source.stat().st_size
    head = (
        f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nX-Auth-Token: {token}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port)) as sock, open(source, "rb") as f:
        sock.sendall(head.encode())
        sent = 0
        while sent < size:
            sent += os.sendfile(sock.fileno(), f.fileno(), sent, size - sent)
        answer = b""
        while b"\r\n" not in answer and (part := sock.recv(4096)):
            answer += part
    return answer.split(b" ", 2)[1].decode()


def _client_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (curl) so far."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


UPLOADERS: dict[str, Callable[[str, str, Path], str]] = {
    "curl -T": _put_curl,
    "sendfile": _put_sendfile,
    "chunked": _put_curl_chunked,
}


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
    parser.add_argument(
        "--clients",
        default="curl -T,sendfile",
        help=f"uploaders, comma-separated, of: {', '.join(UPLOADERS)} (chunked: curl -T with Transfer-Encoding: "
        "chunked, as glanceclient sends; default: curl -T,sendfile)",
    )
    args = parser.parse_args()
    uploaders = {name: UPLOADERS[name] for name in args.clients.split(",")}
    work = Path(tempfile.mkdtemp(prefix="oc-bench-img-", dir=args.dir))
    size = args.size_mib * CHUNK
    cores = os.cpu_count() or 1
    server = None
    try:
        source = work / "source.raw"
        _make_source(source, args.size_mib)  # stays in the page cache: the client reads no disk
        port = _free_port()
        tokens: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        server = multiprocessing.Process(target=_serve, args=(str(work / "cloud"), port, tokens), daemon=True)
        server.start()
        token = tokens.get(timeout=120)
        pid = server.pid
        assert pid is not None
        base = f"http://127.0.0.1:{port}/image/v2"
        client = httpx.Client(headers={"X-Auth-Token": token}, timeout=httpx.Timeout(600.0))
        for _ in range(100):
            try:
                client.get(f"{base}/images")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        auth = ["-H", f"X-Auth-Token: {token}"]
        ms = 1000 / args.size_mib
        disk_rows = []
        hash_rows = []
        thread_rows: list[tuple[int, str, float, dict[str, float]]] = []
        for n in range(1, args.rounds + 1):
            load = _loadavg()
            ddfile = work / "dd.raw"
            disk_write = _dd(["if=/dev/zero", f"of={ddfile}", "bs=1M", f"count={args.size_mib}", "conv=fdatasync"])
            kept = None
            for name, put in uploaders.items():
                (md5, md5_cpu), (sha512, _) = hash_rates("md5"), hash_rates("sha512")
                load = _loadavg()
                image = client.post(
                    f"{base}/images", json={"name": f"bench-{n}", "disk_format": "raw", "container_format": "bare"}
                ).json()
                url = f"{base}/images/{image['id']}/file"
                cpu0, mine0, started = cpu_seconds(pid), _client_cpu_seconds(), time.perf_counter()
                with ThreadCpu(pid) as threads:
                    status = put(url, token, source)
                    upload_s = time.perf_counter() - started
                upload_cpu, client_cpu = cpu_seconds(pid) - cpu0, _client_cpu_seconds() - mine0
                assert status == "204", status
                rate = size / upload_s / 2**20
                disk_rows.append(
                    (n, f"upload ({name}: md5+sha512+crc32+inspect, fsync)", rate, "disk write (dd conv=fdatasync)")
                    + (disk_write, upload_cpu * ms, load)
                )
                cpu_bound = cores * 1000 / ((upload_cpu + client_cpu) * ms)
                thread_rows.append((n, name, upload_cpu, threads.by_name()))
                hash_rows.append(
                    (n, name, rate, md5, sha512, upload_cpu * ms, client_cpu * ms, cpu_bound, md5_cpu, load)
                )
                if kept is None:
                    kept = image["id"]
                else:
                    client.delete(f"{base}/images/{image['id']}")
            url = f"{base}/images/{kept}/file"
            disk_read = _dd([f"if={ddfile}", "of=/dev/null", "bs=1M", "iflag=direct"])
            ddfile.unlink()
            _drop_cache(work / "cloud" / "images" / str(kept))
            load = _loadavg()
            cpu0, started = cpu_seconds(pid), time.perf_counter()
            status = _curl([*auth, "-o", "/dev/null", url])
            download_s, download_cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu0
            assert status == "200", status
            client.delete(f"{base}/images/{kept}")
            disk_rows.append(
                (n, "download (GET: CRC-32 verified)", size / download_s / 2**20, "disk read (dd iflag=direct)")
                + (disk_read, download_cpu * ms, load)
            )

        print(f"\nimage throughput, {args.size_mib} MiB, scratch dir {work}, {cores} CPUs\n")
        print(
            f"{'#':>2} {'operation':56} {'MiB/s':>7}   {'peer':31} {'MiB/s':>7}  {'ratio':>5}"
            f"  {'srv CPU ms/MiB':>14}  loadavg"
        )
        for n, name, ours, peer, theirs, cpu, load in disk_rows:
            print(f"{n:>2} {name:56} {ours:7.1f}   {peer:31} {theirs:7.1f}  {ours / theirs:5.0%}  {cpu:14.2f}  {load}")
        print("\ntarget: >= 80% of the disk's speed")

        print(
            f"\nupload against the hash bound (one core's md5, and sha512, measured right before each upload; "
            f"target >= {HASH_TARGET:.0%} of md5)\n"
        )
        print(
            f"{'#':>2} {'client':9} {'upload':>7} {'md5/core':>8} {'sha512/core':>11} {'ratio':>6} {'target':>6} "
            f"{'met':>3}  {'CPU ms/MiB: srv':>15} {'client':>6}  {f'CPU bound, {cores} cores':>19}  loadavg"
        )
        for n, name, rate, md5, sha512, srv_cpu, client_cpu, cpu_bound, md5_cpu, load in hash_rows:
            ratio = rate / md5
            print(
                f"{n:>2} {name:9} {rate:7.1f} {md5:8.1f} {sha512:11.1f} {ratio:6.0%} {HASH_TARGET:6.0%} "
                f"{'yes' if ratio >= HASH_TARGET else 'no':>3}  {srv_cpu:15.2f} {client_cpu:6.2f}  "
                f"{f'{cpu_bound:.0f} MiB/s ({cpu_bound / md5_cpu:.0%})':>19}  {load}"
            )
        print(
            "\n(MiB/s. 'CPU bound' = all cores' time / (server + client CPU per MiB): the upload rate an otherwise"
            f" idle machine of {cores} cores allows, and its share of md5 on a core of its own (MiB per CPU second))"
        )
        print("\nserver CPU ms/MiB of each upload by thread (the hash threads: md5, and sha512 with crc32)\n")
        for n, name, upload_cpu, by_name in thread_rows:
            parts = sorted(by_name.items(), key=lambda item: -item[1])
            named = "  ".join(f"{thread} {cpu * ms:.2f}" for thread, cpu in parts if cpu * ms >= 0.005)
            print(
                f"{n:>2} {name:9} {upload_cpu * ms:5.2f} = {named}  (other {(upload_cpu - sum(by_name.values())) * ms:.2f})"
            )
        print(f"\nloadavg now {_loadavg()}")
    finally:
        if server is not None:
            server.terminate()
            server.join(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
