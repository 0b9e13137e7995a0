"""Run a hypervisor driver under Overcast's real compute service (scheduler, host agents,
task runner, migrations) without the HTTP layer: one level below ``openstack server ...``.

A driver package's test builds a runtime with :func:`compute_runtime` (its own hosts, the
fake drivers for everything else, and :class:`DiskImages` standing in for the image service),
then drives ``runtime.compute`` with a :func:`member_context` and waits with
:func:`wait_for_status`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from overcast.context import RequestContext
from overcast.errors import NotFound
from overcast.types import ImageFile, ImageRef


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


#: Glance disk_format -> qemu-img's name for it, where they differ
QEMU_FORMATS = {"vhd": "vpc"}


class DiskImages:
    """A minimal image-service peer (the interface ``overcast.compute.peers`` calls) whose
    images are 4 MiB disks in ``disk_format`` starting with ``TINYGUEST``: converted with
    qemu-img, or written by ``write_disk(path, content)`` when given."""

    def __init__(
        self, root: str | os.PathLike[str], disk_format: str, write_disk: Callable[[str, bytes], None] | None = None
    ) -> None:
        self.root = str(root)
        self.disk_format = disk_format
        self.write_disk = write_disk or self._convert
        self.images: dict[str, dict[str, Any]] = {}

    def _convert(self, path: str, content: bytes) -> None:
        with open(path + ".raw", "wb") as f:
            f.write(content)
        qemu_img(
            "convert", "-f", "raw", "-O", QEMU_FORMATS.get(self.disk_format, self.disk_format), path + ".raw", path
        )
        os.unlink(path + ".raw")

    def add(self, disk_format: str | None = None, **properties: str) -> str:
        image_id = str(uuid.uuid4())
        path = os.path.join(self.root, image_id)
        content = bytearray(4 << 20)
        content[:9] = b"TINYGUEST"
        self.write_disk(path, bytes(content))
        ref = ImageRef(id=image_id, name="tiny", disk_format=disk_format or self.disk_format, properties=properties)
        self.images[image_id] = {"ref": ref, "path": path, "status": "active"}
        return image_id

    def image_ref(self, ctx: RequestContext, image_id: str) -> ImageRef:
        if image_id not in self.images:
            raise NotFound(f"Image {image_id} could not be found.")
        return self.images[image_id]["ref"]

    def fetch_to_cache(self, image: ImageRef, cache_dir: str, formats: Any) -> ImageFile:
        path = os.path.join(cache_dir, image.id)
        shutil.copyfile(self.images[image.id]["path"], path)
        return ImageFile(image=image, path=path, disk_format=image.disk_format)

    def create_snapshot_record(self, ctx: RequestContext, name: str, properties: Mapping[str, str]) -> str:
        image_id = str(uuid.uuid4())
        ref = ImageRef(id=image_id, name=name, disk_format="raw", properties=dict(properties))
        self.images[image_id] = {"ref": ref, "path": None, "status": "queued"}
        return image_id

    def upload_file(self, image_id: str, path: str, disk_format: str) -> None:
        dst = os.path.join(self.root, image_id)
        shutil.copyfile(path, dst)
        image = self.images[image_id]
        image.update(path=dst, status="active")
        image["ref"] = ImageRef(id=image_id, name=image["ref"].name, disk_format=disk_format)

    def discard_image(self, image_id: str) -> None:
        self.images.pop(image_id, None)


def member_context(admin: bool = False) -> RequestContext:
    """A project member (``p1``), or the admin when ``admin``."""
    roles = frozenset({"admin", "member", "reader"} if admin else {"member", "reader"})
    return RequestContext(
        user_id="admin" if admin else "u1",
        project_id="admin" if admin else "p1",
        roles=roles,
        request_id=f"req-{uuid.uuid4()}",
    )


def wait_for_status(compute: Any, ctx: RequestContext, server_id: str, status: str, timeout: float = 30.0) -> Any:
    """Wait until the server's Nova status is ``status``; fail with its fault otherwise."""
    from overcast.compute.states import status_of

    deadline = time.monotonic() + timeout
    while True:
        compute.runner.wait_idle(timeout=timeout)
        rec = compute.get_server(ctx, server_id)
        current = status_of(rec.vm_state, rec.task_state)
        if current == status:
            return rec
        if time.monotonic() > deadline:
            fault = compute.faults([server_id]).get(server_id)
            raise AssertionError(f"server is {current}, wanted {status} ({fault and fault.message})")
        time.sleep(0.02)


