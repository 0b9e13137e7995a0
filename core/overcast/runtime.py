"""Everything a running cloud process holds: config, database, plugins, drivers, bus,
and the services, built once by :func:`build_runtime` and shared by the API and agents.

Services are created lazily (``runtime.image``, typed; or by name, ``runtime.service("image")``)
and talk to each other only through these objects, never through each other's tables. Host
agents are reached through ``runtime.agents`` (typed RPC stubs over the bus).

A runtime has a *role* (see :data:`overcast.config.ROLES`): ``all`` (the all-in-one
process), ``controller`` (API and services, hosts only reached over the bus) or ``agent``
(one host's drivers; :func:`build_agent_runtime` gives it no database at all).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from overcast.agent import Agents
from overcast.bus import Bus, make_bus
from overcast.config import Config, ResolvedDrivers, resolve_drivers
from overcast.db import Database
from overcast.errors import OvercastError
from overcast.foreground import Foreground
from overcast.notifications import Notifier
from overcast.plugins import PluginManager, load_plugin_manager

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from overcast.compute.service import ComputeService
    from overcast.identity.service import IdentityService
    from overcast.image.service import ImageService
    from overcast.loadbalancer.service import LoadBalancerService
    from overcast.network.service import NetworkService
    from overcast.objectstore.service import ObjectStoreService
    from overcast.orchestration.service import OrchestrationService
    from overcast.volume.service import VolumeService

T = TypeVar("T")

#: service name -> "module:factory"; the factory takes the runtime and returns the service.
SERVICE_FACTORIES: dict[str, str] = {
    "identity": "overcast.identity.service:IdentityService",
    "image": "overcast.image.service:ImageService",
    "compute": "overcast.compute.service:ComputeService",
    "network": "overcast.network.service:NetworkService",
    "volume": "overcast.volume.service:VolumeService",
    "objectstore": "overcast.objectstore.service:ObjectStoreService",
    "loadbalancer": "overcast.loadbalancer.service:LoadBalancerService",
}
# --- orchestration ---
SERVICE_FACTORIES["orchestration"] = "overcast.orchestration.service:OrchestrationService"


@dataclass
class Runtime:
    config: Config
    db: Database
    plugins: PluginManager
    drivers: ResolvedDrivers
    bus: Bus
    role: str = "all"
    #: one of ``overcast up``'s API worker processes (:mod:`overcast.server_workers`): its
    #: services are never started, and state shared by every API process (login throttling,
    #: console tokens) is asked of ``overcast up`` over the bus (:mod:`overcast.shared`)
    api_worker: bool = False
    _services: dict[str, Any] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _notifier: Notifier | None = None
    #: host -> the agent RPC version its agent last reported: kept here, as every access to
    #: :attr:`agents` makes a new client over the (replaceable) bus
    _agent_versions: dict[str, str] = field(default_factory=dict)
    #: the requests this process is serving, which its background tasks let go first
    foreground: Foreground = field(default_factory=Foreground)

    def service(self, name: str) -> Any:
        svc = self._services.get(name)
        if svc is None:
            with self._lock:
                svc = self._services.get(name)
                if svc is None:
                    module_name, _, attr = SERVICE_FACTORIES[name].partition(":")
                    factory = getattr(importlib.import_module(module_name), attr)
                    svc = factory(self)
                    self._services[name] = svc
        return svc

    @property
    def identity(self) -> IdentityService:
        svc: IdentityService = self.service("identity")
        return svc

    @property
    def image(self) -> ImageService:
        svc: ImageService = self.service("image")
        return svc

    @property
    def compute(self) -> ComputeService:
        svc: ComputeService = self.service("compute")
        return svc

    @property
    def network(self) -> NetworkService:
        svc: NetworkService = self.service("network")
        return svc

    @property
    def volume(self) -> VolumeService:
        svc: VolumeService = self.service("volume")
        return svc

    @property
    def objectstore(self) -> ObjectStoreService:
        svc: ObjectStoreService = self.service("objectstore")
        return svc

    @property
    def orchestration(self) -> OrchestrationService:
        svc: OrchestrationService = self.service("orchestration")
        return svc

    @property
    def notifier(self) -> Notifier:
        """OpenStack-style notifications, as ``[notifications]`` says."""
        if self._notifier is None:
            section = self.config.notifications
            self._notifier = Notifier(self.bus, section.driver, tuple(section.topics))
        return self._notifier

    @property
    def loadbalancer(self) -> LoadBalancerService:
        svc: LoadBalancerService = self.service("loadbalancer")
        return svc

    @property
    def agents(self) -> Agents:
        """Typed clients of the host agents over this runtime's bus."""
        return Agents(self.bus, self._agent_versions)

    def close(self) -> None:
        for svc in list(self._services.values()):
            stop = getattr(svc, "close", None)
            if stop is not None:
                stop()
        self.bus.close()
        self.db.dispose()


def build_runtime(
    config: Config,
    pm: PluginManager | None = None,
    migrate: bool = True,
    role: str = "all",
    bus: Bus | None = None,
    api_worker: bool = False,
) -> Runtime:
    """Load plugins, check the configured drivers, open the database (migrating it).

    ``role`` is ``all`` or ``controller`` (which needs no hypervisor or network driver
    installed: hosts are reached through their agents over the bus). ``bus``: this one
    instead of the ``[bus]`` section's (``overcast up``'s hub, an API worker's connection to
    it); ``api_worker``: see :attr:`Runtime.api_worker`."""
    from overcast.db import upgrade

    if role not in ("all", "controller"):
        raise OvercastError(f"build_runtime: role {role!r} has a database; use build_agent_runtime for agents")
    pm = pm or load_plugin_manager()
    drivers = resolve_drivers(config, pm, role=role)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    section = config.database
    db = Database(
        config.database_url,
        echo=section.echo,
        pool_size=section.pool_size,
        max_overflow=section.max_overflow,
        connect_wait=section.connect_wait,
    )
    if migrate:
        upgrade(db)
    return Runtime(
        config=config,
        db=db,
        plugins=pm,
        drivers=drivers,
        bus=bus or make_bus(config.bus),
        role=role,
        api_worker=api_worker,
    )


class NoDatabase:
    """The ``db`` of an agent's runtime: agents never touch the database, and any attempt
    says so instead of opening one."""

    is_sqlite = False
    url = ""

    @staticmethod
    def _refuse(what: str) -> OvercastError:
        return OvercastError(f"host agents have no database (tried to use db.{what}); ask the controller over the bus")

    @property
    def engine(self) -> Any:
        raise self._refuse("engine")

    def session(self) -> AbstractContextManager[Session]:
        raise self._refuse("session")

    def read(self, fn: Callable[[Session], T], attempts: int = 0) -> T:
        raise self._refuse("read")

    def dispose(self) -> None:
        pass


def build_agent_runtime(
    config: Config, host: str | Sequence[str], pm: PluginManager | None = None, bus: Bus | None = None
) -> Runtime:
    """The runtime of ``overcast agent --host HOST`` (one name, or every host that agent
    process serves): those hosts' drivers and the bus, no database."""
    pm = pm or load_plugin_manager()
    drivers = resolve_drivers(config, pm, role="agent", host=host)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return Runtime(
        config=config,
        db=cast(Database, NoDatabase()),  # refuses every use: an agent has no database
        plugins=pm,
        drivers=drivers,
        bus=bus or make_bus(config.bus),
        role="agent",
    )
