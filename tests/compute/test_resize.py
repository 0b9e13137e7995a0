"""Resize over HTTP with the fake hypervisor: VERIFY_RESIZE, confirm, revert (same host and
another host), Nova's errors leaving the server unchanged, isolation, config_drive."""

from __future__ import annotations

import pytest

from overcast.db.models.hosts import HostRecord

from .conftest import IMAGE_ID, api_wait


def _flavor(api, name: str, vcpus: int, ram: int, disk: int) -> str:
    r = api("POST", "/flavors", "admin", {"flavor": {"name": name, "ram": ram, "vcpus": vcpus, "disk": disk}})
    assert r.status_code == 200, r.text
    return r.json()["flavor"]["id"]


def _usage(compute) -> dict[str, tuple[int, int, int]]:
    with compute.runtime.db.session() as s:
        return {h.name: (h.vcpus_used, h.memory_mb_used, h.local_gb_used) for h in s.query(HostRecord)}


def _quota(api) -> dict[str, int]:
    detail = api("GET", f"/os-quota-sets/{api.projects['p1']}/detail").json()["quota_set"]
    return {k: detail[k]["in_use"] for k in ("instances", "cores", "ram")}


def _action(api, sid: str, body: dict, who: str = "p1"):
    return api("POST", f"/servers/{sid}/action", who, body)


