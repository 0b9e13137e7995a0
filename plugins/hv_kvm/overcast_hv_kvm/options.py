"""The ``kvm`` driver's config options (``[hosts.NAME]`` keys) and their per-host form.

The core validates each host table against :data:`OPTIONS` and applies the defaults, so
:class:`KvmHostConfig` only has to interpret them. It also accepts a bare ``Host`` built
by hand (tests, other tools) with options missing: every key falls back to its default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from overcast.types import ConfigOption, DriverKind, Host

HV = DriverKind.HYPERVISOR
DRIVER = "kvm"

OPTIONS: tuple[ConfigOption, ...] = (
    ConfigOption(HV, DRIVER, "uri", str, "qemu:///system", help="libvirt connection URI of this host's daemon"),
    ConfigOption(
        HV,
        DRIVER,
        "virt_type",
        str,
        "qemu",
        choices=("kvm", "qemu"),
        help="domain type: 'kvm' (hardware acceleration) or 'qemu' (TCG emulation)",
    ),
    ConfigOption(
        HV,
        DRIVER,
        "instances_dir",
        str,
        "",
        help="where instance disks and console logs live (default: <state_dir>/instances); "
        "every parent must be traversable by the QEMU user",
    ),
    ConfigOption(
        HV,
        DRIVER,
        "migration_uri",
        str,
        "",
        help="libvirt URI other hosts' agents use to reach this daemon (default: uri)",
    ),
    ConfigOption(
        HV,
        DRIVER,
        "migration_address",
        str,
        "127.0.0.1",
        help="address this host listens on for incoming live-migration streams",
    ),
    ConfigOption(HV, DRIVER, "machine_type", str, "pc", help="QEMU machine type (pc, q35, ...)"),
    ConfigOption(
        HV,
        DRIVER,
        "cpu_mode",
        str,
        "custom",
        choices=("custom", "host-model", "host-passthrough"),
        help="guest CPU mode; 'custom' with cpu_model keeps guests migratable",
    ),
    ConfigOption(HV, DRIVER, "cpu_model", str, "qemu64", help="guest CPU model for cpu_mode='custom'"),
    ConfigOption(
        HV,
        DRIVER,
        "disk_cachemode",
        str,
        "none",
        choices=("none", "writethrough", "writeback", "directsync", "unsafe"),
        help="disk cache mode; 'none' (O_DIRECT) is what live migration needs",
    ),
    ConfigOption(
        HV,
        DRIVER,
        "shutdown_timeout",
        int,
        60,
        help="seconds a soft reboot waits for an ACPI shutdown before resetting hard",
    ),
    ConfigOption(
        HV,
        DRIVER,
        "file_owner",
        str,
        "",
        help="user[:group] to own instance directories, for a daemon that does not run "
        "as root (a qemu:///session daemon); empty: leave ownership alone",
    ),
    # issue 17
    ConfigOption(
        HV,
        DRIVER,
        "serial_console",
        bool,
        True,
        help="give each guest's serial port a TCP chardev on 127.0.0.1 (still logged to "
        "console.log) for the interactive serial console; false: a plain log file",
    ),
    ConfigOption(
        HV,
        DRIVER,
        "vnc_console",
        bool,
        True,
        help="give each guest a VGA display served by VNC on 127.0.0.1, for the noVNC console",
    ),
)

_DEFAULTS: dict[str, Any] = {o.name: o.default for o in OPTIONS}


@dataclass(frozen=True)
class KvmHostConfig:
    """The options of one ``kvm`` host, defaults applied and paths resolved."""

    name: str
    uri: str
    virt_type: str
    instances_dir: str
    migration_uri: str
    migration_address: str
    machine_type: str
    cpu_mode: str
    cpu_model: str
    disk_cachemode: str
    shutdown_timeout: int
    file_owner: str
    serial_console: bool = True
    vnc_console: bool = True

    @classmethod
    def from_host(cls, host: Host) -> KvmHostConfig:
        opts = {**_DEFAULTS, **{k: v for k, v in host.options.items() if v is not None}}
        instances_dir = str(opts["instances_dir"] or "")
        if not instances_dir:
            base = host.state_dir or os.path.join("/var/lib/overcast/hosts", host.name)
            instances_dir = os.path.join(base, "instances")
        return cls(
            name=host.name,
            uri=str(opts["uri"]),
            virt_type=str(opts["virt_type"]),
            instances_dir=os.path.abspath(instances_dir),
            migration_uri=str(opts["migration_uri"] or opts["uri"]),
            migration_address=str(opts["migration_address"]),
            machine_type=str(opts["machine_type"]),
            cpu_mode=str(opts["cpu_mode"]),
            cpu_model=str(opts["cpu_model"]),
            disk_cachemode=str(opts["disk_cachemode"]),
            shutdown_timeout=int(opts["shutdown_timeout"]),
            file_owner=str(opts["file_owner"] or ""),
            serial_console=bool(opts["serial_console"]),
            vnc_console=bool(opts["vnc_console"]),
        )

    def instance_dir(self, instance_name: str) -> str:
        """The directory holding one instance's files (disk, console log)."""
        if "/" in instance_name or instance_name in ("", ".", ".."):
            raise ValueError(f"unsafe instance name {instance_name!r}")
        return os.path.join(self.instances_dir, instance_name)
