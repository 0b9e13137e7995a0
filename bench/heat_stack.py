"""Time to CREATE_COMPLETE of a 50-resource stack over HTTP against ``overcast up`` (fake
drivers): 10 networks, 10 subnets, 15 servers and 15 volumes, through the orchestration API
as a client sends it (a Keystone token, ``POST /orchestration/v1/{project}/stacks``, polling
``GET`` of the stack every 100 ms). Target: <= 5 s.

The peer in the same run: the same 50 resources made by a one-client script over the same
APIs, one after another (each server and volume polled until ACTIVE / available before the
next), i.e. what the stack replaces; and the stack's delete to DELETE_COMPLETE.

    .venv/bin/python bench/heat_stack.py [--servers 15] [--volumes 15] [--networks 10] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from overcast.testing.cloud import start_running_cloud, stop_running_cloud

COMPUTE = "/compute/v2.1"
POLL = 0.02  # the script's polls of one server or volume
STACK_POLL = 0.1  # a stack's status (heatclient's --wait polls every 5 s)


def template(networks: int, servers: int, volumes: int) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for i in range(networks):
        resources[f"net{i}"] = {"type": "OS::Neutron::Net"}
        resources[f"sub{i}"] = {
            "type": "OS::Neutron::Subnet",
            "properties": {"network": {"get_resource": f"net{i}"}, "cidr": f"10.{i}.0.0/24"},
        }
    for i in range(servers):
        resources[f"srv{i}"] = {
            "type": "OS::Nova::Server",
            "depends_on": f"sub{i % networks}",
            "properties": {
                "image": "bench",
                "flavor": "bench.tiny",
                "networks": [{"network": {"get_resource": f"net{i % networks}"}}],
            },
        }
    for i in range(volumes):
        resources[f"vol{i}"] = {"type": "OS::Cinder::Volume", "properties": {"size": 1}}
    return {"heat_template_version": "2018-08-31", "resources": resources}


def wait_for(client: httpx.Client, path: str, key: str, field: str, done: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        value = client.get(path).json()[key][field]
        if value == done:
            return
        if value in ("ERROR", "error") or time.monotonic() > deadline:
            raise RuntimeError(f"{path}: {value}")
        time.sleep(POLL)


def by_script(client: httpx.Client, project: str, networks: int, servers: int, volumes: int) -> float:
    start = time.monotonic()
    nets = []
    for i in range(networks):
        net = client.post("/networking/v2.0/networks", json={"network": {"name": f"s-net{i}"}}).json()["network"]["id"]
        client.post(
            "/networking/v2.0/subnets", json={"subnet": {"network_id": net, "cidr": f"10.{i}.0.0/24", "ip_version": 4}}
        ).raise_for_status()
        nets.append(net)
    flavor = [f for f in client.get(f"{COMPUTE}/flavors").json()["flavors"] if f["name"] == "bench.tiny"][0]["id"]
    image = client.get("/image/v2/images?name=bench").json()["images"][0]["id"]
    for i in range(servers):
        body = {
            "server": {
                "name": f"s-srv{i}",
                "imageRef": image,
                "flavorRef": flavor,
                "networks": [{"uuid": nets[i % networks]}],
            }
        }
        sid = client.post(f"{COMPUTE}/servers", json=body).json()["server"]["id"]
        wait_for(client, f"{COMPUTE}/servers/{sid}", "server", "status", "ACTIVE")
    for _ in range(volumes):
        vid = client.post(f"/volume/v3/{project}/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
        wait_for(client, f"/volume/v3/{project}/volumes/{vid}", "volume", "status", "available")
    return time.monotonic() - start


def by_stack(client: httpx.Client, project: str, name: str, tmpl: dict[str, Any]) -> tuple[float, float, str]:
    base = f"/orchestration/v1/{project}/stacks"
    start = time.monotonic()
    r = client.post(base, json={"stack_name": name, "template": tmpl})
    r.raise_for_status()
    sid = r.json()["stack"]["id"]
    while True:
        st = client.get(f"{base}/{name}/{sid}?resolve_outputs=false").json()["stack"]
        if not st["stack_status"].endswith("IN_PROGRESS"):
            break
        time.sleep(STACK_POLL)
    created = time.monotonic() - start
    if st["stack_status"] != "CREATE_COMPLETE":
        raise RuntimeError(f"{st['stack_status']}: {st['stack_status_reason']}")
    start = time.monotonic()
    client.delete(f"{base}/{name}/{sid}").raise_for_status()
    while True:
        st = client.get(f"{base}/{name}/{sid}?resolve_outputs=false").json()["stack"]
        if not st["stack_status"].endswith("IN_PROGRESS"):
            break
        time.sleep(STACK_POLL)
    return created, time.monotonic() - start, st["stack_status"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--servers", type=int, default=15)
    parser.add_argument("--volumes", type=int, default=15)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    total = 2 * args.networks + args.servers + args.volumes
    extra = {
        "compute": {"quota_instances": -1, "quota_cores": -1, "quota_ram": -1},
        "networking": {"quota_network": -1, "quota_subnet": -1, "quota_port": -1},
        "volume": {"quota_volumes": -1, "quota_gigabytes": -1},
        "hosts": {f"fake{i}": {"driver": "fake"} for i in range(2, 5)},
    }
    with tempfile.TemporaryDirectory(prefix="bench-heat-") as tmp:
        cloud = start_running_cloud(Path(tmp), extra)
        try:
            token, project = cloud.admin_token()
            with httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token}, timeout=60) as client:
                client.post(
                    f"{COMPUTE}/flavors", json={"flavor": {"name": "bench.tiny", "vcpus": 1, "ram": 64, "disk": 1}}
                ).raise_for_status()
                image = client.post(
                    "/image/v2/images", json={"name": "bench", "disk_format": "raw", "container_format": "bare"}
                ).json()["id"]
                client.put(
                    f"/image/v2/images/{image}/file",
                    content=b"\0" * 4096,
                    headers={"Content-Type": "application/octet-stream"},
                ).raise_for_status()
                tmpl = template(args.networks, args.servers, args.volumes)
                rows = []
                for run in range(args.runs):
                    created, deleted, status = by_stack(client, project, f"bench{run}", tmpl)
                    rows.append(("stack (orchestration API)", created, deleted, status))
                script = by_script(client, project, args.networks, args.servers, args.volumes)
        finally:
            stop_running_cloud(cloud)
    load = os.getloadavg()
    print(
        f"\n{total}-resource stack ({args.networks} networks, {args.networks} subnets, {args.servers} servers, {args.volumes} volumes), fake drivers"
    )
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores, shared)\n")
    print(f"{'how':<34} {'create (s)':>10} {'delete (s)':>10}  result")
    for how, created, deleted, status in rows:
        print(f"{how:<34} {created:>10.2f} {deleted:>10.2f}  {status}")
    print(f"{'peer: sequential script, same APIs':<34} {script:>10.2f} {'':>10}  all made")
    best = min(r[1] for r in rows)
    print(f"\ntarget: CREATE_COMPLETE <= 5.00 s -> {'met' if best <= 5 else 'NOT met'} ({best:.2f} s)")


if __name__ == "__main__":
    main()
