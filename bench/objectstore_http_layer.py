"""What the Swift data path's HTTP layer costs: the same object operations served three ways.

    python bench/objectstore_http_layer.py [--seconds 8] [--connections 16] [--rounds 2]

* ``fastpath`` — how the object API is served: :class:`~overcast.api.objectstore.swift.SwiftApp`,
  a plain ASGI app reached by a path-prefix check (``FAST_PATHS``) in the plain ASGI layers
  ahead of FastAPI's middleware, routing and exception layers.
* ``mount``   — the same app reached through FastAPI: its error/telemetry/body-limit
  middlewares, then routing to the Starlette ``Mount`` at ``/object/v1``.
* ``route``   — an idiomatic FastAPI route (``Request``, ``Depends``, ``Response``/
  ``StreamingResponse``) calling the same service methods, for GET and PUT only.

Each variant runs as its own server (uvicorn, httptools, uvloop) over the ``fs`` object
store with fsync on; ``wrk`` (``apt-get install wrk``, a C client that leaves the CPU to
the server) drives 4 KiB PUTs then GETs. Variants are interleaved over ``--rounds`` so that
the load of a shared machine hits them alike (the order rotates); the table shows the median per variant.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.objectstore_vs_swift import create_container, wait_for  # noqa: E402
from bench.objectstore_wrk import wrk  # noqa: E402

VARIANTS = ("fastpath", "mount", "route")

# The server process: build the runtime and app as ``overcast up`` does, then reshape the
# app for the variant and serve it.
SERVER = r"""
import sys
import uvicorn
from overcast.config import load_config
from overcast.plugins import load_plugin_manager
from overcast.runtime import build_runtime
from overcast.server import start_cloud
from overcast.testing.fakes import FakeDriversPlugin
from overcast.api.app import create_app

variant, config_path = sys.argv[1], sys.argv[2]
config = load_config(config_path)
runtime = build_runtime(config, pm=load_plugin_manager(extra_plugins=[("fake", FakeDriversPlugin())]))
start_cloud(runtime)
app = create_app(runtime)

if variant in ("mount", "route"):  # no fast paths: everything through FastAPI's layers and routing
    app.wrap({}, {}, config.api.max_request_body)

if variant == "route":
    from fastapi import APIRouter, Depends, Request
    from fastapi.responses import Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from overcast.api.deps import get_runtime
    from overcast.objectstore import names

    router = APIRouter()

    def caller(request: Request, runtime=Depends(get_runtime)):
        token = request.headers.get("x-auth-token")
        return runtime, runtime.identity.context_from_token(token)

    @router.get("/object/v1/{account}/{container}/{name:path}")
    async def get_object(account: str, container: str, name: str, request: Request, auth=Depends(caller)):
        runtime, ctx = auth
        runtime.identity.enforce("objectstore:object:get", ctx)
        pid = names.project_of_account(account)
        download = await run_in_threadpool(runtime.objectstore.get_object, ctx, pid, container, name,
                                           dict(request.headers), dict(request.query_params))
        if int(download.headers["Content-Length"]) <= 1 << 20:
            body = await run_in_threadpool(lambda: b"".join(download.body))
            return Response(body, status_code=download.status, headers=download.headers)
        return StreamingResponse(download.body, status_code=download.status, headers=download.headers)

    @router.put("/object/v1/{account}/{container}/{name:path}", status_code=201)
    async def put_object(account: str, container: str, name: str, request: Request, auth=Depends(caller)):
        runtime, ctx = auth
        runtime.identity.enforce("objectstore:object:create", ctx)
        pid = names.project_of_account(account)
        body = await request.body()
        headers = await run_in_threadpool(runtime.objectstore.put_object, ctx, pid, container, name,
                                          dict(request.headers), [body], len(body), dict(request.query_params))
        return Response(status_code=201, headers=headers)

    app.router.routes[:0] = router.routes

uvicorn.run(app, host="127.0.0.1", port=config.api.port, log_config=None, access_log=False, lifespan="off",
            server_header=False, http="httptools", loop="uvloop")
"""


def run_variant(variant: str, work: Path, seconds: int, connections: int) -> tuple[float, float]:
    from bench.objectstore_vs_swift import Overcast

    oc = Overcast(work / variant)
    oc.start()  # writes the config and bootstraps; replaced below by the variant's server
    oc.stop()
    log = open(oc.root / "variant.log", "ab")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, variant, str(oc.cloud.config_path)], stdout=log, stderr=log)
    try:
        wait_for(oc.cloud.url + "/object/healthcheck")
        url, token = oc.auth()
        create_container(url, token, "b")
        container = url + "/b"
        put, done, bad, statuses = wrk(container, token, "PUT", 4096, 500, seconds, connections)
        get, _, bad2, statuses2 = wrk(
            container, token, "GET", 4096, max(1, min(done - connections, 500)), seconds, connections
        )
        if bad or bad2:
            raise SystemExit(f"{variant}: error answers: PUT {statuses} GET {statuses2}")
        return put, get
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.environ.get("OVERCAST_BENCH_DIR", "/tmp/overcast-bench") + "/http-layer")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    work = Path(args.work)
    results: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for r in range(args.rounds):
        for variant in VARIANTS[r % 3 :] + VARIANTS[: r % 3]:  # rotate: a load trend hits each alike
            results[variant].append(run_variant(variant, work, args.seconds, args.connections))
            print(f"{variant}: PUT {results[variant][-1][0]:.0f}/s GET {results[variant][-1][1]:.0f}/s", flush=True)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(
        f"\n4 KiB objects, wrk -c {args.connections}, {args.seconds} s per run, median of {args.rounds} rounds, load {' '.join(load)}"
    )
    base_put = statistics.median(p for p, _ in results["fastpath"])
    base_get = statistics.median(g for _, g in results["fastpath"])
    print(f"{'variant':<8} {'PUT/s':>8} {'vs fast':>9} {'GET/s':>8} {'vs fast':>9}")
    for variant in VARIANTS:
        put = statistics.median(p for p, _ in results[variant])
        get = statistics.median(g for _, g in results[variant])
        print(f"{variant:<8} {put:8.0f} {put / base_put:8.2f}x {get:8.0f} {get / base_get:8.2f}x")
    print(json.dumps({v: results[v] for v in VARIANTS}))


if __name__ == "__main__":
    main()