@pytest.fixture
def server(api, api_flavor, compute) -> str:
    """An ACTIVE server of ``m1.tiny`` (1 vCPU, 512 MB, 1 GB)."""
    body = {"server": {"name": "vm1", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    return sid


def test_resize_then_confirm(api, api_flavor, compute, server, fake_drivers):
    bigger = _flavor(api, "m1.bigger", 2, 1024, 2)
    before = api("GET", f"/servers/{server}", "admin").json()["server"]
    assert _action(api, server, {"resize": {"flavorRef": bigger, "OS-DCF:diskConfig": "AUTO"}}).status_code == 202
    resized = api_wait(api, compute, server, "VERIFY_RESIZE", "admin")
    assert resized["flavor"]["id"] == bigger and resized["OS-EXT-STS:task_state"] is None
    host = resized["OS-EXT-SRV-ATTR:host"]
    guest = fake_drivers.hypervisor.guests[host][resized["OS-EXT-SRV-ATTR:instance_name"]]
    assert (guest["instance"].flavor.vcpus, guest["instance"].flavor.memory_mb) == (2, 1024)
    assert _quota(api) == {"instances": 1, "cores": 2, "ram": 1024}
    # until confirmed, the source keeps the old flavor's claim and the destination has the new one
    usage = _usage(compute)
    if host == before["OS-EXT-SRV-ATTR:host"]:
        assert usage[host] == (3, 1536, 3)
    else:
        assert usage[host] == (2, 1024, 2) and usage[before["OS-EXT-SRV-ATTR:host"]] == (1, 512, 1)
    actions = api("GET", f"/servers/{server}/os-instance-actions").json()["instanceActions"]
    assert [a["action"] for a in actions] == ["resize", "create"]

    assert _action(api, server, {"confirmResize": None}).status_code == 204
    done = api_wait(api, compute, server, "ACTIVE", "admin")
    assert done["flavor"]["id"] == bigger and done["OS-EXT-SRV-ATTR:host"] == host
    assert sum(u[0] for u in _usage(compute).values()) == 2 and _usage(compute)[host] == (2, 1024, 2)
    assert _quota(api) == {"instances": 1, "cores": 2, "ram": 1024}
    assert _action(api, server, {"confirmResize": None}).status_code == 409  # nothing left to confirm


def test_resize_on_same_host_then_revert(api, api_flavor, compute, server, fake_drivers):
    bigger = _flavor(api, "m1.bigger", 2, 1024, 2)
    source = api("GET", f"/servers/{server}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]
    other = "fake2" if source == "fake1" else "fake1"
    assert api("PUT", "/os-services/disable", "admin", {"host": other, "binary": "nova-compute"}).status_code == 200
    usage, quota = _usage(compute), _quota(api)
    assert _action(api, server, {"resize": {"flavorRef": bigger}}).status_code == 202
    resized = api_wait(api, compute, server, "VERIFY_RESIZE", "admin")
    assert resized["OS-EXT-SRV-ATTR:host"] == source and resized["flavor"]["id"] == bigger
    assert _usage(compute)[source] == (3, 1536, 3)

    assert _action(api, server, {"revertResize": None}).status_code == 202
    back = api_wait(api, compute, server, "ACTIVE", "admin")
    assert back["OS-EXT-SRV-ATTR:host"] == source and back["flavor"]["id"] == api_flavor["id"]
    guest = fake_drivers.hypervisor.guests[source][back["OS-EXT-SRV-ATTR:instance_name"]]
    assert guest["instance"].flavor.vcpus == 1 and guest["state"].value == "running"
    assert _usage(compute) == usage and _quota(api) == quota


def test_resize_to_another_host_then_revert(api, api_flavor, compute, server, fake_drivers):
    compute.runtime.config.compute.allow_resize_to_same_host = False
    bigger = _flavor(api, "m1.bigger", 2, 1024, 2)
    before = api("GET", f"/servers/{server}", "admin").json()["server"]
    source = before["OS-EXT-SRV-ATTR:host"]
    api("POST", f"/servers/{server}/action", json={"os-stop": None})
    api_wait(api, compute, server, "SHUTOFF")
    usage, quota = _usage(compute), _quota(api)
    assert _action(api, server, {"resize": {"flavorRef": bigger}}).status_code == 202
    resized = api_wait(api, compute, server, "VERIFY_RESIZE", "admin")
    dest = resized["OS-EXT-SRV-ATTR:host"]
    assert dest != source and resized["OS-EXT-STS:power_state"] == 4  # a stopped server stays stopped
    assert _action(api, server, {"revertResize": None}).status_code == 202
    back = api_wait(api, compute, server, "SHUTOFF", "admin")
    assert back["OS-EXT-SRV-ATTR:host"] == source and back["flavor"]["id"] == api_flavor["id"]
    assert before["OS-EXT-SRV-ATTR:instance_name"] not in fake_drivers.hypervisor.guests[dest]
    assert _usage(compute) == usage and _quota(api) == quota
    migrations = compute.migrations.pending(server)
    assert migrations is None  # the resize record is no longer pending


def test_delete_while_verify_resize_cleans_both_hosts(api, api_flavor, compute, server, fake_drivers):
    compute.runtime.config.compute.allow_resize_to_same_host = False
    bigger = _flavor(api, "m1.bigger", 2, 1024, 2)
    name = api("GET", f"/servers/{server}", "admin").json()["server"]["OS-EXT-SRV-ATTR:instance_name"]
    _action(api, server, {"resize": {"flavorRef": bigger}})
    api_wait(api, compute, server, "VERIFY_RESIZE")
    assert api("DELETE", f"/servers/{server}").status_code == 204
    compute.runner.wait_idle()
    assert all(name not in guests for guests in fake_drivers.hypervisor.guests.values())
    assert all(u == (0, 0, 0) for u in _usage(compute).values())
    assert _quota(api) == {"instances": 0, "cores": 0, "ram": 0}


def test_resize_errors_change_nothing(api, api_flavor, compute, server):
    bigger = _flavor(api, "m1.bigger", 2, 1024, 2)
    smaller_disk = _flavor(api, "m1.nodisk", 2, 1024, 0)
    big_disk = _flavor(api, "m1.bigdisk", 1, 512, 5)
    shrink = _flavor(api, "m1.shrink", 1, 512, 2)
    sid = server
    # a server with a 5 GB disk for the shrink case
    r = api(
        "POST",
        "/servers",
        "p1",
        {"server": {"name": "vm2", "flavorRef": big_disk, "imageRef": IMAGE_ID, "networks": "none"}},
    )
    big = r.json()["server"]["id"]
    api_wait(api, compute, big, "ACTIVE")
    before = {s: api("GET", f"/servers/{s}", "admin").json()["server"] for s in (sid, big)}
    usage, quota = _usage(compute), _quota(api)

    def refused(server_id: str, body, who: str, status: int, message: str | None = None) -> None:
        r = _action(api, server_id, body, who)
        assert r.status_code == status, r.text
        if message is not None:
            assert message in next(iter(r.json().values()))["message"], r.text

    refused(sid, {"resize": {"flavorRef": api_flavor["id"]}}, "p1", 400, "When resizing, instances must change flavor!")
    refused(sid, {"resize": {"flavorRef": "no-such-flavor"}}, "p1", 400, "Unable to locate requested flavor.")
    refused(sid, {"resize": {}}, "p1", 400, "'flavorRef' is a required property")
    refused(sid, {"resize": {"flavorRef": bigger, "OS-DCF:diskConfig": "SOMETIMES"}}, "p1", 400)
    refused(sid, {"resize": {"flavorRef": smaller_disk}}, "p1", 400, "Resize to zero disk flavor is not allowed.")
    refused(big, {"resize": {"flavorRef": shrink}}, "p1", 400, "Unable to resize disk down.")
    refused(sid, {"confirmResize": None}, "p1", 409, "Cannot 'confirmResize' instance")
    refused(sid, {"revertResize": None}, "p1", 409)
    # isolation: another project does not see it; a reader may not act
    refused(sid, {"resize": {"flavorRef": bigger}}, "p2", 404)
    refused(sid, {"resize": {"flavorRef": bigger}}, "reader", 403)
    # over quota on the new flavor's cores (2 used of 2: the resize needs 1 more)
    api("PUT", f"/os-quota-sets/{api.projects['p1']}", "admin", {"quota_set": {"cores": 2}})
    refused(
        sid,
        {"resize": {"flavorRef": bigger}},
        "p1",
        403,
        "Quota exceeded for cores: Requested 1, but already used 2 of 2 cores",
    )
    api("PUT", f"/os-quota-sets/{api.projects['p1']}", "admin", {"quota_set": {"cores": 20}})
    # the wrong state
    _action(api, sid, {"pause": None})
    api_wait(api, compute, sid, "PAUSED")
    refused(
        sid,
        {"resize": {"flavorRef": bigger}},
        "p1",
        409,
        f"Cannot 'resize' instance {sid} while it is in vm_state paused",
    )
    _action(api, sid, {"unpause": None})
    api_wait(api, compute, sid, "ACTIVE")

    for s in (sid, big):
        now = api("GET", f"/servers/{s}", "admin").json()["server"]
        for key in ("status", "flavor", "OS-EXT-SRV-ATTR:host", "OS-EXT-STS:task_state"):
            assert now[key] == before[s][key], key
        actions = [a["action"] for a in api("GET", f"/servers/{s}/os-instance-actions").json()["instanceActions"]]
        assert "resize" not in actions
    assert _usage(compute) == usage and _quota(api) == quota


def test_config_drive_is_stored_shown_and_given_to_the_driver(api, api_flavor, compute, fake_drivers):
    def create(name: str, **extra) -> str:
        body = {
            "server": {"name": name, "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none", **extra}
        }
        return api("POST", "/servers", "p1", body).json()["server"]["id"]

    with_drive, without = create("cd", config_drive=True), create("plain", config_drive="false")
    assert api_wait(api, compute, with_drive, "ACTIVE")["config_drive"] == "True"
    assert api_wait(api, compute, without, "ACTIVE")["config_drive"] == ""
    for sid, wanted in ((with_drive, True), (without, False)):
        server = api("GET", f"/servers/{sid}", "admin").json()["server"]
        guest = fake_drivers.hypervisor.guests[server["OS-EXT-SRV-ATTR:host"]][server["OS-EXT-SRV-ATTR:instance_name"]]
        assert guest["instance"].config_drive is wanted


def test_resize_task_states_show_resize():
    from overcast.compute import states as st

    for task in (st.RESIZE_PREP, st.RESIZE_MIGRATING, st.RESIZE_MIGRATED, st.RESIZE_FINISH):
        assert st.status_of(st.ACTIVE, task) == "RESIZE" and st.status_of(st.STOPPED, task) == "RESIZE"
    assert st.status_of(st.RESIZED, None) == "VERIFY_RESIZE"
    assert st.status_of(st.RESIZED, st.RESIZE_REVERTING) == "REVERT_RESIZE"


def test_resize_on_a_driver_that_cannot_is_refused_up_front(api, api_flavor, compute, server):
    """A host whose capabilities say ``resize: False`` (the Xen, ESX and Hyper-V drivers) gets
    a 400 before anything is stopped or claimed, not a fault from the background task."""
    bigger = _flavor(api, "m1.bigger", 2, 1024, 2)
    host = api("GET", f"/servers/{server}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]
    with compute.runtime.db.session() as s:
        rec = s.query(HostRecord).filter_by(name=host).one()
        rec.capabilities = {**rec.capabilities, "resize": False}
    before = api("GET", f"/servers/{server}", "admin").json()["server"]
    usage, quota = _usage(compute), _quota(api)
    r = _action(api, server, {"resize": {"flavorRef": bigger}})
    assert r.status_code == 400, r.text
    assert f"the driver of its host {host} does not change a server's flavor" in r.json()["badRequest"]["message"]
    now = api("GET", f"/servers/{server}", "admin").json()["server"]
    assert now["status"] == "ACTIVE" and now["flavor"] == before["flavor"]
    assert _usage(compute) == usage and _quota(api) == quota
