"""Nova's server diagnostics (``GET /servers/{id}/diagnostics``, admin): what the server's
hypervisor measures of its running guest (``hv_get_diagnostics``), in the driver's own flat
format before microversion 2.48 (libvirt's keys: ``cpu0_time``, ``vda_read``, ``memory``) and
in Nova's common format from 2.48. A server on no host is 409 ("not ready"), one that is
not running 409 (its power state), a driver that cannot read diagnostics Nova's 501."""

from __future__ import annotations

from typing import Any

from overcast.compute.records import configured_host, get_instance, instance_of
from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.compute.os_hosts import FeatureNotSupported
from overcast.errors import Conflict
from overcast.types import InstanceDiagnostics, PowerState


def read(runtime: Any, ctx: RequestContext, uuid: str) -> tuple[InstanceDiagnostics, Any]:
    """The diagnostics of server ``uuid`` and its row."""
    with runtime.db.session() as s:
        rec = get_instance(s, ctx, uuid)
    if not rec.host:
        raise Conflict(f"Instance {uuid} is not ready")
    if rec.power_state != PowerState.RUNNING.value:
        raise Conflict(f"Cannot 'get_diagnostics' instance {uuid} while it is in power state {rec.power_state}")
    if not runtime.agents.compute(rec.host).supports(operation="get_diagnostics"):
        raise FeatureNotSupported()
    try:
        diag = runtime.agents.hypervisor().get_diagnostics(
            host=configured_host(runtime, rec.host), instance=instance_of(rec)
        )
    except Conflict:  # stopped since the row was read
        raise Conflict(f"Instance {uuid} is not ready") from None
    return diag, rec


def legacy_view(diag: InstanceDiagnostics) -> dict[str, Any]:
    """Before 2.48: the driver's own keys (Nova's libvirt driver's shown here)."""
    out: dict[str, Any] = {f"cpu{c.id}_time": c.time_ns for c in diag.cpus}
    for d in diag.disks:
        out.update(
            {
                f"{d.device}_read_req": d.read_requests,
                f"{d.device}_read": d.read_bytes,
                f"{d.device}_write_req": d.write_requests,
                f"{d.device}_write": d.write_bytes,
                f"{d.device}_errors": d.errors_count,
            }
        )
    for n in diag.nics:
        out.update(
            {
                f"{n.device}_rx": n.rx_octets,
                f"{n.device}_rx_packets": n.rx_packets,
                f"{n.device}_rx_errors": n.rx_errors,
                f"{n.device}_rx_drop": n.rx_drop,
                f"{n.device}_tx": n.tx_octets,
                f"{n.device}_tx_packets": n.tx_packets,
                f"{n.device}_tx_errors": n.tx_errors,
                f"{n.device}_tx_drop": n.tx_drop,
            }
        )
    out["memory"] = diag.max_mem_kb
    out.update({f"memory-{k}": v for k, v in diag.memory_stats.items()})
    return out


def _mb(kb: int | None) -> int | None:
    return None if kb is None else kb // 1024


def view(diag: InstanceDiagnostics, rec: Any) -> dict[str, Any]:
    """From 2.48: Nova's common format. Memory in MB; ``uptime`` the seconds since the
    server was launched (as Nova counts it) unless the driver knows the guest's own."""
    uptime = diag.uptime_s
    if uptime is None and rec.launched_at is not None:
        uptime = int((utcnow() - rec.launched_at).total_seconds())
    return {
        "state": diag.state.value,
        "driver": diag.driver,
        "hypervisor": diag.hypervisor,
        "hypervisor_os": diag.hypervisor_os,
        "uptime": uptime,
        "config_drive": diag.config_drive or bool(rec.config_drive),
        "num_cpus": len(diag.cpus),
        "num_nics": len(diag.nics),
        "num_disks": len(diag.disks),
        "memory_details": {"maximum": _mb(diag.max_mem_kb), "used": _mb(diag.mem_kb)},
        "cpu_details": [{"id": c.id, "time": c.time_ns, "utilisation": c.utilisation} for c in diag.cpus],
        "nic_details": [
            {
                "mac_address": n.mac_address,
                "rx_octets": n.rx_octets,
                "rx_errors": n.rx_errors,
                "rx_drop": n.rx_drop,
                "rx_packets": n.rx_packets,
                "rx_rate": None,
                "tx_octets": n.tx_octets,
                "tx_errors": n.tx_errors,
                "tx_drop": n.tx_drop,
                "tx_packets": n.tx_packets,
                "tx_rate": None,
            }
            for n in diag.nics
        ],
        "disk_details": [
            {
                "read_bytes": d.read_bytes,
                "read_requests": d.read_requests,
                "write_bytes": d.write_bytes,
                "write_requests": d.write_requests,
                "errors_count": d.errors_count,
            }
            for d in diag.disks
        ],
    }
