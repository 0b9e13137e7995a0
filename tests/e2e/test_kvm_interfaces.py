"""Issue 18's NIC hot-plug end to end: the unmodified ``openstack`` CLI against ``overcast up``
with one KVM host (TCG) and Linux-bridge networking. ``server add network`` and ``server add
port`` (Nova's ``os-interface`` attach) hot-plug a NIC into the RUNNING tiny guest, whose
console shows it appear and get the port's IPAM address by DHCP through the new tap (so the
port was bound and its network plumbed on the host first); ``server show`` lists the address.
A port in use is refused (409) with nothing changed. ``server remove port`` unplugs the
user's port (the console shows it go) and keeps it, unbound; ``server remove network``
unplugs and deletes the port Nova made."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.libvirt, pytest.mark.netns, pytest.mark.root, pytest.mark.clients, pytest.mark.slow]


@pytest.fixture
def kvm_network_config() -> dict:
    return {"network": {"driver": "linuxbridge"}}


def _guest_recipe() -> int:
    stamp = GUEST_DIR / "build.stamp"
    m = re.search(r"recipe=(\d+)", stamp.read_text() if stamp.exists() else "")
    return int(m.group(1)) if m else 0


def _ip(port: dict) -> str:
    ips = port.get("fixed_ips") or port.get("Fixed IP Addresses")
    m = re.search(r"(\d+\.\d+\.\d+\.\d+)", str(ips))
    assert m, port
    return m.group(1)


def test_nic_hot_plug_and_unplug_with_the_cli(kvm_cloud) -> None:
    if _guest_recipe() < 6:
        pytest.fail(
            f"the tiny guest in {GUEST_DIR} predates recipe 6 (no DHCP on a hot-plugged NIC): "
            "run scripts/build-tiny-guest.sh"
        )
    cloud = kvm_cloud
    os_ = cloud.openstack

    def nova(*args: str, **kw: Any) -> Any:
        return os_(*COMPUTE_VERSION, *args, **kw)

    instances = Path(cloud.data_dir).parent / "instances"

    def marker(pattern: str, what: str, timeout: float = 90) -> re.Match:
        """Wait for ``pattern`` on the serial console (read from the console file: a CLI call
        per poll costs seconds); ``console log show`` is checked at the end."""

        def seen() -> re.Match | None:
            for log in instances.glob("*/console.log"):
                m = re.search(pattern, log.read_text(errors="replace"))
                if m:
                    return m
            return None

        return wait_until(seen, what, timeout=timeout, every=0.2)

    api = Observer(cloud)
    os_(
        "image", "create", "--file", str(GUEST_DIR / "tinyguest.qcow2"), "--disk-format", "qcow2",
        "--container-format", "bare", "--property", "hypervisor_type=qemu", "tinyguest",
    )  # fmt: skip
    os_("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1")
    os_("network", "create", "first")
    os_("subnet", "create", "--network", "first", "--subnet-range", "10.94.0.0/24", "first-sub")
    second = os_("network", "create", "second", "-f", "json")
    os_("subnet", "create", "--network", "second", "--subnet-range", "10.95.0.0/24", "second-sub")
    server = nova(
        "server", "create", "--image", "tinyguest", "--flavor", "t1", "--network", "first", "--wait", "vm1",
        "-f", "json", timeout=300,
    )  # fmt: skip
    assert server["status"] == "ACTIVE"
    marker(r"TINYGUEST-READY", "the guest's READY marker", timeout=240)
    first_ip = marker(r"TINYGUEST-DHCP eth0 (10\.94\.0\.\d+)/24", "eth0's lease").group(1)
    assert "TINYGUEST-NIC-ADDED" not in os_("console", "log", "show", "vm1")

    # server add network: Nova makes the port, the guest sees eth1 and leases its address
    nova("server", "add", "network", "vm1", "second")
    marker(r"TINYGUEST-NIC-ADDED eth1", "the NIC-ADDED marker for eth1")
    (made,) = os_("port", "list", "--network", second["id"], "--server", "vm1", "-f", "json")
    made_ip = _ip(made)
    marker(rf"TINYGUEST-DHCP eth1 {re.escape(made_ip)}/24", f"eth1's DHCP lease of {made_ip}")
    addresses = nova("server", "show", "vm1", "-f", "json")["addresses"]
    assert made_ip in str(addresses) and first_ip in str(addresses), addresses

    # server add port: the user's own port, with the address asked for
    own = os_("port", "create", "--network", "second", "--fixed-ip", "ip-address=10.95.0.77", "own", "-f", "json")
    nova("server", "add", "port", "vm1", "own")
    marker(r"TINYGUEST-NIC-ADDED eth2", "the NIC-ADDED marker for eth2")
    marker(r"TINYGUEST-DHCP eth2 10\.95\.0\.77/24", "eth2's DHCP lease of 10.95.0.77")
    attachments = api.get(f"/compute/v2.1/servers/{server['id']}/os-interface")["interfaceAttachments"]
    assert sorted(a["port_id"] for a in attachments if a["net_id"] == second["id"]) == sorted([made["ID"], own["id"]])

    # a port already in use is refused by Nova's 409, and nothing changes
    refused = nova("server", "add", "port", "vm1", "own", check=False)
    assert refused.returncode != 0 and "409" in refused.stderr and "still in use" in refused.stderr, refused.stderr
    assert len(api.get(f"/compute/v2.1/servers/{server['id']}/os-interface")["interfaceAttachments"]) == 3

    # server remove port: unplugged from the guest, the user's port kept and unbound
    nova("server", "remove", "port", "vm1", "own")
    marker(r"TINYGUEST-NIC-REMOVED eth2", "the NIC-REMOVED marker for eth2")
    kept = os_("port", "show", "own", "-f", "json")
    assert kept["device_id"] == "" and kept["id"] == own["id"]
    # server remove network: unplugged, and the port Nova made is deleted
    nova("server", "remove", "network", "vm1", "second")
    marker(r"TINYGUEST-NIC-REMOVED eth1", "the NIC-REMOVED marker for eth1")
    wait_until(
        lambda: not [p for p in os_("port", "list", "--network", second["id"], "-f", "json") if p["ID"] == made["ID"]],
        "the port Nova made to be deleted",
        timeout=30,
        every=1,
    )
    addresses = nova("server", "show", "vm1", "-f", "json")["addresses"]
    assert "second" not in str(addresses) and first_ip in str(addresses), addresses
    os_("port", "delete", "own")  # the user's port outlives the attachment until its owner deletes it
    console = os_("console", "log", "show", "vm1")
    for seen in ("TINYGUEST-NIC-ADDED eth1", f"TINYGUEST-DHCP eth1 {made_ip}/24", "TINYGUEST-NIC-REMOVED eth2"):
        assert seen in console
    print("\n".join(line for line in console.splitlines() if re.search("NIC-|DHCP", line)))
