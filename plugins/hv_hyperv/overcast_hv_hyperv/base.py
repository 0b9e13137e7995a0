"""What every ``hyperv`` driver operation starts from: the config options, WinRM and PowerShell
failures turned into Overcast errors (:func:`translate`), one WinRM client per host, the SMB
share paths, and reading a VM."""

from __future__ import annotations

import threading
from typing import Any

from overcast.errors import BackendUnavailable, Conflict, DriverError, NotFound, UnsupportedOperation
from overcast.remote import EndpointSessions, host_option, translate_errors
from overcast.types import ConfigOption, DriverKind, Host, Instance, InstanceInfo, PowerState

from overcast_hv_hyperv.client import HyperVAuthFailed, HyperVClient, HyperVUnreachable, PowerShellFailed
from overcast_hv_hyperv.powershell import Pattern, Script

NAME = "hyperv"
VIF_TYPE = "hyperv"
GiB = 1 << 30
MiB = 1 << 20
_HV = DriverKind.HYPERVISOR

OPTIONS = [
    ConfigOption(_HV, NAME, "url", str, required=True, help="WinRM endpoint, e.g. http://hv1.example:5985/wsman"),
    ConfigOption(_HV, NAME, "username", str, "Administrator", help="Windows account with Hyper-V rights"),
    ConfigOption(_HV, NAME, "password", str, required=True, secret=True, help="its password"),
    ConfigOption(
        _HV,
        NAME,
        "transport",
        str,
        "ntlm",
        choices=("ntlm", "kerberos", "credssp", "basic", "ssl"),
        help="pywinrm transport; ntlm encrypts messages over http",
    ),
    ConfigOption(
        _HV,
        NAME,
        "server_cert_validation",
        str,
        "validate",
        choices=("validate", "ignore"),
        help="https certificate check",
    ),
    ConfigOption(
        _HV,
        NAME,
        "share_path",
        str,
        "",
        help="local mount of the SMB share used for images and snapshots (needed to boot images)",
    ),
    ConfigOption(_HV, NAME, "share_unc", str, "", help="the same share as Windows names it: \\\\server\\share"),
    ConfigOption(
        _HV,
        NAME,
        "instances_path",
        str,
        "",
        help="Windows directory for instance disks (default: the host's VirtualHardDiskPath)",
    ),
    ConfigOption(_HV, NAME, "switch", str, "", help="virtual switch for NICs whose binding names none"),
    ConfigOption(_HV, NAME, "generation", int, 2, choices=(1, 2), help="VM generation"),
    ConfigOption(_HV, NAME, "timeout", float, 300.0, help="seconds one WinRM command may take"),
]

POWER_STATES = {
    2: PowerState.RUNNING,
    3: PowerState.SHUTDOWN,
    6: PowerState.SUSPENDED,
    9: PowerState.PAUSED,
    4: PowerState.RUNNING,
    10: PowerState.RUNNING,
}
_INFO_PROPS = ["Name", "Id", "State", "ProcessorCount", "MemoryStartup", "MemoryAssigned", "Notes"]


def option(host: Host, key: str) -> Any:
    return host_option(host, OPTIONS, key)


def _overcast_error(exc: Exception, where: str) -> Exception | None:
    """WinRM failures and PowerShell error records as Overcast errors naming the host."""
    if isinstance(exc, (HyperVUnreachable, HyperVAuthFailed)):
        return BackendUnavailable("%s: %s" % (where, exc))
    if isinstance(exc, PowerShellFailed):
        err = exc.error
        text = "%s: %s%s" % (where, (err.cmdlet + ": ") if err.cmdlet else "", err.message)
        if err.error_id:
            text += " [%s]" % err.error_id
        if (
            "unable to find a virtual machine" in err.message
            or err.category == "ObjectNotFound"
            and err.reason in ("InvalidParameter",)
        ):
            return NotFound(text)
        if err.reason in ("InvalidState", "Unavailable") or err.category in (
            "InvalidOperation",
            "ResourceBusy",
            "ResourceUnavailable",
        ):
            return Conflict(text)
        return DriverError(text)
    return None


translate = translate_errors(NAME, _overcast_error)


class HyperVBase:
    """WinRM clients per host and the lookups the operations share."""

    def __init__(self) -> None:
        self._clients: EndpointSessions[HyperVClient] = EndpointSessions(
            lambda host, url, user, password: HyperVClient(
                url,
                user,
                password,
                transport=str(option(host, "transport")),
                server_cert_validation=str(option(host, "server_cert_validation")),
                timeout=float(option(host, "timeout")),
            )
        )
        self._hostinfo: dict[str, dict] = {}
        self._lock = threading.Lock()

    # ---- plumbing ------------------------------------------------------------------------
    def client(self, host: Host) -> HyperVClient:
        return self._clients.get(
            host, str(option(host, "url")), str(option(host, "username")), str(option(host, "password"))
        )

    def close(self) -> None:
        self._clients.close()
        with self._lock:
            self._hostinfo.clear()

    def host_info(self, host: Host, refresh: bool = False) -> dict:
        key = str(option(host, "url"))
        if refresh or key not in self._hostinfo:
            [info] = self.client(host).json(
                Script()
                .json(
                    "Get-VMHost",
                    select=[
                        "ComputerName",
                        "LogicalProcessorCount",
                        "MemoryCapacity",
                        "VirtualHardDiskPath",
                        "VirtualMachinePath",
                    ],
                )
                .text()
            )
            self._hostinfo[key] = info
        return self._hostinfo[key]

    def _disk_dir(self, host: Host) -> str:
        return str(option(host, "instances_path") or self.host_info(host)["VirtualHardDiskPath"]).rstrip("\\")

    def _share(self, host: Host, what: str) -> tuple[str, str]:
        local, unc = option(host, "share_path"), option(host, "share_unc")
        if not local or not unc:
            raise UnsupportedOperation("hyperv host '%s' needs share_path and share_unc to %s" % (host.name, what))
        return str(local), str(unc).rstrip("\\")

    def _vm(self, host: Host, instance: Instance) -> dict:
        s = Script().json("Get-VM", select=_INFO_PROPS, Name=Pattern(instance.name))
        try:
            found = self.client(host).json(s.text())
        except PowerShellFailed as e:
            if "unable to find a virtual machine" in e.error.message:
                raise NotFound("instance %s not found on hyperv host '%s'" % (instance.name, host.name)) from None
            raise
        if not found:
            raise NotFound("instance %s not found on hyperv host '%s'" % (instance.name, host.name))
        return found[0]

    def _exists(self, host: Host, instance: Instance) -> bool:
        try:
            self._vm(host, instance)
            return True
        except NotFound:
            return False

    @staticmethod
    def _info(vm: dict) -> InstanceInfo:
        mem = int(vm.get("MemoryStartup") or 0) // 1024
        return InstanceInfo(
            state=POWER_STATES.get(int(vm["State"]), PowerState.NOSTATE),
            max_mem_kb=mem,
            mem_kb=int(vm.get("MemoryAssigned") or 0) // 1024,
            num_cpu=int(vm.get("ProcessorCount") or 0),
            internal_id=str(vm["Id"]),
        )

    def _run(self, host: Host, script: Script) -> str:
        return self.client(host).run(script.text())
