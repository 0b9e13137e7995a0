"""A WS-Management (WinRM) responder that the real pywinrm accepts, in front of the fake
PowerShell / Hyper-V model (:mod:`.fake_powershell`).

One :class:`HyperVSimulator` is a fabric of simulated Hyper-V hosts; each host has its own WinRM
listener on a free loopback port. Per host:

* the WinRS shell protocol: ``Create`` (shell), ``Command``, ``Receive`` (until
  ``CommandState/Done``), ``Signal`` (terminate), ``Delete``; ``RelatesTo`` echoes the request's
  ``MessageID`` as pywinrm asserts; SOAP faults with WSManFault codes (``2150858843`` shell not
  found, ``2150858793`` OperationTimeout for a command still running, which pywinrm retries);
* ``powershell -encodedcommand <base64 UTF-16LE>`` runs through the interpreter; errors and
  warnings are written to stderr as CLIXML (``#< CLIXML``), the exit code is 1 after a
  terminating error;
* authentication: HTTP Basic (``auth="basic"``) or NTLM with WinRM message encryption
  (``auth="ntlm"``, what a stock listener with ``AllowUnencrypted=false`` demands), the
  acceptor side from pyspnego (one security context per TCP connection; users from the file
  named by ``NTLM_USER_FILE``). With NTLM the listener refuses unencrypted bodies.

Run standalone: ``python -m overcast_hv_hyperv_sim.wsman_sim --hosts hv1,hv2`` prints one
``NAME URL`` line per host when ready.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import os
import re
import signal
import struct
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from .fake_powershell import Fabric, Host, PsError

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
}
T = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SH = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
BOUNDARY = b"--Encrypted Boundary"
PROTO = b"application/HTTP-SPNEGO-session-encrypted"

FAULT_SHELL_NOT_FOUND = 2150858843
FAULT_OPERATION_TIMEOUT = 2150858793
FAULT_ACCESS_DENIED = 5
FAULT_UNSUPPORTED = 2150858771


def clixml(records) -> bytes:
    """Error and warning records as powershell.exe writes them to stderr."""

    def enc(text):
        return escape(text).replace("\r\n", "\n").replace("\n", "_x000D__x000A_")

    parts = [
        '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
        '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for '
        "first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR>"
        "</MS></Obj>"
    ]
    for kind, rec in records:
        if kind == "warning":
            parts.append('<S S="warning">%s_x000D__x000A_</S>' % enc(str(rec)))
            continue
        e: PsError = rec
        lines = [
            "%s : %s" % (e.cmdlet, e.message) if e.cmdlet else e.message,
            "At line:1 char:1",
            "+ %s" % (e.cmdlet or ""),
            "+ ~~~~~~~~~~",
            "    + CategoryInfo          : %s: (%s) [%s], %s" % (e.category, e.target, e.cmdlet, e.exc),
            "    + FullyQualifiedErrorId : %s" % (e.error_id or e.exc),
            " ",
        ]
        parts += ['<S S="Error">%s_x000D__x000A_</S>' % enc(ln) for ln in lines]
    return (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">%s'
        "</Objs>" % "".join(parts)
    ).encode()


def envelope(action, relates_to, body="", shell_id=None) -> bytes:
    sel = ('<w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>' % shell_id) if shell_id else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="%(s)s" xmlns:a="%(a)s" xmlns:w="%(w)s" xmlns:rsp="%(rsp)s" '
        'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xml:lang="en-US"><s:Header>'
        "<a:Action>%(act)s</a:Action><a:MessageID>uuid:%(mid)s</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        "<a:RelatesTo>%(rel)s</a:RelatesTo>%(sel)s</s:Header><s:Body>%(body)s</s:Body></s:Envelope>"
        % dict(NS, act=action, mid=str(uuid.uuid4()).upper(), rel=escape(relates_to or ""), sel=sel, body=body)
    ).encode()


def fault(relates_to, code, reason, subcode="w:InternalError") -> bytes:
    body = (
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>%s</s:Value></s:Subcode>"
        '</s:Code><s:Reason><s:Text xml:lang="en-US">%s</s:Text></s:Reason><s:Detail>'
        '<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="%d" '
        'Machine="127.0.0.1"><f:Message>%s</f:Message></f:WSManFault></s:Detail></s:Fault>'
        % (subcode, escape(reason), code, escape(reason))
    )
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


class Command:
    def __init__(self, host: Host, script: str, delay: float):
        self.done = threading.Event()
        self.result = (b"", b"", 0)
        self.thread = threading.Thread(target=self._run, args=(host, script, delay), daemon=True)
        self.thread.start()

    def _run(self, host, script, delay):
        if delay:
            time.sleep(delay)
        try:
            out, records, code = host.run(script)
            err = clixml(records) if records else b""
            self.result = (out.encode("utf-8"), err, code)
        except Exception as e:  # noqa: BLE001 - a crash of the model is reported like PowerShell would
            self.result = (b"", clixml([("error", PsError("Internal simulator error: %r" % e))]), 1)
        self.done.set()


class Listener:
    """One simulated host's WinRM endpoint."""

    def __init__(self, sim: "HyperVSimulator", host: Host):
        self.sim = sim
        self.host = host
        self.shells: set[str] = set()
        self.commands: dict[str, Command] = {}
        self.lock = threading.Lock()
        listener = self

        class Handler(_Handler):
            pass

        Handler.listener = listener
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/wsman" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # ---- SOAP --------------------------------------------------------------------------
    def soap(self, body: bytes) -> tuple[int, bytes]:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return 400, b""
        action = root.findtext("s:Header/a:Action", namespaces=NS)
        mid = root.findtext("s:Header/a:MessageID", namespaces=NS)
        shell = root.findtext("s:Header/w:SelectorSet/w:Selector[@Name='ShellId']", namespaces=NS)
        if action == T + "Create":
            sid = str(uuid.uuid4()).upper()
            with self.lock:
                self.shells.add(sid)
            out = (
                "<x:ResourceCreated><a:Address>http://127.0.0.1/wsman</a:Address><a:ReferenceParameters>"
                '<w:ResourceURI>%scmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">%s</w:Selector>'
                "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
                "<rsp:Shell><rsp:ShellId>%s</rsp:ShellId><rsp:State>Connected</rsp:State></rsp:Shell>" % (SH, sid, sid)
            )
            return 200, envelope(T + "CreateResponse", mid, out)
        with self.lock:
            known = shell in self.shells
        if not known:
            return 500, fault(
                mid,
                FAULT_SHELL_NOT_FOUND,
                "The request for the Windows Remote Shell with ShellId %s failed because the shell "
                "was not found on the server. Possible causes are: the specified ShellId is "
                "incorrect or the shell no longer exists on the server." % shell,
            )
        if action == SH + "Command":
            cmd = (root.findtext("s:Body/rsp:CommandLine/rsp:Command", namespaces=NS) or "").strip()
            args = [a.text or "" for a in root.findall("s:Body/rsp:CommandLine/rsp:Arguments", NS)]
            line = " ".join([cmd] + args)
            m = re.match(r"(?i)^powershell(?:\.exe)?\s+(?:-\S+\s+)*?-e(?:nc|ncodedcommand)?\s+(\S+)", line)
            cid = str(uuid.uuid4()).upper()
            if m:
                try:
                    script = base64.b64decode(m.group(1)).decode("utf-16-le")
                except (ValueError, UnicodeDecodeError):
                    script = None
                if script is None:
                    c = _Static(
                        b"",
                        b"Cannot process the command because the value specified with -EncodedCommand "
                        b"is not properly encoded.\r\n",
                        1,
                    )
                else:
                    c = Command(self.host, script, self.sim.command_delay)
            else:
                word = line.split()[0] if line.split() else ""
                c = _Static(
                    b"",
                    (
                        "'%s' is not recognized as an internal or external command,\r\noperable program "
                        "or batch file.\r\n" % word
                    ).encode(),
                    1,
                )
            with self.lock:
                self.commands[cid] = c
            return 200, envelope(
                SH + "CommandResponse",
                mid,
                "<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId></rsp:CommandResponse>" % cid,
                shell,
            )
        if action == SH + "Receive":
            ds = root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
            cid = ds.get("CommandId") if ds is not None else None
            with self.lock:
                c = self.commands.get(cid)
            if c is None:
                return 500, fault(mid, 2150858842, "The command was not found.")
            if not c.done.wait(self.sim.receive_wait):
                return 500, fault(
                    mid,
                    FAULT_OPERATION_TIMEOUT,
                    "The WS-Management service cannot complete the operation within the time "
                    "specified in OperationTimeout.",
                    "w:TimedOut",
                )
            out, err, rc = c.result
            streams = ""
            for name, data in (("stdout", out), ("stderr", err)):
                for i in range(0, len(data), 8192):
                    streams += '<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>' % (
                        name,
                        cid,
                        base64.b64encode(data[i : i + 8192]).decode(),
                    )
                streams += '<rsp:Stream Name="%s" CommandId="%s" End="true"></rsp:Stream>' % (name, cid)
            state = (
                '<rsp:CommandState CommandId="%s" State="%sCommandState/Done"><rsp:ExitCode>%d</rsp:ExitCode>'
                "</rsp:CommandState>" % (cid, SH, rc)
            )
            return 200, envelope(
                SH + "ReceiveResponse", mid, "<rsp:ReceiveResponse>%s%s</rsp:ReceiveResponse>" % (streams, state), shell
            )
        if action == SH + "Signal":
            sig = root.find("s:Body/rsp:Signal", NS)
            with self.lock:
                self.commands.pop(sig.get("CommandId") if sig is not None else None, None)
            return 200, envelope(SH + "SignalResponse", mid, "<rsp:SignalResponse/>", shell)
        if action == T + "Delete":
            with self.lock:
                self.shells.discard(shell)
            return 200, envelope(T + "DeleteResponse", mid, "", shell)
        return 500, fault(
            mid,
            FAULT_UNSUPPORTED,
            "The WS-Management service does not support the request: %s" % action,
            "w:ActionNotSupported",
        )


