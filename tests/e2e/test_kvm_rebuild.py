"""Rebuild on a real KVM host (TCG; issue 18) with the unmodified ``openstack`` CLI.

Image A is the tiny guest; image B is the same disk with ``tinyguest.hostname=rebuilt-b`` on
its kernel command line (SYSLINUX's config rewritten with mtools), so the guest that runs
image B says ``TINYGUEST-READY host=rebuilt-b`` on its console. A server booted from A with a
port on a real (linuxbridge) network and a data volume attached is rebuilt with
``openstack server rebuild --image B --wait``: its console then shows B's marker (the guest
really runs the new image), with the same id, the same address (leased again by DHCP) and the
volume still attached (the new guest sees it as ``vdb``).

A volume-backed server is refused a rebuild with another image (Nova's 400 before 2.93,
this cloud's newest microversion being 2.79): nothing changes, the guest is not even
restarted. A rebuild with the image its root volume holds is Nova's: the guest is made anew
on the same root volume."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]

pytest.importorskip("overcast_storage_fs", reason="the fs volume driver plugin is not installed")

GiB = 1 << 30
MARKER_HOST = "rebuilt-b"


@pytest.fixture
def kvm_network_config() -> Iterator[dict]:
    """kvm_cloud's extra config: real networking (DHCP on a Linux bridge) and a ``files``
    volume backend in a directory QEMU can reach."""
    path = Path(tempfile.mkdtemp(prefix="oc-e2e-vol-", dir="/var/tmp"))
    os.chmod(path, 0o755)
    yield {
        "network": {"driver": "linuxbridge"},
        "volume_backends": {"files": {"driver": "fs", "path": str(path), "format": "qcow2"}},
    }
    shutil.rmtree(path, ignore_errors=True)


def marker_image(dest: Path) -> Path:
    """The tiny guest's raw disk with ``tinyguest.hostname=rebuilt-b`` on its kernel command line."""
    if shutil.which("mcopy") is None:
        pytest.skip("mtools is not installed (apt-get install mtools): it writes image B's SYSLINUX config")
    shutil.copyfile(GUEST_DIR / "tinyguest.raw", dest)
    cfg = dest.parent / "syslinux.cfg"
    cfg.write_text(
        "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.img\n"
        f"  APPEND console=ttyS0 quiet tinyguest.hostname={MARKER_HOST}\n"
    )
    subprocess.run(["mcopy", "-o", "-i", str(dest), str(cfg), "::syslinux.cfg"], check=True, capture_output=True)
    shown = subprocess.run(["mtype", "-i", str(dest), "::syslinux.cfg"], check=True, capture_output=True, text=True)
    assert f"tinyguest.hostname={MARKER_HOST}" in shown.stdout
    return dest


