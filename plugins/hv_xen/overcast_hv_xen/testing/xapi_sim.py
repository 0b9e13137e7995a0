"""An XAPI (XenServer / XCP-ng pool master) simulator speaking XAPI's real XML-RPC wire format.

Test infrastructure for the ``xen`` hypervisor plugin: the real ``XenAPI`` client (PyPI
``xenapi``) talks to it over a loopback socket, unchanged.

What it models
--------------
* Transport: XML-RPC POST on ``/`` and ``/RPC2``; HTTP ``PUT /import_raw_vdi`` and
  ``GET /export_raw_vdi`` (``format=raw|vhd``), authenticated by ``session_id``.
* Replies: always ``{'Status': 'Success', 'Value': v}`` or
  ``{'Status': 'Failure', 'ErrorDescription': [CODE, str...]}``; ints travel as decimal
  strings, datetimes as ``dateTime.iso8601``, void as ``''``.
* Sessions: ``session.login_with_password`` (2-4 params), ``logout``; unknown sessions
  answer ``SESSION_INVALID`` (the client then logs in again and retries).
* A typed record store (per-class field schema with RW / RO / constructor qualifiers and
  defaults) for pool, host, host_metrics, SR, PBD, VDI, VBD, VIF, network, PIF, VM,
  VM_metrics, VM_guest_metrics, console, task, session; the generic messages
  (``get_all``, ``get_all_records``, ``get_record``, ``get_by_uuid``, ``get_by_name_label``,
  ``get_<f>``, ``set_<f>`` on RW fields, ``add_to_<map>``/``remove_from_<map>``,
  ``add_<set>``/``remove_<set>``, ``create``, ``destroy``); back-references
  (``VM.VBDs``, ``VDI.VBDs``, ``SR.VDIs``, ``host.resident_VMs`` ...) are derived, so they are
  always consistent.
* The VM power-state machine (Halted / Running / Paused / Suspended) with XAPI's errors
  (``VM_BAD_POWER_STATE [vm, expected, actual]``, ``VM_IS_TEMPLATE``,
  ``HOST_NOT_ENOUGH_FREE_MEMORY``, ``VM_REQUIRES_SR``, ``VM_MISSING_PV_DRIVERS``,
  ``DEVICE_ALREADY_ATTACHED`` ...), ``VM.snapshot`` (copies the disks), ``clone``,
  ``provision``, ``pool_migrate`` between the pool's hosts, VBD/VIF hot plug.
* ``Async.*``: returns a task ref at once and runs the operation on a worker thread;
  ``task.get_status/get_result/get_error_info/cancel/destroy``.
* ``event.from(classes, token, timeout)``: blocks until something changes or the timeout;
  ``EVENTS_LOST`` for a token older than the retained window.
* dom0 plugin ``console`` / ``get_console_log`` through ``host.call_plugin`` (base64 of a
  zlib-compressed console log, as the XenServer console plugin returns it).

Test-only messages (``debug.*``, not XAPI): ``expire_sessions``, ``set_delay`` (seconds each
async operation takes), ``set_guest_agent(vm, bool)``, ``fail_next(message, [code, ...])``.

Run standalone: ``python -m overcast_hv_xen.testing.xapi_sim --port 0``: it prints the URL
(``http://127.0.0.1:PORT/``) on stdout when ready.
"""
from __future__ import annotations

import argparse
import base64
import inspect
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid as uuidlib
import xmlrpc.client
import zlib
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlparse
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from overcast_hv_xen import vhd

NULL = "OpaqueRef:NULL"
REQUIRED = object()
GiB = 1 << 30
MiB = 1 << 20


class XapiError(Exception):
    def __init__(self, code: str, *params):
        super().__init__(code, *params)
        self.code = code
        self.params = [str(p) for p in params]

    @property
    def description(self) -> list[str]:
        return [self.code, *self.params]


def new_ref() -> str:
    return "OpaqueRef:" + str(uuidlib.uuid4())


def now_dt() -> xmlrpc.client.DateTime:
    return xmlrpc.client.DateTime(time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime()))


EPOCH = "19700101T00:00:00Z"

# ---------------------------------------------------------------------------------------------
# Schema: class -> field -> (type, qualifier, default). qualifier: RW, RO (runtime) or C
# (read-only, set at create). types: string int float bool datetime enum ref set map.
# ---------------------------------------------------------------------------------------------


def _f(t, q="RW", d=None):
    if d is None:
        d = {"string": "", "int": 0, "float": 0.0, "bool": False, "datetime": EPOCH, "enum": "",
             "ref": NULL, "set": [], "map": {}}[t]
    return (t, q, d)


COMMON = {"uuid": _f("string", "RO")}
NAMED = {"name_label": _f("string", "RW", REQUIRED), "name_description": _f("string", "RW", "")}
OPS = {"allowed_operations": _f("set", "RO"), "current_operations": _f("map", "RO")}

