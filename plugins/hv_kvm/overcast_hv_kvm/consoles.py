"""Interactive consoles (issue 17): the guest's first serial port is a TCP chardev on the
host's loopback (raw bytes; libvirt still copies everything to ``console.log`` through its
``<log>``), so the controller's websocket proxy can connect to it, as Nova's serial console
proxy connects to its hosts' ports."""

from __future__ import annotations

import libvirt
from overcast.errors import BadRequest, Conflict
from overcast.hookspecs import hookimpl
from overcast.types import ConsoleEndpoint, Host, Instance

from overcast_hv_kvm.base import DriverBase
from overcast_hv_kvm.chardev import serial_endpoint, vnc_endpoint
from overcast_hv_kvm.errors import translated


class ConsoleHooks(DriverBase):
    @hookimpl
    def hv_get_console(self, host: Host, instance: Instance, console_type: str) -> ConsoleEndpoint:
        dom = self.domain(host, instance)
        with translated(f"reading the definition of {dom.name()}"):
            if dom.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
                raise Conflict(f"Instance {instance.uuid} is not ready.")
            xml = dom.XMLDesc(0)
        found = {"serial": serial_endpoint, "vnc": vnc_endpoint}.get(console_type, lambda _: None)(xml)
        if found is None:
            raise BadRequest(f"Unavailable console type {'novnc' if console_type == 'vnc' else console_type}.")
        return ConsoleEndpoint(console_type=console_type, host=found[0], port=found[1])
