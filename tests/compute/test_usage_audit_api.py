"""``/os-instance_usage_audit_log`` (issue 16): the last completed month before now or a given
time, every compute host not run (no audit task runs here), Nova's 400, and admin only."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from overcast.compute.usage_audit import last_completed_period


def test_periods_are_whole_months():
    assert last_completed_period(datetime(2026, 3, 15, 8)) == (datetime(2026, 2, 1), datetime(2026, 3, 1))
    assert last_completed_period(datetime(2026, 3, 1)) == (datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert last_completed_period(datetime(2026, 1, 10)) == (datetime(2025, 12, 1), datetime(2026, 1, 1))
    assert last_completed_period(datetime(2026, 2, 1, 0, 0, 1)) == (datetime(2026, 1, 1), datetime(2026, 2, 1))


def test_list_and_show(api):
    r = api("GET", "/os-instance_usage_audit_log", "admin")
    assert r.status_code == 200, r.text
    log = r.json()["instance_usage_audit_logs"]
    assert log["num_hosts"] == 2 and sorted(log["hosts_not_run"]) == ["fake1", "fake2"]
    assert log["overall_status"] == "0 of 2 hosts done. 0 errors." and log["log"] == {}
    r = api("GET", "/os-instance_usage_audit_log/" + quote("2026-03-15 08:00:00"), "admin")
    assert r.status_code == 200, r.text
    shown = r.json()["instance_usage_audit_log"]
    assert (shown["period_beginning"], shown["period_ending"]) == ("2026-02-01 00:00:00", "2026-03-01 00:00:00")
    r = api("GET", "/os-instance_usage_audit_log/" + quote("2026-03-15 08:00:00.5"), "admin")
    assert r.status_code == 200
    r = api("GET", "/os-instance_usage_audit_log/invalid_time", "admin")
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == "Invalid timestamp for date invalid_time"


def test_admin_only(api):
    assert api("GET", "/os-instance_usage_audit_log", "p1").status_code == 403
    assert api("GET", "/os-instance_usage_audit_log/" + quote("2026-03-15 08:00:00"), "p1").status_code == 403