@contextmanager
def compute_runtime(
    tmp_path: Path, plugins: Mapping[str, object], hosts: Mapping[str, Mapping[str, Any]], images: DiskImages
) -> Iterator[Any]:
    """A started compute service over ``hosts`` (config tables of the drivers in ``plugins``),
    with the fake drivers for every other kind and ``images`` as the image service.
    Yields ``runtime.compute`` and closes the runtime afterwards."""
    from overcast.config import parse_config
    from overcast.plugins import PluginManager
    from overcast.runtime import build_runtime
    from overcast.testing.fakes import FakeDriversPlugin
    from overcast.testing.fixtures import fake_config_data

    pm = PluginManager()
    pm.register_plugin(FakeDriversPlugin(), name="fake")
    for name, plugin in plugins.items():
        pm.register_plugin(plugin, name=name)
    pm.check_pending()
    data = fake_config_data(tmp_path, hosts=1)
    data["hosts"] = {name: dict(table) for name, table in hosts.items()}
    data["compute"] = {"scheduler_cache_seconds": 0}
    data["bus"] = {"heartbeat_interval": 3600}
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=pm)
    runtime._services["image"] = images
    runtime.compute.start()
    try:
        yield runtime.compute
    finally:
        runtime.close()


# --- scenarios a driver package runs against its own backend ----------------------------------


def tiny_flavor(compute: Any) -> Any:
    return compute.flavors.create(member_context(admin=True), {"name": "x.tiny", "vcpus": 1, "ram": 256, "disk": 1})


def lifecycle_and_migration(
    compute: Any, images: DiskImages, hypervisor_type: str, snapshot_head: Callable[[str], bytes]
) -> Any:
    """A server from an image tagged ``hypervisor_type`` (with a hostile name) goes through
    stop / start / soft reboot / snapshot, a confirmed cold migration to the other host and a
    live migration back, and is deleted. ``snapshot_head(path)`` returns the first bytes of
    the snapshot's disk content (it must start with ``TINYGUEST``). Returns the server's
    record as it was when built (``.host``, ``.hv_name``)."""
    admin, user = member_context(admin=True), member_context()
    image = images.add(hypervisor_type=hypervisor_type)
    rec = compute.create_server(
        user, {"name": "web'; drop", "flavorRef": tiny_flavor(compute).id, "imageRef": image, "networks": "none"}
    )
    rec = wait_for_status(compute, user, rec.uuid, "ACTIVE")
    compute.power_action(user, rec.uuid, "stop")
    wait_for_status(compute, user, rec.uuid, "SHUTOFF")
    compute.power_action(user, rec.uuid, "start")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    compute.reboot(user, rec.uuid, "SOFT")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    snap_id = compute.create_image(user, rec.uuid, "snap")
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    snap = images.images[snap_id]
    assert snap["status"] == "active" and snap["ref"].disk_format == images.disk_format
    assert snapshot_head(snap["path"])[:9] == b"TINYGUEST"
    # cold migration to the other host, confirmed
    compute.migrate(admin, rec.uuid)
    moved = wait_for_status(compute, user, rec.uuid, "VERIFY_RESIZE")
    assert moved.host != rec.host
    compute.confirm_resize(user, rec.uuid)
    wait_for_status(compute, user, rec.uuid, "ACTIVE")
    # live migration back
    compute.live_migrate(admin, rec.uuid)
    back = wait_for_status(compute, user, rec.uuid, "ACTIVE")
    assert back.host == rec.host
    compute.delete_server(user, rec.uuid)
    compute.runner.wait_idle(timeout=30)
    return rec


def raw_head(path: str) -> bytes:
    """The first bytes of a disk's content, through qemu-img (any format it reads)."""
    qemu_img("convert", "-O", "raw", path, path + ".raw")
    with open(path + ".raw", "rb") as f:
        return f.read(64)


def foreign_images_are_not_placed(compute: Any, images: DiskImages) -> None:
    """Images tagged for another hypervisor, or in a format the hosts do not boot, end in
    ERROR with the scheduler's reason."""
    user = member_context()
    flavor = tiny_flavor(compute)
    for image in (images.add(hypervisor_type="kvm"), images.add(disk_format="qcow2")):
        rec = compute.create_server(
            user, {"name": "nope", "flavorRef": flavor.id, "imageRef": image, "networks": "none"}
        )
        rec = wait_for_status(compute, user, rec.uuid, "ERROR")
        assert "Filter" in compute.faults([rec.uuid])[rec.uuid].message


def dead_endpoint(compute: Any, images: DiskImages, kill: Callable[[], None], *expected: str) -> None:
    """After ``kill()`` (the backend is gone and the driver's sessions closed), an action on a
    built server records a fault naming the host, and a new server goes to ERROR with a
    readable fault; each fault contains every ``expected`` text."""
    user = member_context()
    flavor = tiny_flavor(compute)
    rec = compute.create_server(
        user, {"name": "a", "flavorRef": flavor.id, "imageRef": images.add(), "networks": "none"}
    )
    rec = wait_for_status(compute, user, rec.uuid, "ACTIVE")
    kill()
    compute.power_action(user, rec.uuid, "stop")
    compute.runner.wait_idle(timeout=30)
    fault = compute.faults([rec.uuid]).get(rec.uuid)
    assert fault is not None and all(text in fault.message for text in expected), fault and fault.message
    rec = compute.create_server(
        user, {"name": "b", "flavorRef": flavor.id, "imageRef": images.add(), "networks": "none"}
    )
    rec = wait_for_status(compute, user, rec.uuid, "ERROR")
    message = compute.faults([rec.uuid])[rec.uuid].message
    assert all(text in message for text in expected), message
