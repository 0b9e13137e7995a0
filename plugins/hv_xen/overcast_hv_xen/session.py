"""The plugin's XAPI client layer, on top of the official ``XenAPI`` module (PyPI ``xenapi``).

* one logged-in ``XenAPI.Session`` per endpoint; the client itself logs in again and retries
  when XAPI answers ``SESSION_INVALID``;
* socket time-outs on every call (the stock transport has none);
* ``Async.*`` calls wait for their task (polling ``task.get_status``) and decode the task's
  XML-RPC-encoded result;
* VDI contents move over HTTP (``PUT /import_raw_vdi``, ``GET /export_raw_vdi``);
* every failure becomes :class:`XenError` (XAPI said no, with its error code and a readable
  message) or :class:`XenUnreachable` (no answer at all).
"""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
import time
import xmlrpc.client
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlparse

import XenAPI

NULL_REF = "OpaqueRef:NULL"

# readable text for the XAPI errors the plugin can meet; {0}.. are the error's parameters
_TEXT = {
    "SESSION_AUTHENTICATION_FAILED": "XAPI rejected the credentials for user {0!r}",
    "SESSION_INVALID": "the XAPI session is no longer valid",
    "HANDLE_INVALID": "the {0} {1} does not exist (any more)",
    "UUID_INVALID": "no {0} has uuid {1}",
    "VM_BAD_POWER_STATE": "the VM is {2}, but the operation needs it {1}",
    "VM_IS_TEMPLATE": "{0} is a template; '{1}' is not allowed on templates",
    "VM_MISSING_PV_DRIVERS": "the guest has no PV drivers running, so a clean operation is impossible",
    "HOST_NOT_ENOUGH_FREE_MEMORY": "not enough free memory on the host: {0} bytes needed, {1} free",
    "VM_REQUIRES_SR": "the VM needs storage repository {1}, which the target host cannot see",
    "VM_REQUIRES_NETWORK": "the VM needs network {1}, which the target host lacks",
    "VM_MIGRATE_FAILED": "migration failed: {3}",
    "VDI_IN_USE": "the disk {0} is in use ({1})",
    "SR_FULL": "the storage repository is full",
    "DEVICE_ALREADY_ATTACHED": "the device is already attached",
    "DEVICE_ALREADY_DETACHED": "the device is already detached",
    "DEVICE_ALREADY_EXISTS": "a device already uses slot {0}",
    "MESSAGE_METHOD_UNKNOWN": "XAPI does not know the call {0}",
    "MESSAGE_PARAMETER_COUNT_MISMATCH": "wrong number of parameters for {0}",
    "OPERATION_NOT_ALLOWED": "operation not allowed: {0}",
    "HOST_DISABLED": "the host is disabled",
    "HOST_OFFLINE": "the host is offline",
    "TASK_CANCELLED": "the task was cancelled",
}


class XenError(Exception):
    """XAPI answered with a failure."""

    def __init__(self, details, call: str = ""):
        details = [str(d) for d in (details or ["INTERNAL_ERROR"])]
        self.code = details[0]
        self.params = details[1:]
        self.call = call
        tmpl = _TEXT.get(self.code)
        try:
            text = tmpl.format(*self.params) if tmpl else ", ".join(self.params)
        except (IndexError, KeyError):
            text = ", ".join(self.params)
        msg = "XAPI %s: %s" % (self.code, text) if text else "XAPI %s" % self.code
        if call:
            msg += " (in %s)" % call
        super().__init__(msg)


class XenUnreachable(Exception):
    """The XAPI endpoint did not answer (refused, reset, timed out, not XAPI)."""


class _TimeoutTransport(xmlrpc.client.Transport):
    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


class _TimeoutSafeTransport(xmlrpc.client.SafeTransport):
    def __init__(self, timeout: float, context=None):
        super().__init__(context=context)
        self._timeout = timeout

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = self._timeout
        return conn


def decode_task_result(result: str) -> Any:
    """A task's ``result`` is the XML-RPC encoding of the value (``<value>OpaqueRef:..</value>``)."""
    if not result:
        return ""
    doc = "<?xml version='1.0'?><methodResponse><params><param>%s</param></params></methodResponse>" % result
    return xmlrpc.client.loads(doc)[0][0]


