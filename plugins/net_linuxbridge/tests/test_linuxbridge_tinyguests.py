"""Real tiny guests (QEMU TCG under libvirt) on a tenant network plumbed by this driver.

The domains are defined here the way ``hv_kvm`` plugs a ``bridge`` vif (the tap named by
``VifDetails.devname`` joins ``VifDetails.bridge``), not through the compute service: that
integration is compute's. The guests get their IPAM addresses from our dnsmasq (the console
shows ``TINYGUEST-DHCP``) and serve a page that a client namespace on the network fetches.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.types import VifDetails

pytestmark = [pytest.mark.root, pytest.mark.netns, pytest.mark.libvirt, pytest.mark.slow]

GUEST_DIR = Path(os.environ.get("OVERCAST_GUEST_DIR", "/var/lib/overcast/tinyguest"))


def domain_xml(name: str, vif: VifDetails, console: Path) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{GUEST_DIR / "vmlinuz"}</kernel><initrd>{GUEST_DIR / "initrd.img"}</initrd>
    <cmdline>console=ttyS0 quiet tinyguest.hostname={name}</cmdline></os>
  <features><acpi/></features>
  <on_reboot>destroy</on_reboot>
  <devices>
    <interface type='bridge'>
      <source bridge='{vif.details["bridge"]}'/><target dev='{vif.details["devname"]}'/>
      <mac address='{vif.mac_address}'/><model type='virtio'/><mtu size='{vif.mtu}'/>
    </interface>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
  </devices>
</domain>"""


@pytest.fixture
def boot() -> Iterator[Any]:
    if not (GUEST_DIR / "vmlinuz").exists():
        pytest.skip(f"no tiny guest in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")
    workdir = Path(tempfile.mkdtemp(prefix="octest-vm-", dir="/tmp"))
    workdir.chmod(0o755)
    names: list[str] = []

    def start(name: str, vif: VifDetails) -> Path:
        console = workdir / f"{name}.log"
        xml = workdir / f"{name}.xml"
        xml.write_text(domain_xml(name, vif, console))
        subprocess.run(
            ["virsh", "-c", "qemu:///system", "create", str(xml)], check=True, capture_output=True, text=True
        )
        names.append(name)
        return console

    yield start
    for name in names:
        subprocess.run(["virsh", "-c", "qemu:///system", "destroy", name], capture_output=True)
    shutil.rmtree(workdir, ignore_errors=True)


def wait_for(console: Path, pattern: str, timeout: float = 120) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = console.read_text(errors="replace") if console.exists() else ""
        found = re.search(pattern, text)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {pattern!r} on {console.name} in {timeout}s:\n{text[-2000:]}")


def test_tiny_guests_get_ipam_addresses_by_dhcp_and_serve_their_page(rig: Any, boot: Any) -> None:
    net, sub = rig.network(rig.alice, "10.38.0.0/24")
    consoles = {}
    ports = {}
    for name in (f"octest-vm1-{os.getpid()}", f"octest-vm2-{os.getpid()}"):
        port = rig.svc.allocate_port_for_instance(rig.alice, name, rig.host, network_id=net["id"])
        vif = rig.svc.bind_port(rig.alice, port.id, rig.host)
        consoles[name], ports[name] = boot(name, vif), port
    client_port, client = rig.guest(rig.alice, net["id"], "client")
    assert client.dhcp() == client_port.fixed_ips[0].ip_address
    for name, console in consoles.items():
        address = ports[name].fixed_ips[0].ip_address
        wait_for(console, rf"TINYGUEST-DHCP eth0 {re.escape(address)}/24 router=10\.38\.0\.1")
        wait_for(console, r"TINYGUEST-READY")
        page = None
        for _ in range(20):
            page = client.fetch(f"http://{address}/")
            if page:
                break
            time.sleep(0.5)
        assert page is not None and address in page and "tinyguest" in page
    assert (
        rig.svc.get_instance_addresses(next(iter(ports)))["net"][0]["addr"]
        == ports[next(iter(ports))].fixed_ips[0].ip_address
    )
