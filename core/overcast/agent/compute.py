"""The host side of the compute service: one host's hypervisor driver and what surrounds it.

Built by :class:`overcast.agent.HostAgent` with ``(runtime, host_name)`` and reached over the
bus on ``agent.<host>``. It holds the host's record and routed driver, on which the agent serves
every ``HypervisorHooks`` operation (:mod:`overcast.agent.hypervisor`); it fetches images into
the host's cache through the image service's helper, reports the heartbeat, and uploads
snapshots. It never touches the database (the controller owns state).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from overcast.bus.rpc import rpc
from overcast.compute.peers import optional_service
from overcast.datadir import private_dir, qemu_group
from overcast.errors import DriverError
from overcast.types import Host, HostResources, HvCapabilities, ImageFile, ImageRef, Instance

if TYPE_CHECKING:
    from overcast.agent import HostAgent
    from overcast.hookspecs import HypervisorDriver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentIdentity:
    """Which agent process answered (a new ``id`` means it restarted) and its RPC version.

    ``topic`` (2.1): where that process answers ``compute_report_all`` for all the hosts it
    serves (:func:`overcast.agent.process_topic`); None when it serves one host, or is older."""

    id: str
    version: str
    topic: str | None = None


@dataclass(frozen=True)
class HostReport:
    """The heartbeat's answer: the hypervisor's capabilities and resources, or why not.

    Agents before RPC 1.1 send no ``agent``; the fields are optional so their reports read."""

    capabilities: HvCapabilities | None = None
    resources: HostResources | None = None
    error: str | None = None
    agent: AgentIdentity | None = None


class ComputeAgent:
    """The compute agent of one host (on ``agent.<host>``).

    The hypervisor operations themselves are not written here: the host agent serves every
    operation of :class:`~overcast.hookspecs.HypervisorHooks` as ``hv_<name>`` straight from
    that declaration (:mod:`overcast.agent.hypervisor`), on this object's ``host`` and
    ``driver``. What this class declares (``compute_<method>``) is what only an agent does:
    the heartbeat, a snapshot uploaded to the image service, and the driver's capabilities.
    """

    RPC_PREFIX = "compute_"

    def __init__(self, runtime: Any, host_name: str) -> None:
        self.runtime = runtime
        self.host: Host = runtime.drivers.hosts[host_name]
        self.driver: HypervisorDriver = runtime.plugins.driver("hypervisor", self.host.driver)
        self.init_error: str | None = None
        self.agent_id = uuid.uuid4().hex  # a new agent process (restart) reconciles the host
        #: where this agent's process answers for all its hosts (set by start_local_agents)
        self.process_topic: str | None = None
        self._cache_path: str | None = None  # see _cache_dir

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to the hypervisor. A failure is remembered and reported, not raised, so
        the host shows up as being in error instead of the whole process failing."""
        try:
            self.driver.init_host(host=self.host)
            self.init_error = None
        except Exception as exc:  # noqa: BLE001 - reported through compute_report
            self.init_error = f"{type(exc).__name__}: {exc}"
            log.error("host %s: cannot initialise hypervisor: %s", self.host.name, self.init_error)

    # --- values that travel as references (see overcast.agent.hypervisor) -----------------------

    def resolve_host(self, name: str) -> Host:
        """This agent's record of host ``name`` (a ``Host`` argument travels as its name)."""
        try:
            hosts: dict[str, Host] = self.runtime.drivers.hosts
            return hosts[name]
        except KeyError:
            raise DriverError(f"host {name} is not configured on {self.host.name}'s agent") from None

    def fetch_image(self, image: ImageRef | None) -> ImageFile | None:
        """``image`` fetched into this host's cache (an ``ImageFile`` travels as its ref)."""
        if image is None:
            return None
        svc = optional_service(self.runtime, "image")
        if svc is None:
            raise DriverError(f"cannot fetch image {image.id} to {self.host.name}: no image service is available")
        caps = self.driver.get_capabilities(host=self.host)
        return cast("ImageFile | None", svc.fetch_to_cache(image, self._cache_dir(), sorted(caps.image_types)))

    def _cache_dir(self) -> str:
        """This host's image cache directory, made (and its modes set) the first time and
        again only if it has gone: every spawn asks, and setting it up reads the system's
        user and group databases."""
        path = self._cache_path
        if path is not None and os.path.isdir(path):
            return path
        config = self.runtime.config
        base = config.resolve_path(config.compute.image_cache_dir, "image-cache")
        path = os.path.join(str(base), self.host.name)
        # QEMU opens cached images as backing files: its group passes through, no one else
        group = qemu_group()
        private_dir(base, group)
        private_dir(path, group)
        self._cache_path = path
        return path

    # --- what only the agent does -------------------------------------------------------------

    @rpc
    def report(self) -> HostReport:
        """Capabilities and resources for the controller's ``hosts`` row (the heartbeat)."""
        if self.init_error is not None:
            self.start()
        from overcast.agent import AGENT_RPC_VERSION

        agent = AgentIdentity(self.agent_id, AGENT_RPC_VERSION, self.process_topic)
        if self.init_error is not None:
            return HostReport(error=self.init_error, agent=agent)
        return HostReport(
            capabilities=self.driver.get_capabilities(host=self.host),
            resources=self.driver.get_available_resource(host=self.host),
            agent=agent,
        )

    @rpc
    def supports(self, operation: str) -> bool:
        """Whether this host's driver implements hypervisor operation ``operation``
        (a method name of ``HypervisorHooks``, e.g. ``get_console``)."""
        return self.driver.supports(operation)

    @rpc
    def snapshot(self, instance: Instance, image_id: str, image_name: str) -> bool:
        """Copy the root disk with the driver's ``snapshot`` and upload it into the queued
        image ``image_id`` (the copy is a file on this host: it never crosses the bus)."""
        svc = optional_service(self.runtime, "image")
        if svc is None:
            raise DriverError("cannot upload a snapshot: no image service is available")
        result = self.driver.snapshot(host=self.host, instance=instance, image_name=image_name)
        try:
            svc.upload_file(image_id, result.path, result.disk_format)
        finally:
            if result.cleanup:
                try:
                    os.unlink(result.path)
                except FileNotFoundError:
                    pass
        return True


