"""Calling a volume backend's driver, and keeping its ``os-services`` record.

A backend listed in ``[volume] backend_hosts`` has storage local to one host (an LVM
group on a compute node): its calls go over the bus to that host's agent
(``overcast.agent.volume.VolumeAgent``, which holds no database). Every other backend
(a directory, a shared file system) is driven from the controller process directly, the
way Cinder's volume service runs beside its scheduler. Both paths take and return only
contract values, so a backend can move between them by configuration alone.

With API workers (``[api] workers > 1``) those other backends are driven by ``overcast up``
alone: it serves them on :data:`LOCAL_BACKENDS_TOPIC` and a worker calls them over the bus,
so a driver never runs in two processes at once (its in-process locks and state hold).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from overcast.agent.volume import VolumeAgent
from overcast.bus.rpc import client
from overcast.db.models.base import utcnow
from overcast.db.models.volume import VolumeBackendService
from overcast.errors import NotFound, OvercastError
from overcast.types import Backend, BackendStats

log = logging.getLogger(__name__)

#: the topic ``overcast up`` drives its in-process volume backends on for its API workers
LOCAL_BACKENDS_TOPIC = "volume.backends"
#: how long a worker waits for ``overcast up`` to run a volume operation (data copies)
WORKER_RPC_TIMEOUT = 3600.0


class BackendCalls:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._recorded = False

    def backend(self, name: str) -> Backend:
        try:
            return self.runtime.drivers.volume_backends[name]
        except KeyError:
            raise NotFound(f"Volume backend {name} is not configured.") from None

    def names(self) -> list[str]:
        return sorted(self.runtime.drivers.volume_backends)

    def host_of(self, name: str) -> str | None:
        return self.runtime.config.volume.backend_hosts.get(name)

    def on(self, backend_name: str, timeout: float | None = None) -> VolumeAgent:
        """The volume interface that drives ``backend_name``: its host's agent over the bus
        (waiting ``timeout`` seconds, default ``[bus] rpc_timeout``) for a backend in
        ``[volume] backend_hosts``, else the same class run in this process. Either way the
        methods take ``backend_name`` first: ``backends.on(name).create(name, volume=ref)``."""
        self.backend(backend_name)
        host = self.host_of(backend_name)
        if host:
            return self.runtime.agents.volume(host, timeout=timeout)
        if getattr(self.runtime, "api_worker", False):
            return client(self.runtime.bus, LOCAL_BACKENDS_TOPIC, VolumeAgent, timeout or WORKER_RPC_TIMEOUT)
        return VolumeAgent(self.runtime, "controller")

    def supports(self, backend_name: str, operation: str) -> bool:
        """Whether the backend's driver implements ``operation``. A host-local backend's
        driver may be installed only on its host (a controller with ``--role controller``):
        then its agent is asked."""
        from overcast.errors import DriverNotInstalled

        try:
            return self.runtime.plugins.driver("volume", self.backend(backend_name).driver).supports(operation)
        except DriverNotInstalled:
            if not self.host_of(backend_name):
                raise
            return self.on(backend_name).supports(backend_name, operation=operation)

    # --- service records -----------------------------------------------------------------

    def ensure_records(self) -> None:
        """One ``volume_backend_services`` row per configured backend (safe to race)."""
        if self._recorded:
            return
        with self.runtime.db.session() as s:
            existing = set(s.execute(select(VolumeBackendService.name)).scalars())
            for name in self.names():
                if name not in existing:
                    try:
                        with s.begin_nested():
                            s.add(VolumeBackendService(name=name, driver=self.backend(name).driver, up=False, stats={}))
                    except IntegrityError:
                        pass  # another thread recorded it first
        self._recorded = True

    def refresh(self, name: str, init: bool = False) -> BackendStats | None:
        """Ask the driver for stats (and init it first if asked); record up/down."""
        probe = self.runtime.config.bus.probe_timeout  # an absent agent must not stall the controller
        try:
            backend = self.on(name, timeout=probe)
            if init:
                backend.init_backend(name)
            stats = backend.get_stats(name)
        except OvercastError as exc:
            log.warning("volume backend %s is down: %s", name, exc)
            self._record(name, up=False, error=str(exc))
            return None
        self._record(name, up=True, error=None, stats=stats)
        return stats

    def _record(self, name: str, up: bool, error: str | None, stats: BackendStats | None = None) -> None:
        self.ensure_records()
        with self.runtime.db.session() as s:
            row = s.get(VolumeBackendService, name)
            row.up, row.error, row.last_seen_at = up, error, utcnow()
            if stats is not None:
                row.total_gb, row.free_gb = float(stats.total_gb), float(stats.free_gb)
                row.stats = {
                    "thin_provisioning": stats.thin_provisioning,
                    "max_over_subscription_ratio": stats.max_over_subscription_ratio,
                    "provisioned_gb": stats.provisioned_gb,
                    "connection_types": sorted(stats.connection_types),
                }

    def records(self) -> list[VolumeBackendService]:
        self.ensure_records()
        with self.runtime.db.session() as s:
            rows = s.execute(select(VolumeBackendService).order_by(VolumeBackendService.name)).scalars()
            return [r for r in rows if r.name in self.runtime.drivers.volume_backends]  # not removed from config

    def set_disabled(self, name: str, disabled: bool, reason: str | None) -> VolumeBackendService:
        self.backend(name)
        self.ensure_records()
        with self.runtime.db.session() as s:
            row = s.get(VolumeBackendService, name)
            row.disabled, row.disabled_reason = disabled, reason if disabled else None
            return row
