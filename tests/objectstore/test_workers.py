"""``[objectstore] workers``: several processes serve the Swift API on their own port. The
catalog names that port; concurrent writes through different processes keep each
container's index consistent with the files; a worker killed with -9 mid-PUT leaves every
object old or new and is started again; the workers never outlive ``overcast up``."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from overcast.server_workers import WORKER_TITLE, ZYGOTE_TITLE
from overcast.testing.cloud import free_port, start_running_cloud, stop_running_cloud

pytestmark = pytest.mark.slow

WORKERS = 3


def _login(cloud) -> tuple[str, dict[str, str]]:
    r = httpx.post(
        cloud.auth_url + "/v3/auth/tokens",
        json={
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": "admin", "domain": {"id": "default"}, "password": cloud.admin_password}
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        },
    )
    store = next(s for s in r.json()["token"]["catalog"] if s["type"] == "object-store")
    url = next(e["url"] for e in store["endpoints"] if e["interface"] == "public")
    return url, {"X-Auth-Token": r.headers["X-Subject-Token"]}


def _parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return 0


def _workers(server: int) -> list[int]:
    """The live object-API workers below ``server`` (forked by its zygote; ``ps`` shows their title)."""
    out = subprocess.run(["pgrep", "-f", f"^{WORKER_TITLE}"], capture_output=True, text=True)
    found = []
    for pid in (int(p) for p in out.stdout.split()):
        zygote = _parent_of(pid)
        if _alive(pid) and (zygote == server or _parent_of(zygote) == server):
            found.append(pid)
    return found


def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_object_workers_share_the_store_and_restart(tmp_path: Path) -> None:
    port = free_port()
    extra = {
        "object_store": {"driver": "fs", "path": str(tmp_path / "objects")},
        "objectstore": {"workers": WORKERS, "port": port},
    }
    cloud = start_running_cloud(tmp_path / "cloud", extra)
    try:
        url, h = _login(cloud)
        assert url.startswith(f"http://127.0.0.1:{port}/object/v1/AUTH_")
        assert _wait(lambda: len(_workers(cloud.process.pid)) == WORKERS)
        # until the workers have imported and opened the runtime, connections wait in the backlog
        assert httpx.get(f"http://127.0.0.1:{port}/object/healthcheck", timeout=60).text == "OK"
        assert httpx.get(f"http://127.0.0.1:{port}/object/info").json()["swift"]["max_file_size"] > 0
        assert httpx.get(f"http://127.0.0.1:{port}/compute/v2.1").status_code == 404  # objects only
        assert httpx.put(f"{url}/shared", headers=h).status_code == 201

        # many writers through fresh connections (spread over the processes), names overwritten
        def put(i: int) -> None:
            name, body = f"o{i % 40}", os.urandom(100 + i)
            with httpx.Client(headers=h, timeout=30) as c:  # a new connection: any worker may take it
                assert c.put(f"{url}/shared/{name}", content=body).status_code == 201
                assert c.get(f"{url}/shared/{name}").status_code == 200

        with ThreadPoolExecutor(12) as pool:
            list(pool.map(put, range(200)))
        listing = {o["name"]: o for o in httpx.get(f"{url}/shared?format=json", headers=h).json()}
        assert sorted(listing) == sorted(f"o{i}" for i in range(40))
        stats = httpx.head(f"{url}/shared", headers=h).headers
        assert int(stats["x-container-object-count"]) == 40
        total = 0
        for name, row in listing.items():
            body = httpx.get(f"{url}/shared/{name}", headers=h).content
            assert hashlib.md5(body).hexdigest() == row["hash"] and len(body) == row["bytes"]
            total += len(body)
        assert int(stats["x-container-bytes-used"]) == total

        # a container dropped by one process and made again is seen new by every process
        for round_ in range(6):
            assert httpx.put(f"{url}/again", headers=h).status_code in (201, 202)
            with httpx.Client(headers=h, timeout=30) as c:
                assert c.put(f"{url}/again/x", content=b"round %d" % round_).status_code == 201
            for _ in range(WORKERS * 2):
                with httpx.Client(headers=h, timeout=30) as c:
                    assert [o["name"] for o in c.get(f"{url}/again?format=json").json()] == ["x"]
                    assert c.get(f"{url}/again/x").content == b"round %d" % round_
            assert httpx.delete(f"{url}/again/x", headers=h).status_code == 204
            assert httpx.delete(f"{url}/again", headers=h).status_code == 204

        # kill -9 the workers during large PUTs: each object is old or new; they come back
        size = 4 * 1024 * 1024
        old = {f"big{i}": os.urandom(size) for i in range(3)}
        for name, data in old.items():
            assert httpx.put(f"{url}/shared/{name}", headers=h, content=data, timeout=60).status_code == 201
        new = {name: os.urandom(size) for name in old}

        def slow(data: bytes):
            for i in range(0, len(data), 256 * 1024):
                time.sleep(0.02)
                yield data[i : i + 256 * 1024]

        def upload(name: str) -> None:
            try:
                httpx.put(f"{url}/shared/{name}", headers=h, content=slow(new[name]), timeout=60)
            except httpx.HTTPError:
                pass  # its worker died under it

        threads = [threading.Thread(target=upload, args=(name,)) for name in new]
        for t in threads:
            t.start()
        time.sleep(0.3)
        killed = _workers(cloud.process.pid)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        for t in threads:
            t.join()
        assert _wait(lambda: len(set(_workers(cloud.process.pid)) - set(killed)) == WORKERS)
        assert httpx.get(f"{url}/shared/big0", headers=h, timeout=60).status_code == 200
        listing = {o["name"]: o for o in httpx.get(f"{url}/shared?format=json&prefix=big", headers=h).json()}
        for name in old:
            body = httpx.get(f"{url}/shared/{name}", headers=h, timeout=60).content
            assert body in (old[name], new[name])
            assert listing[name]["hash"] == hashlib.md5(body).hexdigest()

        # a killed zygote is started again, and forks the workers again
        zygotes = subprocess.run(["pgrep", "-P", str(cloud.process.pid), "-f", ZYGOTE_TITLE], capture_output=True)
        os.kill(int(zygotes.stdout.split()[0]), signal.SIGKILL)
        assert _wait(lambda: len(_workers(cloud.process.pid)) == WORKERS, timeout=60)
        assert httpx.get(f"{url}/shared/big0", headers=h, timeout=60).status_code == 200

        # the workers never outlive the server, even one killed with -9
        workers = _workers(cloud.process.pid)
        os.kill(cloud.process.pid, signal.SIGKILL)
        cloud.process.wait()
        assert _wait(lambda: not any(_alive(p) for p in workers), timeout=10)
    finally:
        stop_running_cloud(cloud)
