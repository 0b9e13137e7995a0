"""Filter-and-weigh placement with atomic claims.

Core filters (each with a name that appears in "No valid host" reasons): ComputeFilter
(enabled and up), AvailabilityZoneFilter, ImageFormatFilter (the image's ``disk_format`` in
the host's ``image_types``), HypervisorTypeFilter (image property or flavor extra spec
``hypervisor_type``), CoreFilter / RamFilter / DiskFilter (capacity x allocation ratio),
ServerGroupAffinityFilter / ServerGroupAntiAffinityFilter, plus the request's
ignore/force/same-driver constraints. Plugins add filters and weighers through
``overcast_filter_hosts`` / ``overcast_weigh_hosts``.

The core weigher is RAM: ``spread`` prefers the most free RAM, ``pack`` the least. When no
plugin filters or weighs, hosts are visited in free-RAM order and the first host that passes
every filter wins, which is the same answer as weighing them all, in O(hosts skipped).
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

from sqlalchemy.orm import Session

from overcast.compute.claims import Ratios, Usage, claim, release
from overcast.compute.hoststate import HostEntry, HostStateCache
from overcast.db.group import GroupCommit
from overcast.errors import NoValidHost
from overcast.types import ScheduleRequest

#: A lost claim means another process filled that host first; the request then tries the next
#: host (never the same one again), so the loop ends when no host is left. This bound only
#: refuses a request that lost this many races in a row (two controllers walking the same
#: free-RAM order near full capacity lose several; 8 was too few).
MAX_CLAIM_ATTEMPTS = 64

Check = Callable[[HostEntry], bool]
T = TypeVar("T")


def _hypervisor_type_wanted(request: ScheduleRequest) -> str | None:
    wanted = None
    if request.image is not None:
        wanted = request.image.properties.get("hypervisor_type") or request.image.properties.get("img_hv_type")
    spec = request.flavor.extra_specs.get("hypervisor_type") or request.flavor.extra_specs.get(
        "capabilities:hypervisor_type"
    )
    return (spec or wanted or None) and str(spec or wanted).lower()


def static_filters(request: ScheduleRequest) -> list[tuple[str, Check]]:
    """Filters whose answer depends only on a host's static facts (cached per host class)."""
    filters: list[tuple[str, Check]] = [("ComputeFilter", lambda e: e.enabled and e.up)]
    if request.availability_zone:
        az = request.availability_zone
        filters.append(("AvailabilityZoneFilter", lambda e: e.availability_zone == az))
    if request.image is not None and request.image.disk_format:  # none for a volume-backed server
        fmt = request.image.disk_format
        filters.append(("ImageFormatFilter", lambda e: fmt in e.capabilities.image_types))
    hv_type = _hypervisor_type_wanted(request)
    if hv_type:
        # the property names the hypervisor type (qemu, xen, vmware, ...) or the host's driver: an image
        # tagged ``kvm`` runs on a kvm-driver host even when it emulates (virt_type "qemu", no /dev/kvm)
        filters.append(
            ("HypervisorTypeFilter", lambda e: hv_type in (e.capabilities.hypervisor_type.lower(), e.driver.lower()))
        )
    if request.same_driver_as:
        drv = request.same_driver_as
        filters.append(("SameDriverFilter", lambda e: e.driver == drv))
    return filters


def host_filters(request: ScheduleRequest, usage: Usage, ratios: Ratios) -> list[tuple[str, Check]]:
    """Filters that look at one host's own numbers or name."""
    filters: list[tuple[str, Check]] = []
    if request.force_hosts:
        forced = frozenset(request.force_hosts)
        filters.append(("ForceHostsFilter", lambda e: e.name in forced))
    if request.ignore_hosts:
        ignored = frozenset(request.ignore_hosts)
        filters.append(("IgnoreHostsFilter", lambda e: e.name not in ignored))
    policy = request.hints.get("group_policy")
    group_hosts = frozenset(request.hints.get("group_hosts") or ())
    if policy == "affinity" and group_hosts:
        filters.append(("ServerGroupAffinityFilter", lambda e: e.name in group_hosts))
    elif policy == "anti-affinity" and group_hosts:
        filters.append(("ServerGroupAntiAffinityFilter", lambda e: e.name not in group_hosts))
    if "same_host_hosts" in request.hints:  # Nova's SameHostFilter / DifferentHostFilter (issue 16)
        same = frozenset(request.hints["same_host_hosts"])
        filters.append(("SameHostFilter", lambda e: e.name in same))
    if "different_host_hosts" in request.hints:
        different = frozenset(request.hints["different_host_hosts"])
        filters.append(("DifferentHostFilter", lambda e: e.name not in different))
    if "aggregate_hosts" in request.hints:  # the flavor's aggregate_instance_extra_specs (issue 18)
        in_aggregates = frozenset(request.hints["aggregate_hosts"])
        filters.append(("AggregateInstanceExtraSpecsFilter", lambda e: e.name in in_aggregates))
    if request.hints.get("boot_from_volume"):  # the root disk is a volume (issue 18)
        filters.append(("BootFromVolumeFilter", lambda e: e.capabilities.boot_from_volume))
    filters.append(("CoreFilter", lambda e: e.vcpus_used + usage.vcpus <= e.vcpus * ratios.cpu))
    filters.append(("RamFilter", lambda e: e.memory_mb_used + usage.memory_mb <= e.memory_mb * ratios.ram))
    filters.append(("DiskFilter", lambda e: e.local_gb_used + usage.disk_gb <= e.local_gb * ratios.disk))
    return filters


