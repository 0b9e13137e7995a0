"""Boot the tiny guest with plain QEMU (TCG, no libvirt) from its disk image.

This checks the builder's output end to end: SeaBIOS -> SYSLINUX -> Debian kernel ->
busybox /init, the console markers, DHCP on a user-mode NIC, and ACPI power-off.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .conftest import TinyGuest

pytestmark = pytest.mark.slow

QEMU = shutil.which("qemu-system-x86_64")


class ConsoleReader(threading.Thread):
    """Collect QEMU's serial output (its stdout) so tests can wait for markers."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []
        self.cond = threading.Condition()

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode(errors="replace"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, marker: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if marker in line:
                        return line[line.index(marker) :].strip()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{marker!r} not seen within {timeout} s; console:\n" + "".join(self.lines))
                self.cond.wait(left)


def qmp(sock_path: Path, command: str) -> dict:
    """Run one QMP command (after the capabilities handshake) and return its reply."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(sock_path))
        f = s.makefile("rwb")
        json.loads(f.readline())  # greeting
        for cmd in ("qmp_capabilities", command):
            f.write(json.dumps({"execute": cmd}).encode() + b"\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "return" in reply or "error" in reply:
                    break
        return reply


@pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 not installed (scripts/install-host-deps.sh)")
def test_tiny_guest_boots_from_disk_and_powers_off(tiny_guest: TinyGuest, tmp_path: Path) -> None:
    assert tiny_guest.kernel_version.endswith("-amd64")
    overlay = tmp_path / "vm.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(tiny_guest.qcow2), "-F", "qcow2", str(overlay)],
        check=True,
    )
    qmp_sock = tmp_path / "qmp.sock"
    cmd = [
        QEMU,
        "-accel",
        "tcg",
        "-m",
        "256",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-qmp",
        f"unix:{qmp_sock},server=on,wait=off",
        "-drive",
        f"file={overlay},if=virtio,format=qcow2",
        "-nic",
        "user,model=virtio-net-pci",
    ]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    console = ConsoleReader(proc.stdout)
    console.start()
    try:
        console.wait_for("TINYGUEST-BOOTED", 60)
        disk = console.wait_for("TINYGUEST-DISK vda", 30)
        assert disk.split()[2] == str(32 * 1024 * 1024), disk
        dhcp = console.wait_for("TINYGUEST-DHCP eth0", 30)
        assert "10.0.2.15/24" in dhcp, dhcp
        ready = console.wait_for("TINYGUEST-READY", 30)
        assert "ip=10.0.2.15" in ready, ready
        print(f"READY {time.monotonic() - t0:.2f} s after starting qemu: {ready}")

        assert "return" in qmp(qmp_sock, "system_powerdown")
        console.wait_for("TINYGUEST-ACPI-POWEROFF", 30)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        console.join(timeout=5)