def test_rebuild_with_another_image_on_kvm(kvm_cloud: Any, tmp_path: Path) -> None:
    if not (GUEST_DIR / "tinyguest.raw").exists():
        pytest.skip(f"no tinyguest.raw in {GUEST_DIR} (run scripts/build-tiny-guest.sh)")
    cloud = kvm_cloud
    os_ = cloud.openstack
    api = Observer(cloud)  # waits poll the API over HTTP; actions and what is asserted use the CLI

    def nova(*args: str, **kw: Any) -> Any:
        return os_(*COMPUTE_VERSION, *args, **kw)

    instances = Path(cloud.data_dir).parent / "instances"

    def console_file(server_id: str) -> str:
        return "".join(p.read_text(errors="replace") for p in instances.glob(f"oc-{server_id}/console.log"))

    def marker(server_id: str, pattern: str, what: str, timeout: float = 240) -> re.Match:
        """Wait for ``pattern`` on the server's serial console file (a CLI call per poll costs
        seconds); the CLI's ``console log show`` is checked at the end."""
        return wait_until(lambda: re.search(pattern, console_file(server_id)), what, timeout=timeout, every=0.2)

    image_b_file = marker_image(Path(tempfile.mkdtemp(prefix="oc-e2e-img-", dir="/var/tmp")) / "image-b.raw")
    try:
        image_a = os_(
            "image", "create", "--file", str(GUEST_DIR / "tinyguest.qcow2"), "--disk-format", "qcow2",
            "--container-format", "bare", "--property", "hypervisor_type=qemu", "image-a", "-f", "json",
        )  # fmt: skip
        image_b = os_(
            "image", "create", "--file", str(image_b_file), "--disk-format", "raw",
            "--container-format", "bare", "--property", "hypervisor_type=qemu", "image-b", "-f", "json",
        )  # fmt: skip
    finally:
        shutil.rmtree(image_b_file.parent, ignore_errors=True)
    os_("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1")
    os_("network", "create", "net1")
    os_("subnet", "create", "--network", "net1", "--subnet-range", "10.96.0.0/24", "net1-sub")
    os_("volume", "type", "create", "--property", "volume_backend_name=files", "files")

    # --- 1. image A, a port with an address, a data volume attached --------------------------
    server = nova(
        "server", "create", "--image", "image-a", "--flavor", "t1", "--network", "net1", "--wait", "vm1",
        "-f", "json", timeout=300,
    )  # fmt: skip
    assert server["status"] == "ACTIVE"
    ip = marker(server["id"], r"TINYGUEST-DHCP eth0 (10\.96\.0\.\d+)/24", "eth0's lease").group(1)
    marker(server["id"], r"TINYGUEST-READY host=tinyguest ", "image A's READY marker")
    data = os_("volume", "create", "--size", "1", "--type", "files", "data1", "-f", "json")
    wait_until(lambda: api.volume(data["id"])["status"] == "available", "data1 to be made", timeout=120, every=0.5)
    nova("server", "add", "volume", "vm1", "data1")
    wait_until(lambda: api.volume(data["id"])["status"] == "in-use", "data1 to be attached", timeout=120, every=0.5)
    marker(server["id"], r"TINYGUEST-DISK-ADDED vdb", "the hot-plugged volume on the console")
    before = nova("server", "show", "vm1", "-f", "json")
    assert before["image"].endswith(f"({image_a['id']})") or image_a["id"] in str(before["image"])
    assert ip in str(before["addresses"])

    # --- 2. rebuild onto image B ----------------------------------------------------------
    nova("server", "rebuild", "--image", "image-b", "--wait", "vm1", timeout=400)
    boot = marker(
        server["id"],
        rf"(?s)TINYGUEST-BOOTED(?:(?!TINYGUEST-BOOTED).)*TINYGUEST-READY host={MARKER_HOST} ",
        "B's marker",
    )
    rebuilt_boot = boot.group(0)
    # the volume is there for the new guest from its first moment, as vdb, the same size
    seen_vdb = re.search(r"TINYGUEST-DISK vdb (\d+) serial=(\S+)", rebuilt_boot)
    assert seen_vdb and int(seen_vdb.group(1)) == GiB and data["id"].startswith(seen_vdb.group(2)), rebuilt_boot
    # the same port, leased the same address again
    assert re.search(rf"TINYGUEST-DHCP eth0 {re.escape(ip)}/24", rebuilt_boot), rebuilt_boot
    after = nova("server", "show", "vm1", "-f", "json")
    assert after["id"] == server["id"] and after["status"] == "ACTIVE"
    assert image_b["id"] in str(after["image"]), after["image"]
    assert after["addresses"] == before["addresses"]
    assert [v["id"] for v in api.server(server["id"])["os-extended-volumes:volumes_attached"]] == [data["id"]]
    vol = os_("volume", "show", "data1", "-f", "json")
    assert vol["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in vol["attachments"]] == [(server["id"], "/dev/vdb")]
    # what the CLI shows of the console is B's guest
    shown_console = nova("console", "log", "show", "vm1")
    assert f"TINYGUEST-READY host={MARKER_HOST}" in shown_console and "host=tinyguest " not in shown_console
    actions = [a["Action"] for a in nova("server", "event", "list", "vm1", "-f", "json")]
    assert actions[0] == "rebuild", actions

    # --- 3. a volume-backed server: another image is refused, its own image is a rebuild ------
    os_("volume", "create", "--image", "image-a", "--size", "1", "--type", "files", "root1")
    root = api.volume(os_("volume", "show", "root1", "-f", "json")["id"])
    assert root is not None
    wait_until(lambda: api.volume(root["id"])["status"] == "available", "root1 to be made", timeout=120, every=0.5)
    bfv = nova(
        "server", "create", "--volume", "root1", "--flavor", "t1", "--nic", "none", "--wait", "bfv1", "-f", "json",
        timeout=300,
    )  # fmt: skip
    marker(bfv["id"], r"TINYGUEST-READY host=tinyguest ", "the volume-backed guest's READY marker")
    refused = nova("server", "rebuild", "--image", "image-b", "bfv1", check=False)
    assert refused.returncode != 0, refused.stdout
    assert (
        f"Image {image_b['id']} is unacceptable: Unable to rebuild with a different image for a volume-backed server."
        in refused.stderr
    ), refused.stderr
    assert "BadRequestException: 400" in refused.stderr, refused.stderr
    unchanged = nova("server", "show", "bfv1", "-f", "json")
    assert unchanged["status"] == "ACTIVE" and unchanged["image"] in ("", None, "N/A (booted from volume)")
    assert console_file(bfv["id"]).count("TINYGUEST-BOOTED") == 1  # the guest was not touched
    assert [v["id"] for v in api.server(bfv["id"])["os-extended-volumes:volumes_attached"]] == [root["id"]]
    assert api.volume(root["id"])["status"] == "in-use"

    first_console = os.stat(next(instances.glob(f"oc-{bfv['id']}/console.log")))
    nova("server", "rebuild", "--image", "image-a", "--wait", "bfv1", timeout=400)
    again = marker(
        bfv["id"], r"(?s)TINYGUEST-DISK vda (\d+) serial=(\S+)(?:(?!TINYGUEST-BOOTED).)*TINYGUEST-READY", "the new root"
    )
    new_console = os.stat(next(instances.glob(f"oc-{bfv['id']}/console.log")))
    assert (new_console.st_ino, new_console.st_ctime) != (first_console.st_ino, first_console.st_ctime)  # a new guest
    assert int(again.group(1)) == GiB and root["id"].startswith(again.group(2)), again.group(0)
    assert not (instances / f"oc-{bfv['id']}" / "disk").exists()  # still no local root disk
    assert api.volume(root["id"])["status"] == "in-use"

    nova("server", "delete", "--wait", "vm1", "bfv1", timeout=300)
    wait_until(lambda: api.volume(data["id"])["status"] == "available", "data1 to be detached", timeout=60)
