"""Rescue on a real KVM host (TCG; issue 18) with the unmodified ``openstack`` CLI: ``server
rescue --image`` boots the tiny guest from a fresh disk of the rescue image (32 MiB, ``vda``)
with the server's own 2 GiB root disk as ``vdb`` (the guest's console lists both disks), the
server is RESCUE; ``server unrescue`` boots it from its own disk again (``vda``, 2 GiB, no
``vdb``) and it is ACTIVE."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]

GiB = 1 << 30


def test_rescue_and_unrescue_on_kvm(kvm_cloud) -> None:
    cloud = kvm_cloud
    os_ = cloud.openstack
    api = Observer(cloud)

    def nova(*args: str, **kw):
        return os_(*COMPUTE_VERSION, *args, **kw)

    instances = Path(cloud.data_dir).parent / "instances"

    def boots() -> list[str]:
        """The console split at each boot of the guest (the log is appended to)."""
        text = "".join(p.read_text(errors="replace") for p in instances.glob("*/console.log"))
        return text.split("TINYGUEST-BOOTED")[1:]

    def boot_done(n: int) -> list[str] | None:
        seen = boots()
        return seen if len(seen) >= n and "TINYGUEST-READY" in seen[n - 1] else None

    def disks(boot: str) -> dict[str, int]:
        return {dev: int(size) for dev, size in re.findall(r"TINYGUEST-DISK (vd[a-z]) (\d+)", boot)}

    for name in ("tinyguest", "rescuer"):
        os_(
            "image", "create", "--file", str(GUEST_DIR / "tinyguest.qcow2"), "--disk-format", "qcow2",
            "--container-format", "bare", "--property", "hypervisor_type=qemu", name,
        )  # fmt: skip
    os_("flavor", "create", "--ram", "128", "--disk", "2", "--vcpus", "1", "t2")
    server = nova(
        "server", "create", "--image", "tinyguest", "--flavor", "t2", "--nic", "none", "--wait", "vm1", "-f", "json",
        timeout=300,
    )  # fmt: skip
    assert server["status"] == "ACTIVE"
    first = wait_until(lambda: boot_done(1), "the first boot", timeout=120, every=0.5)
    assert disks(first[0]) == {"vda": 2 * GiB}

    nova("server", "rescue", "--image", "rescuer", "vm1")
    wait_until(lambda: api.server(server["id"])["status"] == "RESCUE", "RESCUE", timeout=180, every=0.5)
    rescued = wait_until(lambda: boot_done(2), "the rescue boot", timeout=120, every=0.5)
    # the rescue image's disk first, the server's own disk second
    assert disks(rescued[1]) == {"vda": 32 << 20, "vdb": 2 * GiB}, rescued[1]
    shown = nova("server", "show", "vm1", "-f", "json")
    assert shown["status"] == "RESCUE" and shown["OS-EXT-STS:vm_state"] == "rescued"
    refused = nova("server", "stop", "vm1", check=False)
    assert refused.returncode != 0 and "409" in refused.stderr, refused.stderr

    nova("server", "unrescue", "vm1")
    wait_until(lambda: api.server(server["id"])["status"] == "ACTIVE", "ACTIVE after unrescue", timeout=180, every=0.5)
    back = wait_until(lambda: boot_done(3), "the boot after unrescue", timeout=120, every=0.5)
    assert disks(back[2]) == {"vda": 2 * GiB}, back[2]
    assert not list(instances.glob("*/disk.rescue")) and not list(instances.glob("*/unrescue.xml"))
    actions = [a["Action"] for a in nova("server", "event", "list", "vm1", "-f", "json")]
    assert actions[:2] == ["unrescue", "rescue"], actions
    nova("server", "delete", "--wait", "vm1", timeout=300)
