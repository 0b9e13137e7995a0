"""``/os-simple-tenant-usage`` (issue 18): hours inside the period from launched_at and
terminated_at (kept after a delete), times the flavor; a project sees only its own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from overcast.db.models.base import utcnow
from overcast.db.models.compute import InstanceRecord

from .conftest import IMAGE_ID, api_wait

FMT = "%Y-%m-%dT%H:%M:%S"


def _server(api, compute, flavor_id: str, name: str) -> str:
    body = {"server": {"name": name, "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    return sid


def test_usage_over_a_period(api, api_flavor, compute):
    running = _server(api, compute, api_flavor["id"], "running")
    gone = _server(api, compute, api_flavor["id"], "gone")
    assert api("DELETE", f"/servers/{gone}", "p1").status_code == 204
    compute.runner.wait_idle(timeout=10)
    now = utcnow().replace(microsecond=0)
    with compute.runtime.db.session() as s:  # a known history: 3 h running, 1 h before it was deleted
        s.get(InstanceRecord, running).launched_at = now - timedelta(hours=3)
        rec = s.get(InstanceRecord, gone)
        assert rec.deleted and rec.terminated_at is not None
        rec.launched_at, rec.terminated_at = now - timedelta(hours=5), now - timedelta(hours=4)
    start, end = (now - timedelta(hours=6)).strftime(FMT), now.strftime(FMT)
    p1 = api.projects["p1"]
    r = api("GET", f"/os-simple-tenant-usage/{p1}?start={start}&end={end}", "p1")
    assert r.status_code == 200, r.text
    u = r.json()["tenant_usage"]
    assert u["total_hours"] == pytest.approx(4.0)
    vcpus, ram, disk = api_flavor["vcpus"], api_flavor["ram"], api_flavor["disk"]
    assert u["total_vcpus_usage"] == pytest.approx(4.0 * vcpus)
    assert u["total_memory_mb_usage"] == pytest.approx(4.0 * ram)
    assert u["total_local_gb_usage"] == pytest.approx(4.0 * disk)
    states = {x["name"]: (x["state"], round(x["hours"], 3)) for x in u["server_usages"]}
    assert states == {"running": ("active", 3.0), "gone": ("terminated", 1.0)}
    # a period that ends before the deleted server started counts nothing of it
    early = (now - timedelta(hours=5, minutes=30)).strftime(FMT)
    r = api("GET", f"/os-simple-tenant-usage/{p1}?start={start}&end={early}", "p1")
    assert r.json()["tenant_usage"] == {}
    listed = api("GET", f"/os-simple-tenant-usage?start={start}&end={end}", "admin").json()["tenant_usages"]
    assert [x["tenant_id"] for x in listed] == [p1] and "server_usages" not in listed[0]
    detailed = api("GET", f"/os-simple-tenant-usage?start={start}&end={end}&detailed=1", "admin").json()
    assert len(detailed["tenant_usages"][0]["server_usages"]) == 2

    assert api("GET", f"/os-simple-tenant-usage/{p1}?start={start}&end={end}", "p2").status_code == 403
    assert api("GET", f"/os-simple-tenant-usage?start={start}&end={end}", "p1").status_code == 403
    r = api("GET", f"/os-simple-tenant-usage/{p1}?start={end}&end={start}", "p1")
    assert r.status_code == 400 and "start time cannot occur after the end time" in r.json()["badRequest"]["message"]
    assert api("GET", f"/os-simple-tenant-usage/{p1}?start=yesterday", "p1").status_code == 400
