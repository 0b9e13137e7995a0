"""A real lvm2 volume group on a loop device, with activation turned off by the test's own
lvm.conf (``LVM_SYSTEM_DIR``): this kernel has no device-mapper, so LVs cannot be
activated, but every metadata operation (create, extend, remove, reports) is real."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_LVM_CONF = """\
# Written by overcast-storage-lvm's tests. No device-mapper in this kernel: metadata only.
global {
    activation = 0
}
activation {
    udev_sync = 0
    udev_rules = 0
    monitoring = 0
}
devices {
    obtain_device_list_from_udev = 0
}
backup {
    backup = 0
    archive = 0
}
"""


@pytest.fixture(scope="session")
def lvm_system_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lvm-etc")
    (d / "lvm.conf").write_text(TEST_LVM_CONF)
    return d


def _sh(*argv: str, env: dict[str, str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@pytest.fixture
def loop_vg(lvm_system_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh 4 GiB VG (sparse file on a loop device); its name."""
    if os.geteuid() != 0:
        pytest.skip("lvm: needs root")
    env = {**os.environ, "LVM_SYSTEM_DIR": str(lvm_system_dir), "LVM_SUPPRESS_FD_WARNINGS": "1"}
    monkeypatch.setenv("LVM_SYSTEM_DIR", str(lvm_system_dir))
    monkeypatch.setenv("LVM_SUPPRESS_FD_WARNINGS", "1")
    image = tmp_path / "pv.img"
    with open(image, "wb") as f:
        f.truncate(4 * 1024**3)
    loop = _sh("losetup", "-f", "--show", str(image), env=env)
    vg = f"oc{uuid.uuid4().hex[:10]}"
    try:
        _sh("pvcreate", "-y", loop, env=env)
        _sh("vgcreate", vg, loop, env=env)
        yield vg
    finally:
        subprocess.run(["vgremove", "-f", vg], capture_output=True, env=env)
        subprocess.run(["pvremove", "-y", loop], capture_output=True, env=env)
        subprocess.run(["losetup", "-d", loop], capture_output=True)
