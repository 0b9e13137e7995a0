"""The ESX plugin's vSphere client layer on top of pyvmomi.

* one ``ServiceInstance`` per endpoint, logged in again when the session expires
  (``vim.fault.NotAuthenticated``);
* inventory look-ups through ContainerViews that tolerate objects vanishing mid-iteration
  (``ManagedObjectNotFound``: real vCenter races the same way);
* tasks waited for with a time-out; their faults re-raised as :class:`VimError`;
* datastore files moved over HTTPS ``/folder/<path>?dcPath=..&dsName=..`` with the session
  cookie.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from typing import Any, BinaryIO, Callable
from urllib.parse import quote, urlencode, urlparse


class VimError(Exception):
    """vSphere answered with a fault."""

    def __init__(self, fault: Exception, call: str = ""):
        self.fault = fault
        name = getattr(fault, "_wsdlName", None) or type(fault).__name__
        self.name = name
        msg = getattr(fault, "msg", "") or ""
        text = "vSphere fault %s" % name
        if msg:
            text += ": %s" % msg
        if call:
            text += " (in %s)" % call
        super().__init__(text)


class VimUnreachable(Exception):
    """The endpoint did not answer or is not vSphere."""


def _is(fault: Exception, *classes) -> bool:
    return isinstance(fault, classes)


class VimSession:
    def __init__(self, url: str, username: str, password: str, *, verify_tls: bool = True, timeout: float = 60.0):
        self.url = url
        u = urlparse(url)
        self.scheme = u.scheme or "https"
        self.host = u.hostname or "localhost"
        self.port = u.port or (443 if self.scheme == "https" else 80)
        self.path = u.path if u.path and u.path != "/" else "/sdk"
        self.username = username
        self._password = password
        self.verify_tls = verify_tls
        self.timeout = timeout
        self._si = None
        self._lock = threading.RLock()

    # ---- connection ------------------------------------------------------------------
    def _ssl(self):
        if self.scheme != "https":
            return None
        return ssl.create_default_context() if self.verify_tls else ssl._create_unverified_context()

    def connect(self):
        from pyVim.connect import SmartConnect
        from pyVmomi import vim, vmodl

        with self._lock:
            try:
                self._si = SmartConnect(
                    host=self.host,
                    port=self.port,
                    user=self.username,
                    pwd=self._password,
                    protocol=self.scheme,
                    path=self.path,
                    sslContext=self._ssl(),
                    connectionPoolTimeout=int(self.timeout),
                )
            except vim.fault.InvalidLogin as e:
                raise VimError(e, "login") from None
            except vmodl.MethodFault as e:
                raise VimError(e, "login") from None
            except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                raise VimUnreachable("cannot reach vSphere at %s: %s" % (self.url, e)) from None
            except Exception as e:  # noqa: BLE001 - pyvmomi raises plain Exceptions for non-vSphere replies
                raise VimUnreachable("vSphere at %s: %s" % (self.url, e)) from None
            return self._si

    @property
    def si(self):
        if self._si is None:
            self.connect()
        return self._si

    @property
    def content(self):
        return self.si.RetrieveContent()

    def close(self):
        from pyVim.connect import Disconnect

        with self._lock:
            if self._si is not None:
                try:
                    Disconnect(self._si)
                except Exception:  # noqa: BLE001
                    pass
                self._si = None

    def run(self, fn: Callable[[], Any], call: str = "") -> Any:
        """Run ``fn`` (which uses pyvmomi objects) mapping faults; re-login once if needed."""
        from pyVmomi import vim, vmodl

        for attempt in (1, 2):
            try:
                return fn()
            except vim.fault.NotAuthenticated as e:
                if attempt == 2:
                    raise VimError(e, call) from None
                self._si = None
                self.connect()
            except VimError:
                raise
            except vmodl.MethodFault as e:
                raise VimError(e, call) from None
            except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                self._si = None
                raise VimUnreachable("vSphere at %s did not answer %s: %s" % (self.url, call or "a call", e)) from None

    # ---- inventory ---------------------------------------------------------------------
    def objects(self, kind, root=None) -> list:
        from pyVmomi import vmodl

        content = self.content
        view = content.viewManager.CreateContainerView(root or content.rootFolder, [kind], True)
        try:
            return list(view.view)
        finally:
            try:
                view.Destroy()
            except vmodl.MethodFault:
                pass

    def named(self, kind, name: str):
        from pyVmomi import vmodl

        for obj in self.objects(kind):
            try:
                if obj.name == name:
                    return obj
            except vmodl.fault.ManagedObjectNotFound:
                continue
        return None

    def vms_named(self, name: str) -> list:
        from pyVmomi import vim, vmodl

        out = []
        for vm in self.objects(vim.VirtualMachine):
            try:
                if vm.name == name and not vm.config.template:
                    out.append(vm)
            except vmodl.fault.ManagedObjectNotFound:
                continue  # destroyed while we looked (vcsim 0.24.2 keeps stale refs in views)
        return out

    # ---- tasks -------------------------------------------------------------------------
    def _task_state(self, task) -> dict:
        """Read only info.state / info.error / info.result of a task through the
        PropertyCollector (never the whole TaskInfo, whose other members we do not need)."""
        from pyVmomi import vim, vmodl

        pc = self.content.propertyCollector
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=task, skip=False)],
            propSet=[
                vmodl.query.PropertyCollector.PropertySpec(
                    type=vim.Task, pathSet=["info.state", "info.error", "info.result"], all=False
                )
            ],
        )
        res = pc.RetrievePropertiesEx(specSet=[spec], options=vmodl.query.PropertyCollector.RetrieveOptions())
        out = {}
        for obj in res.objects if res else []:
            for prop in obj.propSet:
                out[prop.name] = prop.val
        return out

    def wait(self, task, call: str = "", timeout: float | None = None) -> Any:
        from pyVmomi import vim, vmodl

        deadline = time.monotonic() + (timeout or 3600)
        delay = 0.02
        while True:
            info = self._task_state(task)
            state = info.get("info.state")
            if state == vim.TaskInfo.State.success:
                return info.get("info.result")
            if state == vim.TaskInfo.State.error:
                raise VimError(info.get("info.error") or vmodl.fault.SystemError(msg="task failed"), call)
            if time.monotonic() > deadline:
                try:
                    task.CancelTask()
                except vmodl.MethodFault:
                    pass
                raise VimError(vmodl.fault.RequestCanceled(msg="no result after %.0f s" % (timeout or 0)), call)
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    # ---- datastore files over HTTP -----------------------------------------------------
    def _http(self):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ssl())
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _folder_url(self, dc_name: str, ds_name: str, path: str) -> str:
        return "/folder/%s?%s" % (quote(path), urlencode({"dcPath": dc_name, "dsName": ds_name}))

    def _cookie(self) -> str:
        cookie = getattr(self.si._stub, "cookie", "") or ""
        return cookie.split(";")[0]

    def upload(self, dc_name: str, ds_name: str, path: str, src: BinaryIO, length: int) -> None:
        conn = self._http()
        try:
            conn.putrequest("PUT", self._folder_url(dc_name, ds_name, path))
            conn.putheader("Content-Length", str(length))
            conn.putheader("Content-Type", "application/octet-stream")
            if self._cookie():
                conn.putheader("Cookie", self._cookie())
            conn.endheaders()
            left = length
            while left:
                chunk = src.read(min(left, 1 << 20))
                if not chunk:
                    raise VimUnreachable("upload of %s ended %d bytes early" % (path, left))
                conn.send(chunk)
                left -= len(chunk)
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 201, 204):
                raise VimUnreachable("datastore upload of [%s] %s failed: HTTP %d" % (ds_name, path, resp.status))
        except (OSError, http.client.HTTPException) as e:
            raise VimUnreachable("datastore upload to %s failed: %s" % (self.url, e)) from None
        finally:
            conn.close()

    def download(self, dc_name: str, ds_name: str, path: str, dst: BinaryIO) -> int:
        conn = self._http()
        try:
            headers = {"Cookie": self._cookie()} if self._cookie() else {}
            conn.request("GET", self._folder_url(dc_name, ds_name, path), headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                resp.read()
                raise VimUnreachable("datastore download of [%s] %s failed: HTTP %d" % (ds_name, path, resp.status))
            n = 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    return n
                dst.write(chunk)
                n += len(chunk)
        except (OSError, http.client.HTTPException, socket.timeout) as e:
            raise VimUnreachable("datastore download from %s failed: %s" % (self.url, e)) from None
        finally:
            conn.close()
