"""Helpers shared by the kvm driver's tests (a uniquely named module, importable from
every test file in this directory)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid

import pytest
from overcast.types import Flavor, ImageRef, Instance


def make_instance(flavor: Flavor | None = None, image: ImageRef | None = None, display_name: str = "t") -> Instance:
    uid = str(uuid.uuid4())
    return Instance(
        uuid=uid,
        name=f"oc-{uid}",
        display_name=display_name,
        project_id="proj-1",
        flavor=flavor or Flavor(id="f1", name="m1.tiny", vcpus=1, memory_mb=256, root_gb=1),
        image=image,
    )


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed (apt install qemu-utils)")


def public_tmpdir(prefix: str) -> str:
    """A scratch directory QEMU (user libvirt-qemu) can reach: /var/tmp, mode 0755.
    pytest's tmp_path is under a 0700 directory, which QEMU cannot traverse."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    os.chmod(path, 0o755)
    return path
