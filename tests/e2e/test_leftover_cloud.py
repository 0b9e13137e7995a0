"""Two clouds on one host, the first one stopped and left plumbed (issue 22): a cloud with a
network, subnet and router on real Linux-bridge plumbing is started and stopped; a second
cloud then makes its own networks beside what the first left (its DHCP answers, nothing of
the first is touched); ``overcast cleanup --yes`` on the first removes every ``ocn*``
device, namespace, dnsmasq and firewall chain it made, and nothing of the second's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from overcast.testing.cloud import RunningCloud, start_running_cloud, stop_running_cloud
from overcast.testing.waiting import wait_until

pytestmark = [pytest.mark.netns, pytest.mark.root, pytest.mark.slow]

LINUXBRIDGE = {"network": {"driver": "linuxbridge"}}


def plumbing() -> set[str]:
    """Everything the Linux-bridge driver makes that is visible from the host."""

    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    links = {f"link {line.split(':')[1].strip().split('@')[0]}" for line in out("ip", "-o", "link").splitlines()}
    namespaces = {f"netns {line.split()[0]}" for line in out("ip", "netns", "list").splitlines() if line.strip()}
    chains = {f"chain {line.split()[0][1:]}" for line in out("iptables-save").splitlines() if line.startswith(":")}
    dnsmasq = {
        f"dnsmasq {arg.split('=', 1)[1]}"
        for line in out("pgrep", "-af", "dnsmasq").splitlines()
        for arg in line.split()
        if arg.startswith("--pid-file=")
    }
    return {
        item
        for item in links | namespaces | chains | dnsmasq
        if "ocn" in item or item.startswith("netns ") or item.startswith("dnsmasq ")
    }


def build_network(cloud: RunningCloud, cidr: str) -> dict[str, str]:
    token, _ = cloud.admin_token()
    with httpx.Client(base_url=cloud.url, headers={"X-Auth-Token": token}, timeout=60) as c:
        net = c.post("/networking/v2.0/networks", json={"network": {"name": "left"}}).json()["network"]
        sub = c.post(
            "/networking/v2.0/subnets", json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}}
        ).json()["subnet"]
        router = c.post("/networking/v2.0/routers", json={"router": {"name": "r"}}).json()["router"]
        r = c.put(f"/networking/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
        assert r.status_code == 200, r.text
    return {"network": net["id"], "router": router["id"]}


def overcast(cloud: RunningCloud, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OVERCAST_CONFIG": str(cloud.config_path)}
    exe = str(Path(sys.executable).with_name("overcast"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def two_clouds(tmp_path: Path) -> Iterator[list[RunningCloud]]:
    clouds: list[RunningCloud] = []
    yield clouds
    for cloud in clouds:  # whatever a failed test left: stop and clean each
        stop_running_cloud(cloud)
        overcast(cloud, "cleanup", "--yes")


def test_a_stopped_clouds_plumbing_neither_blocks_a_second_nor_survives_cleanup(
    tmp_path: Path, two_clouds: list[Any]
) -> None:
    before = plumbing()
    first = start_running_cloud(tmp_path / "first", LINUXBRIDGE)
    two_clouds.append(first)
    ids_a = build_network(first, "10.61.0.0/24")
    wait_until(lambda: any(ids_a["network"][:8] in p for p in plumbing() - before), "the first's DHCP", 60)
    stop_running_cloud(first)
    left_by_first = plumbing() - before
    assert any(p.startswith("dnsmasq") for p in left_by_first), left_by_first  # a data plane outlives its API
    assert any(ids_a["router"][:8] in p for p in left_by_first), left_by_first

    second = start_running_cloud(tmp_path / "second", LINUXBRIDGE)
    two_clouds.append(second)
    ids_b = build_network(second, "10.62.0.0/24")
    wait_until(
        lambda: any(ids_b["network"][:8] in p for p in plumbing() - before - left_by_first), "the second's DHCP", 60
    )
    made_by_second = plumbing() - before - left_by_first
    assert any(p.startswith("dnsmasq") and ids_b["network"][:8] in p for p in made_by_second), made_by_second
    assert left_by_first <= plumbing()  # the second cloud left the first's alone

    listing = overcast(first, "cleanup")
    assert listing.returncode == 0, listing.stderr
    assert ids_a["network"] in listing.stdout and ids_b["network"] not in listing.stdout
    removed = overcast(first, "cleanup", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    now = plumbing()
    assert not (left_by_first & now), sorted(left_by_first & now)  # nothing of the first is left
    assert made_by_second <= now  # and nothing of the second's was touched
    stop_running_cloud(second)
    assert overcast(second, "cleanup", "--yes").returncode == 0
    assert not (made_by_second & plumbing())
