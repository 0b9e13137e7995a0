"""Issue 18 on a real KVM guest: ``openstack server add security group`` opens the guest's
web page at once (the group's port-80 rule applied to the running guest's port), and
``server remove security group`` walls it off again, with the tiny guest's httpd fetched
from the network's DHCP namespace."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until
from tests.e2e.test_kvm_network import kvm_network_config  # noqa: F401 - linuxbridge networking, as there

pytestmark = [pytest.mark.libvirt, pytest.mark.netns, pytest.mark.root, pytest.mark.clients, pytest.mark.slow]


def test_add_and_remove_security_group_on_a_running_guest(kvm_cloud) -> None:
    cloud = kvm_cloud
    os_ = cloud.openstack
    os_("image", "create", "--file", str(GUEST_DIR / "tinyguest.qcow2"), "--disk-format", "qcow2",
        "--container-format", "bare", "--property", "hypervisor_type=qemu", "tinyguest", "-f", "json")  # fmt: skip
    os_("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")
    net = os_("network", "create", "sg-net", "-f", "json")
    os_("subnet", "create", "--network", "sg-net", "--subnet-range", "10.92.0.0/24", "sg-sub", "-f", "json")
    web = os_("security", "group", "create", "web", "-f", "json")["id"]
    os_("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "web", "-f", "json")
    os_(*COMPUTE_VERSION, "server", "create", "--image", "tinyguest", "--flavor", "t1", "--network", "sg-net",
        "--wait", "web1", "-f", "json", timeout=300)  # fmt: skip
    api = Observer(cloud)
    web1 = api.server_named("web1")["id"]
    wait_until(lambda: "TINYGUEST-READY" in api.console(web1), "the guest to finish booting", timeout=240, every=0.2)
    port = os_("port", "list", "--server", web1, "-f", "json")[0]
    ip = port["Fixed IP Addresses"][0]["ip_address"]
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    dhcp_ns = [line.split()[0] for line in namespaces.splitlines() if net["id"][:8] in line]
    assert dhcp_ns, namespaces

    def fetch() -> str:
        code = f"import urllib.request; print(urllib.request.urlopen('http://{ip}/', timeout=3).read().decode())"
        return subprocess.run(
            ["ip", "netns", "exec", dhcp_ns[0], sys.executable, "-c", code], capture_output=True, text=True
        ).stdout

    assert fetch() == ""  # only the default group: walled off
    os_("server", "add", "security", "group", "web1", "web")
    assert web in os_("port", "show", port["ID"], "-f", "json")["security_group_ids"]
    page = wait_until(fetch, "the guest's web page after adding the group", timeout=60, every=0.5)
    assert ip in page
    os_("server", "remove", "security", "group", "web1", "web")
    wait_until(lambda: fetch() == "", "the page walled off again after removing the group", timeout=60, every=0.5)
