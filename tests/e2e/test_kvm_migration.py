"""Issue 4's migration item end to end: one ``overcast up`` with two KVM hosts on two real
libvirt daemons (the system one, and a second privileged libvirtd with its own host UUID and
state in a private mount namespace, see :mod:`tests.e2e.multihost`). The unmodified
``openstack`` CLI cold-migrates a tiny guest (it boots again to READY on the other daemon;
``server migration confirm`` removes the source) and then live-migrates it back: the host
changes, the guest keeps running on the destination daemon and the source domain is gone."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until
from tests.e2e.multihost import PrivateLibvirtd
from tests.e2e.test_kvm_volume import kvm_network_config  # noqa: F401 - the same ``files`` volume backend

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]

SYSTEM_URI = "qemu:///system"


@pytest.fixture
def second_daemon() -> Iterator[PrivateLibvirtd]:
    daemon = PrivateLibvirtd(Path("/run") / f"oc-multihost-{secrets.token_hex(4)}")
    try:
        yield daemon.start()
    finally:
        daemon.stop()


@pytest.fixture
def kvm_extra_hosts(second_daemon: PrivateLibvirtd) -> Iterator[dict]:
    # instances must be reachable by both daemons' QEMU (user libvirt-qemu): /var/tmp, 0755
    instances = Path(tempfile.mkdtemp(prefix="oc-multihost-kvm2-", dir="/var/tmp"))
    os.chmod(instances, 0o755)
    try:
        yield {
            "kvm2": {
                "driver": "kvm",
                "virt_type": "qemu",
                "uri": second_daemon.uri,
                "instances_dir": str(instances / "instances"),
            }
        }
    finally:
        shutil.rmtree(instances, ignore_errors=True)


def domain_state(uri: str, name: str) -> str | None:
    proc = subprocess.run(["virsh", "-c", uri, "domstate", name], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def test_cold_and_live_migration_between_two_libvirt_daemons(kvm_cloud, second_daemon, kvm_extra_hosts) -> None:
    cloud = kvm_cloud
    uris = {"kvm1": SYSTEM_URI, "kvm2": second_daemon.uri}

    def nova(*args: str, **kw):
        return cloud.openstack(*COMPUTE_VERSION, *args, **kw)

    def show() -> dict:
        return nova("server", "show", "mig1", "-f", "json")

    def console() -> str:
        return cloud.openstack("console", "log", "show", "mig1")

    api = Observer(cloud)  # waits poll the API over HTTP (no CLI start-up per poll)

    def polled() -> dict:
        return api.server_named("mig1")

    def polled_console() -> str:
        return api.console(polled()["id"])

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
    nova(
        "server",
        "create",
        "--image",
        "tinyguest",
        "--flavor",
        "t1",
        "--nic",
        "none",
        "--wait",
        "mig1",
        "-f",
        "json",
        timeout=300,
    )
    server = show()
    first, domain = server["OS-EXT-SRV-ATTR:host"], server["OS-EXT-SRV-ATTR:instance_name"]
    other = {"kvm1": "kvm2", "kvm2": "kvm1"}[first]
    assert domain_state(uris[first], domain) == "running"
    wait_until(lambda: "TINYGUEST-READY" in polled_console(), "READY on the first host", timeout=120, every=0.2)

    # cold: the guest stops, its disk moves through libvirt, it boots on the other daemon
    nova("server", "migrate", "--wait", "mig1", timeout=300)
    wait_until(
        lambda: polled()["status"] == "VERIFY_RESIZE", "VERIFY_RESIZE after the cold migration", timeout=120, every=0.2
    )
    server = show()
    assert server["status"] == "VERIFY_RESIZE"
    assert server["OS-EXT-SRV-ATTR:host"] == other
    assert domain_state(uris[other], domain) == "running"
    wait_until(
        lambda: "TINYGUEST-READY" in polled_console(),
        f"READY on {other} after the cold migration",
        timeout=120,
        every=0.2,
    )
    assert "TINYGUEST-READY" in console()
    nova("server", "migration", "confirm", "mig1")
    wait_until(lambda: polled()["status"] == "ACTIVE", "ACTIVE after confirm", timeout=60, every=0.2)
    wait_until(lambda: domain_state(uris[first], domain) is None, f"the source domain on {first} to go", every=0.2)

    # live, back to the first host, naming it (microversion >= 2.30)
    booted = console().count("TINYGUEST-BOOTED")
    nova("server", "migrate", "--live-migration", "--host", first, "--wait", "mig1", timeout=300)
    wait_until(
        lambda: (lambda s: s["status"] == "ACTIVE" and not s.get("OS-EXT-STS:task_state"))(polled()),
        "ACTIVE after the live migration",
        timeout=120,
        every=0.2,
    )
    server = show()
    assert server["status"] == "ACTIVE" and not server.get("OS-EXT-STS:task_state")
    assert server["OS-EXT-SRV-ATTR:host"] == first
    assert domain_state(uris[first], domain) == "running"
    assert domain_state(uris[other], domain) is None
    # still the same boot: no new BOOTED marker on the console the guest writes to now
    assert console().count("TINYGUEST-BOOTED") <= booted


def test_moves_keep_volumes_and_unshelve_lands_on_the_other_daemon(kvm_cloud, second_daemon, kvm_extra_hosts) -> None:
    """Issue 18: a tiny guest with a volume attached is cold-migrated to the other libvirt
    daemon (it boots there and finds the volume at vdb again), live-migrated back (the domain
    there has the volume), then shelved, offloaded and unshelved with its first host disabled:
    it comes back on the second daemon, the volume with it. The Cinder attachment follows
    the server's host each time."""
    cloud = kvm_cloud
    uris = {"kvm1": SYSTEM_URI, "kvm2": second_daemon.uri}
    api = Observer(cloud)

    def nova(*args: str, **kw):
        return cloud.openstack(*COMPUTE_VERSION, *args, **kw)

    def polled() -> dict:
        return api.server_named("vm1")

    def console() -> str:
        return api.console(polled()["id"])

    def attached_host(volume_id: str) -> str:
        attachments = (api.volume(volume_id) or {}).get("attachments") or [{}]
        return attachments[0].get("host_name") or ""

    def settled(status: str) -> bool:
        s = polled()
        return s["status"] == status and not s.get("OS-EXT-STS:task_state")

    cloud.openstack(
        "image", "create", "--file", str(GUEST_DIR / "tinyguest.qcow2"), "--disk-format", "qcow2",
        "--container-format", "bare", "--property", "hypervisor_type=qemu", "tinyguest", "-f", "json",
    )  # fmt: skip
    cloud.openstack("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1", "-f", "json")
    cloud.openstack("volume", "type", "create", "--property", "volume_backend_name=files", "files")
    volume_id = cloud.openstack("volume", "create", "--size", "1", "--type", "files", "vol1", "-f", "json")["id"]
    wait_until(
        lambda: (api.volume(volume_id) or {}).get("status") == "available",
        "vol1 available",
        every=0.2,
        detail=lambda: console()[-2500:],
    )
    seen_serial = f"serial={volume_id[:20]}"  # a virtio disk's serial is at most 20 bytes
    nova("server", "create", "--image", "tinyguest", "--flavor", "t1", "--nic", "none", "--wait", "vm1", timeout=300)
    wait_until(
        lambda: "TINYGUEST-READY" in console(), "READY", timeout=120, every=0.2, detail=lambda: console()[-2500:]
    )
    nova("server", "add", "volume", "vm1", "vol1")
    wait_until(
        lambda: seen_serial in console(),
        "the guest to see vol1",
        timeout=60,
        every=0.2,
        detail=lambda: console()[-2500:],
    )
    server = polled()
    first, domain = server["OS-EXT-SRV-ATTR:host"], server["OS-EXT-SRV-ATTR:instance_name"]
    other = {"kvm1": "kvm2", "kvm2": "kvm1"}[first]
    assert attached_host(volume_id) == first

    def booted_with_volume(count: int) -> bool:
        lines = [ln for ln in console().splitlines() if "TINYGUEST-DISK vdb" in ln and seen_serial in ln]
        return len(lines) >= count

    seen = sum(1 for ln in console().splitlines() if "TINYGUEST-DISK vdb" in ln)

    # cold: the guest boots on the other daemon with the volume at vdb
    nova("server", "migrate", "--wait", "vm1", timeout=300)
    wait_until(
        lambda: settled("VERIFY_RESIZE"), "VERIFY_RESIZE", timeout=120, every=0.2, detail=lambda: console()[-2500:]
    )
    assert polled()["OS-EXT-SRV-ATTR:host"] == other
    wait_until(
        lambda: booted_with_volume(seen + 1),
        f"boot on {other} with vol1 at vdb",
        timeout=180,
        every=0.2,
        detail=lambda: console()[-2500:],
    )
    nova("server", "migration", "confirm", "vm1")
    wait_until(
        lambda: settled("ACTIVE"), "ACTIVE after confirm", timeout=60, every=0.2, detail=lambda: console()[-2500:]
    )
    assert attached_host(volume_id) == other
    print(f"\ncold migration to {other}: the guest booted with vol1 at vdb")

    # live, back to the first host: the running guest keeps its volume
    nova("server", "migrate", "--live-migration", "--host", first, "--wait", "vm1", timeout=300)
    wait_until(
        lambda: settled("ACTIVE") and polled()["OS-EXT-SRV-ATTR:host"] == first,
        "live back",
        120,
        every=0.2,
        detail=lambda: str({k: v for k, v in polled().items() if k in ("status", "fault", "OS-EXT-SRV-ATTR:host")}),
    )
    xml = subprocess.run(["virsh", "-c", uris[first], "dumpxml", domain], capture_output=True, text=True).stdout
    assert f"<serial>{volume_id[:20]}</serial>" in xml  # libvirt's virtio serial: 20 bytes
    assert domain_state(uris[other], domain) is None
    assert attached_host(volume_id) == first

    # shelve (offloaded at once), first host disabled: unshelve lands on the other daemon
    nova("server", "shelve", "vm1")
    wait_until(lambda: settled("SHELVED_OFFLOADED"), "SHELVED_OFFLOADED", timeout=300, every=0.5)
    assert domain_state(uris[first], domain) is None
    cloud.openstack("compute", "service", "set", "--disable", first, "nova-compute")
    try:
        nova("server", "unshelve", "vm1")
        wait_until(lambda: settled("ACTIVE"), "ACTIVE after unshelve", timeout=300, every=0.5)
    finally:
        cloud.openstack("compute", "service", "set", "--enable", first, "nova-compute")
    server = polled()
    assert server["OS-EXT-SRV-ATTR:host"] == other
    assert domain_state(uris[other], server["OS-EXT-SRV-ATTR:instance_name"]) == "running"
    wait_until(
        lambda: "TINYGUEST-READY" in console(),
        f"READY on {other} after unshelve",
        timeout=180,
        every=0.2,
        detail=lambda: console()[-2500:],
    )
    wait_until(
        lambda: seen_serial in console(), "vol1 after unshelve", timeout=30, every=0.2, detail=lambda: console()[-2500:]
    )
    assert attached_host(volume_id) == other
    print(f"unshelved onto {other} (the other libvirt daemon) with vol1")
    api.delete_all()
