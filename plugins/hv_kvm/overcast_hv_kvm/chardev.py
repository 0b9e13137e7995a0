"""The serial port's TCP chardev (issue 17): where it listens."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

LISTEN = "127.0.0.1"


def free_port(host: str = LISTEN) -> int:
    """A port nothing listens on now, for a new domain's serial chardev (QEMU binds it when
    the guest starts)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serial_endpoint(domain_xml_text: str) -> tuple[str, int] | None:
    """The TCP chardev of the first serial port, if it is one."""
    root = ET.fromstring(domain_xml_text)
    el = root.find("./devices/serial[@type='tcp']/source")
    if el is None or not el.get("service"):
        return None
    return el.get("host") or LISTEN, int(el.get("service") or 0)


def vnc_endpoint(domain_xml_text: str) -> tuple[str, int] | None:
    """The running guest's VNC server (libvirt fills in the port it chose)."""
    root = ET.fromstring(domain_xml_text)
    el = root.find("./devices/graphics[@type='vnc']")
    if el is None or int(el.get("port") or -1) <= 0:
        return None
    return el.get("listen") or LISTEN, int(el.get("port") or 0)
