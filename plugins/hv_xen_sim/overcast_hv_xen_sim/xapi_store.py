"""The XAPI simulator's state: the typed record store, derived back-references, the event log
and XAPI's VM power-state machine, all under one lock."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import uuid as uuidlib
import xmlrpc.client

from overcast_hv_xen_sim.xapi_records import (
    BACKREFS,
    GiB,
    MiB,
    NULL,
    REQUIRED,
    SCHEMA,
    VM_OPS,
    XapiError,
    _f,
    new_ref,
    now_dt,
    sparse_copy,
)


class Store:
    """The record store, the power-state machine and the event log (one lock)."""

    def __init__(
        self,
        *,
        hosts: int = 2,
        host_memory: int = 16 * GiB,
        host_cpus: int = 8,
        sr_size: int = 200 * GiB,
        data_dir: str | None = None,
        users: dict[str, str] | None = None,
    ):
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
        self.iscsi_luns: dict[tuple[str, str], dict] = {}  # the simulated storage array: (iqn, lun) -> LUN
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
        self.events.append(
            {
                "id": str(self.event_seq),
                "timestamp": "%.6f" % time.time(),
                "class": cls.lower(),
                "operation": op,
                "ref": ref,
                "snapshot": snapshot or {},
            }
        )
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
                            evs.append(
                                {
                                    "id": str(self.event_seq),
                                    "timestamp": "%.6f" % time.time(),
                                    "class": cls.lower(),
                                    "operation": "add",
                                    "ref": ref,
                                    "snapshot": self.render(cls, ref),
                                }
                            )
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
        return {
            "events": evs,
            "token": "%020d" % self.event_seq,
            "valid_ref_counts": {c.lower(): str(len(t)) for c, t in self.t.items() if t},
        }

    # ---- bootstrap ----------------------------------------------------------------------
    def _bootstrap(self, nhosts, host_memory, host_cpus, sr_size):
        pool = self.insert("pool", {"name_label": "sim-pool"})
        shared = self.insert(
            "SR",
            {
                "name_label": "Shared storage",
                "type": "nfs",
                "content_type": "",
                "shared": True,
                "physical_size": sr_size,
            },
        )
        net = self.insert(
            "network", {"name_label": "Pool-wide network associated with eth0", "bridge": "xenbr0", "other_config": {}}
        )
        self.insert(
            "network",
            {
                "name_label": "Host internal management network",
                "bridge": "xenapi",
                "other_config": {"is_host_internal_management_network": "true"},
            },
        )
        for i in range(1, nhosts + 1):
            metrics = self.insert("host_metrics", {"memory_total": host_memory, "last_updated": now_dt()})
            host = self.insert(
                "host",
                {
                    "name_label": "xs-host-%d" % i,
                    "hostname": "xs-host-%d" % i,
                    "address": "127.0.0.%d" % i,
                    "metrics": metrics,
                    "software_version": {
                        "product_brand": "XCP-ng",
                        "product_version": "8.2.1",
                        "platform_version": "3.2.1",
                        "xapi": "1.20",
                        "xen": "4.13.5",
                        "hostname": "xs-host-%d" % i,
                    },
                    "capabilities": ["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"],
                    "cpu_info": {
                        "cpu_count": str(host_cpus),
                        "socket_count": "1",
                        "vendor": "GenuineIntel",
                        "speed": "2400.000",
                        "modelname": "Simulated CPU",
                        "family": "6",
                        "model": "85",
                    },
                    "supported_bootloaders": ["pygrub", "eliloader"],
                    "memory_overhead": 100 * MiB,
                },
            )
            local = self.insert(
                "SR", {"name_label": "Local storage", "type": "ext", "shared": False, "physical_size": sr_size // 2}
            )
            self.insert("PBD", {"host": host, "SR": local, "device_config": {"device": "/dev/sda3"}})
            self.insert("PBD", {"host": host, "SR": shared, "device_config": {"server": "nfs", "serverpath": "/sr"}})
            self.insert(
                "PIF",
                {
                    "device": "eth0",
                    "network": net,
                    "host": host,
                    "management": True,
                    "MAC": "02:00:00:00:00:%02x" % i,
                    "IP": "127.0.0.%d" % i,
                },
            )
            dom0 = self.insert(
                "VM",
                {
                    **self._vm_defaults(),
                    "name_label": "Control domain on host: xs-host-%d" % i,
                    "is_control_domain": True,
                    "power_state": "Running",
                    "resident_on": host,
                    "domid": 0,
                    "memory_static_max": GiB,
                    "memory_dynamic_max": GiB,
                    "memory_dynamic_min": GiB,
                    "memory_static_min": GiB,
                },
            )
            self.get("VM", dom0)["metrics"] = self.insert("VM_metrics", {"memory_actual": GiB, "VCPUs_number": 2})
            if i == 1:
                self.update("pool", pool, master=host, default_SR=shared, suspend_image_SR=shared, crash_dump_SR=shared)
        tmpl = self.insert(
            "VM",
            {
                **self._vm_defaults(),
                "name_label": "Other install media",
                "is_a_template": True,
                "is_default_template": True,
                "HVM_boot_policy": "BIOS order",
                "HVM_boot_params": {"order": "cd"},
                "platform": {"viridian": "false", "acpi": "1", "apic": "true", "pae": "true"},
                "other_config": {"install-methods": "cdrom"},
            },
        )
        self.get("VM", tmpl)

    @staticmethod
    def _vm_defaults() -> dict:
        return {
            "user_version": 1,
            "is_a_template": False,
            "affinity": NULL,
            "memory_static_max": 256 * MiB,
            "memory_dynamic_max": 256 * MiB,
            "memory_dynamic_min": 256 * MiB,
            "memory_static_min": 128 * MiB,
            "VCPUs_params": {},
            "VCPUs_max": 1,
            "VCPUs_at_startup": 1,
            "actions_after_shutdown": "destroy",
            "actions_after_reboot": "restart",
            "actions_after_crash": "restart",
            "PV_bootloader": "",
            "PV_kernel": "",
            "PV_ramdisk": "",
            "PV_args": "",
            "PV_bootloader_args": "",
            "PV_legacy_args": "",
            "HVM_boot_policy": "",
            "HVM_boot_params": {},
            "platform": {},
            "PCI_bus": "",
            "other_config": {},
            "recommendations": "",
        }

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
        return {
            self.t["PBD"][p]["SR"] for p in self.children("PBD", "host", host) if self.t["PBD"][p]["currently_attached"]
        }

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
            raise XapiError("VM_BAD_POWER_STATE", ref, ", ".join(s.lower() for s in states), rec["power_state"].lower())

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
            vrec.update(
                currently_attached=not vrec["empty"] or vrec["type"] == "CD", device=self._devname(vrec["userdevice"])
            )
            self.emit("VBD", "mod", vbd)
        for vif in self.children("VIF", "VM", vm):
            self.update("VIF", vif, currently_attached=True)
        metrics = rec["metrics"]
        if metrics in self.t["VM_metrics"]:
            self.update(
                "VM_metrics",
                metrics,
                memory_actual=rec["memory_static_max"],
                VCPUs_number=rec["VCPUs_at_startup"],
                start_time=now_dt(),
            )
        gm = rec["guest_metrics"]
        if gm not in self.t["VM_guest_metrics"]:
            gm = self.insert(
                "VM_guest_metrics",
                {
                    "PV_drivers_up_to_date": True,
                    "live": True,
                    "PV_drivers_version": {"major": "9", "minor": "1"},
                    "os_version": {"name": "Simulated Linux"},
                },
            )
        rec.update(power_state="Paused" if paused else "Running", resident_on=host, domid=domid, guest_metrics=gm)
        self.console(
            vm, "[sim] domain %d (%s) started on %s" % (domid, rec["name_label"], self.t["host"][host]["name_label"])
        )
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
        new = self._create_vdi(
            {**{k: v for k, v in rec.items() if k not in ("uuid", "location")}, "SR": sr or rec["SR"], **extra}
        )
        sparse_copy(self._vdi_path(rec), self._vdi_path(self.t["VDI"][new]))
        self.emit("VDI", "mod", new)
        return new

    def close(self):
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
