"""A loopback HTTP proxy in front of vcsim (started with ``-tls=false``) that answers chosen
SOAP methods with a vSphere fault instead of forwarding them: how the tests produce faults vcsim
cannot (``ToolsUnavailable`` when a guest has no VMware Tools, ...). Everything else, including
the datastore ``/folder`` transfers, goes through untouched, and the real pyvmomi parses the
fault from the wire like any other reply."""

from __future__ import annotations

import http.client
import http.server
import re
import threading
from urllib.parse import urlparse

FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"
 xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>
<faultcode>ServerFaultCode</faultcode><faultstring>{text}</faultstring>
<detail><{fault}Fault xmlns="urn:vim25" xsi:type="{fault}"></{fault}Fault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


class FaultProxy:
    """``with FaultProxy(vcsim_url) as p: p.inject("ShutdownGuest", "ToolsUnavailable", "...")``"""

    def __init__(self, upstream: str):
        u = urlparse(upstream)
        if u.scheme != "http":
            raise ValueError("run vcsim with -tls=false behind the fault proxy")
        self.up_host, self.up_port = u.hostname, u.port
        self.faults: dict[str, tuple[str, str]] = {}
        self.hits: dict[str, int] = {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                m = re.search(rb"<(?:\w+:)?(\w+) xmlns=\"urn:vim25\"", body) if self.command == "POST" else None
                method = m.group(1).decode() if m else ""
                if method in proxy.faults:
                    proxy.hits[method] = proxy.hits.get(method, 0) + 1
                    fault, text = proxy.faults[method]
                    data = FAULT.format(fault=fault, text=text).encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "text/xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                conn = http.client.HTTPConnection(proxy.up_host, proxy.up_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_POST = do_GET = do_PUT = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/sdk" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def inject(self, method: str, fault: str, text: str = "") -> None:
        self.faults[method] = (fault, text or fault)

    def clear(self) -> None:
        self.faults.clear()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
