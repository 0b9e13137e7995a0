"""The XAPI simulator's ``VM.*`` messages: create/destroy, the power operations with XAPI's
state rules, snapshot/clone/copy/provision and ``pool_migrate``."""

from __future__ import annotations

from overcast_hv_xen_sim.xapi_records import MiB, NULL, SCHEMA, XapiError, now_dt


class VmMessages:
    """``VM.*`` handlers, mixed into :class:`~overcast_hv_xen_sim.xapi_api.Api` (``self.s`` is the store)."""

    # ---- VM -----------------------------------------------------------------------------
    def VM__create(self, rec):
        s = self.s
        r = self._checked_record("VM", rec)
        ref = s.insert("VM", r)
        s.get("VM", ref)["metrics"] = s.insert("VM_metrics", {"memory_actual": 0, "VCPUs_number": 0})
        if not r.get("is_a_template"):
            c = s.insert(
                "console", {"VM": ref, "protocol": "rfb", "location": "https://127.0.0.1/console?ref=%s" % ref}
            )
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
        svdi = s._create_vdi(
            {
                "name_label": "Suspend image",
                "name_description": "",
                "SR": sr,
                "virtual_size": rec["memory_static_max"] + 4 * MiB,
                "type": "suspend",
                "sharable": False,
                "read_only": False,
                "other_config": {},
            }
        )
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
        s.console(
            vm,
            "[sim] domain %d migrated from %s to %s"
            % (rec["domid"], s.t["host"][src]["name_label"], s.t["host"][host]["name_label"]),
        )
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
            s.insert(
                "VBD", {**{k: v for k, v in b.items() if SCHEMA["VBD"][k][1] in ("RW", "C")}, "VM": new, "VDI": vdi}
            )
        for vif in s.children("VIF", "VM", vm):
            v = s.t["VIF"][vif]
            s.insert(
                "VIF",
                {**{k: v2 for k, v2 in v.items() if SCHEMA["VIF"][k][1] in ("RW", "C")}, "VM": new, "MAC": v["MAC"]},
            )  # clone/copy keep the MACs
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
