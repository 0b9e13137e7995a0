"""The XAPI simulator's vocabulary: the record schema of every class it stores, XAPI's error
type, references, timestamps, and the small disk/MAC helpers the store and messages share."""

from __future__ import annotations

import os
import time
import uuid as uuidlib
import xmlrpc.client


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
        d = {
            "string": "",
            "int": 0,
            "float": 0.0,
            "bool": False,
            "datetime": EPOCH,
            "enum": "",
            "ref": NULL,
            "set": [],
            "map": {},
        }[t]
    return (t, q, d)


COMMON = {"uuid": _f("string", "RO")}
NAMED = {"name_label": _f("string", "RW", REQUIRED), "name_description": _f("string", "RW", "")}
OPS = {"allowed_operations": _f("set", "RO"), "current_operations": _f("map", "RO")}

SCHEMA: dict[str, dict[str, tuple]] = {
    "session": {
        **COMMON,
        "this_host": _f("ref", "RO"),
        "this_user": _f("ref", "RO"),
        "last_active": _f("datetime", "RO"),
        "pool": _f("bool", "RO"),
        "other_config": _f("map"),
        "is_local_superuser": _f("bool", "RO", True),
        "originator": _f("string", "RO"),
        "auth_user_name": _f("string", "RO"),
    },
    "pool": {
        **COMMON,
        "name_label": _f("string"),
        "name_description": _f("string"),
        "master": _f("ref", "RO"),
        "default_SR": _f("ref"),
        "suspend_image_SR": _f("ref"),
        "crash_dump_SR": _f("ref"),
        "other_config": _f("map"),
        "ha_enabled": _f("bool", "RO"),
        "tags": _f("set"),
    },
    "host": {
        **COMMON,
        **NAMED,
        **OPS,
        "API_version_major": _f("int", "RO", 2),
        "API_version_minor": _f("int", "RO", 21),
        "API_version_vendor": _f("string", "RO", "XenSource"),
        "enabled": _f("bool", "RO", True),
        "software_version": _f("map", "RO"),
        "other_config": _f("map"),
        "capabilities": _f("set", "RO"),
        "cpu_configuration": _f("map", "RO"),
        "sched_policy": _f("string", "RO", "credit"),
        "supported_bootloaders": _f("set", "RO"),
        "logging": _f("map"),
        "PIFs": _f("set", "RO"),
        "suspend_image_sr": _f("ref"),
        "crash_dump_sr": _f("ref"),
        "PBDs": _f("set", "RO"),
        "host_CPUs": _f("set", "RO"),
        "cpu_info": _f("map", "RO"),
        "hostname": _f("string"),
        "address": _f("string"),
        "metrics": _f("ref", "RO"),
        "resident_VMs": _f("set", "RO"),
        "memory_overhead": _f("int", "RO"),
        "tags": _f("set"),
    },
    "host_metrics": {
        **COMMON,
        "memory_total": _f("int", "RO"),
        "memory_free": _f("int", "RO"),
        "live": _f("bool", "RO", True),
        "last_updated": _f("datetime", "RO"),
        "other_config": _f("map"),
    },
    "SR": {
        **COMMON,
        **NAMED,
        **OPS,
        "VDIs": _f("set", "RO"),
        "PBDs": _f("set", "RO"),
        "virtual_allocation": _f("int", "RO"),
        "physical_utilisation": _f("int", "RO"),
        "physical_size": _f("int", "RO"),
        "type": _f("string", "RO"),
        "content_type": _f("string", "RO"),
        "shared": _f("bool"),
        "other_config": _f("map"),
        "tags": _f("set"),
        "sm_config": _f("map"),
    },
    "PBD": {
        **COMMON,
        "host": _f("ref", "C"),
        "SR": _f("ref", "C"),
        "device_config": _f("map", "C"),
        "currently_attached": _f("bool", "RO", True),
        "other_config": _f("map"),
    },
    "VDI": {
        **COMMON,
        **NAMED,
        **OPS,
        "SR": _f("ref", "C", REQUIRED),
        "VBDs": _f("set", "RO"),
        "crash_dumps": _f("set", "RO"),
        "virtual_size": _f("int", "C", REQUIRED),
        "physical_utilisation": _f("int", "RO"),
        "type": _f("enum", "C", REQUIRED),
        "sharable": _f("bool", "C", REQUIRED),
        "read_only": _f("bool", "C", REQUIRED),
        "other_config": _f("map", "RW", REQUIRED),
        "storage_lock": _f("bool", "RO"),
        "location": _f("string", "RO"),
        "managed": _f("bool", "RO", True),
        "missing": _f("bool", "RO"),
        "parent": _f("ref", "RO"),
        "xenstore_data": _f("map", "C"),
        "sm_config": _f("map", "C"),
        "is_a_snapshot": _f("bool", "RO"),
        "snapshot_of": _f("ref", "RO"),
        "snapshots": _f("set", "RO"),
        "snapshot_time": _f("datetime", "RO"),
        "tags": _f("set"),
    },
    "VBD": {
        **COMMON,
        **OPS,
        "VM": _f("ref", "C", REQUIRED),
        "VDI": _f("ref", "C", REQUIRED),
        "device": _f("string", "RO"),
        "userdevice": _f("string", "RW", REQUIRED),
        "bootable": _f("bool", "RW", REQUIRED),
        "mode": _f("enum", "RW", REQUIRED),
        "type": _f("enum", "RW", REQUIRED),
        "unpluggable": _f("bool", "RW", True),
        "storage_lock": _f("bool", "RO"),
        "empty": _f("bool", "C", REQUIRED),
        "other_config": _f("map", "RW", REQUIRED),
        "currently_attached": _f("bool", "RO"),
        "status_code": _f("int", "RO"),
        "status_detail": _f("string", "RO"),
        "runtime_properties": _f("map", "RO"),
        "qos_algorithm_type": _f("string", "RW", REQUIRED),
        "qos_algorithm_params": _f("map", "RW", REQUIRED),
        "qos_supported_algorithms": _f("set", "RO"),
        "metrics": _f("ref", "RO"),
    },
    "VIF": {
        **COMMON,
        **OPS,
        "device": _f("string", "C", REQUIRED),
        "network": _f("ref", "C", REQUIRED),
        "VM": _f("ref", "C", REQUIRED),
        "MAC": _f("string", "C", REQUIRED),
        "MTU": _f("int", "C", REQUIRED),
        "other_config": _f("map", "RW", REQUIRED),
        "currently_attached": _f("bool", "RO"),
        "status_code": _f("int", "RO"),
        "status_detail": _f("string", "RO"),
        "runtime_properties": _f("map", "RO"),
        "qos_algorithm_type": _f("string", "RW", REQUIRED),
        "qos_algorithm_params": _f("map", "RW", REQUIRED),
        "metrics": _f("ref", "RO"),
        "MAC_autogenerated": _f("bool", "RO"),
        "locking_mode": _f("enum", "RW", "network_default"),
    },
    "network": {
        **COMMON,
        **NAMED,
        **OPS,
        "VIFs": _f("set", "RO"),
        "PIFs": _f("set", "RO"),
        "MTU": _f("int", "RW", 1500),
        "other_config": _f("map", "RW", REQUIRED),
        "bridge": _f("string", "C", ""),
        "tags": _f("set"),
    },
    "PIF": {
        **COMMON,
        "device": _f("string", "C"),
        "network": _f("ref", "C"),
        "host": _f("ref", "C"),
        "MAC": _f("string", "C"),
        "MTU": _f("int", "C", 1500),
        "physical": _f("bool", "RO", True),
        "currently_attached": _f("bool", "RO", True),
        "management": _f("bool", "RO"),
        "IP": _f("string", "RO"),
        "other_config": _f("map"),
    },
    "VM": {
        **COMMON,
        **NAMED,
        **OPS,
        "power_state": _f("enum", "RO", "Halted"),
        "user_version": _f("int", "RW", REQUIRED),
        "is_a_template": _f("bool", "RW", REQUIRED),
        "is_default_template": _f("bool", "RO"),
        "suspend_VDI": _f("ref", "RO"),
        "resident_on": _f("ref", "RO"),
        "affinity": _f("ref", "RW", REQUIRED),
        "memory_overhead": _f("int", "RO"),
        "memory_target": _f("int", "RO"),
        "memory_static_max": _f("int", "RW", REQUIRED),
        "memory_dynamic_max": _f("int", "RW", REQUIRED),
        "memory_dynamic_min": _f("int", "RW", REQUIRED),
        "memory_static_min": _f("int", "RW", REQUIRED),
        "VCPUs_params": _f("map", "RW", REQUIRED),
        "VCPUs_max": _f("int", "RW", REQUIRED),
        "VCPUs_at_startup": _f("int", "RW", REQUIRED),
        "actions_after_shutdown": _f("enum", "RW", REQUIRED),
        "actions_after_reboot": _f("enum", "RW", REQUIRED),
        "actions_after_crash": _f("enum", "RW", REQUIRED),
        "consoles": _f("set", "RO"),
        "VIFs": _f("set", "RO"),
        "VBDs": _f("set", "RO"),
        "crash_dumps": _f("set", "RO"),
        "PV_bootloader": _f("string", "RW", REQUIRED),
        "PV_kernel": _f("string", "RW", REQUIRED),
        "PV_ramdisk": _f("string", "RW", REQUIRED),
        "PV_args": _f("string", "RW", REQUIRED),
        "PV_bootloader_args": _f("string", "RW", REQUIRED),
        "PV_legacy_args": _f("string", "RW", REQUIRED),
        "HVM_boot_policy": _f("string", "RW", REQUIRED),
        "HVM_boot_params": _f("map", "RW", REQUIRED),
        "platform": _f("map", "RW", REQUIRED),
        "PCI_bus": _f("string", "RW", REQUIRED),
        "other_config": _f("map", "RW", REQUIRED),
        "domid": _f("int", "RO", -1),
        "is_control_domain": _f("bool", "RO"),
        "metrics": _f("ref", "RO"),
        "guest_metrics": _f("ref", "RO"),
        "recommendations": _f("string", "RW", REQUIRED),
        "xenstore_data": _f("map"),
        "is_a_snapshot": _f("bool", "RO"),
        "snapshot_of": _f("ref", "RO"),
        "snapshots": _f("set", "RO"),
        "snapshot_time": _f("datetime", "RO"),
        "tags": _f("set"),
        "blocked_operations": _f("map"),
        "parent": _f("ref", "RO"),
        "domarch": _f("string", "RO"),
    },
    "VM_metrics": {
        **COMMON,
        "memory_actual": _f("int", "RO"),
        "VCPUs_number": _f("int", "RO"),
        "start_time": _f("datetime", "RO"),
        "last_updated": _f("datetime", "RO"),
        "state": _f("set", "RO"),
        "other_config": _f("map"),
    },
    "VM_guest_metrics": {
        **COMMON,
        "os_version": _f("map", "RO"),
        "PV_drivers_version": _f("map", "RO"),
        "PV_drivers_up_to_date": _f("bool", "RO"),
        "networks": _f("map", "RO"),
        "other": _f("map", "RO"),
        "live": _f("bool", "RO"),
        "last_updated": _f("datetime", "RO"),
        "other_config": _f("map"),
    },
    "console": {
        **COMMON,
        "protocol": _f("enum", "RO", "rfb"),
        "location": _f("string", "RO"),
        "VM": _f("ref", "RO"),
        "other_config": _f("map"),
    },
    "task": {
        **COMMON,
        "name_label": _f("string", "RO"),
        "name_description": _f("string", "RO"),
        **OPS,
        "created": _f("datetime", "RO"),
        "finished": _f("datetime", "RO"),
        "status": _f("enum", "RO", "pending"),
        "resident_on": _f("ref", "RO"),
        "progress": _f("float", "RO"),
        "type": _f("string", "RO"),
        "result": _f("string", "RO"),
        "error_info": _f("set", "RO"),
        "other_config": _f("map"),
        "subtask_of": _f("ref", "RO"),
        "subtasks": _f("set", "RO"),
        "backtrace": _f("string", "RO", "()"),
    },
}

