"""A real ``overcast up`` with one KVM host (QEMU TCG through libvirt) and the fs image store,
for end-to-end tests that drive the unmodified ``openstack`` CLI against real guests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.testing.cloud import RunningCloud, start_running_cloud, stop_running_cloud
from overcast.testing.waiting import wait_until  # noqa: F401 - the e2e tests import it from here

GUEST_DIR = Path(os.environ.get("OVERCAST_GUEST_DIR") or "/var/lib/overcast/tinyguest")
COMPUTE_VERSION = ("--os-compute-api-version", "2.37")


@pytest.fixture
def kvm_network_config() -> dict:
    """Extra config for ``kvm_cloud`` (a test module overrides it, e.g. real networking)."""
    return {}


@pytest.fixture
def kvm_extra_hosts() -> dict:
    """More ``[hosts.*]`` tables for ``kvm_cloud`` besides ``kvm1`` (a test module overrides it)."""
    return {}


@pytest.fixture
def kvm_cloud(kvm_network_config: dict, kvm_extra_hosts: dict) -> Iterator[RunningCloud]:
    pytest.importorskip("overcast_hv_kvm", reason="the kvm driver plugin is not installed")
    if not (GUEST_DIR / "tinyguest.qcow2").exists():
        pytest.skip(f"no tiny guest in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")
    data_dir = kvm_data_dir()
    extra = {
        "image_store": {"driver": "fs", "path": "images"},
        "hosts": {
            "kvm1": {"driver": "kvm", "virt_type": "qemu", "instances_dir": str(data_dir / "instances")},
            **kvm_extra_hosts,
        },
        **kvm_network_config,
    }
    cloud = start_running_cloud(data_dir / "cloud", extra)
    os.chmod(data_dir / "cloud", 0o755)
    try:
        yield cloud
    finally:
        tear_down(cloud)
        shutil.rmtree(data_dir, ignore_errors=True)


def kvm_data_dir() -> Path:
    """A data dir QEMU (running as libvirt-qemu) can traverse: image cache, instances."""
    data_dir = Path(tempfile.mkdtemp(prefix="oc-e2e-kvm-", dir="/var/tmp"))
    os.chmod(data_dir, 0o755)
    return data_dir


class Observer:
    """Reads (and, for clean-up, deletes) through the cloud's HTTP API in-process, so waiting
    costs no CLI start-up (a few seconds on a loaded machine). The tests' actions and the
    results they assert go through the ``openstack`` CLI."""

    def __init__(self, cloud: RunningCloud) -> None:
        import httpx

        token, self.project_id = cloud.admin_token()
        self.http = httpx.Client(
            base_url=cloud.url,
            headers={"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": "2.37"},
            timeout=30,
            verify=cloud.verify,
        )

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        r.raise_for_status()
        return r.json()

    def servers(self) -> list[dict]:
        return self.get("/compute/v2.1/servers/detail")["servers"]

    def server(self, server_id: str) -> dict:
        return self.get(f"/compute/v2.1/servers/{server_id}")["server"]

    def server_named(self, name: str) -> dict:
        """The one server called ``name`` (as ``openstack server show NAME`` finds it)."""
        found = [s for s in self.servers() if s["name"] == name]
        assert len(found) == 1, f"{len(found)} servers named {name!r}"
        return found[0]

    def console(self, server_id: str) -> str:
        r = self.http.post(f"/compute/v2.1/servers/{server_id}/action", json={"os-getConsoleOutput": {}})
        r.raise_for_status()
        return r.json()["output"]

    def image(self, image_id: str) -> dict:
        return self.get(f"/image/v2/images/{image_id}")

    def volume(self, volume_id: str) -> dict | None:
        """The volume, or None once it is gone."""
        r = self.http.get(f"/volume/v3/{self.project_id}/volumes/{volume_id}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()["volume"]

    def delete_all(self, timeout: float = 120) -> None:
        """Every server (waiting until they are gone, as ``server delete --wait`` would, but
        going on after ``timeout``), then routers, floating IPs and networks; a refusal is
        printed and clean-up goes on."""
        for server in self.servers():
            self.http.delete(f"/compute/v2.1/servers/{server['id']}")
        try:
            wait_until(lambda: not self.servers(), "every server to be deleted", timeout, every=0.2)
        except AssertionError as exc:
            print(f"clean-up: {exc}: {[(s['name'], s['status']) for s in self.servers()]}")
        for path in ("routers", "floatingips", "networks"):
            for item in self.get(f"/networking/v2.0/{path}")[path]:
                r = self.http.delete(f"/networking/v2.0/{path}/{item['id']}")
                if r.status_code >= 400:
                    print(f"clean-up: DELETE {path}/{item['id']}: {r.status_code} {r.text[:200]}")


def tear_down(cloud: RunningCloud) -> None:
    """Delete every server, then the networks (their bridges, DHCP namespaces and dnsmasq go
    with them), and stop the cloud."""
    try:
        Observer(cloud).delete_all()
    finally:
        stop_running_cloud(cloud)
