"""Host registration and the periodic heartbeat: ask each host's agent for its capabilities
and resources and write them to its ``hosts`` row and its ``nova-compute`` service row.

The ``*_used`` columns are *not* overwritten from the hypervisor: they hold the scheduler's
claims (the sum of the flavors placed on the host), which :meth:`HostRegistry.recompute_usage`
rebuilds from the instances table at start-up.

Hosts are asked in parallel, each with ``[bus] probe_timeout`` (a fraction of
``host_down_after``), so a dead agent never delays the verdict on the others. An agent
process serving many hosts (2.1) is asked once for all of them, its hosts on their own only
when it does not answer for them (:meth:`HostRegistry._ask_round`). A host whose
agent answers again after being down (or whose agent process changed) is handed to
``on_return`` (the compute service reconciles its servers with what its hypervisor runs).
A round's answers are written in a few transactions (``WRITE_BATCH`` hosts each), not one per
host. With several controllers, each periodic round skips the hosts another controller has
heartbeated within half an interval, so the hosts are asked about once per interval in all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, func, or_, select, text, update
from sqlalchemy.exc import OperationalError

from overcast.compute.claims import Usage
from overcast.compute.migration_records import IN_FLIGHT
from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceRecord, MigrationRecord
from overcast.db.models.hosts import HostRecord, ServiceRecord
from overcast.errors import OvercastError
from overcast.compute.records import flavor_from
from overcast.db.values import store

if TYPE_CHECKING:
    from overcast.agent.compute import HostReport

log = logging.getLogger(__name__)

COMPUTE_BINARY = "nova-compute"
FORCED_DOWN = "forced down by an administrator"
SCHEDULER_BINARY = "nova-scheduler"
#: heartbeat answers written per transaction: few commits, and short row locks for the claims
WRITE_BATCH = 100


class HostRegistry:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._agent_ids: dict[str, str | None] = {}  # host -> agent process id of its last answer (None: no answer)
        self._written: dict[str, datetime] = {}  # host -> the last heartbeat this controller wrote
        self._topics: dict[str, str] = {}  # host -> the topic its agent process answers for all its hosts on
        self._process_retry: dict[str, float] = {}  # process topic -> when to ask it again (monotonic)
        self.on_return: Callable[[str], None] | None = None
        #: run after each periodic round (the compute service takes over gone task runners' servers)
        self.after_round: Callable[[], None] | None = None

    def register_configured(self) -> None:
        """Make sure every configured host has a ``hosts`` row and a service row."""
        with self.db.session() as s:
            for name, host in self.runtime.drivers.hosts.items():
                rec = s.scalars(select(HostRecord).where(HostRecord.name == name)).first()
                if rec is None:
                    s.add(
                        HostRecord(
                            name=name, driver=host.driver, availability_zone=host.availability_zone, capabilities={}
                        )
                    )
                else:
                    rec.driver = host.driver
                    rec.availability_zone = host.availability_zone
                self._service_row(s, COMPUTE_BINARY, name, host.availability_zone)
            self._service_row(s, SCHEDULER_BINARY, "controller", "internal").last_seen_at = utcnow()

    def _service_row(self, s, binary: str, host: str, zone: str) -> ServiceRecord:
        row = s.scalars(select(ServiceRecord).where(ServiceRecord.binary == binary, ServiceRecord.host == host)).first()
        if row is None:
            row = ServiceRecord(
                binary=binary,
                host=host,
                topic="compute" if binary == COMPUTE_BINARY else "scheduler",
                availability_zone=zone,
            )
            s.add(row)
            s.flush()
        row.availability_zone = zone
        return row

    def set_service(
        self,
        host: str,
        binary: str,
        *,
        disabled: bool | None = None,
        reason: str | None = None,
        forced_down: bool | None = None,
    ) -> ServiceRecord:
        """Enable/disable or force down a service; for ``nova-compute`` the scheduler follows."""
        from overcast.errors import NotFound

        with self.db.session() as s:
            row = s.scalars(
                select(ServiceRecord).where(ServiceRecord.binary == binary, ServiceRecord.host == host)
            ).first()
            if row is None:
                raise NotFound(f"Service {binary} on host {host} could not be found.")
            if disabled is not None:
                row.disabled = disabled
                row.disabled_reason = reason if disabled else None
            if forced_down is not None:
                row.forced_down = forced_down
            if binary == COMPUTE_BINARY:
                rec = s.scalars(select(HostRecord).where(HostRecord.name == host)).first()
                if rec is not None:
                    rec.enabled = not row.disabled
                    rec.disabled_reason = row.disabled_reason
                    if forced_down is not None:
                        rec.error = FORCED_DOWN if forced_down else (None if rec.error == FORCED_DOWN else rec.error)
            s.flush()
            return row

    def refresh(self, name: str) -> bool:
        """One heartbeat for host ``name``: ask its agent, record what it says (or why not).
        True if the agent answered."""
        report = self._ask(name)
        if report is None:
            return False  # no heartbeat: the host goes "down" after [bus] host_down_after
        with self.db.session() as s:
            rec = s.scalars(select(HostRecord).where(HostRecord.name == name)).first()
            if rec is None:
                return True
            svc = self._service_row(s, COMPUTE_BINARY, name, rec.availability_zone)
            now, renewed = utcnow(), list[str]()
            returned = self._record(rec, svc, report, now, renewed)
        self._renew(renewed, now)
        if returned:
            self._returned(name)
        return True

    def _ask(self, name: str) -> HostReport | None:
        """Host ``name``'s heartbeat report, or None (logged once) when its agent does not answer."""
        try:
            report = self.runtime.agents.compute(name, timeout=self.runtime.config.bus.probe_timeout).report()
        except OvercastError as exc:
            if self._agent_ids.get(name, "") is not None:
                log.warning("host %s did not report: %s", name, exc)
            self._agent_ids[name] = None
            self._topics.pop(name, None)
            return None
        self._received(name, report)
        return report

    def _received(self, name: str, report: HostReport) -> None:
        """Note the agent RPC version of host ``name``'s agent and where its process answers for all its hosts."""
        self._record_version(name, report.agent.version if report.agent is not None else "1.0")
        topic = report.agent.topic if report.agent is not None else None
        if topic is None:
            self._topics.pop(name, None)
        else:
            self._topics[name] = topic

    def _record(
        self,
        rec: HostRecord,
        svc: ServiceRecord,
        report: HostReport,
        now: datetime,
        renewed: list[str] | None = None,
    ) -> bool:
        """Write ``report`` into host ``rec``'s row and its service row; True if the host is
        back (it was down, or its agent process changed): its servers are to be reconciled.
        With ``renewed``, a report that changes nothing but the heartbeat's time leaves ``rec``
        as it is and adds its name there, for the caller's :meth:`_renew`."""
        name = rec.name
        agent_id = report.agent.id if report.agent is not None else ""  # older agents send none
        down_after = timedelta(seconds=self.runtime.config.bus.host_down_after)
        previous = self._agent_ids.get(name, "")
        was_down = rec.last_heartbeat is not None and now - rec.last_heartbeat > down_after
        returned = previous is None or was_down or bool(previous and agent_id and previous != agent_id)
        self._agent_ids[name] = agent_id
        if report.error or report.capabilities is None or report.resources is None:
            rec.error = (report.error or "the agent reported neither capabilities nor resources")[:1024]
            rec.last_heartbeat = now
            self._agent_ids[name] = None  # reconciled once its hypervisor works again
            return False
        caps, res = report.capabilities, report.resources
        facts = (
            FORCED_DOWN if svc.forced_down else None,
            res.hypervisor_type or caps.hypervisor_type,
            res.hypervisor_version,
            res.vcpus,
            res.memory_mb,
            res.local_gb,
            res.running_vms,
        )
        stored = store(caps)
        if rec.capabilities == stored and facts == _facts(rec) and renewed is not None:
            renewed.append(name)  # only alive: written apart, the row's updated_at kept (_renew)
        else:
            if rec.capabilities != stored:  # unchanged: no write (the column is JSON: an assignment always writes)
                rec.capabilities = stored
            for column, value in zip(_FACT_COLUMNS, facts):
                setattr(rec, column, value)
            rec.last_heartbeat = now
        svc.last_seen_at = now
        svc.report_count += 1
        self._written[name] = now
        return returned

    def _returned(self, name: str) -> None:
        if self.on_return is None:
            return
        log.info("host %s is back; reconciling its servers", name)
        try:
            self.on_return(name)
        except Exception:  # noqa: BLE001 - the heartbeat goes on
            log.exception("reconciling host %s failed", name)

    def _record_version(self, name: str, version: str) -> None:
        """Remember the agent RPC version ``name``'s agent speaks: the hypervisor client refuses
        an agent older than it needs (:mod:`overcast.agent.hypervisor`), saying so here once."""
        from overcast.agent.hypervisor import REQUIRED_MAJOR, major

        versions = self.runtime.agents.versions
        if major(version) < REQUIRED_MAJOR and versions.get(name) != version:
            log.warning(
                "host %s: its agent speaks agent RPC %s; this controller sends hypervisor operations only to "
                "agents of %s.0 or newer: upgrade Overcast on %s",
                name,
                version,
                REQUIRED_MAJOR,
                name,
            )
        versions[name] = version

    def refresh_all(self, skip_fresh: float = 0.0) -> None:
        """One heartbeat round: every configured host's agent asked (each agent process once
        for the hosts it serves, see :meth:`_ask_round`), then the answers written in batches
        of ``WRITE_BATCH`` (at a thousand hosts, a transaction per host was most of a
        controller's idle CPU). ``skip_fresh``: hosts whose last heartbeat is younger than
        this many seconds are not asked (another controller just did)."""
        names = list(self.runtime.drivers.hosts)
        if skip_fresh > 0 and names:
            fresh_since = utcnow() - timedelta(seconds=skip_fresh)
            stmt = select(HostRecord.name, HostRecord.last_heartbeat).where(
                HostRecord.last_heartbeat >= fresh_since, HostRecord.error.is_(None)
            )
            # fresh from another controller; our own last write is never a reason to wait (a long
            # round writes late, and skipping our own hosts would double their heartbeat age)
            fresh = {n for n, seen in self.db.read(lambda s: s.execute(stmt).all()) if seen != self._written.get(n)}
            names = [n for n in names if n not in fresh]
        returned = self._ask_round(names)
        with self.db.session() as s:
            self._service_row(s, SCHEDULER_BINARY, "controller", "internal").last_seen_at = utcnow()
        for name in returned:
            self._returned(name)

    def _write(self, answered: dict[str, HostReport]) -> list[str]:
        """Write ``answered`` in transactions of ``WRITE_BATCH`` hosts; the hosts that are back."""
        returned = []
        ordered = sorted(answered)
        for i in range(0, len(ordered), WRITE_BATCH):
            returned += self._record_batch({name: answered[name] for name in ordered[i : i + WRITE_BATCH]})
        return returned

    def _ask_round(self, names: list[str]) -> list[str]:
        """Ask ``names`` for their reports and write them (:meth:`_write`); the hosts that are back.

        The hosts whose last answers came from one agent process serving several of them
        (one agent id, and its :func:`~overcast.agent.process_topic`) are asked in one
        ``compute_report_all`` to that process; every other host, and each host its process
        did not answer for (no answer in time, a host it no longer serves), is asked on its
        own topic as before, as are the hosts of agents of 2.0 (which name no such topic).
        Each process's answer is written as soon as it is in, and the hosts it left out are
        asked then, so no process waits for another; they are heard at most
        ``_process_timeout`` later than on their own."""
        groups = self._by_process(names)
        grouped = {name for hosts in groups.values() for name in hosts}
        alone = [name for name in names if name not in grouped]
        if not groups and len(alone) <= 1:
            return self._write({name: r for name in alone if (r := self._ask(name)) is not None})
        returned: list[str] = []
        # threads start as asks are queued, up to 16
        with ThreadPoolExecutor(max_workers=16, thread_name_prefix="heartbeat") as pool:
            by_process = {pool.submit(self._ask_process, topic, hosts): hosts for topic, hosts in groups.items()}
            singles = {name: pool.submit(self._ask, name) for name in alone}
            for future in as_completed(by_process):
                answered = future.result()
                singles.update(
                    {name: pool.submit(self._ask, name) for name in by_process[future] if name not in answered}
                )
                returned += self._write(answered)
            returned += self._write({name: r for name, future in singles.items() if (r := future.result()) is not None})
        return returned

    def _by_process(self, names: list[str]) -> dict[str, list[str]]:
        """``names`` by the topic of the agent process that last answered for them, for the
        processes with at least two of them to ask (one host is as cheap on its own topic) and
        not waiting out an unanswered ask (:meth:`_ask_process`)."""
        now = time.monotonic()
        groups: dict[str, list[str]] = {}
        for name in names:
            topic = self._topics.get(name)
            if topic is not None and self._process_retry.get(topic, 0.0) <= now:
                groups.setdefault(topic, []).append(name)
        return {topic: hosts for topic, hosts in groups.items() if len(hosts) > 1}

    def _process_timeout(self) -> float:
        """How long an agent process has to answer for all its hosts: half a host's
        ``probe_timeout``, so that its hosts, asked on their own after it, are still heard
        within ``probe_timeout`` and a half (an ask that waits longer than today's by half)."""
        probe: float = self.runtime.config.bus.probe_timeout
        return min(probe, max(1.0, probe / 2))

    def _ask_process(self, topic: str, hosts: list[str]) -> dict[str, HostReport]:
        """The reports of ``hosts`` from the agent process on ``topic`` (those it answered
        for); {} if it did not answer, and then it is not asked again for ``host_down_after``
        seconds (its hosts are asked on their own meanwhile), logged once until it answers."""
        try:
            reports = self.runtime.agents.process(topic, timeout=self._process_timeout()).report_all(hosts=hosts)
        except OvercastError as exc:
            level = logging.DEBUG if topic in self._process_retry else logging.WARNING
            log.log(
                level,
                "agent process %s did not answer for %d hosts (%s); asking them one by one",
                topic,
                len(hosts),
                exc,
            )
            self._process_retry[topic] = time.monotonic() + self.runtime.config.bus.host_down_after
            return {}
        self._process_retry.pop(topic, None)
        wanted = set(hosts)
        answered = {name: report for name, report in reports.items() if name in wanted}
        for name, report in answered.items():
            self._received(name, report)
        return answered

    def _record_batch(self, answered: dict[str, HostReport]) -> list[str]:
        """Write these reports in one transaction; the hosts that are back."""
        returned = []
        with self.db.session() as s:
            now = utcnow()
            recs = {r.name: r for r in s.scalars(select(HostRecord).where(HostRecord.name.in_(list(answered))))}
            svcs = {
                r.host: r
                for r in s.scalars(
                    select(ServiceRecord).where(
                        ServiceRecord.binary == COMPUTE_BINARY, ServiceRecord.host.in_(list(recs))
                    )
                )
            }
            renewed: list[str] = []
            for name, rec in recs.items():
                svc = svcs.get(name) or self._service_row(s, COMPUTE_BINARY, name, rec.availability_zone)
                if self._record(rec, svc, answered[name], now, renewed):
                    returned.append(name)
        self._renew(renewed, now)
        return returned

    def _renew(self, names: list[str], now: datetime) -> None:
        """The heartbeat time of hosts ``names``, whose reports changed nothing else, in one
        statement that keeps their rows' ``updated_at``: the schedulers' host caches re-read the
        rows changed since their last refresh (:mod:`overcast.compute.hoststate`) and learn
        liveness apart, so a thousand hosts' heartbeats are not a thousand rows for each cache.

        Its own transaction, after the report's: the rows are locked in ``id`` order, as the
        ORM's flush of the other heartbeat writes locks them (several controllers write
        overlapping batches; a lock taken out of that order beside them could deadlock). A
        deadlock with some other transaction is tried again, twice."""
        if not names:
            return
        h = HostRecord.__table__.c
        table = cast(Table, HostRecord.__table__)
        locked = select(h.id).where(h.name.in_(names)).order_by(h.id).with_for_update().cte("locked")
        stmt = update(table).where(h.id.in_(select(locked.c.id))).values(last_heartbeat=now, updated_at=h.updated_at)
        for attempt in range(3):
            try:
                with self.db.session() as s:
                    s.execute(stmt)
                return
            except OperationalError as exc:
                if attempt == 2 or "deadlock" not in str(exc).lower():
                    raise

    def is_up(self, name: str) -> bool:
        """Whether host ``name``'s agent answered within ``host_down_after`` and it is not forced down."""
        down_after = timedelta(seconds=self.runtime.config.bus.host_down_after)

        def read(s):
            return (
                s.scalars(select(HostRecord).where(HostRecord.name == name)).first(),
                s.scalars(
                    select(ServiceRecord).where(ServiceRecord.binary == COMPUTE_BINARY, ServiceRecord.host == name)
                ).first(),
            )

        rec, svc = self.db.read(read)
        if rec is None or svc is None or svc.forced_down:
            return False
        return svc.last_seen_at is not None and utcnow() - svc.last_seen_at <= down_after

    def statuses(self, names: set[str]) -> dict[str, str]:
        """Nova's ``host_status`` of each host: DOWN (forced down), MAINTENANCE (disabled),
        UNKNOWN (its agent stopped answering) or UP."""
        if not names:
            return {}
        down_after = timedelta(seconds=self.runtime.config.bus.host_down_after)
        now = utcnow()
        out = {name: "UNKNOWN" for name in names}
        rows = self.db.read(
            lambda s: list(
                s.scalars(
                    select(ServiceRecord).where(
                        ServiceRecord.binary == COMPUTE_BINARY, ServiceRecord.host.in_(sorted(names))
                    )
                )
            )
        )
        for svc in rows:
            if svc.forced_down:
                out[svc.host] = "DOWN"
            elif svc.disabled:
                out[svc.host] = "MAINTENANCE"
            elif svc.last_seen_at is not None and now - svc.last_seen_at <= down_after:
                out[svc.host] = "UP"
        return out

    def recompute_usage(self) -> None:
        """Rebuild every host's claimed usage from the live instances (and in-flight
        migrations' destinations), healing anything a crash left behind, in one transaction
        that locks the hosts' rows before it reads the servers (several controllers claim
        concurrently: a total read before a claim and written after it would erase it)."""
        totals: dict[str, list[int]] = {}

        def add(host: str | None, flavor: dict) -> None:
            if not host:
                return
            u = Usage.of(flavor_from(flavor))
            t = totals.setdefault(host, [0, 0, 0])
            t[0] += u.vcpus
            t[1] += u.memory_mb
            t[2] += u.disk_gb

        with self.db.session() as s:
            # the hosts first, held to the commit: a claim (an UPDATE of its host's row, with
            # its server's row in the same transaction) committed before is in the reads below,
            # one after waits and adds to what is written here. On PostgreSQL a table lock that
            # waits for the transactions that updated hosts and holds off new updates (row locks
            # taken one by one could deadlock with a group commit claiming several hosts)
            if self.db.is_sqlite:  # a write takes SQLite's (one) write lock
                s.execute(update(HostRecord).values(updated_at=utcnow()))
            else:
                s.execute(text("LOCK TABLE hosts IN SHARE ROW EXCLUSIVE MODE"))
            live = select(InstanceRecord.host, InstanceRecord.flavor).where(InstanceRecord.deleted.is_(False))
            for host, flavor in s.execute(live):
                add(host, flavor)
            pending = (
                select(
                    MigrationRecord.dest_host,
                    MigrationRecord.source_host,
                    InstanceRecord.host,
                    InstanceRecord.flavor,
                    MigrationRecord.old_flavor,
                    MigrationRecord.new_flavor,
                )
                .join(InstanceRecord, InstanceRecord.uuid == MigrationRecord.instance_uuid)
                .where(
                    MigrationRecord.status.in_(IN_FLIGHT),
                    InstanceRecord.deleted.is_(False),
                    # an evacuation is counted only while it runs: one a crash left 'accepted'
                    # before reconciliation ended such rows would otherwise count for ever
                    or_(MigrationRecord.status != "accepted", InstanceRecord.task_state.is_not(None)),
                )
            )
            for dest, source, current, flavor, old, new in s.execute(pending):
                # both ends hold a claim; a resize's other end holds the other flavor
                other = (old if flavor.get("id") == new.get("id") else new) if old and new else flavor
                add(source if current == dest else dest, other)
            for rec in s.scalars(select(HostRecord)):
                vcpus, ram, disk = totals.get(rec.name, (0, 0, 0))
                rec.vcpus_used, rec.memory_mb_used, rec.local_gb_used = vcpus, ram, disk

    # --- the periodic thread -----------------------------------------------------------------

    def start(self, interval: float) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            # rounds start every ``interval`` (not ``interval`` after the last one ended: a round
            # at a thousand hosts takes seconds, which would add to every host's heartbeat age)
            next_round = time.monotonic() + interval
            while not self._stop.wait(max(0.0, next_round - time.monotonic())):
                next_round = max(next_round + interval, time.monotonic())
                try:
                    # with several controllers, each asks the hosts the others have not just asked
                    self.refresh_all(skip_fresh=interval / 2)
                except Exception:  # noqa: BLE001 - the heartbeat must keep going
                    log.exception("host heartbeat failed")
                if self.after_round is not None:
                    try:
                        self.after_round()
                    except Exception:  # noqa: BLE001 - the heartbeat must keep going
                        log.exception("taking over the servers of gone task runners failed")

        self._thread = threading.Thread(target=loop, name="compute-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


#: what a heartbeat writes into a host's row besides the capabilities and the time, in the
#: order of the facts :meth:`HostRegistry._record` builds from a report
_FACT_COLUMNS = ("error", "hypervisor_type", "hypervisor_version", "vcpus", "memory_mb", "local_gb", "running_vms")


def _facts(rec: HostRecord) -> tuple[Any, ...]:
    """Host ``rec``'s row's :data:`_FACT_COLUMNS`."""
    return tuple(getattr(rec, column) for column in _FACT_COLUMNS)


def instance_counts(session) -> dict[str, int]:
    stmt = (
        select(InstanceRecord.host, func.count()).where(InstanceRecord.deleted.is_(False)).group_by(InstanceRecord.host)
    )
    return {h: n for h, n in session.execute(stmt) if h}
