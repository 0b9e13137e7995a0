"""``overcast cleanup``: the data plane a stopped cloud left on its hosts, listed from its own
database and removed through the hosts' drivers (issue 22, part 6)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from overcast.cleanup import leftovers, remove
from overcast.cli.server import cleanup_command
from overcast.network.plumbing import Plumbing
from overcast.testing.cloud import start_running_cloud, stop_running_cloud

IMAGE = {"name": "img", "disk_format": "raw", "container_format": "bare"}


def test_remove_undoes_every_guest_router_port_and_network(cloud, fake_drivers) -> None:
    h = cloud.admin_headers
    c = cloud.client
    net = c.post("/networking/v2.0/networks", json={"network": {"name": "n"}}, headers=h).json()["network"]
    sub = c.post(
        "/networking/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 4}},
        headers=h,
    ).json()["subnet"]
    router = c.post("/networking/v2.0/routers", json={"router": {"name": "r"}}, headers=h).json()["router"]
    assert (
        c.put(
            f"/networking/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]}, headers=h
        ).status_code
        == 200
    )
    state = fake_drivers.network.state
    assert any(s["networks"] for s in state.values()) and any(s["routers"] for s in state.values())
    found = leftovers(cloud.runtime)
    assert [n.id for n in found.networks] == [net["id"]] and [r.id for r in found.routers] == [router["id"]]
    report = remove(cloud.runtime, found, Plumbing(cloud.runtime).network_host())
    assert report and not [line for line in report if line.startswith("FAILED")], report
    assert not any(s["networks"] or s["routers"] or s["dhcp"] or s["ports"] for s in state.values())


@pytest.mark.slow
def test_cleanup_refuses_a_running_cloud_and_lists_a_stopped_ones_leftovers(tmp_path: Path) -> None:
    cloud = start_running_cloud(tmp_path / "cloud")
    try:
        token, _ = cloud.admin_token()
        r = httpx.post(
            cloud.url + "/networking/v2.0/networks", json={"network": {"name": "left"}}, headers={"X-Auth-Token": token}
        )
        assert r.status_code == 201
        net_id = r.json()["network"]["id"]
        result = CliRunner().invoke(cleanup_command, ["--config", str(cloud.config_path)])
        assert result.exit_code != 0 and "the cloud is running" in result.output
    finally:
        stop_running_cloud(cloud)
    result = CliRunner().invoke(cleanup_command, ["--config", str(cloud.config_path), "--fake-drivers"])
    assert result.exit_code == 0, result.output
    assert net_id[:8] in result.output and "--yes" in result.output
    result = CliRunner().invoke(cleanup_command, ["--config", str(cloud.config_path), "--fake-drivers", "--yes"])
    assert result.exit_code == 0, result.output
    assert f"removed network {net_id}" in result.output and "FAILED" not in result.output
