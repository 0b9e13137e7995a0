"""Fixtures for host-level tests: the tiny guest, built by scripts/build-tiny-guest.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILDER = REPO / "scripts" / "build-tiny-guest.sh"


@dataclass(frozen=True)
class TinyGuest:
    """Paths of a built tiny guest."""

    dir: Path
    vmlinuz: Path
    initrd: Path
    qcow2: Path
    raw: Path
    kernel_version: str


def guest_dir() -> Path:
    """Where the guest is built/reused: $OVERCAST_GUEST_DIR, else a per-user default."""
    env = os.environ.get("OVERCAST_GUEST_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/overcast/tinyguest")
    return Path.home() / ".cache" / "overcast" / "tinyguest"


@pytest.fixture(scope="session")
def tiny_guest() -> TinyGuest:
    """Build the tiny guest once per session (the builder exits in ~1 s when up to date)."""
    missing = [
        t
        for t in ("apt-get", "dpkg-deb", "busybox", "cpio", "mkfs.vfat", "syslinux", "mcopy", "qemu-img")
        if shutil.which(t) is None and not Path("/bin", t).exists()
    ]
    if missing:
        pytest.skip(f"tiny guest build tools missing: {' '.join(missing)} (run scripts/install-host-deps.sh)")
    out = guest_dir()
    proc = subprocess.run([str(BUILDER), str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"build-tiny-guest.sh failed:\n{proc.stderr[-4000:]}"
    return TinyGuest(
        dir=out,
        vmlinuz=out / "vmlinuz",
        initrd=out / "initrd.img",
        qcow2=out / "tinyguest.qcow2",
        raw=out / "tinyguest.raw",
        kernel_version=(out / "kernel.version").read_text().strip(),
    )
