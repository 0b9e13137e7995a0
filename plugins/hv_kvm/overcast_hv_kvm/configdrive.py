"""Nova-style config drive: a small vfat image labelled ``config-2``.

It carries what Nova's carries (``openstack/<version>/`` with ``meta_data.json``,
``network_data.json``, ``vendor_data*.json``, ``user_data``, and the ``ec2/`` tree): the
content the core built for the metadata service (``Instance.config_drive_files``), in the
layout cloud-init and other guests read from Nova's config drive (``config_drive_format = vfat``). It is built with ``mkfs.vfat`` (dosfstools) and
``mmd``/``mcopy`` (mtools) on the image file itself -- no loop device, no mount -- kept in
the instance directory beside the root disk and attached read-only with serial
``config-2``. It holds nothing the instance record does not, so a migration rebuilds it
on the destination rather than copying it.
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
import tempfile

from overcast.compute.metadata import content
from overcast.errors import DriverError
from overcast.types import Host, Instance

from overcast_hv_kvm import domxml

FILE_NAME = "disk.config"
LABEL = "config-2"
#: The image size: Nova's is 64 MiB; user data is limited to 64 KiB by the API, so a few
#: MiB are plenty (mkfs.vfat picks FAT12/16 for it).
SIZE_KIB = 4096


def wanted(instance: Instance) -> bool:
    """Whether ``instance`` gets a config drive: the core decides (``config_drive``: asked
    for, ``[compute] force_config_drive``, or user data on a cloud without a metadata API),
    so ``server show`` says truthfully whether one is attached."""
    return instance.config_drive


def user_data_bytes(instance: Instance) -> bytes:
    if not instance.user_data:
        return b""
    try:
        return base64.b64decode(instance.user_data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DriverError(f"user data of {instance.name} is not base64: {exc}") from exc


def guest_metadata(instance: Instance, host: Host) -> content.GuestMetadata:
    """The metadata this driver knows when the core sent no drive content (direct callers)."""
    key = content.KeyPair("default", instance.key_data.strip()) if instance.key_data else None
    data = user_data_bytes(instance) if instance.user_data else None
    return content.GuestMetadata(
        uuid=instance.uuid,
        name=instance.display_name,
        project_id=instance.project_id,
        availability_zone=host.availability_zone,
        image_id=instance.image.id if instance.image else "",
        flavor_name=instance.flavor.name,
        meta=dict(instance.metadata),
        key=key,
        user_data=data,
    )


def drive_files(instance: Instance, host: Host) -> dict[str, bytes]:
    """The drive's files: the core's (the metadata service's content), else our own."""
    if instance.config_drive_files:
        try:
            return content.decode(instance.config_drive_files)
        except (binascii.Error, ValueError) as exc:
            raise DriverError(f"config drive content of {instance.name} is not base64: {exc}") from exc
    return content.drive_files(guest_metadata(instance, host))


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
    files = drive_files(instance, host)
    try:
        if os.path.exists(tmp):
            os.unlink(tmp)
        # the label as Nova writes it (cloud-init looks for config-2 or CONFIG-2)
        _run(["mkfs.vfat", "-n", LABEL, "-C", tmp, str(SIZE_KIB)], what)
        with tempfile.TemporaryDirectory(prefix="oc-configdrive-") as src:
            for name, data in files.items():
                target = os.path.realpath(os.path.join(src, name))
                if not target.startswith(os.path.realpath(src) + os.sep):
                    raise DriverError(f"{what}: path {name!r} leaves the drive")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(data)
            tops = sorted({os.path.join(src, name.split("/", 1)[0]) for name in files})
            _run(["mcopy", "-i", tmp, "-s", "-o", *tops, "::/"], what)
        os.chmod(tmp, 0o600)  # user data: the service's (libvirt hands it to QEMU at start)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def disk_spec(path: str, target_dev: str, cache: str) -> domxml.DiskSpec:
    """The read-only raw virtio disk the guest finds by its serial ``config-2``."""
    return domxml.DiskSpec("file", path, "raw", target_dev, cache, LABEL, readonly=True)