# derived back-references: (class, field) -> (child class, child field pointing back)
BACKREFS = {
    ("VM", "VBDs"): ("VBD", "VM"),
    ("VM", "VIFs"): ("VIF", "VM"),
    ("VM", "consoles"): ("console", "VM"),
    ("VM", "snapshots"): ("VM", "snapshot_of"),
    ("VDI", "VBDs"): ("VBD", "VDI"),
    ("VDI", "snapshots"): ("VDI", "snapshot_of"),
    ("SR", "VDIs"): ("VDI", "SR"),
    ("SR", "PBDs"): ("PBD", "SR"),
    ("host", "PBDs"): ("PBD", "host"),
    ("host", "PIFs"): ("PIF", "host"),
    ("host", "resident_VMs"): ("VM", "resident_on"),
    ("network", "VIFs"): ("VIF", "network"),
    ("network", "PIFs"): ("PIF", "network"),
}

VM_OPS = {
    "Halted": ["start", "start_on", "clone", "copy", "snapshot", "destroy", "provision", "export"],
    "Running": [
        "clean_shutdown",
        "hard_shutdown",
        "clean_reboot",
        "hard_reboot",
        "suspend",
        "pause",
        "pool_migrate",
        "snapshot",
    ],
    "Paused": ["unpause", "hard_shutdown", "hard_reboot"],
    "Suspended": ["resume", "resume_on", "hard_shutdown", "snapshot"],
}


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
