"""Scheduler filters, weighers, plugin hooks and atomic claims."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from sqlalchemy import select

from overcast.compute.claims import Ratios, Usage, claim
from overcast.compute.scheduler import Scheduler
from overcast.db import Database, upgrade
from overcast.db.models.base import utcnow
from overcast.db.models.hosts import HostRecord
from overcast.errors import NoValidHost
from overcast.hookspecs import hookimpl
from overcast.types import Flavor, HvCapabilities, ImageRef, ScheduleRequest, to_dict

RATIOS = Ratios(cpu=1.0, ram=1.0, disk=1.0)
FLAVOR = Flavor(id="1", name="f", vcpus=1, memory_mb=1024, root_gb=1)


def add_host(
    db,
    name,
    vcpus=4,
    ram=8192,
    disk=100,
    zone="nova",
    image_types=("qcow2",),
    hv_type="kvm",
    driver="fake",
    enabled=True,
    heartbeat=True,
    used_ram=0,
):
    caps = HvCapabilities(hypervisor_type=hv_type, image_types=frozenset(image_types))
    with db.session() as s:
        s.add(
            HostRecord(
                name=name,
                driver=driver,
                availability_zone=zone,
                enabled=enabled,
                capabilities=to_dict(caps),
                vcpus=vcpus,
                memory_mb=ram,
                local_gb=disk,
                memory_mb_used=used_ram,
                last_heartbeat=utcnow() if heartbeat else None,
            )
        )


@pytest.fixture
def db(tmp_path, migrated_sqlite_template):
    shutil.copyfile(migrated_sqlite_template, tmp_path / "sched.db")
    database = Database(f"sqlite:///{tmp_path / 'sched.db'}")
    yield database
    database.dispose()


def sched(db, pm, weigher="spread"):
    return Scheduler(db, pm, RATIOS, weigher, down_after=60, cache_seconds=0)


def req(flavor=FLAVOR, **kw):
    return ScheduleRequest(instance_uuid="u", project_id="p", flavor=flavor, **kw)


def test_spread_and_pack(db, overcast_pm):
    add_host(db, "a", used_ram=4096)
    add_host(db, "b")
    assert sched(db, overcast_pm).select(req()) == "b"
    assert sched(db, overcast_pm, "pack").select(req()) == "a"


@pytest.mark.parametrize(
    "host_kw, request_kw, reason",
    [
        ({"enabled": False}, {}, "ComputeFilter"),
        ({"heartbeat": False}, {}, "ComputeFilter"),
        ({"zone": "other"}, {"availability_zone": "nova"}, "AvailabilityZoneFilter"),
        ({"image_types": ("raw",)}, {"image": ImageRef(id="i", name="i", disk_format="qcow2")}, "ImageFormatFilter"),
        (
            {"hv_type": "xen"},
            {"image": ImageRef(id="i", name="i", disk_format="qcow2", properties={"hypervisor_type": "kvm"})},
            "HypervisorTypeFilter",
        ),
        ({"vcpus": 0}, {}, "CoreFilter"),
        ({"ram": 512}, {}, "RamFilter"),
        ({"disk": 0}, {}, "DiskFilter"),
        ({}, {"hints": {"group_policy": "affinity", "group_hosts": ["elsewhere"]}}, "ServerGroupAffinityFilter"),
        ({}, {"hints": {"group_policy": "anti-affinity", "group_hosts": ["h"]}}, "ServerGroupAntiAffinityFilter"),
        ({}, {"ignore_hosts": ("h",)}, "IgnoreHostsFilter"),
        ({"driver": "kvm"}, {"same_driver_as": "fake"}, "SameDriverFilter"),
    ],
)
def test_each_filter_rejects_with_its_name(db, overcast_pm, host_kw, request_kw, reason):
    add_host(db, "h", **host_kw)
    with pytest.raises(NoValidHost) as err:
        sched(db, overcast_pm).select(req(**request_kw))
    assert "No valid host was found" in str(err.value) and f"{reason} rejected 1" in str(err.value)


def test_soft_affinity_policies_weigh_but_never_refuse(db, overcast_pm):
    """Nova's soft (anti-)affinity weighers: a host with the group's members weighs more
    (soft-affinity) or less (soft-anti-affinity) than free RAM alone decides; never NoValidHost."""
    add_host(db, "roomy", ram=16384)
    add_host(db, "member")  # runs the group's other member; less free RAM
    s = sched(db, overcast_pm)
    assert s.select(req()) == "roomy"
    assert s.select(req(hints={"group_policy": "soft-affinity", "group_hosts": ["member"]})) == "member"
    assert s.select(req(hints={"group_policy": "soft-anti-affinity", "group_hosts": ["roomy"]})) == "member"
    # every host has a member: soft-anti-affinity still places (anti-affinity would refuse)
    both = {"group_hosts": ["roomy", "member"]}
    assert s.select(req(hints={"group_policy": "soft-anti-affinity", **both})) == "roomy"
    with pytest.raises(NoValidHost):
        s.select(req(hints={"group_policy": "anti-affinity", **both}))


def test_bypass_filters_checks_only_capacity(db, overcast_pm):
    add_host(db, "h", zone="other", image_types=("raw",))
    image = ImageRef(id="i", name="i", disk_format="qcow2")
    forced = req(availability_zone="nova", image=image, force_hosts=("h",), bypass_filters=True)
    assert sched(db, overcast_pm).select(forced) == "h"
    with pytest.raises(NoValidHost):
        sched(db, overcast_pm).select(req(availability_zone="nova", image=image, force_hosts=("h",)))
    big = Flavor(id="2", name="big", vcpus=1, memory_mb=65536, root_gb=1)
    with pytest.raises(NoValidHost) as err:
        sched(db, overcast_pm).select(req(flavor=big, force_hosts=("h",), bypass_filters=True))
    assert "RamFilter rejected 1" in str(err.value)


def test_flavor_hypervisor_type_extra_spec(db, overcast_pm):
    add_host(db, "k", hv_type="kvm")
    add_host(db, "x", hv_type="xen", ram=16384)
    flavor = Flavor(id="2", name="x", vcpus=1, memory_mb=512, root_gb=1, extra_specs={"hypervisor_type": "kvm"})
    assert sched(db, overcast_pm).select(req(flavor=flavor)) == "k"


def test_hypervisor_type_names_the_type_or_the_driver(db, overcast_pm):
    """``hypervisor_type=kvm`` fits a kvm-driver host that emulates (virt_type qemu); ``qemu`` too."""
    add_host(db, "tcg", hv_type="qemu", driver="kvm")
    add_host(db, "x", hv_type="xen", driver="xen", ram=16384)
    for wanted in ("kvm", "qemu", "QEMU"):
        image = ImageRef(id="i", name="i", disk_format="qcow2", properties={"hypervisor_type": wanted})
        assert sched(db, overcast_pm).select(req(image=image)) == "tcg"


def test_no_hosts_at_all(db, overcast_pm):
    with pytest.raises(NoValidHost, match="no compute hosts"):
        sched(db, overcast_pm).select(req())


class EvenOnly:
    @hookimpl
    def overcast_filter_hosts(self, request, hosts):
        return [h for h in hosts if h.name.endswith(("0", "2", "4"))]

    @hookimpl
    def overcast_weigh_hosts(self, request, hosts):
        return {h.name: (10.0 if h.name == "h2" else 0.0) for h in hosts}


def test_plugin_filters_and_weighers(db, overcast_pm):
    for i in range(5):
        add_host(db, f"h{i}", ram=8192 + i)
    overcast_pm.hooks.register(EvenOnly(), name="even")
    s = sched(db, overcast_pm)
    assert s.select(req()) == "h2"  # plugin weight beats the RAM weigher; h3/h1 filtered out
    with pytest.raises(NoValidHost, match="IgnoreHostsFilter rejected 3; plugin filters rejected 2"):
        s.select(req(ignore_hosts=("h2", "h0", "h4")))


def _claim_storm(db, scheduler, threads=16, per_thread=10):
    placed, failures = [], []
    lock = threading.Lock()

    def worker():
        for _ in range(per_thread):
            try:
                host = scheduler.select_and_claim(req())
                with lock:
                    placed.append(host)
            except NoValidHost as exc:
                with lock:
                    failures.append(str(exc))

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return placed, failures


def _assert_never_oversubscribed(db, placed, capacity_per_host):
    with db.session() as s:
        rows = list(s.scalars(select(HostRecord)))
    for row in rows:
        assert row.vcpus_used <= row.vcpus and row.memory_mb_used <= row.memory_mb
        assert placed.count(row.name) == row.vcpus_used
    assert len(placed) == sum(capacity_per_host for _ in rows)


def test_concurrent_claims_never_oversubscribe_sqlite(db, overcast_pm):
    for i in range(3):
        add_host(db, f"h{i}", vcpus=4, ram=4096, disk=100)  # 4 slots of FLAVOR each
    placed, failures = _claim_storm(db, sched(db, overcast_pm))
    assert len(placed) == 12 and len(failures) == 160 - 12
    _assert_never_oversubscribed(db, placed, 4)


def test_claims_with_a_write_never_oversubscribe_and_give_back_a_declined_claim(db, overcast_pm):
    """claim_and: each claim and its write are one job of a group commit (batched under a
    storm); a claim whose write declines (the server was deleted meanwhile) is given back
    in the same transaction and in the scheduler's view."""
    for i in range(3):
        add_host(db, f"h{i}", vcpus=4, ram=4096, disk=100)
    # a view kept for the whole test: what it holds at the end is this process's own arithmetic
    scheduler = Scheduler(db, overcast_pm, RATIOS, "spread", down_after=60, cache_seconds=60)
    placed, declined, failures = [], [], []
    lock = threading.Lock()

    def worker(n):
        for k in range(10):
            keep = (n + k) % 3 != 0  # every third request declines after its claim

            def then(session, host, keep=keep):
                assert session.execute(select(HostRecord.name).where(HostRecord.name == host)).scalar() == host
                return host if keep else None

            try:
                host, done = scheduler.claim_and(req(), then)
            except NoValidHost as exc:
                with lock:
                    failures.append(str(exc))
                continue
            with lock:
                (placed if done is not None else declined).append(host)
                assert done in (None, host)

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert declined and failures
    _assert_never_oversubscribed(db, placed, 4)  # declined claims hold nothing
    with scheduler.cache.lock:
        entries, _ = scheduler.cache.view()
        assert sorted(e.vcpus_used for e in entries.values()) == [4, 4, 4]