#: what a forced host is still checked for: it must have room for the flavor
_CAPACITY_FILTERS = frozenset({"ForceHostsFilter", "IgnoreHostsFilter", "CoreFilter", "RamFilter", "DiskFilter"})

SOFT_POLICIES = frozenset({"soft-affinity", "soft-anti-affinity"})
SOFT_POLICY_MULTIPLIER = 2.0


def explain(entries: Iterable[HostEntry], filters: list[tuple[str, Check]], total: int) -> str:
    """Nova's message plus which filter removed how many hosts, in filter order."""
    rejected: Counter[str] = Counter()
    for entry in entries:
        for name, check in filters:
            if not check(entry):
                rejected[name] += 1
                break
        else:
            rejected["plugin filters"] += 1
    if total == 0:
        return "No valid host was found. There are no compute hosts registered."
    names = [name for name, _ in filters] + ["plugin filters"]
    detail = "; ".join(f"{name} rejected {rejected[name]}" for name in names if rejected[name])
    return f"No valid host was found. There are not enough hosts available ({total} hosts: {detail})."


class Scheduler:
    """Picks a host for a request and claims its resources in the database."""

    def __init__(
        self,
        db,
        plugins,
        ratios: Ratios,
        weigher: str,
        down_after: float,
        cache_seconds: float = 1.0,
        writes: GroupCommit | None = None,
    ) -> None:
        self.db = db
        self.writes = writes if writes is not None else GroupCommit(db)
        self.plugins = plugins
        self.ratios = ratios
        self.pack = weigher == "pack"
        self.cache = HostStateCache(db, ratios, down_after, ttl=cache_seconds)
        # SQLite has one writer: queueing our own claims here avoids its busy-wait back-off.
        # The conditional UPDATE stays the authority (other processes, PostgreSQL).
        self._claim_lock = threading.Lock() if db.is_sqlite else contextlib.nullcontext()

    # --- plugins --------------------------------------------------------------------------

    def _plugin_hooks(self) -> tuple[bool, bool]:
        hook = self.plugins.hooks.hook
        return bool(hook.overcast_filter_hosts.get_hookimpls()), bool(hook.overcast_weigh_hosts.get_hookimpls())

    # --- selection --------------------------------------------------------------------------

    def select(self, request: ScheduleRequest, exclude: frozenset[str] = frozenset()) -> str:
        """The best host for ``request`` (not claimed). Raises ``NoValidHost`` with reasons."""
        return self._select(request, exclude, reserve=False)

    def _select(self, request: ScheduleRequest, exclude: frozenset[str], reserve: bool) -> str:
        """:meth:`select`; with ``reserve`` the request's usage is also counted on the chosen
        host in this process's view at once, so the next request in this process (another
        thread, before this one's claim commits) weighs that host as already holding it."""
        usage = Usage.of(request.flavor)
        statics = [] if request.bypass_filters else static_filters(request)
        per_host = host_filters(request, usage, self.ratios)
        if request.bypass_filters:
            per_host = [f for f in per_host if f[0] in _CAPACITY_FILTERS]
        with self.cache.lock:
            entries, by_ram = self.cache.view()
            memo: dict[tuple, bool] = {}

            def passes(e: HostEntry) -> bool:
                if e.name in exclude:
                    return False
                ok = memo.get(e.static_key)
                if ok is None:
                    ok = memo[e.static_key] = all(check(e) for _, check in statics)
                return ok and all(check(e) for _, check in per_host)

            plugin_filters, plugin_weighers = self._plugin_hooks()
            if request.bypass_filters:
                plugin_filters = False
            soft = request.hints.get("group_policy") in SOFT_POLICIES and bool(request.hints.get("group_hosts"))
            if not plugin_filters and not plugin_weighers and not soft:
                chosen = self._first_in_ram_order(entries, by_ram, usage, passes)
            else:
                chosen = self._filter_and_weigh(request, entries, passes, plugin_filters, plugin_weighers)
            if chosen is None:
                pool = [e for e in entries.values() if e.name not in exclude]
                raise NoValidHost(explain(pool, statics + per_host, len(entries)))
            if reserve:
                self.cache.apply(chosen, usage)
            return chosen

    def _first_in_ram_order(self, entries, by_ram, usage: Usage, passes) -> str | None:
        if self.pack:
            start = bisect.bisect_left(by_ram, (float(usage.memory_mb), ""))
            order = (by_ram[i] for i in range(start, len(by_ram)))
        else:
            order = reversed(by_ram)
        for _, name in order:
            if passes(entries[name]):
                return name
        return None

    def _filter_and_weigh(self, request, entries, passes, plugin_filters: bool, plugin_weighers: bool) -> str | None:
        candidates = [e for e in entries.values() if passes(e)]
        if candidates and plugin_filters:
            states = [e.to_host_state() for e in candidates]
            for kept in self.plugins.hooks.hook.overcast_filter_hosts(request=request, hosts=states):
                if kept is not None:
                    names = {h.name for h in kept}
                    candidates = [e for e in candidates if e.name in names]
        if not candidates:
            return None
        weights = _normalise({e.name: e.free_ram(self.ratios) for e in candidates})
        if self.pack:
            weights = {k: 1.0 - v for k, v in weights.items()}
        policy = request.hints.get("group_policy")
        if policy in SOFT_POLICIES:
            # Nova's ServerGroupSoft(Anti)AffinityWeigher: a host running the group's members
            # weighs more (soft-affinity) or less (soft-anti-affinity); the multiplier (Nova's
            # soft_*affinity_weight_multiplier) is 2.0 here, so the policy outweighs free RAM
            # (normalised to 0..1) and decides wherever some host can honour it
            group_hosts = frozenset(request.hints.get("group_hosts") or ())
            sign = SOFT_POLICY_MULTIPLIER if policy == "soft-affinity" else -SOFT_POLICY_MULTIPLIER
            for e in candidates:
                if e.name in group_hosts:
                    weights[e.name] += sign
        if plugin_weighers:
            states = [e.to_host_state() for e in candidates]
            for extra in self.plugins.hooks.hook.overcast_weigh_hosts(request=request, hosts=states):
                if extra:
                    for name, w in _normalise(dict(extra)).items():
                        if name in weights:
                            weights[name] += w
        return max(candidates, key=lambda e: (weights[e.name], e.name)).name

    # --- claiming ---------------------------------------------------------------------------

    def select_and_claim(self, request: ScheduleRequest) -> str:
        """Pick a host and claim the flavor on it atomically; retry elsewhere if we lost a race."""
        usage = Usage.of(request.flavor)

        def attempt(host: str) -> tuple[bool, None]:
            with self._claim_lock, self.db.engine.begin() as conn:
                return claim(conn, host, usage, self.ratios), None

        return self._claim_loop(request, usage, attempt)[0]

    def claim_and(self, request: ScheduleRequest, then: Callable[[Session, str], T | None]) -> tuple[str, T | None]:
        """:meth:`select_and_claim`, with ``then(session, host)`` written in the claim's own
        transaction (a job of :attr:`writes`: concurrent builds' claims share one). When
        ``then`` answers ``None`` (the server moved on meanwhile) the claim is given back
        in that same transaction. The host and ``then``'s answer."""
        usage = Usage.of(request.flavor)

        def job(s: Session, host: str) -> tuple[bool, T | None]:
            if not claim(s, host, usage, self.ratios):
                return False, None
            done = then(s, host)
            if done is None:
                release(s, host, usage)
            return True, done

        host, done = self._claim_loop(request, usage, lambda host: self.writes.run(lambda s: job(s, host)))
        if done is None:  # given back in the database: and in this process's view
            self.release(host, usage)
        return host, done

    def _claim_loop(
        self, request: ScheduleRequest, usage: Usage, attempt: Callable[[str], tuple[bool, T | None]]
    ) -> tuple[str, T | None]:
        """Pick a host and ``attempt(host)`` its claim -> ``(won, extra)``; retry elsewhere
        if we lost a race."""
        tried: set[str] = set()
        for _ in range(MAX_CLAIM_ATTEMPTS):
            host = self._select(request, frozenset(tried), reserve=True)
            won = False
            try:
                won, extra = attempt(host)
            finally:
                if not won:  # give back what _select counted in our view
                    with self.cache.lock:
                        self.cache.apply(host, usage, sign=-1)
            if won:
                return host, extra
            tried.add(host)
            self.cache.mark_full(host)
        raise NoValidHost(
            f"No valid host was found. Capacity on {len(tried)} hosts was taken by concurrent requests; try again."
        )

    def release(self, host: str, usage: Usage) -> None:
        """Note a release already written to the database."""
        with self.cache.lock:
            self.cache.apply(host, usage, sign=-1)


def _normalise(weights: dict[str, float]) -> dict[str, float]:
    if not weights:
        return {}
    lo, hi = min(weights.values()), max(weights.values())
    if hi == lo:
        return {k: 0.0 for k in weights}
    return {k: (v - lo) / (hi - lo) for k, v in weights.items()}