#: hosts whose reports one ``compute_report_all`` gathers at once (a remote-endpoint driver's
#: report is a round trip to its endpoint; a fake one's is nothing)
REPORT_WORKERS = 8


class AgentProcessCompute:
    """What an agent process serving several hosts answers for all of them at once, on
    :func:`overcast.agent.process_topic` (2.1): the heartbeat of each, in one RPC instead of
    one per host, which at a thousand hosts was most of an idle controller's CPU."""

    RPC_PREFIX = "compute_"

    def __init__(self, bus: Any, agents: Mapping[str, HostAgent]) -> None:
        self.bus = bus
        self.agents = dict(agents)

    @rpc
    def report_all(self, hosts: list[str] | None = None) -> dict[str, HostReport]:
        """``compute_report`` of each of ``hosts`` (default: all) this process serves, by host.

        A host is left out (its controller then asks it on its own topic, and hears why) when
        this process does not serve it, no longer serves it (its topic was withdrawn or is
        served by a newer agent), or its report raised."""
        from overcast.agent import agent_topic

        names = list(self.agents) if hosts is None else list(dict.fromkeys(hosts))
        live = [h for h in names if h in self.agents and self.bus.serving(agent_topic(h)) is self.agents[h]]
        if len(live) <= 1:
            return {h: r for h in live if (r := self._report(h)) is not None}
        with ThreadPoolExecutor(max_workers=min(REPORT_WORKERS, len(live)), thread_name_prefix="report-all") as pool:
            reports = list(pool.map(self._report, live))
        return {h: r for h, r in zip(live, reports) if r is not None}

    def _report(self, host: str) -> HostReport | None:
        try:
            return self.agents[host].compute.report()
        except Exception:  # noqa: BLE001 - the host's own compute_report says why; the others go on
            log.warning("host %s: no report for compute_report_all", host, exc_info=True)
            return None
