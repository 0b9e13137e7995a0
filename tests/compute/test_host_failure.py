"""A host whose agent stops answering: marked down, shown honestly, skipped by the scheduler,
evacuated from (shared storage only), and reconciled when its agent answers again.

Three fake hosts in one process on the in-process bus: ``fake1`` and ``fake2`` report shared
instance storage, ``fake3`` local disks. "Killing" an agent withdraws its bus topic, so the
controller's heartbeats get no answer, exactly as when its process dies.
"""

from __future__ import annotations

import shutil
import time

import pytest

from overcast.agent import agent_topic, start_local_agents
from overcast.config import parse_config
from overcast.db.models.compute import MigrationRecord
from overcast.testing.fixtures import fake_config_data
from overcast.testing.waiting import wait_until
from overcast.types import PowerState

from .conftest import IMAGE_ID, api_wait

DOWN_AFTER = 2.0


@pytest.fixture
def overcast_config(tmp_path, migrated_sqlite_template):
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path, hosts=3)
    data["hosts"]["fake1"]["shared_storage"] = True
    data["hosts"]["fake2"]["shared_storage"] = True
    data["compute"] = {"scheduler_cache_seconds": 0}
    data["bus"] = {"heartbeat_interval": 0.2, "host_down_after": DOWN_AFTER}
    return parse_config(data, tmp_path / "overcast.toml")


def service_state(api, host: str) -> str:
    services = api("GET", "/os-services?binary=nova-compute", "admin").json()["services"]
    return next(s["state"] for s in services if s["host"] == host)


