"""Nova-style config drive: a small vfat image labelled ``config-2``.

It carries ``openstack/latest/meta_data.json`` and ``openstack/latest/user_data`` (the
user data decoded), the layout cloud-init and other guests read from Nova's config drive
(``config_drive_format = vfat``). It is built with ``mkfs.vfat`` (dosfstools) and
``mmd``/``mcopy`` (mtools) on the image file itself -- no loop device, no mount -- kept in
the instance directory beside the root disk and attached read-only with serial
``config-2``. It holds nothing the instance record does not, so a migration rebuilds it
on the destination rather than copying it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
import tempfile

from overcast.errors import DriverError
from overcast.types import Host, Instance

from overcast_hv_kvm import domxml

FILE_NAME = "disk.config"
LABEL = "config-2"
#: The image size: Nova's is 64 MiB; user data is limited to 64 KiB by the API, so a few
#: MiB are plenty (mkfs.vfat picks FAT12/16 for it).
SIZE_KIB = 4096


def wanted(instance: Instance) -> bool:
    """Whether ``instance`` gets a config drive: when it was created with ``config_drive``
    set, or with user data (which the guest could not read otherwise)."""
    return instance.config_drive or bool(instance.user_data)


def user_data_bytes(instance: Instance) -> bytes:
    if not instance.user_data:
        return b""
    try:
        return base64.b64decode(instance.user_data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DriverError(f"user data of {instance.name} is not base64: {exc}") from exc


def _hostname(display_name: str) -> str:
    """Nova's sanitize: lower-case letters, digits and dashes (``server-1``)."""
    name = re.sub(r"[^a-z0-9-]+", "-", display_name.lower()).strip("-")
    return name[:63] or "server"


def meta_data(instance: Instance, host: Host) -> dict[str, object]:
    """``openstack/latest/meta_data.json``, with the fields Nova's carries that we know."""
    data: dict[str, object] = {
        "uuid": instance.uuid,
        "name": instance.display_name,
        "hostname": _hostname(instance.display_name),
        "availability_zone": host.availability_zone,
        "project_id": instance.project_id,
        "launch_index": 0,
        "meta": dict(instance.metadata),
    }
    if instance.key_data:
        # Nova keys this by the keypair's name, which the driver does not get.
        data["public_keys"] = {"default": instance.key_data}
        data["keys"] = [{"name": "default", "type": "ssh", "data": instance.key_data}]
    return data


def _run(args: list[str], what: str) -> None:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise DriverError(f"{what}: {args[0]} is not installed (apt install dosfstools mtools)") from exc
    if proc.returncode != 0:
        raise DriverError(f"{what}: {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def build(path: str, instance: Instance, host: Host) -> None:
    """Write the config drive of ``instance`` to ``path`` (replacing any older one).

    Built under a temporary name and renamed, so ``path`` never holds a partial image.
    """
    what = f"building the config drive of {instance.name}"
    tmp = f"{path}.part"
    files = {
        "meta_data.json": json.dumps(meta_data(instance, host), sort_keys=True).encode(),
        "user_data": user_data_bytes(instance),
    }
    try:
        if os.path.exists(tmp):
            os.unlink(tmp)
        # the label as Nova writes it (cloud-init looks for config-2 or CONFIG-2)
        _run(["mkfs.vfat", "-n", LABEL, "-C", tmp, str(SIZE_KIB)], what)
        mtools = ["-i", tmp]
        _run(["mmd", *mtools, "::/openstack", "::/openstack/latest"], what)
        with tempfile.TemporaryDirectory(prefix="oc-configdrive-") as src:
            for name, content in files.items():
                with open(os.path.join(src, name), "wb") as f:
                    f.write(content)
            _run(["mcopy", *mtools, "-o", *(os.path.join(src, n) for n in files), "::/openstack/latest/"], what)
        os.chmod(tmp, 0o600)  # user data: the service's (libvirt hands it to QEMU at start)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def disk_spec(path: str, target_dev: str, cache: str) -> domxml.DiskSpec:
    """The read-only raw virtio disk the guest finds by its serial ``config-2``."""
    return domxml.DiskSpec("file", path, "raw", target_dev, cache, LABEL, readonly=True)
