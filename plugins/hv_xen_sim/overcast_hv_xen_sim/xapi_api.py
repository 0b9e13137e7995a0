"""The XAPI simulator's message layer: dispatch with XAPI's reply envelope, the generic
per-class messages, sessions, ``Async.*`` tasks, ``event.from``, host plugins, and the
test-only ``debug.*`` messages. The VM and storage handlers come from mixins."""

from __future__ import annotations

import base64
import inspect
import os
import threading
import time
import uuid as uuidlib
import xmlrpc.client
import zlib

from overcast_hv_xen_sim.xapi_records import BACKREFS, REQUIRED, SCHEMA, XapiError, new_ref, now_dt
from overcast_hv_xen_sim.xapi_storage_messages import StorageMessages
from overcast_hv_xen_sim.xapi_store import Store
from overcast_hv_xen_sim.xapi_vm_messages import VmMessages


class Api(VmMessages, StorageMessages):
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
            name = method[len("Async.") :]
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
            field = msg[len(prefix) :]
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
            self.sessions[ref] = {
                "uuid": str(uuidlib.uuid4()),
                "this_host": pool["master"],
                "originator": originator,
                "last_active": now_dt(),
                "user": user,
            }
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
            task = s.insert(
                "task",
                {
                    "name_label": "Async.%s" % name,
                    "created": now_dt(),
                    "status": "pending",
                    "resident_on": master,
                    "allowed_operations": ["cancel"],
                },
            )

        def run():
            if s.delay:
                time.sleep(s.delay)
            with s.lock:
                if task not in s.t["task"]:
                    return
                if s.t["task"][task]["status"] == "cancelling":
                    s.update(
                        "task",
                        task,
                        status="cancelled",
                        finished=now_dt(),
                        error_info=["TASK_CANCELLED", task],
                        allowed_operations=[],
                    )
                    return
                try:
                    v = self._call(name, fn, args)
                    s.update(
                        "task",
                        task,
                        status="success",
                        progress=1.0,
                        finished=now_dt(),
                        result=self._encode_result(v),
                        allowed_operations=[],
                    )
                except XapiError as e:
                    s.update(
                        "task",
                        task,
                        status="failure",
                        progress=1.0,
                        finished=now_dt(),
                        error_info=e.description,
                        allowed_operations=[],
                    )
                except Exception as e:  # noqa: BLE001
                    s.update(
                        "task",
                        task,
                        status="failure",
                        finished=now_dt(),
                        allowed_operations=[],
                        error_info=["INTERNAL_ERROR", "%s: %s" % (type(e).__name__, e)],
                    )

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
            s.iscsi_luns[key] = {
                "size": int(size),
                "path": path,
                "portals": set(),
                "scsi_id": "36" + uuidlib.uuid4().hex[:30],
            }
        s.iscsi_luns[key]["portals"].add(portal)
        return s.iscsi_luns[key]["path"]

    def debug__console_append(self, vm, text):
        self.s.get("VM", vm)
        self.s.console(vm, text)
