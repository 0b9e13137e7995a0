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


needs_qemu_img = pytest.mark.skipif(
    shutil.which("qemu-img") is None, reason="qemu-img not installed (apt install qemu-utils)"
)


def public_tmpdir(prefix: str) -> str:
    """A scratch directory QEMU (user libvirt-qemu) can reach: /var/tmp, mode 0755.
    pytest's tmp_path is under a 0700 directory, which QEMU cannot traverse."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    os.chmod(path, 0o755)
    return path


def wait_console(kvm, host, instance, marker: str, timeout: float = 90, count: int = 1) -> str:
    """Wait until ``marker`` appears ``count`` times in the guest's console output (read
    through the driver's ``hv_get_console_output``); return the last such line."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        text = kvm.get_console_output(host=host, instance=instance, length=None)
        lines = [ln for ln in text.splitlines() if marker in ln]
        if len(lines) >= count:
            return lines[count - 1][lines[count - 1].index(marker) :]
        if time.monotonic() > deadline:
            raise AssertionError(f"{marker!r} x{count} not on the console within {timeout} s:\n{text[-3000:]}")
        time.sleep(0.2)
