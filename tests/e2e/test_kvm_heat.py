"""Issue 20 end to end on real guests: the unmodified python-heatclient creates
examples/web.yaml on a KVM host (QEMU TCG) with Linux-bridge networking and an fs volume
backend: the network, router, security group, two tiny-guest servers answering HTTP (fetched
from the network's DHCP namespace, through the stack's port-80 rule), the volume attached to
the first; ``stack update`` scales the group to 3; ``stack delete --wait`` leaves nothing.
(No external network or load balancer here: ``public_net=''`` leaves out the floating IP.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.libvirt, pytest.mark.netns, pytest.mark.root, pytest.mark.clients, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def kvm_network_config() -> Iterator[dict]:
    path = Path(tempfile.mkdtemp(prefix="oc-e2e-heat-vol-", dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield {
        "network": {"driver": "linuxbridge"},
        "volume_backends": {"files": {"driver": "fs", "path": str(path), "format": "qcow2"}},
    }
    shutil.rmtree(path, ignore_errors=True)


def test_web_stack_on_real_guests(kvm_cloud) -> None:
    pytest.importorskip("heatclient")
    cloud = kvm_cloud
    cloud.openstack(
        "image",
        "create",
        "--file",
        str(GUEST_DIR / "tinyguest.qcow2"),
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--property",
        "hypervisor_type=qemu",
        "--public",
        "tinyguest",
        "-f",
        "json",
    )
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "m1.tiny", "-f", "json")
    cloud.openstack("keypair", "create", "k1")
    cloud.openstack("volume", "type", "create", "--property", "volume_backend_name=files", "files", "-f", "json")
    params = [
        "--parameter",
        "key_name=k1",
        "--parameter",
        "image=tinyguest",
        "--parameter",
        "public_net=",
        "--parameter",
        "volume_type=files",
        "--parameter",
        "cidr=10.93.0.0/24",
    ]
    try:
        check_web_stack(cloud, params)
    finally:  # the stack's routers and ports would keep its networks (and their namespaces) alive
        cloud.openstack("stack", "delete", "--yes", "--wait", "web", check=False, timeout=600)


def check_web_stack(cloud, params: list[str]) -> None:
    log = cloud.openstack("stack", "create", "-t", str(EXAMPLES / "web.yaml"), *params, "--wait", "web", timeout=900)
    assert "Stack CREATE completed successfully" in log, log
    stack = cloud.openstack("stack", "show", "web", "-f", "json")
    outputs = {o["output_key"]: o["output_value"] for o in stack["outputs"]}
    ips = outputs["server_ips"]
    assert len(ips) == 2
    volume = cloud.openstack("volume", "show", outputs["volume"], "-f", "json")
    assert volume["status"] == "in-use"

    net = cloud.openstack("network", "show", "web-net", "-f", "json")
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    dhcp_ns = [line.split()[0] for line in namespaces.splitlines() if net["id"][:8] in line]
    assert dhcp_ns, namespaces

    def fetch(ip: str) -> str:
        code = f"import urllib.request; print(urllib.request.urlopen('http://{ip}/', timeout=3).read().decode())"
        return subprocess.run(
            ["ip", "netns", "exec", dhcp_ns[0], sys.executable, "-c", code], capture_output=True, text=True
        ).stdout

    api = Observer(cloud)
    for ip in ips:  # each server answers, through the stack's security group
        page = wait_until(lambda ip=ip: fetch(ip), f"the web page of {ip}", timeout=600, every=1)
        assert page.strip(), ip
    assert len(api.servers()) == 2

    cloud.openstack("stack", "update", "--existing", "--parameter", "count=3", "--wait", "web", timeout=900)
    assert cloud.openstack("stack", "show", "web", "-f", "json")["stack_status"] == "UPDATE_COMPLETE"
    assert len(api.servers()) == 3

    cloud.openstack("stack", "delete", "--yes", "--wait", "web", timeout=600)
    assert cloud.openstack("stack", "list", "-f", "json") == []
    assert api.servers() == []
    assert cloud.openstack("volume", "list", "-f", "json") == []
    assert [n["Name"] for n in cloud.openstack("network", "list", "-f", "json")] == []