class _Static:
    def __init__(self, out, err, rc):
        self.done = threading.Event()
        self.done.set()
        self.result = (out, err, rc)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    listener: Listener = None
    ctx = None  # NTLM security context: one per TCP connection (one handler per connection)

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        import socket

        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls

    def _send(self, status, data, ctype="application/soap+xml;charset=UTF-8", extra=()):
        self.send_response(status)
        if data or status != 401:
            self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reply(self, status, data):
        if self.ctx is not None and self.ctx.complete and data:
            w = self.ctx.wrap(data, encrypt=True).data
            payload = (
                BOUNDARY + b"\r\n\tContent-Type: " + PROTO + b"\r\n"
                b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n"
                % len(data)
                + BOUNDARY
                + b"\r\n\tContent-Type: application/octet-stream\r\n"
                + struct.pack("<i", 16)
                + w[:16]
                + w[16:]
                + BOUNDARY
                + b"--\r\n"
            )
            return self._send(
                status, payload, 'multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"' % PROTO.decode()
            )
        return self._send(status, data)

    def do_POST(self):
        sim = self.listener.sim
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if urlpath(self.path) != "/wsman":
            return self._send(404, b"")
        auth = self.headers.get("Authorization", "")
        if sim.auth == "basic":
            want = "Basic " + base64.b64encode(("%s:%s" % (sim.username, sim.password)).encode()).decode()
            if auth != want:
                return self._send(401, b"", extra=[("WWW-Authenticate", 'Basic realm="WSMAN"')])
            if sim.down:
                return self._send(503, b"")
            status, data = self.listener.soap(raw)
            return self._send(status, data)
        # NTLM / Negotiate with message encryption
        import spnego

        m = re.match(r"(Negotiate|NTLM) (\S+)", auth)
        if m:
            token = base64.b64decode(m.group(2))
            if self.ctx is None or self.ctx.complete:
                self.ctx = spnego.server(protocol="ntlm")
            try:
                out = self.ctx.step(token)
            except spnego.exceptions.SpnegoError:
                self.ctx = None
                return self._send(401, b"", extra=[("WWW-Authenticate", "Negotiate")])
            if not self.ctx.complete:
                return self._send(401, b"", extra=[("WWW-Authenticate", "Negotiate " + base64.b64encode(out).decode())])
        elif not (self.ctx and self.ctx.complete):
            return self._send(401, b"", extra=[("WWW-Authenticate", "Negotiate")])
        if not raw:  # pywinrm's setup_encryption() pre-flight: an empty POST
            return self._send(200, b"")
        if "multipart/encrypted" not in self.headers.get("Content-Type", ""):
            return self._send(400, b"")  # AllowUnencrypted=false
        try:
            header, rest = raw.split(b"\tContent-Type: application/octet-stream\r\n", 1)
            length = int(re.search(rb"Length=(\d+)", header).group(1))
            if rest.endswith(BOUNDARY + b"--\r\n"):
                rest = rest[: -len(BOUNDARY + b"--\r\n")]
            siglen = struct.unpack("<i", rest[:4])[0]
            body = self.ctx.unwrap(rest[4 : 4 + siglen] + rest[4 + siglen :]).data
            if len(body) != length:
                raise ValueError("length mismatch")
        except Exception:  # noqa: BLE001 - a bad or forged message
            return self._send(400, b"")
        if sim.down:
            return self._send(503, b"")
        status, data = self.listener.soap(body)
        return self._reply(status, data)


