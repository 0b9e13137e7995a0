"""Boot from volume on a real KVM host (TCG; issue 18) with the unmodified ``openstack`` CLI:
``server create --volume`` boots the tiny guest from a bootable ``fs`` volume (qcow2 file) made
from the image, and ``server create --image --boot-from-volume`` makes that volume itself. The
guest's console shows its root disk ``vda`` with the volume's id as serial (the volume's
connection, not a local overlay); the volume is in-use on ``/dev/vda``; the server's image is
empty; a rebuild with another image is refused with Nova's 400; deleting the servers leaves the
kept volume available and deletes the ``--delete-on-termination`` one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import COMPUTE_VERSION, GUEST_DIR, Observer, wait_until
from tests.e2e.test_kvm_volume import kvm_network_config  # noqa: F401 - the same ``files`` volume backend

pytestmark = [pytest.mark.root, pytest.mark.libvirt, pytest.mark.clients, pytest.mark.slow]

pytest.importorskip("overcast_storage_fs", reason="the fs volume driver plugin is not installed")

GiB = 1 << 30
DEFAULT_VOLUME_TYPE_ID = "00000000-0000-0000-0000-00000000d0f7"  # the default type the migrations make


def test_boot_from_volume_on_kvm(kvm_cloud) -> None:
    cloud = kvm_cloud
    os_ = cloud.openstack
    api = Observer(cloud)

    def nova(*args: str, **kw):
        return os_(*COMPUTE_VERSION, *args, **kw)

    instances = Path(cloud.data_dir).parent / "instances"

    def marker(server_id: str, pattern: str, what: str, timeout: float = 90) -> re.Match:
        def seen() -> re.Match | None:
            for log in instances.glob(f"oc-{server_id}/console.log"):
                m = re.search(pattern, log.read_text(errors="replace"))
                if m:
                    return m
            return None

        def consoles() -> str:
            import subprocess

            tree = "\n".join(str(p) for p in sorted(Path(cloud.data_dir).parent.rglob("*")) if "image" not in str(p))
            logs = "\n".join(f"{p}:\n{p.read_text(errors='replace')[-3000:]}" for p in instances.glob("*/console.log"))
            xml = subprocess.run(
                ["virsh", "-c", "qemu:///system", "dumpxml", f"oc-{server_id}"], capture_output=True, text=True
            )
            return f"{tree}\n{logs}\n{xml.stdout[-4000:]}{xml.stderr}"

        return wait_until(seen, what, timeout=timeout, every=0.2, detail=consoles)

    for name in ("tinyguest", "other"):
        os_(
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
            name,
        )
    os_("flavor", "create", "--ram", "128", "--disk", "1", "--vcpus", "1", "t1")
    os_("volume", "type", "create", "--property", "volume_backend_name=files", "files")
    # the volume --boot-from-volume makes has the default type: on the files backend too (the
    # running cloud also has a fake backend, whose volumes a kvm host cannot attach)
    os_("volume", "type", "set", "--property", "volume_backend_name=files", DEFAULT_VOLUME_TYPE_ID)
    root = os_("volume", "create", "--image", "tinyguest", "--size", "1", "--type", "files", "root1", "-f", "json")
    wait_until(lambda: api.volume(root["id"])["status"] == "available", "root1 to be made", timeout=120, every=0.5)
    assert os_("volume", "show", "root1", "-f", "json")["bootable"] in (True, "true")

    # 1. an existing bootable volume as the root disk
    server = nova(
        "server", "create", "--volume", "root1", "--flavor", "t1", "--nic", "none", "--wait", "bfv1", "-f", "json",
        timeout=300,
    )  # fmt: skip
    assert server["status"] == "ACTIVE"
    disk = marker(server["id"], r"TINYGUEST-DISK vda (\d+) serial=(\S+)", "the guest's vda marker")
    assert int(disk.group(1)) == GiB and root["id"].startswith(disk.group(2)), disk.group(0)
    marker(server["id"], r"TINYGUEST-READY", "the guest's READY marker")
    shown = api.server(server["id"])
    assert shown["image"] == ""
    assert shown["os-extended-volumes:volumes_attached"] == [{"id": root["id"], "delete_on_termination": False}]
    vol = os_("volume", "show", "root1", "-f", "json")
    assert vol["status"] == "in-use"
    assert [(a["server_id"], a["device"]) for a in vol["attachments"]] == [(server["id"], "/dev/vda")]
    # no local root disk was made for it: the instance directory holds no disk image
    assert not (instances / f"oc-{server['id']}" / "disk").exists()
    refused = nova("server", "rebuild", "--image", "other", "bfv1", check=False)
    assert refused.returncode != 0 and "Unable to rebuild with a different image for a volume-backed server" in (
        refused.stderr
    ), refused.stderr
    assert api.server(server["id"])["status"] == "ACTIVE"

    # 2. the volume made from the image at create, deleted with the server
    made = nova(
        "server", "create", "--image", "tinyguest", "--boot-from-volume", "1", "--delete-on-termination",
        "--flavor", "t1", "--nic", "none", "--wait", "bfv2", "-f", "json",
        timeout=300,
    )  # fmt: skip
    assert made["status"] == "ACTIVE"
    made_volumes = api.server(made["id"])["os-extended-volumes:volumes_attached"]
    assert len(made_volumes) == 1
    made_id = made_volumes[0]["id"]
    disk = marker(made["id"], r"TINYGUEST-DISK vda (\d+) serial=(\S+)", "the second guest's vda marker")
    assert made_id.startswith(disk.group(2))
    marker(made["id"], r"TINYGUEST-READY", "the second guest's READY marker")
    assert api.volume(made_id)["status"] == "in-use"

    nova("server", "delete", "--wait", "bfv1", "bfv2", timeout=300)
    wait_until(lambda: api.volume(root["id"])["status"] == "available", "root1 to be available", timeout=60)
    assert os_("volume", "show", "root1", "-f", "json")["attachments"] == []
    wait_until(lambda: api.volume(made_id) is None, "the delete_on_termination volume to go", timeout=60)
    os_("volume", "delete", "root1")
    wait_until(lambda: api.volume(root["id"]) is None, "root1 to be deleted", timeout=60)