SCHEMA: dict[str, dict[str, tuple]] = {
    "session": {**COMMON, "this_host": _f("ref", "RO"), "this_user": _f("ref", "RO"),
                "last_active": _f("datetime", "RO"), "pool": _f("bool", "RO"),
                "other_config": _f("map"), "is_local_superuser": _f("bool", "RO", True),
                "originator": _f("string", "RO"), "auth_user_name": _f("string", "RO")},
    "pool": {**COMMON, "name_label": _f("string"), "name_description": _f("string"),
             "master": _f("ref", "RO"), "default_SR": _f("ref"), "suspend_image_SR": _f("ref"),
             "crash_dump_SR": _f("ref"), "other_config": _f("map"), "ha_enabled": _f("bool", "RO"),
             "tags": _f("set")},
    "host": {**COMMON, **NAMED, **OPS, "API_version_major": _f("int", "RO", 2),
             "API_version_minor": _f("int", "RO", 21), "API_version_vendor": _f("string", "RO", "XenSource"),
             "enabled": _f("bool", "RO", True), "software_version": _f("map", "RO"),
             "other_config": _f("map"), "capabilities": _f("set", "RO"),
             "cpu_configuration": _f("map", "RO"), "sched_policy": _f("string", "RO", "credit"),
             "supported_bootloaders": _f("set", "RO"), "logging": _f("map"),
             "PIFs": _f("set", "RO"), "suspend_image_sr": _f("ref"), "crash_dump_sr": _f("ref"),
             "PBDs": _f("set", "RO"), "host_CPUs": _f("set", "RO"), "cpu_info": _f("map", "RO"),
             "hostname": _f("string"), "address": _f("string"), "metrics": _f("ref", "RO"),
             "resident_VMs": _f("set", "RO"), "memory_overhead": _f("int", "RO"),
             "tags": _f("set")},
    "host_metrics": {**COMMON, "memory_total": _f("int", "RO"), "memory_free": _f("int", "RO"),
                     "live": _f("bool", "RO", True), "last_updated": _f("datetime", "RO"),
                     "other_config": _f("map")},
    "SR": {**COMMON, **NAMED, **OPS, "VDIs": _f("set", "RO"), "PBDs": _f("set", "RO"),
           "virtual_allocation": _f("int", "RO"), "physical_utilisation": _f("int", "RO"),
           "physical_size": _f("int", "RO"), "type": _f("string", "RO"),
           "content_type": _f("string", "RO"), "shared": _f("bool"), "other_config": _f("map"),
           "tags": _f("set"), "sm_config": _f("map")},
    "PBD": {**COMMON, "host": _f("ref", "C"), "SR": _f("ref", "C"), "device_config": _f("map", "C"),
            "currently_attached": _f("bool", "RO", True), "other_config": _f("map")},
    "VDI": {**COMMON, **NAMED, **OPS, "SR": _f("ref", "C", REQUIRED), "VBDs": _f("set", "RO"),
            "crash_dumps": _f("set", "RO"), "virtual_size": _f("int", "C", REQUIRED),
            "physical_utilisation": _f("int", "RO"), "type": _f("enum", "C", REQUIRED),
            "sharable": _f("bool", "C", REQUIRED), "read_only": _f("bool", "C", REQUIRED),
            "other_config": _f("map", "RW", REQUIRED), "storage_lock": _f("bool", "RO"),
            "location": _f("string", "RO"), "managed": _f("bool", "RO", True),
            "missing": _f("bool", "RO"), "parent": _f("ref", "RO"), "xenstore_data": _f("map", "C"),
            "sm_config": _f("map", "C"), "is_a_snapshot": _f("bool", "RO"),
            "snapshot_of": _f("ref", "RO"), "snapshots": _f("set", "RO"),
            "snapshot_time": _f("datetime", "RO"), "tags": _f("set")},
    "VBD": {**COMMON, **OPS, "VM": _f("ref", "C", REQUIRED), "VDI": _f("ref", "C", REQUIRED),
            "device": _f("string", "RO"), "userdevice": _f("string", "RW", REQUIRED),
            "bootable": _f("bool", "RW", REQUIRED), "mode": _f("enum", "RW", REQUIRED),
            "type": _f("enum", "RW", REQUIRED), "unpluggable": _f("bool", "RW", True),
            "storage_lock": _f("bool", "RO"), "empty": _f("bool", "C", REQUIRED),
            "other_config": _f("map", "RW", REQUIRED), "currently_attached": _f("bool", "RO"),
            "status_code": _f("int", "RO"), "status_detail": _f("string", "RO"),
            "runtime_properties": _f("map", "RO"), "qos_algorithm_type": _f("string", "RW", REQUIRED),
            "qos_algorithm_params": _f("map", "RW", REQUIRED), "qos_supported_algorithms": _f("set", "RO"),
            "metrics": _f("ref", "RO")},
    "VIF": {**COMMON, **OPS, "device": _f("string", "C", REQUIRED), "network": _f("ref", "C", REQUIRED),
            "VM": _f("ref", "C", REQUIRED), "MAC": _f("string", "C", REQUIRED),
            "MTU": _f("int", "C", REQUIRED), "other_config": _f("map", "RW", REQUIRED),
            "currently_attached": _f("bool", "RO"), "status_code": _f("int", "RO"),
            "status_detail": _f("string", "RO"), "runtime_properties": _f("map", "RO"),
            "qos_algorithm_type": _f("string", "RW", REQUIRED),
            "qos_algorithm_params": _f("map", "RW", REQUIRED), "metrics": _f("ref", "RO"),
            "MAC_autogenerated": _f("bool", "RO"), "locking_mode": _f("enum", "RW", "network_default")},
    "network": {**COMMON, **NAMED, **OPS, "VIFs": _f("set", "RO"), "PIFs": _f("set", "RO"),
                "MTU": _f("int", "RW", 1500), "other_config": _f("map", "RW", REQUIRED),
                "bridge": _f("string", "C", ""), "tags": _f("set")},
    "PIF": {**COMMON, "device": _f("string", "C"), "network": _f("ref", "C"), "host": _f("ref", "C"),
            "MAC": _f("string", "C"), "MTU": _f("int", "C", 1500), "physical": _f("bool", "RO", True),
            "currently_attached": _f("bool", "RO", True), "management": _f("bool", "RO"),
            "IP": _f("string", "RO"), "other_config": _f("map")},
    "VM": {**COMMON, **NAMED, **OPS, "power_state": _f("enum", "RO", "Halted"),
           "user_version": _f("int", "RW", REQUIRED), "is_a_template": _f("bool", "RW", REQUIRED),
           "is_default_template": _f("bool", "RO"), "suspend_VDI": _f("ref", "RO"),
           "resident_on": _f("ref", "RO"), "affinity": _f("ref", "RW", REQUIRED),
           "memory_overhead": _f("int", "RO"), "memory_target": _f("int", "RO"),
           "memory_static_max": _f("int", "RW", REQUIRED), "memory_dynamic_max": _f("int", "RW", REQUIRED),
           "memory_dynamic_min": _f("int", "RW", REQUIRED), "memory_static_min": _f("int", "RW", REQUIRED),
           "VCPUs_params": _f("map", "RW", REQUIRED), "VCPUs_max": _f("int", "RW", REQUIRED),
           "VCPUs_at_startup": _f("int", "RW", REQUIRED),
           "actions_after_shutdown": _f("enum", "RW", REQUIRED),
           "actions_after_reboot": _f("enum", "RW", REQUIRED),
           "actions_after_crash": _f("enum", "RW", REQUIRED),
           "consoles": _f("set", "RO"), "VIFs": _f("set", "RO"), "VBDs": _f("set", "RO"),
           "crash_dumps": _f("set", "RO"), "PV_bootloader": _f("string", "RW", REQUIRED),
           "PV_kernel": _f("string", "RW", REQUIRED), "PV_ramdisk": _f("string", "RW", REQUIRED),
           "PV_args": _f("string", "RW", REQUIRED), "PV_bootloader_args": _f("string", "RW", REQUIRED),
           "PV_legacy_args": _f("string", "RW", REQUIRED), "HVM_boot_policy": _f("string", "RW", REQUIRED),
           "HVM_boot_params": _f("map", "RW", REQUIRED), "platform": _f("map", "RW", REQUIRED),
           "PCI_bus": _f("string", "RW", REQUIRED), "other_config": _f("map", "RW", REQUIRED),
           "domid": _f("int", "RO", -1), "is_control_domain": _f("bool", "RO"),
           "metrics": _f("ref", "RO"), "guest_metrics": _f("ref", "RO"),
           "recommendations": _f("string", "RW", REQUIRED), "xenstore_data": _f("map"),
           "is_a_snapshot": _f("bool", "RO"), "snapshot_of": _f("ref", "RO"),
           "snapshots": _f("set", "RO"), "snapshot_time": _f("datetime", "RO"),
           "tags": _f("set"), "blocked_operations": _f("map"), "parent": _f("ref", "RO"),
           "domarch": _f("string", "RO")},
    "VM_metrics": {**COMMON, "memory_actual": _f("int", "RO"), "VCPUs_number": _f("int", "RO"),
                   "start_time": _f("datetime", "RO"), "last_updated": _f("datetime", "RO"),
                   "state": _f("set", "RO"), "other_config": _f("map")},
    "VM_guest_metrics": {**COMMON, "os_version": _f("map", "RO"), "PV_drivers_version": _f("map", "RO"),
                         "PV_drivers_up_to_date": _f("bool", "RO"), "networks": _f("map", "RO"),
                         "other": _f("map", "RO"), "live": _f("bool", "RO"),
                         "last_updated": _f("datetime", "RO"), "other_config": _f("map")},
    "console": {**COMMON, "protocol": _f("enum", "RO", "rfb"), "location": _f("string", "RO"),
                "VM": _f("ref", "RO"), "other_config": _f("map")},
    "task": {**COMMON, "name_label": _f("string", "RO"), "name_description": _f("string", "RO"),
             **OPS, "created": _f("datetime", "RO"), "finished": _f("datetime", "RO"),
             "status": _f("enum", "RO", "pending"), "resident_on": _f("ref", "RO"),
             "progress": _f("float", "RO"), "type": _f("string", "RO"), "result": _f("string", "RO"),
             "error_info": _f("set", "RO"), "other_config": _f("map"), "subtask_of": _f("ref", "RO"),
             "subtasks": _f("set", "RO"), "backtrace": _f("string", "RO", "()")},
}

# derived back-references: (class, field) -> (child class, child field pointing back)
BACKREFS = {
    ("VM", "VBDs"): ("VBD", "VM"), ("VM", "VIFs"): ("VIF", "VM"), ("VM", "consoles"): ("console", "VM"),
    ("VM", "snapshots"): ("VM", "snapshot_of"), ("VDI", "VBDs"): ("VBD", "VDI"),
    ("VDI", "snapshots"): ("VDI", "snapshot_of"), ("SR", "VDIs"): ("VDI", "SR"),
    ("SR", "PBDs"): ("PBD", "SR"), ("host", "PBDs"): ("PBD", "host"), ("host", "PIFs"): ("PIF", "host"),
    ("host", "resident_VMs"): ("VM", "resident_on"), ("network", "VIFs"): ("VIF", "network"),
    ("network", "PIFs"): ("PIF", "network"),
}

VM_OPS = {
    "Halted": ["start", "start_on", "clone", "copy", "snapshot", "destroy", "provision", "export"],
    "Running": ["clean_shutdown", "hard_shutdown", "clean_reboot", "hard_reboot", "suspend", "pause",
                "pool_migrate", "snapshot"],
    "Paused": ["unpause", "hard_shutdown", "hard_reboot"],
    "Suspended": ["resume", "resume_on", "hard_shutdown", "snapshot"],
}


