"""Detect what this machine offers, so marked tests skip with a reason when it is missing.

In CI set ``OVERCAST_REQUIRE_FACILITIES=all`` (or a comma list such as ``root,libvirt``):
a missing facility then fails the test instead of skipping it, so CI cannot silently pass.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
from typing import NoReturn


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@functools.cache
def missing(facility: str) -> str | None:
    """Why ``facility`` is unavailable, or ``None`` if it is there."""
    if facility == "root":
        return None if os.geteuid() == 0 else "needs root"
    if facility == "libvirt":
        if shutil.which("qemu-system-x86_64") is None:
            return "qemu-system-x86_64 is not installed (run scripts/install-host-deps.sh)"
        try:
            import libvirt  # noqa: F401
        except ImportError:
            return "libvirt-python is not installed"
        sock = "/run/libvirt/libvirt-sock"
        if not os.path.exists(sock):
            return f"libvirtd is not running ({sock} missing; run scripts/start-host-services.sh)"
        return None
    if facility == "netns":
        if os.geteuid() != 0:
            return "network namespaces need root"
        if shutil.which("ip") is None:
            return "iproute2 is not installed"
        probe = f"ocprobe{os.getpid()}"
        ok = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True)
            return None
        return "cannot create network namespaces here"
    if facility == "lvm":
        if os.geteuid() != 0:
            return "lvm2 needs root"
        if shutil.which("lvcreate") is None:
            return "lvm2 is not installed (run scripts/install-host-deps.sh)"
        if shutil.which("losetup") is None:
            return "losetup is not available"
        return None
    if facility == "postgres":
        return None if _port_open(5432) else "no PostgreSQL on 127.0.0.1:5432"
    if facility == "rabbitmq":
        return None if _port_open(5672) else "no RabbitMQ on 127.0.0.1:5672"
    if facility == "clients":
        return None if shutil.which("openstack") else "the openstack CLI is not installed (pip install .[clients])"
    return None


FACILITY_MARKERS = ("root", "libvirt", "netns", "lvm", "postgres", "rabbitmq", "clients")


def required() -> set[str]:
    value = os.environ.get("OVERCAST_REQUIRE_FACILITIES", "")
    if value.strip() == "all":
        return set(FACILITY_MARKERS)
    return {v.strip() for v in value.split(",") if v.strip()}


def missing_facility(facility: str, reason: str) -> NoReturn:
    """Skip for a missing facility, or fail when ``OVERCAST_REQUIRE_FACILITIES`` asks for it
    (``all`` or a comma list naming it), so CI cannot pass silently."""
    import pytest

    wanted = {v.strip() for v in os.environ.get("OVERCAST_REQUIRE_FACILITIES", "").split(",")}
    if "all" in wanted or facility in wanted:
        pytest.fail(f"required facility {facility} is missing: {reason}")
    pytest.skip(reason)