class XenSession:
    """A connection to one XAPI pool master."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        verify_tls: bool = True,
        originator: str = "overcast",
    ):
        self.url = url
        self.username = username
        self._password = password
        self.timeout = timeout
        self.verify_tls = verify_tls
        self.originator = originator
        self._lock = threading.RLock()
        self._session: XenAPI.Session | None = None

    # ---- connection -------------------------------------------------------------------
    def _new_session(self) -> XenAPI.Session:
        u = urlparse(self.url)
        if u.scheme == "https":
            ctx = None if self.verify_tls else ssl._create_unverified_context()
            transport = _TimeoutSafeTransport(self.timeout, ctx)
        else:
            transport = _TimeoutTransport(self.timeout)
        return XenAPI.Session(self.url, transport=transport)

    def login(self) -> None:
        with self._lock:
            s = self._new_session()
            try:
                s.login_with_password(self.username, self._password, "2.21", self.originator)
            except XenAPI.Failure as e:
                raise XenError(e.details, "session.login_with_password") from None
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as e:
                raise XenUnreachable("cannot reach XAPI at %s: %s" % (self.url, e)) from None
            except xmlrpc.client.Fault as e:
                raise XenError(["INTERNAL_ERROR", e.faultString], "session.login_with_password") from None
            self._session = s

    @property
    def handle(self) -> str:
        if self._session is None:
            self.login()
        return self._session.handle

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                try:
                    self._session.xenapi.session.logout()
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
                self._session = None

    # ---- calls -----------------------------------------------------------------------
    def call(self, name: str, *args) -> Any:
        """``call("VM.start", vm, False, False)``."""
        with self._lock:
            if self._session is None:
                self.login()
            fn = self._session.xenapi
            for part in name.split("."):
                fn = getattr(fn, part)
            try:
                return fn(*args)
            except XenAPI.Failure as e:
                raise XenError(e.details, name) from None
            except xmlrpc.client.Fault as e:
                # the client's own faults: 'Tried 3 times to get a valid session', ...
                raise XenError(
                    ["SESSION_INVALID" if "session" in e.faultString.lower() else "INTERNAL_ERROR", e.faultString], name
                ) from None
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as e:
                self._session = None  # the next call logs in again on a new connection
                raise XenUnreachable("XAPI at %s did not answer %s: %s" % (self.url, name, e)) from None

    def __getitem__(self, name: str):
        return lambda *a: self.call(name, *a)

    def async_call(self, name: str, *args, timeout: float = 600.0, poll: float = 0.05) -> Any:
        """Run ``Async.<name>`` and wait for its task; returns the decoded result."""
        task = self.call("Async." + name, *args)
        try:
            return self.wait_task(task, timeout=timeout, poll=poll, name=name)
        finally:
            try:
                self.call("task.destroy", task)
            except (XenError, XenUnreachable):
                pass

    def wait_task(self, task: str, *, timeout: float, poll: float = 0.05, name: str = "") -> Any:
        deadline = time.monotonic() + timeout
        delay = poll
        while True:
            status = self.call("task.get_status", task)
            if status == "success":
                return decode_task_result(self.call("task.get_result", task))
            if status in ("failure", "cancelled"):
                raise XenError(self.call("task.get_error_info", task) or ["TASK_CANCELLED"], name)
            if time.monotonic() > deadline:
                try:
                    self.call("task.cancel", task)
                except XenError:
                    pass
                raise XenError(["TASK_TIMEOUT", "no result after %.0f s" % timeout], name)
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def event_from(self, classes: list[str], token: str, timeout: float) -> dict:
        return self.call("event.from", classes, token, float(timeout))

    # ---- VDI data over HTTP --------------------------------------------------------------
    def _http(self):
        u = urlparse(self.url)
        if u.scheme == "https":
            ctx = ssl.create_default_context() if self.verify_tls else ssl._create_unverified_context()
            return http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=self.timeout)

    def _vdi_query(self, vdi: str, fmt: str) -> str:
        return urlencode({"session_id": self.handle, "vdi": vdi, "format": fmt})

    def import_vdi(self, vdi: str, src: BinaryIO, length: int, fmt: str) -> None:
        """Stream ``length`` bytes of an image in ``fmt`` (raw|vhd) into a VDI."""
        conn = self._http()
        try:
            conn.putrequest("PUT", "/import_raw_vdi?" + self._vdi_query(vdi, fmt))
            conn.putheader("Content-Length", str(length))
            conn.putheader(
                "Authorization",
                "Basic " + base64.b64encode(("%s:%s" % (self.username, self._password)).encode()).decode(),
            )
            conn.endheaders()
            left = length
            while left:
                chunk = src.read(min(left, 1 << 20))
                if not chunk:
                    raise XenError(["VDI_IO_ERROR", "image stream ended %d bytes early" % left], "import_raw_vdi")
                conn.send(chunk)
                left -= len(chunk)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise XenError(
                    ["VDI_IO_ERROR", "HTTP %d %s" % (resp.status, body.decode(errors="replace").strip())],
                    "import_raw_vdi",
                )
        except (OSError, http.client.HTTPException) as e:
            raise XenUnreachable("VDI import to %s failed: %s" % (self.url, e)) from None
        finally:
            conn.close()

    def export_vdi(self, vdi: str, dst: BinaryIO, fmt: str) -> int:
        """Copy a VDI's contents in ``fmt`` (raw|vhd) to ``dst``; returns the byte count."""
        conn = self._http()
        try:
            conn.request("GET", "/export_raw_vdi?" + self._vdi_query(vdi, fmt))
            resp = conn.getresponse()
            if resp.status != 200:
                raise XenError(
                    ["VDI_IO_ERROR", "HTTP %d %s" % (resp.status, resp.read().decode(errors="replace").strip())],
                    "export_raw_vdi",
                )
            n = 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    return n
                dst.write(chunk)
                n += len(chunk)
        except (OSError, http.client.HTTPException) as e:
            raise XenUnreachable("VDI export from %s failed: %s" % (self.url, e)) from None
        finally:
            conn.close()
