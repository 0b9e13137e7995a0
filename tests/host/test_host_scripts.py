"""The host set-up scripts are idempotent: a second run changes nothing and is quick."""

from __future__ import annotations

import grp
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import REPO, TinyGuest

SCRIPTS = REPO / "scripts"


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.root
def test_install_host_deps_reports_nothing_missing() -> None:
    proc = run(SCRIPTS / "install-host-deps.sh", "--print")
    assert proc.returncode == 0, proc.stderr
    if "missing:" in proc.stdout:
        pytest.skip(f"host packages not installed yet ({proc.stdout.strip()}); run scripts/install-host-deps.sh")
    assert "already installed" in proc.stdout


@pytest.mark.root
@pytest.mark.slow
def test_start_host_services_is_idempotent() -> None:
    if not Path("/usr/sbin/libvirtd").exists():
        pytest.skip("libvirt is not installed (scripts/install-host-deps.sh)")
    first = run(SCRIPTS / "start-host-services.sh", "--no-postgres", "--no-rabbitmq", timeout=180)
    assert first.returncode == 0, first.stdout + first.stderr
    t0 = time.monotonic()
    second = run(SCRIPTS / "start-host-services.sh", "--no-postgres", "--no-rabbitmq", timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "libvirtd already answering" in second.stdout
    assert time.monotonic() - t0 < 15
    assert run("virsh", "-c", "qemu:///system", "version").returncode == 0
    if os.path.exists("/dev/kvm"):
        st = os.stat("/dev/kvm")
        assert stat.S_IMODE(st.st_mode) == 0o660 and grp.getgrgid(st.st_gid).gr_name == "kvm"
    assert stat.S_IMODE(os.stat("/dev/net/tun").st_mode) == 0o666


@pytest.mark.slow
def test_build_tiny_guest_reuses_its_output(tiny_guest: TinyGuest) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in tiny_guest.dir.iterdir()}
    t0 = time.monotonic()
    proc = run(SCRIPTS / "build-tiny-guest.sh", tiny_guest.dir)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stderr
    assert time.monotonic() - t0 < 10
    assert {p.name: p.stat().st_mtime_ns for p in tiny_guest.dir.iterdir()} == before
    sums = subprocess.run(
        ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=tiny_guest.dir, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
