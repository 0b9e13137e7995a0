"""Issue 4's end-to-end run: the unmodified ``openstack`` CLI against ``overcast up`` with one
KVM host (TCG). A real tiny guest boots to its READY marker, goes through every power action,
is snapshotted into an image that boots a second server (with a config drive), is resized
(confirmed, then another resize reverted), and after delete neither its libvirt
domain nor its disks remain. The image arrives through the CLI and the host caches it once,
verified."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]


def domain_exists(name: str) -> bool:
    return subprocess.run(["virsh", "-c", "qemu:///system", "domstate", name], capture_output=True).returncode == 0


def test_server_lifecycle_on_a_real_kvm_host(kvm_cloud) -> None:
    cloud = kvm_cloud
    api = Observer(cloud)  # waits read the API over HTTP; actions and checks use the CLI

    def nova(*args: str, **kw):
        return cloud.openstack(*COMPUTE_VERSION, *args, **kw)

    def status(name: str) -> str:
        return api.server_named(name)["status"]

    def readies(name: str) -> int:
        return api.console(api.server_named(name)["id"]).count("TINYGUEST-READY")

    def act(name: str, *action: str, want: str) -> None:
        nova("server", *action, name)
        wait_until(lambda: status(name) == want, f"{name} to become {want} after {' '.join(action)}", every=0.2)

    image = cloud.openstack(
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
    assert image["status"] == "active"
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")
    server = nova(
        "server",
        "create",
        "--image",
        "tinyguest",
        "--flavor",
        "t1",
        "--nic",
        "none",
        "--wait",
        "vm1",
        "-f",
        "json",
        timeout=300,
    )
    assert server["status"] == "ACTIVE"
    shown = nova("server", "show", "vm1", "-f", "json")
    assert shown["OS-EXT-SRV-ATTR:host"] == "kvm1"
    domain = shown["OS-EXT-SRV-ATTR:instance_name"]
    assert domain_exists(domain)
    wait_until(lambda: readies("vm1") >= 1, "the first READY marker", every=0.2)
    assert "TINYGUEST-BOOTED" in cloud.openstack("console", "log", "show", "vm1")
    # the host fetched the image into its cache once, verified, byte-identical
    cached = list((Path(cloud.data_dir) / "image-cache").rglob(f"{image['id']}.*"))
    assert len(cached) == 1 and cached[0].read_bytes() == (GUEST_DIR / "tinyguest.qcow2").read_bytes()

    act("vm1", "stop", want="SHUTOFF")
    assert (
        not domain_exists(domain)
        or "shut off"
        in subprocess.run(["virsh", "-c", "qemu:///system", "domstate", domain], capture_output=True, text=True).stdout
    )
    act("vm1", "start", want="ACTIVE")
    wait_until(lambda: readies("vm1") >= 2, "READY after start", every=0.2)
    act("vm1", "reboot", "--hard", want="ACTIVE")
    wait_until(lambda: readies("vm1") >= 3, "READY after a hard reboot", every=0.2)
    assert cloud.openstack("console", "log", "show", "vm1").count("TINYGUEST-READY") >= 3
    act("vm1", "pause", want="PAUSED")
    act("vm1", "unpause", want="ACTIVE")
    act("vm1", "suspend", want="SUSPENDED")
    act("vm1", "resume", want="ACTIVE")

    snapshot = nova("server", "image", "create", "--name", "vm1-snap", "--wait", "vm1", "-f", "json", timeout=300)
    assert cloud.openstack("image", "show", snapshot["id"], "-f", "json")["status"] == "active"
    cloud.openstack("image", "set", "--property", "hypervisor_type=qemu", snapshot["id"])
    second = nova(
        "server",
        "create",
        "--image",
        snapshot["id"],
        "--flavor",
        "t1",
        "--nic",
        "none",
        "--config-drive",
        "True",
        "--wait",
        "vm2",
        "-f",
        "json",
        timeout=300,
    )
    assert second["status"] == "ACTIVE"
    wait_until(lambda: readies("vm2") >= 1, "READY from the server booted off the snapshot", every=0.2)
    assert "TINYGUEST-READY" in cloud.openstack("console", "log", "show", "vm2")
    shown2 = nova("server", "show", "vm2", "-f", "json")
    domain2 = shown2["OS-EXT-SRV-ATTR:instance_name"]
    # config_drive without user data: stored, shown, and the guest finds the drive
    assert shown2["config_drive"] == "True" and nova("server", "show", "vm1", "-f", "json")["config_drive"] == ""
    assert f"TINYGUEST-CONFIGDRIVE uuid={shown2['id']}" in cloud.openstack("console", "log", "show", "vm2")

    # resize on the one host: bigger flavor, confirm; then another resize, reverted
    def shape(dom: str) -> tuple[str, str]:
        info = subprocess.run(["virsh", "-c", "qemu:///system", "dominfo", dom], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        return fields["Max memory"].strip(), fields["CPU(s)"].strip()

    cloud.openstack("flavor", "create", "--ram", "192", "--disk", "2", "--vcpus", "2", "t2", "-f", "json")
    cloud.openstack("flavor", "create", "--ram", "256", "--disk", "2", "--vcpus", "1", "t3", "-f", "json")
    before = readies("vm1")
    nova("server", "resize", "--flavor", "t2", "--wait", "vm1", timeout=300)
    resized = nova("server", "show", "vm1", "-f", "json")
    assert resized["status"] == "VERIFY_RESIZE" and resized["flavor"].startswith("t2")
    nova("server", "resize", "confirm", "vm1")
    wait_until(lambda: status("vm1") == "ACTIVE", "vm1 to become ACTIVE after resize confirm", every=0.2)
    shown = nova("server", "show", "vm1", "-f", "json")
    assert shown["flavor"].startswith("t2") and shown["OS-EXT-SRV-ATTR:host"] == "kvm1"
    assert shape(domain) == ("196608 KiB", "2")
    wait_until(lambda: readies("vm1") > before, "READY after the resize", every=0.2)
    assert f"TINYGUEST-DISK vda {2 * 1024**3}" in cloud.openstack("console", "log", "show", "vm1")
    before = readies("vm1")
    nova("server", "resize", "--flavor", "t3", "--wait", "vm1", timeout=300)
    assert shape(domain) == ("262144 KiB", "1")
    wait_until(lambda: readies("vm1") > before, "READY after the second resize", every=0.2)
    before = readies("vm1")
    nova("server", "resize", "revert", "vm1")
    wait_until(lambda: status("vm1") == "ACTIVE", "vm1 to become ACTIVE after resize revert", every=0.2)
    assert nova("server", "show", "vm1", "-f", "json")["flavor"].startswith("t2")
    assert shape(domain) == ("196608 KiB", "2")
    wait_until(lambda: readies("vm1") > before, "READY after the revert", every=0.2)

    instances = Path(cloud.data_dir).parent / "instances"
    for name in ("vm1", "vm2"):
        nova("server", "delete", "--wait", name, timeout=300)
    for dom in (domain, domain2):
        assert not domain_exists(dom), f"libvirt domain {dom} is still defined"
        leftovers = (
            [p for p in instances.iterdir() if dom in p.name or dom.removeprefix("oc-") in p.name]
            if instances.exists()
            else []
        )
        assert leftovers == [], f"disks left behind: {leftovers}"