def urlpath(path):
    return path.split("?", 1)[0]


class HyperVSimulator:
    """``with HyperVSimulator(["hv1", "hv2"], auth="ntlm") as sim: sim.url("hv1")``"""

    def __init__(
        self,
        hosts=("hv1",),
        *,
        auth="basic",
        username="Administrator",
        password="Passw0rd!",
        root: str | None = None,
        share: str | None = None,
        host_memory: int = 32 << 30,
    ):
        if auth not in ("basic", "ntlm"):
            raise ValueError("auth is basic or ntlm")
        self.auth, self.username, self.password = auth, username, password
        self._own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="hyperv-sim-")
        self.fabric = Fabric(os.path.join(self.root, "hosts"))
        self.share_unc = "\\\\fileserver\\overcast"
        self.share_dir = share or os.path.join(self.root, "share")
        self.fabric.add_share(self.share_unc, self.share_dir)
        self.command_delay = 0.0
        self.receive_wait = 5.0
        self.down = False
        self.listeners: dict[str, Listener] = {}
        for name in hosts:
            h = self.fabric.add_host(name, memory=host_memory)
            self.listeners[name] = Listener(self, h)
        self._user_file = None
        self._old_env = None

    def url(self, host: str | None = None) -> str:
        return self.listeners[host or next(iter(self.listeners))].url

    def host_table(self, name: str | None = None, switch: str = "External") -> dict:
        """The ``[hosts.NAME]`` table for an Overcast host standing for simulated host ``name``."""
        return {
            "driver": "hyperv",
            "url": self.url(name),
            "username": self.username,
            "password": self.password,
            "transport": self.auth,
            "share_path": self.share_dir,
            "share_unc": self.share_unc,
            "switch": switch,
        }

    def host(self, name: str | None = None) -> Host:
        return self.listeners[name or next(iter(self.listeners))].host

    def start(self):
        if self.auth == "ntlm":
            fd, self._user_file = tempfile.mkstemp(prefix="ntlm-users-", dir=self.root)
            with os.fdopen(fd, "w") as f:
                f.write(":%s:%s\n" % (self.username, self.password))
            self._old_env = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = self._user_file
        for lst in self.listeners.values():
            lst.thread.start()
        return self

    def stop(self):
        for lst in self.listeners.values():
            lst.server.shutdown()
            lst.server.server_close()
        if self._user_file:
            if self._old_env is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = self._old_env
        if self._own_root:
            import shutil

            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    p = argparse.ArgumentParser(description="Hyper-V / WinRM simulator (test infrastructure)")
    p.add_argument("--hosts", default="hv1,hv2")
    p.add_argument("--auth", choices=["basic", "ntlm"], default="ntlm")
    p.add_argument("--username", default="Administrator")
    p.add_argument("--password", default="Passw0rd!")
    p.add_argument("--root", default=None, help="state directory (default: a temporary one)")
    p.add_argument("--share", default=None, help="local directory behind \\\\fileserver\\overcast")
    p.add_argument("--command-delay", type=float, default=0.0, help="seconds every PowerShell command takes")
    a = p.parse_args(argv)
    sim = HyperVSimulator(
        a.hosts.split(","), auth=a.auth, username=a.username, password=a.password, root=a.root, share=a.share
    )
    sim.command_delay = a.command_delay
    sim.start()
    for name, lst in sim.listeners.items():
        print(name, lst.url, flush=True)
    print("share", sim.share_unc, sim.share_dir, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sim.stop()


if __name__ == "__main__":
    sys.exit(main())
