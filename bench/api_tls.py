"""Token validations/s over HTTPS against plain HTTP, in the same run.

Two ``overcast up`` servers run side by side on loopback over the fake drivers, the same
code and config except that one serves HTTPS (a certificate from its own CA, ECDSA P-256, as
``overcast init --tls`` makes it) and the other plain HTTP. ``wrk`` (C, OpenSSL; it does not
verify the certificate, which costs the server nothing either way) sends ``GET
/v3/auth/tokens`` with ``X-Auth-Token`` and ``X-Subject-Token`` over ``--connections``
keep-alive connections. The phases alternate (HTTP, HTTPS, HTTP, HTTPS, ... ``--rounds``
times), so a change in the machine's load hits both alike; each row sums its rounds.

A second table measures the same request with a new connection (and so a new TLS
handshake) for every request: what a client that does not keep connections alive pays.

Besides requests/s and latency, each row gives the server's CPU time per request, from
/proc, which depends much less on what else the machine runs than the rate does.
Target: HTTPS >= 80% of HTTP with keep-alive.

    .venv/bin/python bench/api_tls.py [--seconds 10] [--rounds 2] [--connections 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.identity_tokens import AUTH, load, loadavg  # noqa: E402
from overcast.testing.cloud import RunningCloud, start_running_cloud, stop_running_cloud  # noqa: E402


def _phase(
    cloud: RunningCloud, token: str, seconds: float, connections: int, keep_alive: bool, work: Path
) -> dict[str, float]:
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    if not keep_alive:
        headers["Connection"] = "close"
    return load(cloud.url, "GET", "/identity" + AUTH, headers, None, seconds, connections, cloud.process.pid, work)


def _sum(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Rounds combined: rates averaged, latency percentiles and CPU per request averaged
    (weighted by requests), errors added."""
    total = sum(r["requests"] for r in rounds) or 1
    return {
        "rate": sum(r["rate"] for r in rounds) / len(rounds),
        "p50": sum(r["p50"] * r["requests"] for r in rounds) / total,
        "p95": sum(r["p95"] * r["requests"] for r in rounds) / total,
        "cpu_ms": sum(r["cpu_ms"] * r["requests"] for r in rounds) / total,
        "requests": total,
        "errors": sum(r["errors"] for r in rounds),
    }


def _row(label: str, r: dict[str, float]) -> str:
    return f"{label:<7} {r['rate']:9.1f} {r['p50']:7.2f} {r['p95']:7.2f} {r['cpu_ms']:7.3f} {int(r['errors']):6d}"


def _table(title: str, results: dict[str, dict[str, float]]) -> None:
    print(title)
    print(f"{'':<7} {'req/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7} {'errors':>6}")
    for name in ("http", "https"):
        print(_row(name, results[name]))
    ratio = results["https"]["rate"] / results["http"]["rate"] if results["http"]["rate"] else float("nan")
    print(
        f"https / http: {ratio:.2f} of the rate, {results['https']['cpu_ms'] / results['http']['cpu_ms']:.2f}x the CPU per request"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--rounds", type=int, default=2, help="HTTP/HTTPS phase pairs per table")
    parser.add_argument("--connections", type=int, default=4, help="concurrent keep-alive connections (wrk -c)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="api-tls-bench-"))
    clouds: dict[str, RunningCloud] = {}
    results: dict[bool, dict[str, Any]] = {}
    try:
        clouds["http"] = start_running_cloud(work / "http")
        clouds["https"] = start_running_cloud(work / "https", tls=True)
        tokens = {name: cloud.admin_token()[0] for name, cloud in clouds.items()}
        load_before = loadavg()
        for keep_alive in (True, False):
            rounds: dict[str, list[dict[str, float]]] = {"http": [], "https": []}
            for i in range(args.rounds):
                for name, cloud in clouds.items():
                    kind = "keep-alive" if keep_alive else "new connection per request"
                    print(
                        f"  {name}: validate, {kind}, round {i + 1} ({args.seconds:.0f}s, {args.connections} connections)...",
                        flush=True,
                    )
                    rounds[name].append(_phase(cloud, tokens[name], args.seconds, args.connections, keep_alive, work))
            results[keep_alive] = {name: _sum(r) for name, r in rounds.items()}
        load_after = loadavg()
    finally:
        for cloud in clouds.values():
            stop_running_cloud(cloud)
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"{os.cpu_count()} cores, wrk -t1 -c{args.connections}, {args.rounds} x {args.seconds:.0f}s per row, loopback, SQLite, "
        f"one overcast up per scheme; load average {load_before} before, {load_after} after"
    )
    _table("token validation (GET /identity/v3/auth/tokens), keep-alive:", results[True])
    print()
    _table("the same, a new connection (and TLS handshake) per request:", results[False])
    print("cpu ms = server CPU time per request (all its processes)")
    ratio = results[True]["https"]["rate"] / results[True]["http"]["rate"]
    print(f"target (HTTPS >= 80% of HTTP with keep-alive): {'met' if ratio >= 0.8 else 'NOT met'} ({ratio:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