class Store:
    """The record store, the power-state machine and the event log (one lock)."""

    def __init__(self, *, hosts: int = 2, host_memory: int = 16 * GiB, host_cpus: int = 8,
                 sr_size: int = 200 * GiB, data_dir: str | None = None,
                 users: dict[str, str] | None = None):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.t: dict[str, dict[str, dict]] = {c: {} for c in SCHEMA}
        self.events: list[dict] = []
        self.event_seq = 0
        self.event_window = 2000
        self.users = users or {"root": "secret"}
        self.delay = 0.0
        self.fail_next: dict[str, list[str]] = {}
        self.console_logs: dict[str, list[str]] = {}
        self.next_domid = 1
        self.iscsi_luns: dict[tuple[str, str], dict] = {}   # the simulated storage array: (iqn, lun) -> LUN
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="xapi-sim-")
        with self.lock:
            self._bootstrap(hosts, host_memory, host_cpus, sr_size)

    # ---- generic table layer ---------------------------------------------------------------
    def insert(self, cls: str, rec: dict, ref: str | None = None) -> str:
        ref = ref or new_ref()
        full = {}
        for name, (typ, _q, default) in SCHEMA[cls].items():
            if (cls, name) in BACKREFS:
                continue
            v = rec.get(name, default)
            if v is REQUIRED:
                v = _f(typ)[2]
            full[name] = list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
        full["uuid"] = rec.get("uuid") or str(uuidlib.uuid4())
        self.t[cls][ref] = full
        self.emit(cls, "add", ref)
        return ref

    def get(self, cls: str, ref) -> dict:
        rec = self.t[cls].get(ref) if isinstance(ref, str) else None
        if rec is None:
            raise XapiError("HANDLE_INVALID", cls, ref)
        return rec

    def update(self, cls: str, ref: str, **fields):
        self.get(cls, ref).update(fields)
        self.emit(cls, "mod", ref)

    def delete(self, cls: str, ref: str):
        self.get(cls, ref)
        snap = self.render(cls, ref)
        del self.t[cls][ref]
        self.emit(cls, "del", ref, snap)

    def children(self, cls: str, field: str, ref: str) -> list[str]:
        return [r for r, rec in self.t[cls].items() if rec.get(field) == ref]

    def render(self, cls: str, ref: str) -> dict:
        rec = self.get(cls, ref)
        out = {}
        for name, (typ, _q, _d) in SCHEMA[cls].items():
            if (cls, name) in BACKREFS:
                out[name] = self.children(*BACKREFS[(cls, name)], ref)
                continue
            v = rec[name]
            if cls == "VM" and name == "allowed_operations":
                v = self._vm_allowed(rec)
            elif cls == "host_metrics" and name == "memory_free":
                v = self._host_free(self._host_of_metrics(ref))
            elif cls == "SR" and name in ("physical_utilisation", "virtual_allocation"):
                v = self._sr_usage(ref, name)
            elif cls == "VDI" and name == "physical_utilisation":
                v = self._vdi_allocated(rec)
            out[name] = self.wire(typ, v)
        return out

    @staticmethod
    def wire(typ: str, v):
        if typ == "int":
            return str(int(v))
        if typ == "datetime":
            return v if isinstance(v, xmlrpc.client.DateTime) else xmlrpc.client.DateTime(v)
        if typ == "map":
            return {str(k): str(x) for k, x in v.items()}
        if typ == "set":
            return [str(x) for x in v]
        return v

    @staticmethod
    def unwire(typ: str, field: str, v):
        try:
            if typ == "int":
                if isinstance(v, bool):
                    raise ValueError
                return int(v)
            if typ == "float":
                return float(v)
            if typ == "bool":
                if not isinstance(v, bool):
                    raise ValueError
                return v
            if typ == "map":
                if not isinstance(v, dict):
                    raise ValueError
                return {str(k): str(x) for k, x in v.items()}
            if typ == "set":
                if not isinstance(v, list):
                    raise ValueError
                return list(v)
            if typ == "datetime":
                return v
            if not isinstance(v, str):
                raise ValueError
            return v
        except (TypeError, ValueError):
            raise XapiError("FIELD_TYPE_ERROR", field) from None

    # ---- events -------------------------------------------------------------------------
    def emit(self, cls: str, op: str, ref: str, snapshot: dict | None = None):
        self.event_seq += 1
        if snapshot is None and ref in self.t[cls]:
            snapshot = self.render(cls, ref)
        self.events.append({"id": str(self.event_seq), "timestamp": "%.6f" % time.time(),
                            "class": cls.lower(), "operation": op, "ref": ref,
                            "snapshot": snapshot or {}})
        if len(self.events) > self.event_window:
            del self.events[: len(self.events) - self.event_window]
        self.changed.notify_all()

    def event_from(self, classes: list, token: str, timeout) -> dict:
        if not isinstance(classes, list):
            raise XapiError("FIELD_TYPE_ERROR", "classes")
        wanted = [c.lower() for c in classes]

        def match(cls, ref):
            return any(w == "*" or w == cls or w == "%s/%s" % (cls, ref.lower()) for w in wanted)

        deadline = time.monotonic() + float(timeout)
        with self.lock:
            if token == "":
                evs = []
                for cls, table in self.t.items():
                    for ref in table:
                        if match(cls.lower(), ref.lower()):
                            evs.append({"id": str(self.event_seq), "timestamp": "%.6f" % time.time(),
                                        "class": cls.lower(), "operation": "add", "ref": ref,
                                        "snapshot": self.render(cls, ref)})
                return self._batch(evs)
            try:
                since = int(str(token).split(",")[0])
            except ValueError:
                raise XapiError("EVENTS_LOST") from None
            while True:
                oldest = int(self.events[0]["id"]) if self.events else self.event_seq + 1
                if since + 1 < oldest and since < self.event_seq:
                    raise XapiError("EVENTS_LOST")
                evs = [e for e in self.events if int(e["id"]) > since and match(e["class"], e["ref"].lower())]
                left = deadline - time.monotonic()
                if evs or left <= 0:
                    return self._batch(evs)
                self.changed.wait(left)

    def _batch(self, evs):
        return {"events": evs, "token": "%020d" % self.event_seq,
                "valid_ref_counts": {c.lower(): str(len(t)) for c, t in self.t.items() if t}}

    # ---- bootstrap ----------------------------------------------------------------------
    def _bootstrap(self, nhosts, host_memory, host_cpus, sr_size):
        pool = self.insert("pool", {"name_label": "sim-pool"})
        shared = self.insert("SR", {"name_label": "Shared storage", "type": "nfs", "content_type": "",
                                    "shared": True, "physical_size": sr_size})
        net = self.insert("network", {"name_label": "Pool-wide network associated with eth0",
                                      "bridge": "xenbr0", "other_config": {}})
        self.insert("network", {"name_label": "Host internal management network",
                                "bridge": "xenapi", "other_config": {"is_host_internal_management_network": "true"}})
        for i in range(1, nhosts + 1):
            metrics = self.insert("host_metrics", {"memory_total": host_memory, "last_updated": now_dt()})
            host = self.insert("host", {
                "name_label": "xs-host-%d" % i, "hostname": "xs-host-%d" % i, "address": "127.0.0.%d" % i,
                "metrics": metrics, "software_version": {
                    "product_brand": "XCP-ng", "product_version": "8.2.1", "platform_version": "3.2.1",
                    "xapi": "1.20", "xen": "4.13.5", "hostname": "xs-host-%d" % i},
                "capabilities": ["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"],
                "cpu_info": {"cpu_count": str(host_cpus), "socket_count": "1", "vendor": "GenuineIntel",
                             "speed": "2400.000", "modelname": "Simulated CPU", "family": "6", "model": "85"},
                "supported_bootloaders": ["pygrub", "eliloader"], "memory_overhead": 100 * MiB})
            local = self.insert("SR", {"name_label": "Local storage", "type": "ext", "shared": False,
                                       "physical_size": sr_size // 2})
            self.insert("PBD", {"host": host, "SR": local, "device_config": {"device": "/dev/sda3"}})
            self.insert("PBD", {"host": host, "SR": shared, "device_config": {"server": "nfs", "serverpath": "/sr"}})
            self.insert("PIF", {"device": "eth0", "network": net, "host": host, "management": True,
                                "MAC": "02:00:00:00:00:%02x" % i, "IP": "127.0.0.%d" % i})
            dom0 = self.insert("VM", {**self._vm_defaults(), "name_label": "Control domain on host: xs-host-%d" % i,
                                      "is_control_domain": True, "power_state": "Running",
                                      "resident_on": host, "domid": 0, "memory_static_max": GiB,
                                      "memory_dynamic_max": GiB, "memory_dynamic_min": GiB,
                                      "memory_static_min": GiB})
            self.get("VM", dom0)["metrics"] = self.insert("VM_metrics", {"memory_actual": GiB, "VCPUs_number": 2})
            if i == 1:
                self.update("pool", pool, master=host, default_SR=shared, suspend_image_SR=shared,
                            crash_dump_SR=shared)
        tmpl = self.insert("VM", {**self._vm_defaults(), "name_label": "Other install media",
                                  "is_a_template": True, "is_default_template": True,
                                  "HVM_boot_policy": "BIOS order", "HVM_boot_params": {"order": "cd"},
                                  "platform": {"viridian": "false", "acpi": "1", "apic": "true", "pae": "true"},
                                  "other_config": {"install-methods": "cdrom"}})
        self.get("VM", tmpl)

    @staticmethod
    def _vm_defaults() -> dict:
        return {"user_version": 1, "is_a_template": False, "affinity": NULL,
                "memory_static_max": 256 * MiB, "memory_dynamic_max": 256 * MiB,
                "memory_dynamic_min": 256 * MiB, "memory_static_min": 128 * MiB,
                "VCPUs_params": {}, "VCPUs_max": 1, "VCPUs_at_startup": 1,
                "actions_after_shutdown": "destroy", "actions_after_reboot": "restart",
                "actions_after_crash": "restart", "PV_bootloader": "", "PV_kernel": "",
                "PV_ramdisk": "", "PV_args": "", "PV_bootloader_args": "", "PV_legacy_args": "",
                "HVM_boot_policy": "", "HVM_boot_params": {}, "platform": {}, "PCI_bus": "",
                "other_config": {}, "recommendations": ""}

    # ---- derived values -----------------------------------------------------------------
    def _vm_allowed(self, rec):
        if rec["is_control_domain"]:
            return []
        if rec["is_a_template"]:
            return ["clone", "copy", "provision", "destroy", "export"]
        return list(VM_OPS[rec["power_state"]])

    def _host_of_metrics(self, mref):
        return next((h for h, r in self.t["host"].items() if r["metrics"] == mref), None)

    def _host_free(self, host):
        if host is None:
            return 0
        total = self.get("host_metrics", self.get("host", host)["metrics"])["memory_total"]
        used = self.get("host", host)["memory_overhead"]
        for r in self.t["VM"].values():
            if r["resident_on"] == host and r["power_state"] in ("Running", "Paused"):
                used += r["memory_static_max"]
        return max(0, total - used)

    def _vdi_path(self, rec):
        return rec["sm_config"].get("sim_path") or os.path.join(self.data_dir, rec["uuid"])

    def _vdi_allocated(self, rec):
        try:
            return os.stat(self._vdi_path(rec)).st_blocks * 512
        except FileNotFoundError:
            return 0

    def _sr_usage(self, sr, field):
        vdis = [self.t["VDI"][v] for v in self.children("VDI", "SR", sr)]
        if field == "virtual_allocation":
            return sum(v["virtual_size"] for v in vdis)
        return sum(self._vdi_allocated(v) for v in vdis)

    def host_srs(self, host):
        return {self.t["PBD"][p]["SR"] for p in self.children("PBD", "host", host)
                if self.t["PBD"][p]["currently_attached"]}

    # ---- power-state machine --------------------------------------------------------------
    def vm(self, ref, op=None):
        rec = self.get("VM", ref)
        if op and rec["is_control_domain"]:
            raise XapiError("OPERATION_NOT_ALLOWED", "cannot %s the control domain" % op)
        if op and rec["is_a_template"] and op not in ("clone", "copy", "provision", "destroy"):
            raise XapiError("VM_IS_TEMPLATE", ref, op)
        return rec

    def need_state(self, ref, rec, *states):
        if rec["power_state"] not in states:
            raise XapiError("VM_BAD_POWER_STATE", ref, ", ".join(s.lower() for s in states),
                            rec["power_state"].lower())

    def console(self, ref, line):
        self.console_logs.setdefault(ref, []).append(line)

    def _check_host_can_run(self, vm, rec, host):
        hrec = self.get("host", host)
        if not hrec["enabled"]:
            raise XapiError("HOST_DISABLED", host)
        srs = self.host_srs(host)
        for vbd in self.children("VBD", "VM", vm):
            vdi = self.t["VBD"][vbd]["VDI"]
            if vdi != NULL and vdi in self.t["VDI"] and self.t["VDI"][vdi]["SR"] not in srs:
                raise XapiError("VM_REQUIRES_SR", vm, self.t["VDI"][vdi]["SR"])
        for vif in self.children("VIF", "VM", vm):
            net = self.t["VIF"][vif]["network"]
            if net not in self.t["network"]:
                raise XapiError("VM_REQUIRES_NETWORK", vm, net)
        free = self._host_free(host) + (rec["memory_static_max"] if rec["resident_on"] == host else 0)
        if rec["memory_static_max"] > free:
            raise XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", rec["memory_static_max"], free)

    def _boot(self, vm, rec, host, paused):
        self._check_host_can_run(vm, rec, host)
        domid = self.next_domid
        self.next_domid += 1
        for vbd in self.children("VBD", "VM", vm):
            vrec = self.t["VBD"][vbd]
            vrec.update(currently_attached=not vrec["empty"] or vrec["type"] == "CD",
                        device=self._devname(vrec["userdevice"]))
            self.emit("VBD", "mod", vbd)
        for vif in self.children("VIF", "VM", vm):
            self.update("VIF", vif, currently_attached=True)
        metrics = rec["metrics"]
        if metrics in self.t["VM_metrics"]:
            self.update("VM_metrics", metrics, memory_actual=rec["memory_static_max"],
                        VCPUs_number=rec["VCPUs_at_startup"], start_time=now_dt())
        gm = rec["guest_metrics"]
        if gm not in self.t["VM_guest_metrics"]:
            gm = self.insert("VM_guest_metrics", {"PV_drivers_up_to_date": True, "live": True,
                                                  "PV_drivers_version": {"major": "9", "minor": "1"},
                                                  "os_version": {"name": "Simulated Linux"}})
        rec.update(power_state="Paused" if paused else "Running", resident_on=host, domid=domid,
                   guest_metrics=gm)
        self.console(vm, "[sim] domain %d (%s) started on %s" % (domid, rec["name_label"],
                                                               self.t["host"][host]["name_label"]))
        if not paused:
            self.console(vm, "BOOTED")
        self.emit("VM", "mod", vm)

    def _halt(self, vm, rec):
        for vbd in self.children("VBD", "VM", vm):
            self.update("VBD", vbd, currently_attached=False, device="")
        for vif in self.children("VIF", "VM", vm):
            self.update("VIF", vif, currently_attached=False)
        if rec["suspend_VDI"] in self.t["VDI"]:
            self._destroy_vdi(rec["suspend_VDI"])
        self.console(vm, "[sim] domain %d halted" % rec["domid"])
        rec.update(power_state="Halted", resident_on=NULL, domid=-1, suspend_VDI=NULL)
        self.emit("VM", "mod", vm)

    @staticmethod
    def _devname(userdevice):
        try:
            return "xvd" + "abcdefghijklmnop"[int(userdevice)]
        except (ValueError, IndexError):
            return "xvd" + str(userdevice)

    def pick_host(self, vm, rec):
        candidates = list(self.t["host"])
        if rec["affinity"] in self.t["host"]:
            candidates.remove(rec["affinity"])
            candidates.insert(0, rec["affinity"])
        last = None
        for h in candidates:
            try:
                self._check_host_can_run(vm, rec, h)
                return h
            except XapiError as e:
                last = e
        raise last

    def guest_agent_ok(self, vm, rec):
        gm = self.t["VM_guest_metrics"].get(rec["guest_metrics"])
        if not gm or not gm["PV_drivers_up_to_date"]:
            raise XapiError("VM_MISSING_PV_DRIVERS", vm)

    # ---- storage ------------------------------------------------------------------------
    def _create_vdi(self, rec: dict) -> str:
        sr = rec["SR"]
        self.get("SR", sr)
        if rec["virtual_size"] < 0:
            raise XapiError("FIELD_TYPE_ERROR", "virtual_size")
        srrec = self.t["SR"][sr]
        if self._sr_usage(sr, "physical_utilisation") + 0 > srrec["physical_size"]:
            raise XapiError("SR_FULL", srrec["physical_size"], rec["virtual_size"])
        ref = self.insert("VDI", rec)
        vrec = self.t["VDI"][ref]
        vrec["location"] = vrec["uuid"]
        with open(self._vdi_path(vrec), "wb") as f:
            f.truncate(vrec["virtual_size"])
        self.emit("SR", "mod", sr)
        return ref

    def _destroy_vdi(self, ref):
        rec = self.get("VDI", ref)
        for vbd in self.children("VBD", "VDI", ref):
            if self.t["VBD"][vbd]["currently_attached"]:
                raise XapiError("VDI_IN_USE", ref, "destroy")
        for vbd in self.children("VBD", "VDI", ref):
            self.delete("VBD", vbd)
        try:
            os.unlink(self._vdi_path(rec))
        except FileNotFoundError:
            pass
        self.delete("VDI", ref)
        self.emit("SR", "mod", rec["SR"])

    def _copy_vdi(self, ref, sr=None, **extra):
        rec = self.get("VDI", ref)
        new = self._create_vdi({**{k: v for k, v in rec.items() if k not in ("uuid", "location")},
                                "SR": sr or rec["SR"], **extra})
        sparse_copy(self._vdi_path(rec), self._vdi_path(self.t["VDI"][new]))
        self.emit("VDI", "mod", new)
        return new

    def close(self):
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class Api:
    """XAPI messages. Explicit handlers are methods named ``Cls__message``; anything else
    falls back to the generic table messages."""

    def __init__(self, store: Store):
        self.s = store
        self.sessions: dict[str, dict] = {}
        self.slock = threading.Lock()

    # ---- dispatch -----------------------------------------------------------------------
    def dispatch(self, method: str, params: tuple) -> dict:
        try:
            return {"Status": "Success", "Value": self._dispatch(method, list(params))}
        except XapiError as e:
            return {"Status": "Failure", "ErrorDescription": e.description}
        except Exception as e:  # noqa: BLE001 - an internal error, as xapi reports it
            return {"Status": "Failure", "ErrorDescription": ["INTERNAL_ERROR", "%s: %s" % (type(e).__name__, e)]}

    def _dispatch(self, method, params):
        if method in ("session.login_with_password", "session.slave_local_login_with_password"):
            return self.login(method, *params)
        session = params[0] if params else ""
        with self.slock:
            valid = session in self.sessions
            if valid:
                self.sessions[session]["last_active"] = now_dt()
        if not valid:
            raise XapiError("SESSION_INVALID", session)
        args = params[1:]
        if method in ("session.logout", "session.local_logout"):
            with self.slock:
                self.sessions.pop(session, None)
            return ""
        if method.startswith("Async."):
            name = method[len("Async."):]
            fn = self._resolve(name)
            self._check_arity(name, fn, args)
            return self._start_task(name, fn, args, session)
        fn = self._resolve(method)
        self._check_arity(method, fn, args)
        return self._call(method, fn, args)

    def _call(self, name, fn, args):
        with self.s.lock:
            err = self.s.fail_next.pop(name, None)
            if err:
                raise XapiError(*err)
            v = fn(*args)
        return "" if v is None else v

    def _resolve(self, method):
        cls, _, msg = method.partition(".")
        fn = getattr(self, "%s__%s" % (cls.replace(".", "_"), msg), None) if msg else None
        if fn is not None:
            return fn
        if cls in SCHEMA and msg:
            g = self._generic(cls, msg)
            if g is not None:
                return g
        raise XapiError("MESSAGE_METHOD_UNKNOWN", method)

    @staticmethod
    def _check_arity(name, fn, args):
        sig = inspect.signature(fn)
        ps = list(sig.parameters.values())
        if any(p.kind == p.VAR_POSITIONAL for p in ps):
            return
        required = sum(1 for p in ps if p.default is p.empty)
        if not required <= len(args) <= len(ps):
            raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", name, required + 1, len(args) + 1)

    def _generic(self, cls, msg):
        s, schema = self.s, SCHEMA[cls]
        if msg == "get_all":
            return lambda: list(s.t[cls])
        if msg == "get_all_records":
            return lambda: {r: s.render(cls, r) for r in s.t[cls]}
        if msg == "get_record":
            return lambda ref: s.render(cls, ref)
        if msg == "get_by_uuid":
            def by_uuid(u):
                for r, rec in s.t[cls].items():
                    if rec["uuid"] == u:
                        return r
                raise XapiError("UUID_INVALID", cls, u)
            return by_uuid
        if msg == "get_by_name_label" and "name_label" in schema:
            return lambda label: [r for r, rec in s.t[cls].items() if rec["name_label"] == label]
        if msg == "create":
            return lambda rec: self._generic_create(cls, rec)
        if msg == "destroy":
            return lambda ref: (s.get(cls, ref), s.delete(cls, ref), "")[-1]
        for prefix in ("get_", "set_", "add_to_", "remove_from_", "add_", "remove_"):
            if not msg.startswith(prefix):
                continue
            field = msg[len(prefix):]
            if field not in schema:
                continue
            typ, qual, _ = schema[field]
            if prefix == "get_":
                return lambda ref: s.render(cls, ref)[field]
            if qual != "RW":
                return None
            if prefix == "set_":
                def setter(ref, value):
                    s.get(cls, ref)
                    s.update(cls, ref, **{field: s.unwire(typ, field, value)})
                return setter
            if prefix == "add_to_" and typ == "map":
                def add_to(ref, key, value):
                    m = s.get(cls, ref)[field]
                    if key in m:
                        raise XapiError("MAP_DUPLICATE_KEY", cls, field, ref, key)
                    m[str(key)] = str(value)
                    s.emit(cls, "mod", ref)
                return add_to
            if prefix == "remove_from_" and typ == "map":
                def remove_from(ref, key):
                    s.get(cls, ref)[field].pop(key, None)
                    s.emit(cls, "mod", ref)
                return remove_from
            if prefix == "add_" and typ == "set":
                def add(ref, value):
                    st = s.get(cls, ref)[field]
                    if value not in st:
                        st.append(value)
                    s.emit(cls, "mod", ref)
                return add
            if prefix == "remove_" and typ == "set":
                def remove(ref, value):
                    st = s.get(cls, ref)[field]
                    if value in st:
                        st.remove(value)
                    s.emit(cls, "mod", ref)
                return remove
        return None

    def _checked_record(self, cls, rec, overrides=()):
        if not isinstance(rec, dict):
            raise XapiError("FIELD_TYPE_ERROR", "args")
        out = {}
        for name, (typ, qual, default) in SCHEMA[cls].items():
            if qual not in ("RW", "C") or (cls, name) in BACKREFS:
                continue
            if name in rec:
                out[name] = self.s.unwire(typ, name, rec[name])
            elif default is REQUIRED and name not in overrides:
                raise XapiError("FIELD_TYPE_ERROR", name)
        return out

    def _generic_create(self, cls, rec):
        return self.s.insert(cls, self._checked_record(cls, rec))

    # ---- sessions -------------------------------------------------------------------------
    def login(self, method, user=None, password=None, version="1.0", originator=""):
        if user is None or password is None:
            raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", method, 2, 0 if user is None else 1)
        if self.s.users.get(user) != password:
            raise XapiError("SESSION_AUTHENTICATION_FAILED", user, "Authentication failure")
        ref = new_ref()
        pool = next(iter(self.s.t["pool"].values()))
        with self.slock:
            self.sessions[ref] = {"uuid": str(uuidlib.uuid4()), "this_host": pool["master"],
                                  "originator": originator, "last_active": now_dt(), "user": user}
        return ref

    def session__get_this_host(self, session_ref):
        with self.slock:
            if session_ref not in self.sessions:
                raise XapiError("HANDLE_INVALID", "session", session_ref)
            return self.sessions[session_ref]["this_host"]

    # ---- tasks --------------------------------------------------------------------------
    def _start_task(self, name, fn, args, session):
        s = self.s
        with s.lock:
            master = next(iter(s.t["pool"].values()))["master"]
            task = s.insert("task", {"name_label": "Async.%s" % name, "created": now_dt(),
                                     "status": "pending", "resident_on": master,
                                     "allowed_operations": ["cancel"]})

        def run():
            if s.delay:
                time.sleep(s.delay)
            with s.lock:
                if task not in s.t["task"]:
                    return
                if s.t["task"][task]["status"] == "cancelling":
                    s.update("task", task, status="cancelled", finished=now_dt(),
                             error_info=["TASK_CANCELLED", task], allowed_operations=[])
                    return
                try:
                    v = self._call(name, fn, args)
                    s.update("task", task, status="success", progress=1.0, finished=now_dt(),
                             result=self._encode_result(v), allowed_operations=[])
                except XapiError as e:
                    s.update("task", task, status="failure", progress=1.0, finished=now_dt(),
                             error_info=e.description, allowed_operations=[])
                except Exception as e:  # noqa: BLE001
                    s.update("task", task, status="failure", finished=now_dt(), allowed_operations=[],
                             error_info=["INTERNAL_ERROR", "%s: %s" % (type(e).__name__, e)])

        threading.Thread(target=run, daemon=True, name="xapi-task").start()
        return task

    @staticmethod
    def _encode_result(v):
        if v == "" or v is None:
            return ""
        if isinstance(v, str):  # xapi writes bare strings: <value>OpaqueRef:...</value>
            from xml.sax.saxutils import escape
            return "<value>%s</value>" % escape(v)
        body = xmlrpc.client.dumps((v,), methodresponse=True)
        start = body.index("<value>")
        end = body.rindex("</value>") + len("</value>")
        return body[start:end]

    def task__cancel(self, task):
        rec = self.s.get("task", task)
        if rec["status"] != "pending":
            raise XapiError("OPERATION_NOT_ALLOWED", "task is not pending")
        self.s.update("task", task, status="cancelling")

    # ---- events ---------------------------------------------------------------------------
    def event__from(self, classes, token, timeout):
        return self.s.event_from(classes, token, timeout)

    def event__get_current_id(self):
        return "%020d" % self.s.event_seq

    # ---- host ---------------------------------------------------------------------------
    def host__compute_free_memory(self, host):
        self.s.get("host", host)
        return str(self.s._host_free(host))

    def host__call_plugin(self, host, plugin, fn, args):
        self.s.get("host", host)
        if plugin in ("console", "console.py") and fn == "get_console_log":
            domid = int(args.get("dom_id", "-1"))
            for ref, rec in self.s.t["VM"].items():
                if rec["domid"] == domid and rec["resident_on"] == host and domid > 0:
                    log = "\n".join(self.s.console_logs.get(ref, [])) + "\n"
                    return base64.b64encode(zlib.compress(log.encode())).decode()
            raise XapiError("XENAPI_PLUGIN_FAILURE", fn, "IOError", "no console log for domain %d" % domid)
        raise XapiError("XENAPI_MISSING_PLUGIN", plugin)

    # ---- VM -----------------------------------------------------------------------------
    def VM__create(self, rec):
        s = self.s
        r = self._checked_record("VM", rec)
        ref = s.insert("VM", r)
        s.get("VM", ref)["metrics"] = s.insert("VM_metrics", {"memory_actual": 0, "VCPUs_number": 0})
        if not r.get("is_a_template"):
            c = s.insert("console", {"VM": ref, "protocol": "rfb",
                                     "location": "https://127.0.0.1/console?ref=%s" % ref})
            s.get("console", c)
        s.emit("VM", "mod", ref)
        return ref

    def VM__destroy(self, vm):
        s = self.s
        rec = s.vm(vm, "destroy")
        s.need_state(vm, rec, "Halted")
        for cls in ("VBD", "VIF", "console"):
            for child in s.children(cls, "VM", vm):
                s.delete(cls, child)
        for m in ("metrics", "guest_metrics"):
            table = "VM_metrics" if m == "metrics" else "VM_guest_metrics"
            if rec[m] in s.t[table]:
                s.delete(table, rec[m])
        s.delete("VM", vm)

    def VM__start(self, vm, start_paused, force):
        rec = self.s.vm(vm, "start")
        self.s.need_state(vm, rec, "Halted")
        self.s._boot(vm, rec, self.s.pick_host(vm, rec), start_paused)

    def VM__start_on(self, vm, host, start_paused, force):
        rec = self.s.vm(vm, "start_on")
        self.s.get("host", host)
        self.s.need_state(vm, rec, "Halted")
        self.s._boot(vm, rec, host, start_paused)

    def VM__clean_shutdown(self, vm):
        rec = self.s.vm(vm, "clean_shutdown")
        self.s.need_state(vm, rec, "Running")
        self.s.guest_agent_ok(vm, rec)
        self.s._halt(vm, rec)

    def VM__shutdown(self, vm):
        rec = self.s.vm(vm, "shutdown")
        self.s.need_state(vm, rec, "Running", "Paused", "Suspended")
        self.s._halt(vm, rec)

    def VM__hard_shutdown(self, vm):
        rec = self.s.vm(vm, "hard_shutdown")
        self.s.need_state(vm, rec, "Running", "Paused", "Suspended")
        self.s._halt(vm, rec)

    def VM__clean_reboot(self, vm):
        rec = self.s.vm(vm, "clean_reboot")
        self.s.need_state(vm, rec, "Running")
        self.s.guest_agent_ok(vm, rec)
        self._reboot(vm, rec)

    def VM__hard_reboot(self, vm):
        rec = self.s.vm(vm, "hard_reboot")
        self.s.need_state(vm, rec, "Running", "Paused")
        self._reboot(vm, rec)

    def _reboot(self, vm, rec):
        host = rec["resident_on"]
        self.s._halt(vm, rec)
        self.s._boot(vm, rec, host, False)

    def VM__pause(self, vm):
        rec = self.s.vm(vm, "pause")
        self.s.need_state(vm, rec, "Running")
        self.s.update("VM", vm, power_state="Paused")

    def VM__unpause(self, vm):
        rec = self.s.vm(vm, "unpause")
        self.s.need_state(vm, rec, "Paused")
        self.s.update("VM", vm, power_state="Running")

    def VM__suspend(self, vm):
        s = self.s
        rec = s.vm(vm, "suspend")
        s.need_state(vm, rec, "Running")
        s.guest_agent_ok(vm, rec)
        pool = next(iter(s.t["pool"].values()))
        sr = pool["suspend_image_SR"]
        if sr not in s.t["SR"]:
            raise XapiError("VM_NO_SUSPEND_SR", vm)
        svdi = s._create_vdi({"name_label": "Suspend image", "name_description": "", "SR": sr,
                              "virtual_size": rec["memory_static_max"] + 4 * MiB, "type": "suspend",
                              "sharable": False, "read_only": False, "other_config": {}})
        for vbd in s.children("VBD", "VM", vm):
            s.update("VBD", vbd, currently_attached=False)
        for vif in s.children("VIF", "VM", vm):
            s.update("VIF", vif, currently_attached=False)
        s.console(vm, "[sim] domain %d suspended" % rec["domid"])
        rec.update(power_state="Suspended", resident_on=NULL, domid=-1, suspend_VDI=svdi)
        s.emit("VM", "mod", vm)

    def VM__resume(self, vm, start_paused, force):
        s = self.s
        rec = s.vm(vm, "resume")
        s.need_state(vm, rec, "Suspended")
        host = s.pick_host(vm, rec)
        svdi = rec["suspend_VDI"]
        s._boot(vm, rec, host, start_paused)
        if svdi in s.t["VDI"]:
            s._destroy_vdi(svdi)
        s.update("VM", vm, suspend_VDI=NULL)

    def VM__pool_migrate(self, vm, host, options):
        s = self.s
        rec = s.vm(vm, "pool_migrate")
        s.get("host", host)
        s.need_state(vm, rec, "Running")
        if rec["resident_on"] == host:
            raise XapiError("VM_MIGRATE_FAILED", vm, host, host, "VM is already resident on the destination host")
        s._check_host_can_run(vm, rec, host)
        src = rec["resident_on"]
        rec["resident_on"] = host
        s.console(vm, "[sim] domain %d migrated from %s to %s" % (
            rec["domid"], s.t["host"][src]["name_label"], s.t["host"][host]["name_label"]))
        s.emit("VM", "mod", vm)

    def VM__assert_can_boot_here(self, vm, host):
        rec = self.s.vm(vm)
        self.s.get("host", host)
        self.s._check_host_can_run(vm, rec, host)

    def VM__get_possible_hosts(self, vm):
        rec = self.s.vm(vm)
        ok = []
        for h in self.s.t["host"]:
            try:
                self.s._check_host_can_run(vm, rec, h)
                ok.append(h)
            except XapiError:
                pass
        return ok

    def _copy_vm(self, vm, new_name, *, snapshot=False, sr=None, ignore_vdis=()):
        s = self.s
        rec = s.get("VM", vm)
        fields = {k: v for k, v in rec.items() if SCHEMA["VM"][k][1] in ("RW", "C")}
        fields.update(name_label=new_name)
        if snapshot:
            fields.update(is_a_template=True)
        new = self.VM__create(fields)
        nrec = s.get("VM", new)
        if snapshot:
            nrec.update(is_a_snapshot=True, snapshot_of=vm, snapshot_time=now_dt())
        for vbd in s.children("VBD", "VM", vm):
            b = s.t["VBD"][vbd]
            vdi = b["VDI"]
            if vdi in s.t["VDI"] and vdi not in ignore_vdis:
                extra = {"is_a_snapshot": True, "snapshot_of": vdi, "snapshot_time": now_dt()} if snapshot else {}
                vdi = s._copy_vdi(vdi, sr, **extra)
            elif vdi in ignore_vdis:
                continue
            s.insert("VBD", {**{k: v for k, v in b.items() if SCHEMA["VBD"][k][1] in ("RW", "C")},
                             "VM": new, "VDI": vdi})
        for vif in s.children("VIF", "VM", vm):
            v = s.t["VIF"][vif]
            s.insert("VIF", {**{k: v2 for k, v2 in v.items() if SCHEMA["VIF"][k][1] in ("RW", "C")},
                             "VM": new, "MAC": v["MAC"]})      # clone/copy keep the MACs
        s.emit("VM", "mod", new)
        return new

    def VM__snapshot(self, vm, new_name, ignore_vdis=None):
        rec = self.s.vm(vm, "snapshot")
        self.s.need_state(vm, rec, "Halted", "Running", "Suspended")
        return self._copy_vm(vm, new_name, snapshot=True, ignore_vdis=tuple(ignore_vdis or ()))

    def VM__clone(self, vm, new_name):
        rec = self.s.vm(vm, "clone")
        self.s.need_state(vm, rec, "Halted")
        return self._copy_vm(vm, new_name)

    def VM__copy(self, vm, new_name, sr):
        rec = self.s.vm(vm, "copy")
        self.s.need_state(vm, rec, "Halted")
        if sr != NULL:
            self.s.get("SR", sr)
        return self._copy_vm(vm, new_name, sr=None if sr == NULL else sr)

    def VM__provision(self, vm):
        self.s.vm(vm, "provision")
        return ""

    # ---- VDI / VBD / VIF ------------------------------------------------------------------
    def VDI__create(self, rec):
        return self.s._create_vdi(self._checked_record("VDI", rec))

    def VDI__destroy(self, vdi):
        self.s._destroy_vdi(vdi)

    def VDI__copy(self, vdi, sr):
        self.s.get("SR", sr)
        return self.s._copy_vdi(vdi, sr)

    def VDI__clone(self, vdi, driver_params=None):
        return self.s._copy_vdi(vdi)

    def VDI__snapshot(self, vdi, driver_params=None):
        return self.s._copy_vdi(vdi, None, is_a_snapshot=True, snapshot_of=vdi, snapshot_time=now_dt())

    def VDI__resize(self, vdi, size):
        s = self.s
        rec = s.get("VDI", vdi)
        size = s.unwire("int", "size", size)
        if size < rec["virtual_size"]:
            raise XapiError("VDI_SIZE_TOO_SMALL", vdi, size)  # xapi refuses to shrink
        for vbd in s.children("VBD", "VDI", vdi):
            if s.t["VBD"][vbd]["currently_attached"]:
                raise XapiError("VDI_IN_USE", vdi, "resize")
        with open(s._vdi_path(rec), "r+b") as f:
            f.truncate(size)
        s.update("VDI", vdi, virtual_size=size)

    def VBD__create(self, rec):
        s = self.s
        r = self._checked_record("VBD", rec)
        vm = s.get("VM", r["VM"])
        if not r["empty"] or r["VDI"] != NULL:
            vdi = s.get("VDI", r["VDI"])
            if r["mode"] == "RW" and not vdi["sharable"]:
                for other in s.children("VBD", "VDI", r["VDI"]):
                    o = s.t["VBD"][other]
                    if o["currently_attached"] and o["mode"] == "RW":
                        raise XapiError("VDI_IN_USE", r["VDI"], "attach")
            if vdi["read_only"] and r["mode"] == "RW":
                raise XapiError("VDI_READONLY", r["VDI"])
        if r["mode"] not in ("RO", "RW") or r["type"] not in ("CD", "Disk", "Floppy"):
            raise XapiError("FIELD_TYPE_ERROR", "mode" if r["mode"] not in ("RO", "RW") else "type")
        for other in s.children("VBD", "VM", r["VM"]):
            if s.t["VBD"][other]["userdevice"] == r["userdevice"]:
                raise XapiError("DEVICE_ALREADY_EXISTS", r["userdevice"])
        ref = s.insert("VBD", r)
        s.emit("VM", "mod", r["VM"])
        del vm
        return ref

    def VBD__destroy(self, vbd):
        s = self.s
        rec = s.get("VBD", vbd)
        if rec["currently_attached"]:
            raise XapiError("OPERATION_NOT_ALLOWED", "VBD '%s' still attached to '%s'" % (rec["uuid"], s.t["VM"][rec["VM"]]["uuid"]))
        s.delete("VBD", vbd)
        s.emit("VM", "mod", rec["VM"])

    def _device_vm(self, cls, ref):
        rec = self.s.get(cls, ref)
        vm = self.s.get("VM", rec["VM"])
        if vm["power_state"] != "Running":
            raise XapiError("VM_BAD_POWER_STATE", rec["VM"], "running", vm["power_state"].lower())
        return rec, vm

    def VBD__plug(self, vbd):
        rec, _vm = self._device_vm("VBD", vbd)
        if rec["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_ATTACHED", vbd)
        self.s.update("VBD", vbd, currently_attached=True, device=self.s._devname(rec["userdevice"]))

    def VBD__unplug(self, vbd):
        rec, _vm = self._device_vm("VBD", vbd)
        if not rec["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_DETACHED", vbd)
        if not rec["unpluggable"]:
            raise XapiError("VBD_NOT_UNPLUGGABLE", vbd)
        self.s.update("VBD", vbd, currently_attached=False)

    def VBD__unplug_force(self, vbd):
        return self.VBD__unplug(vbd)

    def VIF__create(self, rec):
        s = self.s
        r = self._checked_record("VIF", rec)
        s.get("VM", r["VM"])
        s.get("network", r["network"])
        for other in s.children("VIF", "VM", r["VM"]):
            if s.t["VIF"][other]["device"] == r["device"]:
                raise XapiError("DEVICE_ALREADY_EXISTS", r["device"])
        if not r["MAC"]:
            r.update(MAC=random_mac())
        ref = s.insert("VIF", r)
        s.get("VIF", ref)["MAC_autogenerated"] = not rec.get("MAC")
        s.emit("VM", "mod", r["VM"])
        return ref

    def VIF__destroy(self, vif):
        s = self.s
        rec = s.get("VIF", vif)
        if rec["currently_attached"]:
            raise XapiError("OPERATION_NOT_ALLOWED", "VIF '%s' still attached" % rec["uuid"])
        s.delete("VIF", vif)
        s.emit("VM", "mod", rec["VM"])

    def VIF__plug(self, vif):
        rec, _vm = self._device_vm("VIF", vif)
        if rec["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_ATTACHED", vif)
        self.s.update("VIF", vif, currently_attached=True)

    def VIF__unplug(self, vif):
        rec, _vm = self._device_vm("VIF", vif)
        if not rec["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_DETACHED", vif)
        self.s.update("VIF", vif, currently_attached=False)

    def network__create(self, rec):
        r = self._checked_record("network", rec)
        if not r.get("bridge"):
            r["bridge"] = "xapi%d" % len(self.s.t["network"])
        return self.s.insert("network", r)

    def network__destroy(self, net):
        s = self.s
        s.get("network", net)
        if any(s.t["VIF"][v]["currently_attached"] for v in s.children("VIF", "network", net)):
            raise XapiError("NETWORK_CONTAINS_VIF", s.children("VIF", "network", net)[0])
        s.delete("network", net)

    # ---- SR introduce / forget, PBDs (iSCSI LUN SRs, as used for volumes) -------------------
    def SR__introduce(self, uuid, name_label, name_description, type, content_type, shared, sm_config):
        s = self.s
        if any(r["uuid"] == uuid for r in s.t["SR"].values()):
            raise XapiError("SR_ATTACH_FAILED", uuid)     # already known to the pool
        if type not in ("iscsi", "lvmoiscsi", "nfs", "ext", "lvm"):
            raise XapiError("SR_UNKNOWN_DRIVER", type)
        return s.insert("SR", {"uuid": uuid, "name_label": name_label, "name_description": name_description,
                               "type": type, "content_type": content_type, "shared": bool(shared),
                               "sm_config": dict(sm_config), "physical_size": 0})

    def SR__forget(self, sr):
        s = self.s
        s.get("SR", sr)
        if any(s.t["PBD"][p]["currently_attached"] for p in s.children("PBD", "SR", sr)):
            raise XapiError("SR_HAS_PBD", sr)
        for vdi in s.children("VDI", "SR", sr):
            if s.children("VBD", "VDI", vdi):
                raise XapiError("VDI_IN_USE", vdi, "forget")
            s.delete("VDI", vdi)                      # forget keeps the data on the array
        for pbd in s.children("PBD", "SR", sr):
            s.delete("PBD", pbd)
        s.delete("SR", sr)

    def PBD__create(self, rec):
        s = self.s
        r = self._checked_record("PBD", rec)
        s.get("host", r["host"])
        s.get("SR", r["SR"])
        ref = s.insert("PBD", r)
        s.update("PBD", ref, currently_attached=False)
        return ref

    def _lun(self, sr, device_config):
        key = (device_config.get("targetIQN", ""), str(device_config.get("LUNid", "")))
        lun = self.s.iscsi_luns.get(key)
        if lun is None or device_config.get("target") not in lun["portals"]:
            raise XapiError("SR_BACKEND_FAILURE_68", "", "ISCSILogin error: no such target/LUN %s/%s at %s"
                            % (key[0], key[1], device_config.get("target")), "")
        return lun

    def PBD__plug(self, pbd):
        s = self.s
        rec = s.get("PBD", pbd)
        srrec = s.get("SR", rec["SR"])
        if srrec["type"] in ("iscsi", "lvmoiscsi"):
            lun = self._lun(rec["SR"], rec["device_config"])
            srrec["physical_size"] = lun["size"]
        s.update("PBD", pbd, currently_attached=True)

    def PBD__unplug(self, pbd):
        s = self.s
        rec = s.get("PBD", pbd)
        for vdi in s.children("VDI", "SR", rec["SR"]):
            for vbd in s.children("VBD", "VDI", vdi):
                vm = s.t["VM"].get(s.t["VBD"][vbd]["VM"])
                if s.t["VBD"][vbd]["currently_attached"] and vm and vm["resident_on"] == rec["host"]:
                    raise XapiError("SR_IN_USE", rec["SR"])
        s.update("PBD", pbd, currently_attached=False)

    def SR__scan(self, sr):
        s = self.s
        srrec = s.get("SR", sr)
        if srrec["type"] in ("iscsi", "lvmoiscsi"):
            pbds = [s.t["PBD"][p] for p in s.children("PBD", "SR", sr) if s.t["PBD"][p]["currently_attached"]]
            if not pbds:
                raise XapiError("SR_HAS_NO_PBDS", sr)
            dc = pbds[0]["device_config"]
            lun = self._lun(sr, dc)
            if not s.children("VDI", "SR", sr):
                ref = s.insert("VDI", {"name_label": "LUN %s" % dc.get("LUNid"), "SR": sr,
                                       "virtual_size": lun["size"], "type": "user", "sharable": False,
                                       "read_only": False, "other_config": {},
                                       "sm_config": {"LUNid": str(dc.get("LUNid")), "SCSIid": lun["scsi_id"],
                                                     "sim_path": lun["path"]}})
                s.get("VDI", ref)["location"] = lun["scsi_id"]
        s.emit("SR", "mod", sr)

    # ---- test-only ------------------------------------------------------------------------
    def debug__expire_sessions(self):
        with self.slock:
            self.sessions.clear()

    def debug__set_delay(self, seconds):
        self.s.delay = float(seconds)

    def debug__set_guest_agent(self, vm, up):
        s = self.s
        rec = s.get("VM", vm)
        gm = rec["guest_metrics"]
        if gm not in s.t["VM_guest_metrics"]:
            gm = s.insert("VM_guest_metrics", {"live": True})
            rec["guest_metrics"] = gm
        s.update("VM_guest_metrics", gm, PV_drivers_up_to_date=bool(up))

    def debug__fail_next(self, message, error):
        self.s.fail_next[message] = [str(x) for x in error]

    def debug__add_iscsi_lun(self, portal, iqn, lun, size):
        """The simulated storage array exports a LUN (backed by a sparse file)."""
        s = self.s
        key = (iqn, str(lun))
        if key not in s.iscsi_luns:
            path = os.path.join(s.data_dir, "lun-%s" % uuidlib.uuid4())
            with open(path, "wb") as f:
                f.truncate(int(size))
            s.iscsi_luns[key] = {"size": int(size), "path": path, "portals": set(),
                                 "scsi_id": "36" + uuidlib.uuid4().hex[:30]}
        s.iscsi_luns[key]["portals"].add(portal)
        return s.iscsi_luns[key]["path"]

    def debug__console_append(self, vm, text):
        self.s.get("VM", vm)
        self.s.console(vm, text)


def sparse_copy(src: str, dst: str) -> None:
    """Copy a (sparse) disk file, keeping holes as holes."""
    size = os.path.getsize(src)
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        fo.truncate(size)
        off = 0
        while off < size:
            try:
                start = os.lseek(fi.fileno(), off, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fi.fileno(), start, os.SEEK_HOLE)
            fi.seek(start)
            fo.seek(start)
            left = end - start
            while left:
                chunk = fi.read(min(left, 1 << 20))
                fo.write(chunk)
                left -= len(chunk)
            off = end


def random_mac():
    b = os.urandom(5)
    return "02:" + ":".join("%02x" % x for x in b)


# ---------------------------------------------------------------------------------------------
# HTTP layer
# ---------------------------------------------------------------------------------------------

class Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/", "/RPC2")
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        import socket
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _session_vdi(self):
        q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        api: Api = self.server.api
        with api.slock:
            ok = q.get("session_id") in api.sessions
        if not ok:
            self._plain(401, b"session_id missing or invalid\n")
            return None, None, None
        s = api.s
        vdi = q.get("vdi", "")
        with s.lock:
            if vdi not in s.t["VDI"]:
                vdi = next((r for r, rec in s.t["VDI"].items() if rec["uuid"] == vdi), None)
            if vdi is None:
                self._plain(404, b"VDI not found\n")
                return None, None, None
            rec = dict(s.t["VDI"][vdi])
        fmt = q.get("format", "raw")
        if fmt not in ("raw", "vhd"):
            self._plain(400, b"unsupported format\n")
            return None, None, None
        return vdi, rec, fmt

    def _plain(self, code, body: bytes, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        path = urlparse(self.path).path
        if path != "/import_raw_vdi":
            return self._plain(404, b"not found\n")
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length) if length else b""
        vdi, rec, fmt = self._session_vdi()
        if vdi is None:
            return
        s = self.server.api.s
        try:
            if fmt == "vhd":
                size, extents = vhd.read_vhd(data)
            else:
                size, extents = len(data), iter([(0, data)])
            if size > rec["virtual_size"]:
                return self._plain(500, b"VDI_IO_ERROR: image larger than VDI\n")
            with s.lock, open(s._vdi_path(rec), "r+b") as f:
                for off, chunk in extents:
                    f.seek(off)
                    f.write(chunk)
                s.emit("VDI", "mod", vdi)
        except vhd.VhdError as e:
            return self._plain(500, ("VDI_IO_ERROR: %s\n" % e).encode())
        self._plain(200, b"")

    def do_GET(self):
        path = urlparse(self.path).path
        if path != "/export_raw_vdi":
            return self._plain(404, b"not found\n")
        vdi, rec, fmt = self._session_vdi()
        if vdi is None:
            return
        s = self.server.api.s
        if fmt == "raw":
            size = rec["virtual_size"]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            with open(s._vdi_path(rec), "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
            return
        import io
        out = io.BytesIO()
        with open(s._vdi_path(rec), "rb") as f:
            vhd.write_dynamic_vhd(f, rec["virtual_size"], out)
        self._plain(200, out.getvalue(), "application/octet-stream")


class Server(ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, api: Api):
        super().__init__(addr, requestHandler=Handler, logRequests=False, allow_none=False,
                         encoding="utf-8")
        self.api = api

    def _dispatch(self, method, params):
        return self.api.dispatch(method, params)


class XapiSimulator:
    """Start/stop helper for tests: ``with XapiSimulator() as sim: sim.url``."""

    def __init__(self, host="127.0.0.1", port=0, **store_kw):
        self.store = Store(**store_kw)
        self.api = Api(self.store)
        self.server = Server((host, port), self.api)
        self.url = "http://%s:%d/" % self.server.server_address[:2]
        self._thread = None

    def host_table(self, xen_host: str = "xs-host-1", user: str = "root") -> dict:
        """The ``[hosts.NAME]`` table for an Overcast host standing for ``xen_host``."""
        return {"driver": "xen", "url": self.url, "username": user, "password": self.store.users[user],
                "xen_host": xen_host}

    def start(self):
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True, name="xapi-sim")
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.store.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    p = argparse.ArgumentParser(description="XAPI simulator (test infrastructure)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--user", default="root")
    p.add_argument("--password", default="secret")
    p.add_argument("--hosts", type=int, default=2)
    p.add_argument("--delay", type=float, default=0.0, help="seconds each Async.* operation takes")
    a = p.parse_args(argv)
    sim = XapiSimulator(a.host, a.port, hosts=a.hosts, users={a.user: a.password})
    sim.store.delay = a.delay
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    print(sim.url, flush=True)
    try:
        sim.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.store.close()


if __name__ == "__main__":
    sys.exit(main())
