"""A vendor's fifth hypervisor plugin, pip-installed from a temporary directory outside the
repo, joins a running cloud with no core change: images tagged for it land on its host,
untagged images land wherever their disk format fits, and migration across drivers is
refused with a clear message."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from overcast.testing.cloud import RunningCloud, start_running_cloud, stop_running_cloud
from tests.e2e.conftest import COMPUTE_VERSION, wait_until
from tests.vendor_plugins import install, make_distribution

pytestmark = [pytest.mark.clients, pytest.mark.slow]

ACME = '''
"""Acme's hypervisor driver, built on Overcast's public API only (a test double of a product:
it keeps guests in memory by reusing overcast.testing's fake)."""
from overcast.hookspecs import hookimpl
from overcast.testing.fakes import FakeHypervisor
from overcast.types import DriverKind, HvCapabilities


class AcmeHypervisor(FakeHypervisor):
    @hookimpl
    def hv_get_capabilities(self, host):
        return HvCapabilities(hypervisor_type="acme", image_types=frozenset({"raw"}), live_migration=True)


@hookimpl
def overcast_register_drivers(registry):
    registry.add(DriverKind.HYPERVISOR, "acme", AcmeHypervisor(), "Acme hypervisor")
'''


@pytest.fixture
def vendor_cloud(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningCloud]:
    root = tmp_path_factory.mktemp("acme")
    site = install(root / "site", make_distribution(root, "acme-overcast-hv", "acme", "acme_overcast_hv", ACME))
    monkeypatch.setenv("PYTHONPATH", str(site) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.syspath_prepend(str(site))  # the test process resolves the config's drivers too
    importlib.invalidate_caches()
    cloud = start_running_cloud(root / "cloud", {"hosts": {"acme1": {"driver": "acme"}}})
    try:
        yield cloud
    finally:
        stop_running_cloud(cloud)


def test_vendor_driver_takes_its_servers(vendor_cloud: RunningCloud, tmp_path: Path) -> None:
    cloud = vendor_cloud

    def nova(*args: str, **kw):
        return cloud.openstack(*COMPUTE_VERSION, *args, **kw)

    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * (1 << 20))
    qcow2 = tmp_path / "disk.qcow2"
    import subprocess

    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(qcow2), "16M"], check=True, capture_output=True)
    cloud.openstack(
        "image",
        "create",
        "--file",
        str(raw),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--property",
        "hypervisor_type=acme",
        "acme-image",
        "-f",
        "json",
    )
    cloud.openstack(
        "image",
        "create",
        "--file",
        str(qcow2),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "plain-image",
        "-f",
        "json",
    )
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")

    hosts = {h["Hypervisor Hostname"]: h for h in nova("hypervisor", "list", "-f", "json")}
    assert {"acme1", "fake1"} <= set(hosts)

    on_acme = nova(
        "server",
        "create",
        "--image",
        "acme-image",
        "--flavor",
        "t1",
        "--nic",
        "none",
        "--wait",
        "vm-acme",
        "-f",
        "json",
    )
    assert on_acme["status"] == "ACTIVE"
    assert nova("server", "show", "vm-acme", "-f", "json")["OS-EXT-SRV-ATTR:host"] == "acme1"

    # no hypervisor_type: qcow2 fits only the fake host (acme boots raw only)
    nova(
        "server",
        "create",
        "--image",
        "plain-image",
        "--flavor",
        "t1",
        "--nic",
        "none",
        "--wait",
        "vm-plain",
        "-f",
        "json",
    )
    assert nova("server", "show", "vm-plain", "-f", "json")["OS-EXT-SRV-ATTR:host"] == "fake1"

    refused = nova("server", "migrate", "--live-migration", "--host", "fake1", "vm-acme", check=False)
    assert refused.returncode != 0
    assert "driver" in refused.stderr.lower(), refused.stderr
    wait_until(
        lambda: nova("server", "show", "vm-acme", "-f", "json")["status"] == "ACTIVE",
        "vm-acme to stay ACTIVE",
        timeout=30,
    )
    assert nova("server", "show", "vm-acme", "-f", "json")["OS-EXT-SRV-ATTR:host"] == "acme1"
    nova("server", "delete", "--wait", "vm-acme")
    nova("server", "delete", "--wait", "vm-plain")
