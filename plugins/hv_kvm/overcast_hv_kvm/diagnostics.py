"""Server diagnostics and the host's uptime (issue 16). Diagnostics are what libvirt
measures of a running guest -- its vCPUs' time (``virDomainGetVcpus``), memory
(``virDomainGetInfo`` and the balloon's ``virDomainMemoryStats``), and each disk's
(``virDomainBlockStats``) and NIC's (``virDomainInterfaceStats``) counters since the guest
started; the uptime is the ``uptime`` command's, as Nova's libvirt driver reads it."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import libvirt
from overcast.errors import Conflict, DriverError, UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import CpuDiagnostics, DiskDiagnostics, Host, Instance, InstanceDiagnostics, NicDiagnostics

from overcast_hv_kvm import configdrive
from overcast_hv_kvm.base import DriverBase
from overcast_hv_kvm.errors import translated


def _devices(xml: str) -> tuple[list[tuple[str, str]], list[tuple[str, str | None]]]:
    """The guest's disks as (target dev, source file) and NICs as (host device, mac)."""
    root = ET.fromstring(xml)
    disks = []
    for el in root.findall("./devices/disk"):
        target, source = el.find("target"), el.find("source")
        if target is not None and target.get("dev"):
            path = (source.get("file") or source.get("dev") or "") if source is not None else ""
            disks.append((target.get("dev", ""), path))
    nics = []
    for el in root.findall("./devices/interface"):
        target, mac = el.find("target"), el.find("mac")
        if target is not None and target.get("dev"):
            nics.append((target.get("dev", ""), mac.get("address") if mac is not None else None))
    return disks, nics


class DiagnosticsHooks(DriverBase):
    @hookimpl
    def hv_get_diagnostics(self, host: Host, instance: Instance) -> InstanceDiagnostics:
        dom = self.domain(host, instance)
        info = self.info(dom)
        if self.state(dom) != libvirt.VIR_DOMAIN_RUNNING:
            raise Conflict(f"Instance {instance.uuid} is in power state {info.state.value}: no diagnostics to read.")
        with translated(f"reading the statistics of {dom.name()}"):
            xml = dom.XMLDesc(0)
            vcpus = dom.vcpus()[0]  # [(number, state, cpu time ns, physical cpu)]
            memory = {str(k): int(v) for k, v in dom.memoryStats().items()}
            disk_devs, nic_devs = _devices(xml)
            disks = []
            for dev, _ in disk_devs:
                rd_req, rd_bytes, wr_req, wr_bytes, errs = dom.blockStats(dev)
                disks.append(
                    DiskDiagnostics(
                        device=dev,
                        read_bytes=int(rd_bytes),
                        read_requests=int(rd_req),
                        write_bytes=int(wr_bytes),
                        write_requests=int(wr_req),
                        errors_count=int(errs),
                    )
                )
            nics = []
            for dev, mac in nic_devs:
                rx_b, rx_p, rx_e, rx_d, tx_b, tx_p, tx_e, tx_d = dom.interfaceStats(dev)
                nics.append(
                    NicDiagnostics(
                        device=dev,
                        mac_address=mac,
                        rx_octets=int(rx_b),
                        rx_packets=int(rx_p),
                        rx_errors=int(rx_e),
                        rx_drop=int(rx_d),
                        tx_octets=int(tx_b),
                        tx_packets=int(tx_p),
                        tx_errors=int(tx_e),
                        tx_drop=int(tx_d),
                    )
                )
        has_drive = any(path.endswith("/" + configdrive.FILE_NAME) for _, path in disk_devs)
        return InstanceDiagnostics(
            state=info.state,
            driver="libvirt",
            hypervisor=self.config(host).virt_type,
            hypervisor_os="linux",
            config_drive=has_drive,
            max_mem_kb=info.max_mem_kb,
            mem_kb=info.mem_kb,
            cpus=tuple(CpuDiagnostics(id=int(n), time_ns=int(t)) for n, _, t, _ in vcpus),
            disks=tuple(disks),
            nics=tuple(nics),
            memory_stats=memory,
        )

    @hookimpl
    def hv_get_host_uptime(self, host: Host) -> str:
        """The ``uptime`` of the machine this agent runs on, which is the hypervisor's when
        its libvirt URI names no remote host (as Nova's libvirt driver runs ``uptime``)."""
        uri = self.config(host).uri
        if urlparse(uri).hostname:
            raise UnsupportedOperation(f"host uptime of {host.name}: libvirt URI {uri} is on another machine")
        try:
            done = subprocess.run(
                ["uptime"], env={**os.environ, "LANG": "C"}, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise DriverError(f"reading the uptime of {host.name}: {exc}") from exc
        return done.stdout.rstrip("\n")