def test_claim_is_conditional(db):
    add_host(db, "h", vcpus=1, ram=1024, disk=1)
    with db.session() as s:
        assert claim(s, "h", Usage.of(FLAVOR), RATIOS)
    with db.session() as s:
        assert not claim(s, "h", Usage.of(FLAVOR), RATIOS)


@pytest.fixture
def pg_url():
    """The URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    from sqlalchemy import text

    url = os.environ.get("OVERCAST_TEST_POSTGRES_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
    admin = Database(url)
    name = f"oc_sched_{os.getpid()}"
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.postgres
def test_concurrent_claims_never_oversubscribe_postgres(overcast_pm, pg_url):
    db = Database(pg_url, pool_size=20)
    try:
        upgrade(db)
        for i in range(3):
            add_host(db, f"h{i}", vcpus=4, ram=4096, disk=100)
        placed, _ = _claim_storm(db, sched(db, overcast_pm))
        _assert_never_oversubscribed(db, placed, 4)
    finally:
        db.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("slots", [1, 2])
def test_two_controllers_fill_every_slot_without_a_refusal(overcast_pm, pg_url, slots):
    """Two controllers (each its own scheduler and host cache, refreshed once a second as in
    production) place exactly as many servers as there are slots at once: none is refused
    while a slot is free (a thundering herd on the best host used to run out of attempts),
    and no host is oversubscribed."""
    dbs = [Database(pg_url, pool_size=12) for _ in range(2)]
    try:
        upgrade(dbs[0])
        for i in range(120 // slots):
            add_host(dbs[0], f"h{i:03d}", vcpus=slots, ram=8192, disk=100)  # slots of FLAVOR each
        controllers = [Scheduler(d, overcast_pm, RATIOS, "spread", down_after=60, cache_seconds=1.0) for d in dbs]
        results: list[tuple[list[str], list[str]]] = []

        def controller(s: Scheduler) -> None:
            results.append(_claim_storm(s.db, s, threads=10, per_thread=6))

        ts = [threading.Thread(target=controller, args=(s,)) for s in controllers]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        placed = [h for p, _ in results for h in p]
        failures = [f for _, f in results for f in f]
        assert failures == [] and len(placed) == 120
        _assert_never_oversubscribed(dbs[0], placed, slots)
    finally:
        for d in dbs:
            d.dispose()
