"""Placing a new volume on a backend: the type's ``volume_backend_name`` narrows the
candidates; a backend must be enabled, answer ``vol_get_stats`` and have room; the one
with the most free space wins."""

from __future__ import annotations

from collections.abc import Mapping

from overcast.errors import NoValidHost
from overcast.types import BackendStats
from overcast.volume.backends import BackendCalls


def has_room(stats: BackendStats, size_gb: int) -> bool:
    if stats.thin_provisioning:
        capacity = stats.total_gb * max(stats.max_over_subscription_ratio, 1.0)
        return stats.provisioned_gb + size_gb <= capacity and stats.free_gb > 0
    return stats.free_gb >= size_gb


class VolumeScheduler:
    def __init__(self, backends: BackendCalls) -> None:
        self.backends = backends

    def place(self, size_gb: int, extra_specs: Mapping[str, str]) -> str:
        wanted = extra_specs.get("volume_backend_name")
        disabled = {r.name for r in self.backends.records() if r.disabled}
        reasons: list[str] = []
        best: tuple[float, str] | None = None
        for name in self.backends.names():
            if wanted and name != wanted:
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
            if best is None or stats.free_gb > best[0]:
                best = (stats.free_gb, name)
        if best is None:
            if wanted and wanted not in self.backends.names():
                reasons.append(f"no backend is named {wanted!r}")
            detail = "; ".join(reasons) or "no volume backend is configured"
            raise NoValidHost(f"No valid backend was found. {detail}")
        return best[1]
