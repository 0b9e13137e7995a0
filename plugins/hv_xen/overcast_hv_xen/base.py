"""What every ``xen`` driver operation starts from: the config options, XAPI errors turned into
Overcast errors (:func:`translate`), one logged-in session per pool, and finding the
Overcast host's XAPI host, SR and VMs."""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable

from overcast.errors import BackendUnavailable, Conflict, DriverError, NotFound
from overcast.types import ConfigOption, DriverKind, Host, Instance, InstanceInfo, PowerState
from overcast_hv_xen.session import NULL_REF, XenError, XenSession, XenUnreachable


NAME = "xen"
VIF_TYPE = "xenapi"
GiB = 1 << 30
MiB = 1 << 20
_HV = DriverKind.HYPERVISOR

OPTIONS = [
    ConfigOption(_HV, NAME, "url", str, required=True,
                 help="XAPI endpoint of the pool master, e.g. https://xenpool.example:443/"),
    ConfigOption(_HV, NAME, "username", str, "root", help="XAPI user"),
    ConfigOption(_HV, NAME, "password", str, required=True, secret=True, help="XAPI password"),
    ConfigOption(_HV, NAME, "xen_host", str, "",
                 help="name_label of the pool member this Overcast host stands for (default: the pool master)"),
    ConfigOption(_HV, NAME, "sr", str, "", help="name_label of the SR for instance disks (default: the pool's default SR)"),
    ConfigOption(_HV, NAME, "network", str, "",
                 help="name_label of the XAPI network for NICs whose binding names none (default: the first pool network)"),
    ConfigOption(_HV, NAME, "template", str, "",
                 help="name_label of a template to clone guests from (default: build a blank HVM VM)"),
    ConfigOption(_HV, NAME, "verify_tls", bool, True, help="verify the XAPI HTTPS certificate"),
    ConfigOption(_HV, NAME, "timeout", float, 60.0, help="seconds to wait for one XAPI call"),
    ConfigOption(_HV, NAME, "task_timeout", float, 900.0, help="seconds to wait for one XAPI task"),
]

POWER_STATES = {"Running": PowerState.RUNNING, "Halted": PowerState.SHUTDOWN, "Paused": PowerState.PAUSED,
          "Suspended": PowerState.SUSPENDED}
_CONFLICT = {"VM_BAD_POWER_STATE", "VM_IS_TEMPLATE", "OTHER_OPERATION_IN_PROGRESS", "DEVICE_ALREADY_ATTACHED",
             "DEVICE_ALREADY_DETACHED", "DEVICE_ALREADY_EXISTS", "VDI_IN_USE", "VM_MISSING_PV_DRIVERS",
             "HOST_NOT_ENOUGH_FREE_MEMORY", "VM_REQUIRES_SR", "VM_REQUIRES_NETWORK", "OPERATION_NOT_ALLOWED",
             "VM_MIGRATE_FAILED", "HOST_DISABLED", "SR_FULL"}


def option(host: Host, key: str) -> Any:
    v = host.options.get(key)
    if v is None:
        v = next(o.default for o in OPTIONS if o.name == key)
    return v


def translate(fn: Callable) -> Callable:
    """XAPI failures and unreachable endpoints become Overcast errors naming the host."""

    @functools.wraps(fn)
    def wrapper(self, *a, **kw):
        host = kw.get("host", a[0] if a else None)   # pluggy passes arguments positionally
        where = "xen host '%s'" % host.name if isinstance(host, Host) else "xen"
        try:
            return fn(self, *a, **kw)
        except XenUnreachable as e:
            raise BackendUnavailable("%s: %s" % (where, e)) from None
        except XenError as e:
            if e.code == "SESSION_AUTHENTICATION_FAILED":
                raise BackendUnavailable("%s: %s" % (where, e)) from None
            if e.code in ("HANDLE_INVALID", "UUID_INVALID"):
                raise NotFound("%s: %s" % (where, e)) from None
            if e.code in _CONFLICT:
                raise Conflict("%s: %s" % (where, e)) from None
            raise DriverError("%s: %s" % (where, e)) from None
    return wrapper


class XenBase:
    """Sessions per pool and the lookups the operations share."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], XenSession] = {}
        self._lock = threading.Lock()

    # ---- plumbing ------------------------------------------------------------------------
    def session(self, host: Host) -> XenSession:
        key = (str(option(host, "url")), str(option(host, "username")))
        with self._lock:
            s = self._sessions.get(key)
            if s is None or s._password != option(host, "password"):
                s = XenSession(key[0], key[1], str(option(host, "password")), timeout=float(option(host, "timeout")),
                               verify_tls=bool(option(host, "verify_tls")))
                self._sessions[key] = s
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()

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
        return InstanceInfo(state=POWER_STATES.get(rec["power_state"], PowerState.NOSTATE), max_mem_kb=mem_kb,
                            mem_kb=mem_kb if rec["power_state"] in ("Running", "Paused") else 0,
                            num_cpu=int(rec["VCPUs_max"]), internal_id=rec["uuid"])
