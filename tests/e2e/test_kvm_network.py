"""Issue 7's compute integration: ``openstack server create --network`` on a KVM host with
Linux-bridge networking. The port is made and bound, the guest's tap joins the network's
bridge, dnsmasq hands it the IPAM address (its console prints the DHCP marker with it),
``server show`` lists it, and its web page is walled off by the default security group until a
port-80 rule opens it (fetched from the network's DHCP namespace)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.libvirt, pytest.mark.netns, pytest.mark.root, pytest.mark.clients, pytest.mark.slow]


@pytest.fixture
def kvm_network_config():
    return {"network": {"driver": "linuxbridge"}}


def test_guest_gets_its_ipam_address_by_dhcp(kvm_cloud) -> None:
    cloud = kvm_cloud

    def nova(*args: str, **kw):
        return cloud.openstack(*COMPUTE_VERSION, *args, **kw)

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
        "tinyguest",
        "-f",
        "json",
    )
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")
    net = cloud.openstack("network", "create", "e2e-net", "-f", "json")
    cloud.openstack(
        "subnet", "create", "--network", "e2e-net", "--subnet-range", "10.91.0.0/24", "e2e-sub", "-f", "json"
    )
    nova(
        "server",
        "create",
        "--image",
        "tinyguest",
        "--flavor",
        "t1",
        "--network",
        "e2e-net",
        "--wait",
        "web1",
        "-f",
        "json",
        timeout=300,
    )

    ports = cloud.openstack("port", "list", "--network", net["id"], "--device-owner", "compute:nova", "-f", "json")
    assert len(ports) == 1
    ip = (
        ports[0]["Fixed IP Addresses"][0]["ip_address"]
        if isinstance(ports[0]["Fixed IP Addresses"], list)
        else re.search(r"ip_address='([0-9.]+)'", str(ports[0]["Fixed IP Addresses"])).group(1)
    )
    api = Observer(cloud)  # the wait polls the API over HTTP (no CLI start-up per poll)
    web1 = api.server_named("web1")["id"]
    wait_until(lambda: "TINYGUEST-READY" in api.console(web1), "the guest to finish booting", timeout=240, every=0.2)
    console = cloud.openstack("console", "log", "show", "web1")
    if f"TINYGUEST-DHCP eth0 {ip}/24" not in console:
        logs = {str(p): p.read_text()[-3000:] for p in Path(cloud.data_dir).rglob("log") if p.is_file()}
        pytest.fail(f"no DHCP lease for {ip}; console:\n{console}\ndnsmasq logs: {logs}")
    addresses = nova("server", "show", "web1", "-f", "json")["addresses"]
    assert ip in str(addresses)

    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    dhcp_ns = [line.split()[0] for line in namespaces.splitlines() if net["id"][:8] in line]
    assert dhcp_ns, f"no DHCP namespace for {net['id']} in: {namespaces}"

    def fetch() -> str:
        # Python's urllib inside the namespace (the host's busybox wget crashes there)
        code = f"import urllib.request; print(urllib.request.urlopen('http://{ip}/', timeout=3).read().decode())"
        return subprocess.run(
            ["ip", "netns", "exec", dhcp_ns[0], sys.executable, "-c", code], capture_output=True, text=True
        ).stdout

    # the default group admits only its own members: the page is walled off ...
    assert fetch() == ""
    cloud.openstack(
        "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", "default", "-f", "json"
    )
    # ... until a rule for port 80 opens it
    try:
        page = wait_until(fetch, "the guest's web page after opening port 80", timeout=60, every=0.5)
    except AssertionError:
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        ours = "\n".join(line for line in rules.splitlines() if "ocn" in line)
        pytest.fail(f"port 80 still closed after the rule; our iptables rules:\n{ours}")
    assert ip in page
