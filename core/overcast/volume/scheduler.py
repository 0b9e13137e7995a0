"""Placing a new volume on a backend: the type's ``volume_backend_name`` narrows the
candidates; a backend must be enabled, answer ``vol_get_stats``, have room and offer the
capabilities the type's extra specs ask for (Cinder's CapabilitiesFilter, for the
capabilities Overcast reports: ``vendor_name``, ``storage_protocol``, ``driver_version``,
``thin_provisioning_support``, ``QoS_support``, or any ``capabilities:<name>``); the one
with the most free space wins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import overcast
from overcast.errors import NoValidHost
from overcast.types import BackendStats
from overcast.volume.backends import BackendCalls


def has_room(stats: BackendStats, size_gb: int) -> bool:
    if stats.thin_provisioning:
        capacity = stats.total_gb * max(stats.max_over_subscription_ratio, 1.0)
        return stats.provisioned_gb + size_gb <= capacity and stats.free_gb > 0
    return stats.free_gb >= size_gb


VENDOR = "Open Source"


def capabilities(name: str, stats: BackendStats) -> dict[str, Any]:
    """What a backend reports to the scheduler (and ``get_pools``/``capabilities`` show)."""
    return {
        "volume_backend_name": name,
        "vendor_name": VENDOR,
        "driver_version": overcast.__version__,
        "storage_protocol": ",".join(sorted(stats.connection_types)) or "unknown",
        "thin_provisioning_support": stats.thin_provisioning,
        "QoS_support": False,  # no driver limits I/O itself; front-end QoS is the hypervisor's
    }


def _matches(have: Any, want: str) -> bool:
    """Cinder's extra spec operators: ``<is>``, ``<in>``, ``<or>``, ``=`` (at least), plain equality."""
    words = want.split()
    if len(words) >= 2 and words[0] == "<is>":
        return str(have).lower() == words[1].lower()
    if len(words) >= 2 and words[0] == "<in>":
        return want.split(None, 1)[1] in str(have)
    if words and words[0] == "<or>":
        return str(have).lower() in [w.strip().lower() for w in want.split("<or>")[1:]]
    if len(words) == 2 and words[0] == "=":
        try:
            return float(have) >= float(words[1])
        except (TypeError, ValueError):
            return False
    return str(have).lower() == want.strip().lower()


def unmet(caps: Mapping[str, Any], extra_specs: Mapping[str, str]) -> list[str]:
    """The extra specs a backend with ``caps`` does not satisfy."""
    out = []
    for key, want in extra_specs.items():
        name = key.split(":", 1)[1] if key.startswith("capabilities:") else key
        if ":" in key and not key.startswith("capabilities:"):
            continue  # scoped for someone else (qos:, hw:, ...)
        if name == "volume_backend_name" or (name not in caps and not key.startswith("capabilities:")):
            continue
        if name not in caps or not _matches(caps[name], str(want)):
            out.append(f"{name}={want}")
    return out


class VolumeScheduler:
    def __init__(self, backends: BackendCalls) -> None:
        self.backends = backends

    def place(self, size_gb: int, extra_specs: Mapping[str, str], exclude: str | None = None) -> str:
        """The backend for a new volume (``exclude``: one it must not be, a move's source)."""
        wanted = extra_specs.get("volume_backend_name")
        disabled = {r.name for r in self.backends.records() if r.disabled}
        reasons: list[str] = []
        best: tuple[float, str] | None = None
        for name in self.backends.names():
            if wanted and name != wanted:
                continue
            if name == exclude:
                reasons.append(f"{name}: the volume is on it already")
                continue
            if name in disabled:
                reasons.append(f"{name}: disabled")
                continue
            stats = self.backends.refresh(name)
            if stats is None:
                reasons.append(f"{name}: not reachable")
                continue
            if not has_room(stats, size_gb):
                reasons.append(f"{name}: no room for {size_gb} GiB ({stats.free_gb:g} GiB free)")
                continue
            missing = unmet(capabilities(name, stats), extra_specs)
            if missing:
                reasons.append(f"{name}: does not offer {', '.join(missing)}")
                continue
            if best is None or stats.free_gb > best[0]:
                best = (stats.free_gb, name)
        if best is None:
            if wanted and wanted not in self.backends.names():
                reasons.append(f"no backend is named {wanted!r}")
            detail = "; ".join(reasons) or "no volume backend is configured"
            raise NoValidHost(f"No valid backend was found. {detail}")
        return best[1]