def boot_on(api, compute, flavor_id: str, host: str, name: str, hints: dict | None = None) -> dict:
    """Boot a server on ``host`` (the other hosts disabled meanwhile), with scheduler ``hints``."""
    others = [h for h in ("fake1", "fake2", "fake3") if h != host]
    for h in others:
        compute.hosts.set_service(h, "nova-compute", disabled=True)
    try:
        body: dict = {"server": {"name": name, "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
        if hints:
            body["os:scheduler_hints"] = hints
        r = api("POST", "/servers", "p1", body)
        assert r.status_code == 202, r.text
        server = api_wait(api, compute, r.json()["server"]["id"], "ACTIVE")
    finally:
        for h in others:
            compute.hosts.set_service(h, "nova-compute", disabled=False)
        compute.scheduler.cache.invalidate(full=True)
    assert api("GET", f"/servers/{server['id']}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"] == host
    return server


def kill_agent(runtime, host: str) -> float:
    runtime.bus.stop_serving(agent_topic(host))
    return time.monotonic()


def revive_agent(runtime, host: str) -> None:
    start_local_agents(runtime, [host])  # a new agent process: new id, same hypervisor


def admin_show(api, sid: str, version: str = "2.16") -> dict:
    return api("GET", f"/servers/{sid}", "admin", version=version).json()["server"]


def test_dead_agent_marks_host_down_and_its_return_reconciles(api, api_flavor, compute, cloud_runtime, fake_drivers):
    vm1 = boot_on(api, compute, api_flavor["id"], "fake1", "vm1")
    vm3 = boot_on(api, compute, api_flavor["id"], "fake1", "vm3")
    assert admin_show(api, vm1["id"])["host_status"] == "UP"
    assert service_state(api, "fake1") == "up"

    killed = kill_agent(cloud_runtime, "fake1")
    wait_until(lambda: service_state(api, "fake1") == "down", "fake1 down in os-services", timeout=15, every=0.05)
    assert time.monotonic() - killed < DOWN_AFTER + 3  # heartbeat interval + probe: well within host_down_after
    hypervisors = api("GET", "/os-hypervisors", "admin").json()["hypervisors"]
    assert {h["hypervisor_hostname"]: h["state"] for h in hypervisors}["fake1"] == "down"
    shown = admin_show(api, vm1["id"])
    assert shown["host_status"] == "UNKNOWN" and shown["status"] == "ACTIVE"  # last known status, honestly flagged
    assert "host_status" not in api("GET", f"/servers/{vm1['id']}", "p1", version="2.16").json()["server"]

    # the scheduler skips the dead host even though it has the most room
    r = api(
        "POST",
        "/servers",
        "p1",
        {"server": {"name": "new", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}},
    )
    new = api_wait(api, compute, r.json()["server"]["id"], "ACTIVE")
    assert admin_show(api, new["id"])["OS-EXT-SRV-ATTR:host"] in ("fake2", "fake3")

    # while it is down: vm1's guest stops, vm3 is deleted (its guest cannot be destroyed yet)
    guests = fake_drivers.hypervisor.guests["fake1"]
    guests[f"oc-{vm1['id']}"]["state"] = PowerState.SHUTDOWN
    assert api("DELETE", f"/servers/{vm3['id']}").status_code == 204
    compute.runner.wait_idle()
    assert f"oc-{vm3['id']}" in guests

    revive_agent(cloud_runtime, "fake1")
    wait_until(lambda: service_state(api, "fake1") == "up", "fake1 up", timeout=15, every=0.05)
    assert api_wait(api, compute, vm1["id"], "SHUTOFF")["OS-EXT-STS:power_state"] == 4
    wait_until(lambda: f"oc-{vm3['id']}" not in guests, "vm3's stale guest reaped", timeout=15, every=0.05)
    assert admin_show(api, vm1["id"])["host_status"] == "UP"


def test_evacuate_needs_a_down_host_and_shared_storage(api, api_flavor, compute, cloud_runtime, fake_drivers):
    vm = boot_on(api, compute, api_flavor["id"], "fake1", "shared-vm")
    local = boot_on(api, compute, api_flavor["id"], "fake3", "local-vm")

    def evacuate(sid: str, body: dict, who: str = "admin", version: str = "2.29"):
        return api("POST", f"/servers/{sid}/action", who, {"evacuate": body}, version=version)

    assert evacuate(vm["id"], {}, who="p1").status_code == 403  # admin only
    r = evacuate(vm["id"], {"host": "fake2"})
    assert r.status_code == 400 and "Compute service of fake1 is still in use" in r.text
    assert evacuate(vm["id"], {"host": "nowhere"}).status_code == 404
    assert evacuate(vm["id"], {"host": "fake1"}).status_code == 400
    assert evacuate(vm["id"], {"onSharedStorage": True}).status_code == 400  # gone since 2.14

    kill_agent(cloud_runtime, "fake1")
    kill_agent(cloud_runtime, "fake3")
    wait_until(
        lambda: service_state(api, "fake1") == service_state(api, "fake3") == "down",
        "fake1 and fake3 down",
        timeout=15,
        every=0.05,
    )

    r = evacuate(local["id"], {})
    assert r.status_code == 400, r.text
    assert "its disk is local to host fake3" in r.json()["badRequest"]["message"]
    assert admin_show(api, local["id"])["OS-EXT-STS:task_state"] is None  # refused: nothing changed

    r = evacuate(vm["id"], {"host": "fake2", "force": False})
    assert r.status_code == 200 and r.content == b"", r.text
    moved = api_wait(api, compute, vm["id"], "ACTIVE")
    assert admin_show(api, moved["id"])["OS-EXT-SRV-ATTR:host"] == "fake2"
    assert f"oc-{vm['id']}" in fake_drivers.hypervisor.guests["fake2"]
    with cloud_runtime.db.session() as s:
        kinds = [(m.migration_type, m.source_host, m.dest_host, m.status) for m in s.query(MigrationRecord)]
    assert kinds == [("evacuation", "fake1", "fake2", "done")]
    hypervisors = {
        h["hypervisor_hostname"]: h for h in api("GET", "/os-hypervisors/detail", "admin").json()["hypervisors"]
    }
    assert hypervisors["fake1"]["vcpus_used"] == 0 and hypervisors["fake2"]["vcpus_used"] == 1  # the claim moved

    # the old host comes back: its stale copy is destroyed, the evacuated server untouched
    revive_agent(cloud_runtime, "fake1")
    wait_until(
        lambda: f"oc-{vm['id']}" not in fake_drivers.hypervisor.guests["fake1"],
        "stale guest gone from fake1",
        timeout=15,
        every=0.05,
    )
    assert f"oc-{vm['id']}" in fake_drivers.hypervisor.guests["fake2"]
    assert api_wait(api, compute, vm["id"], "ACTIVE")["status"] == "ACTIVE"


def test_evacuate_before_2_14_answers_an_admin_password(api, api_flavor, compute, cloud_runtime):
    vm = boot_on(api, compute, api_flavor["id"], "fake2", "old-client-vm")
    kill_agent(cloud_runtime, "fake2")
    wait_until(lambda: service_state(api, "fake2") == "down", "fake2 down", timeout=15, every=0.05)
    r = api("POST", f"/servers/{vm['id']}/action", "admin", {"evacuate": {"onSharedStorage": False}}, version="2.1")
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["adminPass"], str)
    moved = api_wait(api, compute, vm["id"], "ACTIVE")
    assert admin_show(api, moved["id"])["OS-EXT-SRV-ATTR:host"] in ("fake1", "fake3")


class OlderAgent:
    """What an agent of an earlier release answers: no agent identity, capabilities without
    the fields added since (and with one since retired), resources without the newest."""

    def compute_report(self) -> dict:
        return {
            "capabilities": {
                "__type__": "HvCapabilities",
                "hypervisor_type": "fake",
                "image_types": ["qcow2"],
                "retired_field": True,
            },
            "resources": {"__type__": "HostResources", "vcpus": 8, "memory_mb": 8192, "local_gb": 80},
        }

    def compute_list_instances(self) -> list[str]:
        return []


def test_controller_registers_an_older_agent(compute, cloud_runtime):
    from sqlalchemy import select

    from overcast.db.models.hosts import HostRecord

    cloud_runtime.bus.serve(agent_topic("fake3"), OlderAgent())  # replaces fake3's current agent
    assert compute.hosts.refresh("fake3")
    with cloud_runtime.db.session() as s:
        rec = s.scalars(select(HostRecord).where(HostRecord.name == "fake3")).one()
    assert (rec.vcpus, rec.memory_mb, rec.local_gb, rec.error) == (8, 8192, 80, None)
    assert rec.capabilities["shared_storage"] is False and rec.capabilities["image_types"] == ["qcow2"]
    assert compute.hosts.is_up("fake3")
    assert compute.hosts.statuses({"fake3"}) == {"fake3": "UP"}


def test_evacuate_force_skips_the_filters_but_not_capacity(api, api_flavor, compute, cloud_runtime):
    """Nova 2.29's ``force``: the named host is taken without the scheduler's filters (here the
    server group's anti-affinity, which refuses it otherwise); ``force`` needs a host."""
    group = api("POST", "/os-server-groups", "p1", {"server_group": {"name": "g", "policies": ["anti-affinity"]}})
    assert group.status_code == 200, group.text
    hints = {"group": group.json()["server_group"]["id"]}
    boot_on(api, compute, api_flavor["id"], "fake2", "member-a", hints)
    vm = boot_on(api, compute, api_flavor["id"], "fake1", "member-b", hints)
    kill_agent(cloud_runtime, "fake1")
    wait_until(lambda: service_state(api, "fake1") == "down", "fake1 down", timeout=15, every=0.05)

    def evacuate(body: dict):
        return api("POST", f"/servers/{vm['id']}/action", "admin", {"evacuate": body}, version="2.29")

    r = evacuate({"force": True})
    assert r.status_code == 400 and "Can't force to a non-provided destination" in r.text

    assert evacuate({"host": "fake2"}).status_code == 200  # scheduled: anti-affinity refuses fake2
    compute.runner.wait_idle()
    shown = admin_show(api, vm["id"])
    assert shown["OS-EXT-SRV-ATTR:host"] == "fake1" and shown["OS-EXT-STS:task_state"] is None
    with cloud_runtime.db.session() as session:
        from overcast.db.models.compute import InstanceFault

        faults = [f.message for f in session.query(InstanceFault).filter_by(instance_uuid=vm["id"])]
    assert any("No valid host" in m and "ServerGroupAntiAffinityFilter" in m for m in faults), faults

    assert evacuate({"host": "fake2", "force": True}).status_code == 200
    moved = api_wait(api, compute, vm["id"], "ACTIVE")
    assert admin_show(api, moved["id"])["OS-EXT-SRV-ATTR:host"] == "fake2"


def test_heartbeat_round_skips_hosts_another_controller_just_asked(compute, cloud_runtime, monkeypatch):
    """A round writes its answers in batches; with ``skip_fresh`` it leaves out the hosts whose
    heartbeat another controller wrote that recently, never those whose last heartbeat it wrote
    itself (its rounds keep their pace however long one takes), and asks stale hosts."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from overcast.compute import hosts as hosts_module
    from overcast.db.models.base import utcnow
    from overcast.db.models.hosts import HostRecord, ServiceRecord

    compute.hosts.stop()  # no background rounds while counting
    monkeypatch.setattr(hosts_module, "WRITE_BATCH", 2)  # three hosts: two transactions

    def asked(**kwargs) -> dict[str, int]:
        """Which hosts one round asks (their service rows' report counts go up)."""

        def counts() -> dict[str, int]:
            with cloud_runtime.db.session() as s:
                stmt = select(ServiceRecord.host, ServiceRecord.report_count)
                return dict(s.execute(stmt.where(ServiceRecord.binary == "nova-compute")).all())

        before = counts()
        compute.hosts.refresh_all(**kwargs)
        return {h: n - before[h] for h, n in counts().items()}

    def heartbeat(where, when) -> None:  # another controller's write
        with cloud_runtime.db.session() as s:
            s.execute(update(HostRecord).where(where).values(last_heartbeat=when))

    everyone = {"fake1": 1, "fake2": 1, "fake3": 1}
    assert asked() == everyone
    assert asked(skip_fresh=60) == everyone  # fresh, but its own heartbeats
    heartbeat(HostRecord.name != "fake2", utcnow())
    assert asked(skip_fresh=60) == {"fake1": 0, "fake2": 1, "fake3": 0}
    heartbeat(HostRecord.name == "fake2", utcnow() - timedelta(minutes=2))
    assert asked(skip_fresh=60) == {"fake1": 0, "fake2": 1, "fake3": 0}  # stale: asked
    heartbeat(HostRecord.name != "fake2", utcnow() - timedelta(minutes=2))
    assert asked(skip_fresh=60) == everyone
    assert compute.hosts.statuses({"fake1", "fake2", "fake3"}) == dict.fromkeys(("fake1", "fake2", "fake3"), "UP")
