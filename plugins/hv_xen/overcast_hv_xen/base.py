"""What every ``xen`` driver operation starts from: the config options, XAPI errors turned into
Overcast errors (:func:`translate`), one logged-in session per pool, and finding the
Overcast host's XAPI host, SR and VMs."""

from __future__ import annotations

from typing import Any

from overcast.errors import BackendUnavailable, Conflict, DriverError, NotFound
from overcast.remote import EndpointSessions, host_option, translate_errors
from overcast.types import ConfigOption, DriverKind, Host, Instance, InstanceInfo, PowerState

from overcast_hv_xen.session import NULL_REF, XenError, XenSession, XenUnreachable

NAME = "xen"
VIF_TYPE = "xenapi"
GiB = 1 << 30
MiB = 1 << 20
_HV = DriverKind.HYPERVISOR

OPTIONS = [
    ConfigOption(
        _HV, NAME, "url", str, required=True, help="XAPI endpoint of the pool master, e.g. https://xenpool.example:443/"
    ),
    ConfigOption(_HV, NAME, "username", str, "root", help="XAPI user"),
    ConfigOption(_HV, NAME, "password", str, required=True, secret=True, help="XAPI password"),
    ConfigOption(
        _HV,
        NAME,
        "xen_host",
        str,
        "",
        help="name_label of the pool member this Overcast host stands for (default: the pool master)",
    ),
    ConfigOption(
        _HV, NAME, "sr", str, "", help="name_label of the SR for instance disks (default: the pool's default SR)"
    ),
    ConfigOption(
        _HV,
        NAME,
        "network",
        str,
        "",
        help="name_label of the XAPI network for NICs whose binding names none (default: the first pool network)",
    ),
    ConfigOption(
        _HV,
        NAME,
        "template",
        str,
        "",
        help="name_label of a template to clone guests from (default: build a blank HVM VM)",
    ),
    ConfigOption(_HV, NAME, "verify_tls", bool, True, help="verify the XAPI HTTPS certificate"),
    ConfigOption(_HV, NAME, "timeout", float, 60.0, help="seconds to wait for one XAPI call"),
    ConfigOption(_HV, NAME, "task_timeout", float, 900.0, help="seconds to wait for one XAPI task"),
]

POWER_STATES = {
    "Running": PowerState.RUNNING,
    "Halted": PowerState.SHUTDOWN,
    "Paused": PowerState.PAUSED,
    "Suspended": PowerState.SUSPENDED,
}
_CONFLICT = {
    "VM_BAD_POWER_STATE",
    "VM_IS_TEMPLATE",
    "OTHER_OPERATION_IN_PROGRESS",
    "DEVICE_ALREADY_ATTACHED",
    "DEVICE_ALREADY_DETACHED",
    "DEVICE_ALREADY_EXISTS",
    "VDI_IN_USE",
    "VM_MISSING_PV_DRIVERS",
    "HOST_NOT_ENOUGH_FREE_MEMORY",
    "VM_REQUIRES_SR",
    "VM_REQUIRES_NETWORK",
    "OPERATION_NOT_ALLOWED",
    "VM_MIGRATE_FAILED",
    "HOST_DISABLED",
    "SR_FULL",
}


def option(host: Host, key: str) -> Any:
    return host_option(host, OPTIONS, key)


def _overcast_error(exc: Exception, where: str) -> Exception | None:
    """XAPI failures and unreachable endpoints as Overcast errors naming the host."""
    if isinstance(exc, XenUnreachable):
        return BackendUnavailable("%s: %s" % (where, exc))
    if isinstance(exc, XenError):
        if exc.code == "SESSION_AUTHENTICATION_FAILED":
            return BackendUnavailable("%s: %s" % (where, exc))
        if exc.code in ("HANDLE_INVALID", "UUID_INVALID"):
            return NotFound("%s: %s" % (where, exc))
        if exc.code in _CONFLICT:
            return Conflict("%s: %s" % (where, exc))
        return DriverError("%s: %s" % (where, exc))
    return None


translate = translate_errors(NAME, _overcast_error)


class XenBase:
    """Sessions per pool and the lookups the operations share."""

    def __init__(self) -> None:
        self._sessions: EndpointSessions[XenSession] = EndpointSessions(
            lambda host, url, user, password: XenSession(
                url, user, password, timeout=float(option(host, "timeout")), verify_tls=bool(option(host, "verify_tls"))
            )
        )

    # ---- plumbing ------------------------------------------------------------------------
    def session(self, host: Host) -> XenSession:
        return self._sessions.get(
            host, str(option(host, "url")), str(option(host, "username")), str(option(host, "password"))
        )

    def close(self) -> None:
        self._sessions.close()

    def _xen_host(self, host: Host) -> str:
        x = self.session(host)
        label = option(host, "xen_host")
        if not label:
            pool = x.call("pool.get_all")[0]
            return x.call("pool.get_master", pool)
        refs = x.call("host.get_by_name_label", label)
        if not refs:
            raise DriverError("xen host '%s': the pool has no host named %r" % (host.name, label))
        return refs[0]

    def _sr(self, host: Host) -> str:
        x = self.session(host)
        label = option(host, "sr")
        if label:
            refs = x.call("SR.get_by_name_label", label)
            if not refs:
                raise DriverError("xen host '%s': the pool has no SR named %r" % (host.name, label))
            return refs[0]
        sr = x.call("pool.get_default_SR", x.call("pool.get_all")[0])
        if sr == NULL_REF:
            raise DriverError("xen host '%s': the pool has no default SR; set 'sr'" % host.name)
        return sr

    def _find_vm(self, host: Host, instance: Instance, required: bool = True) -> str | None:
        """The instance's VM on this host's pool member. During a cold migration two VMs carry
        the name (the stopped source and the copy for the destination); each Overcast host sees
        its own, by ``resident_on`` or, for a halted VM, ``affinity``."""
        x = self.session(host)
        h = self._xen_host(host)
        candidates = []
        for ref in x.call("VM.get_by_name_label", instance.name):
            rec = x.call("VM.get_record", ref)
            if not rec["is_a_snapshot"] and not rec["is_a_template"]:
                candidates.append((ref, rec))
        for ref, rec in candidates:
            if rec["resident_on"] == h or (rec["resident_on"] == NULL_REF and rec["affinity"] == h):
                return ref
        # elsewhere in the pool (started on another member by an operator, HA): still ours, unless
        # it is the source side of a cold migration, which belongs to the source host only
        others = [ref for ref, rec in candidates if rec["other_config"].get("overcast_migration") != "source"]
        if len(others) == 1 and len(candidates) == 1:
            return others[0]
        if required:
            raise NotFound("instance %s not found on xen host '%s'" % (instance.name, host.name))
        return None

    def _wait(self, host: Host) -> float:
        return float(option(host, "task_timeout"))

    @staticmethod
    def _info(rec: dict) -> InstanceInfo:
        mem_kb = int(rec["memory_static_max"]) // 1024
        return InstanceInfo(
            state=POWER_STATES.get(rec["power_state"], PowerState.NOSTATE),
            max_mem_kb=mem_kb,
            mem_kb=mem_kb if rec["power_state"] in ("Running", "Paused") else 0,
            num_cpu=int(rec["VCPUs_max"]),
            internal_id=rec["uuid"],
        )
