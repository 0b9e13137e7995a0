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

Run standalone: ``python -m overcast_hv_xen_sim.xapi_sim --port 0``: it prints the URL
(``http://127.0.0.1:PORT/``) on stdout when ready.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs, urlparse
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

from overcast_hv_xen import vhd
from overcast_hv_xen_sim.xapi_api import Api
from overcast_hv_xen_sim.xapi_store import Store


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
        super().__init__(addr, requestHandler=Handler, logRequests=False, allow_none=False, encoding="utf-8")
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
        return {
            "driver": "xen",
            "url": self.url,
            "username": user,
            "password": self.store.users[user],
            "xen_host": xen_host,
        }

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
    p.add_argument("--data-dir", default=None, help="where the disks live (default: a temporary directory)")
    a = p.parse_args(argv)
    sim = XapiSimulator(a.host, a.port, hosts=a.hosts, users={a.user: a.password}, data_dir=a.data_dir)
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
