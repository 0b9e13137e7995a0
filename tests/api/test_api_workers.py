"""``[api] workers = 2``: a real ``overcast up`` serves the API from two processes on one
port (itself and a worker forked by its zygote), beside ``[objectstore] workers`` as ``overcast
init`` writes them (each pool's zygote is released on its own: the object-API zygote, forked
second, once held the API zygote's release pipe open, so no API worker ever started). Creates through both reach ACTIVE (the
worker reaches the host agent in ``overcast up`` over the unix-socket bus), failed logins
count for the cloud and not per process, a worker killed with -9 is started again, and
nothing outlives ``overcast up``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from overcast.server_workers import titles
from overcast.testing.cloud import RunningCloud, free_port, start_running_cloud, stop_running_cloud

pytestmark = pytest.mark.slow

COMPUTE = "/compute/v2.1"
ZYGOTE, WORKER = titles("api")
OBJECT_ZYGOTE, OBJECT_WORKER = titles("object")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    extra = {
        "api": {"workers": 2},
        "hosts": {"fake1": {"driver": "fake"}, "fake2": {"driver": "fake"}},
        "compute": {"quota_instances": -1, "quota_cores": -1, "quota_ram": -1},
        "identity": {"lockout_failure_attempts": 3, "login_backoff": 0},
        "objectstore": {"workers": 1, "port": free_port()},
    }
    data = tmp_path_factory.mktemp("api-workers")
    extra["object_store"] = {"driver": "fs", "path": str(data / "objects")}
    running = start_running_cloud(data, extra)
    try:
        yield running
    finally:
        stop_running_cloud(running)


def _children(pid: int, title: str) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", title], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _workers(cloud: RunningCloud) -> list[int]:
    return [w for z in _children(cloud.process.pid, ZYGOTE) for w in _children(z, WORKER)]


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _access_pids(cloud: RunningCloud, method: str, path_part: str) -> list[int]:
    """The processes whose access log lines show ``method`` on a path containing ``path_part``."""
    pids = []
    for line in cloud.log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("logger") == "overcast.api.access" and entry.get("method") == method:
            if path_part in entry.get("path", ""):
                pids.append(entry["pid"])
    return pids


def test_api_and_object_api_workers_both_start(cloud: RunningCloud) -> None:
    assert _wait(lambda: len(_workers(cloud)) == 1), cloud.log_tail()

    def objects() -> list[int]:
        return [w for z in _children(cloud.process.pid, OBJECT_ZYGOTE) for w in _children(z, OBJECT_WORKER)]

    assert _wait(lambda: len(objects()) == 1), cloud.log_tail()


def test_two_processes_serve_creates_that_reach_active(cloud: RunningCloud) -> None:
    assert _wait(lambda: len(_workers(cloud)) == 1), cloud.log_tail()
    token, _ = cloud.admin_token()
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}
    with httpx.Client(base_url=cloud.url, headers=headers, timeout=60) as client:
        flavor = client.post(
            f"{COMPUTE}/flavors", json={"flavor": {"name": "w.tiny", "vcpus": 1, "ram": 64, "disk": 1}}
        ).json()["flavor"]["id"]
        image = client.post(
            "/image/v2/images", json={"name": "w", "disk_format": "raw", "container_format": "bare"}
        ).json()["id"]
        r = client.put(
            f"/image/v2/images/{image}/file", content=b"\0" * 512, headers={"Content-Type": "application/octet-stream"}
        )
        assert r.status_code == 204
    body = {"flavorRef": flavor, "imageRef": image, "networks": "none"}

    def create(i: int) -> str:
        # a connection per request, so the kernel hands them to both processes
        r = httpx.post(
            f"{cloud.url}{COMPUTE}/servers", json={"server": {**body, "name": f"w{i}"}}, headers=headers, timeout=60
        )
        assert r.status_code == 202, r.text
        return str(r.json()["server"]["id"])

    with ThreadPoolExecutor(16) as pool:
        uuids = list(pool.map(create, range(40)))

    def statuses() -> dict[str, str]:
        r = httpx.get(f"{cloud.url}{COMPUTE}/servers/detail", params={"name": "^w"}, headers=headers, timeout=60)
        return {s["id"]: s["status"] for s in r.json()["servers"]}

    assert _wait(lambda: all(statuses().get(u) == "ACTIVE" for u in uuids), 60), statuses()
    served_by = set(_access_pids(cloud, "POST", "/compute/v2.1/servers"))
    assert served_by == {cloud.process.pid, *_workers(cloud)}, (served_by, cloud.process.pid, _workers(cloud))
    hosts = {s["OS-EXT-SRV-ATTR:host"] for s in httpx.get(
        f"{cloud.url}{COMPUTE}/servers/detail", params={"name": "^w"}, headers=headers, timeout=60
    ).json()["servers"]}  # fmt: skip
    assert hosts <= {"fake1", "fake2"} and hosts


def test_volumes_made_through_one_process_are_used_through_the_other(cloud: RunningCloud) -> None:
    """Volume backends are driven by ``overcast up`` alone, whichever process took the request."""
    token, project = cloud.admin_token()
    headers = {"X-Auth-Token": token}
    base = f"{cloud.url}/volume/v3/{project}/volumes"

    def create(i: int) -> str:
        r = httpx.post(base, json={"volume": {"size": 1, "name": f"wv{i}"}}, headers=headers, timeout=60)
        assert r.status_code == 202, r.text
        return str(r.json()["volume"]["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(8)))

    def status(vid: str) -> str:
        r = httpx.get(f"{base}/{vid}", headers=headers, timeout=60)
        return str(r.json()["volume"]["status"]) if r.status_code == 200 else str(r.status_code)

    assert _wait(lambda: all(status(v) == "available" for v in ids)), [status(v) for v in ids]

    def extend_then_delete(vid: str) -> None:
        r = httpx.post(f"{base}/{vid}/action", json={"os-extend": {"new_size": 2}}, headers=headers, timeout=60)
        assert r.status_code == 202, r.text
        assert _wait(lambda: status(vid) == "available")
        assert httpx.delete(f"{base}/{vid}", headers=headers, timeout=60).status_code == 202

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(extend_then_delete, ids))
    assert _wait(lambda: all(status(v) == "404" for v in ids)), [status(v) for v in ids]


def test_failed_logins_count_across_processes(cloud: RunningCloud) -> None:
    def login(password: str) -> httpx.Response:
        auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": password}}}}  # fmt: skip
        return httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": auth}, timeout=30)

    codes = [login("wrong").status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    for _ in range(4):  # whichever process answers, the user is locked now
        r = login(cloud.admin_password)
        assert r.status_code == 401
        assert "The account is locked for user" in r.json()["error"]["message"]
        assert "Retry-After" in r.headers


def test_a_killed_worker_is_started_again(cloud: RunningCloud) -> None:
    (worker,) = _workers(cloud)
    os.kill(worker, signal.SIGKILL)
    assert _wait(lambda: len(w := _workers(cloud)) == 1 and worker not in w), cloud.log_tail()
    assert "API worker exited; starting it again" in cloud.log_path.read_text()
    for _ in range(6):
        assert httpx.get(cloud.auth_url, timeout=10).status_code == 300


def test_nothing_outlives_overcast_up(tmp_path: Path) -> None:
    running = start_running_cloud(tmp_path, {"api": {"workers": 2}})
    try:
        assert _wait(lambda: len(_workers(running)) == 1), running.log_tail()
        zygotes, workers = _children(running.process.pid, ZYGOTE), _workers(running)
        assert (tmp_path / "bus.sock").exists()
    finally:
        stop_running_cloud(running)
    assert running.process.returncode == 0, running.log_tail()
    assert _wait(lambda: not any(Path(f"/proc/{p}").exists() for p in zygotes + workers), 15)
    assert not (tmp_path / "bus.sock").exists()
