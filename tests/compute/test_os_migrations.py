"""``GET /os-migrations`` (issue 18): admins list the resizes and migrations the compute
service recorded, with Nova's filters and 2.23 fields; members are refused."""

from __future__ import annotations

from .conftest import api_wait
from .test_resize import _action, _flavor, server  # noqa: F401 - the fixture


def test_lists_a_resize_with_filters(api, api_flavor, compute, server):  # noqa: F811
    bigger = _flavor(api, "m1.mig", 2, 1024, 2)
    assert _action(api, server, {"resize": {"flavorRef": bigger}}).status_code == 202
    resized = api_wait(api, compute, server, "VERIFY_RESIZE", "admin")
    r = api("GET", "/os-migrations", "admin", version="2.22")
    assert r.status_code == 200, r.text
    (m,) = r.json()["migrations"]
    assert m["instance_uuid"] == server and m["status"] == "finished"
    assert m["dest_compute"] == resized["OS-EXT-SRV-ATTR:host"] and "migration_type" not in m
    assert {"id", "source_compute", "source_node", "dest_node", "created_at", "updated_at"} <= m.keys()
    m = api("GET", "/os-migrations", "admin", version="2.23").json()["migrations"][0]
    assert m["migration_type"] == "resize" and "links" not in m
    assert api("GET", f"/os-migrations?instance_uuid={server}&status=finished", "admin").json()["migrations"]
    assert api("GET", "/os-migrations?status=error", "admin").json()["migrations"] == []
    assert api("GET", f"/os-migrations?host={m['dest_compute']}", "admin").json()["migrations"]
    assert api("GET", "/os-migrations?host=elsewhere", "admin").json()["migrations"] == []
    assert (
        api("GET", "/os-migrations?migration_type=live-migration", "admin", version="2.23").json()["migrations"] == []
    )
    assert api("GET", "/os-migrations?migration_type=teleport", "admin", version="2.23").status_code == 400
    assert api("GET", "/os-migrations", "p1").status_code == 403
