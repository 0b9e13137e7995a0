"""Nova's ``os-volumes`` and ``os-snapshots`` proxies (before 2.36) over the real block
storage service: Nova's shapes and schema checks, Cinder's volumes underneath."""

from __future__ import annotations

import uuid
from typing import Any

from .conftest import Api

V235 = {"OpenStack-API-Version": "compute 2.35"}
V236 = {"OpenStack-API-Version": "compute 2.36"}


def nova(api: Api, method: str, path: str, json: Any = None, headers: dict | None = None) -> Any:
    return api.request(method, f"/compute/v2.1/{path}", json=json, headers=headers or V235)


def test_volumes_through_nova(api: Api, api_b: Api, settle: Any) -> None:
    r = nova(api, "POST", "os-volumes", {"volume": {"size": "1", "display_name": "v1", "metadata": {"Type": "work"}}})
    assert r.status_code == 200, r.text
    created = r.json()["volume"]
    assert r.headers["Location"].endswith(f"/os-volumes/{created['id']}")
    assert set(created) == {
        "id", "status", "size", "availabilityZone", "createdAt", "attachments", "displayName",
        "displayDescription", "volumeType", "snapshotId", "metadata",
    }  # fmt: skip
    assert created["displayName"] == "v1" and created["size"] == 1 and created["attachments"] == [{}]
    settle()
    shown = nova(api, "GET", f"os-volumes/{created['id']}").json()["volume"]
    assert shown["status"] == "available" and shown["metadata"] == {"Type": "work"}
    for _ in range(2):
        assert nova(api, "POST", "os-volumes", {"volume": {"size": 1}}).status_code == 200
    settle()
    listed = nova(api, "GET", "os-volumes").json()["volumes"]
    assert shown in listed and nova(api, "GET", "os-volumes/detail").json()["volumes"] == listed
    assert len(nova(api, "GET", "os-volumes?limit=2").json()["volumes"]) == 2
    page = nova(api, "GET", "os-volumes?offset=1&limit=1").json()["volumes"]
    assert [v["id"] for v in page] == [listed[1]["id"]]
    assert nova(api, "GET", "os-volumes?limit=x").status_code == 400
    assert nova(api_b, "GET", f"os-volumes/{created['id']}").status_code == 404  # another project's
    assert nova(api, "GET", "os-volumes", headers=V236).status_code == 404  # removed at 2.36
    for bad in ({"size": "#$%"}, {"size": ""}, {"size": "0"}, {"display_name": "x"}, {"size": 1, "name": "x"}):
        assert nova(api, "POST", "os-volumes", {"volume": bad}).status_code == 400, bad
    assert nova(api, "GET", f"os-volumes/{uuid.uuid4()}").status_code == 404
    assert nova(api, "DELETE", f"os-volumes/{uuid.uuid4()}").status_code == 404
    assert nova(api, "DELETE", "os-volumes/invalid").status_code == 404

    r = nova(api, "POST", "os-snapshots", {"snapshot": {"volume_id": created["id"], "display_name": "s1"}})
    assert r.status_code == 200, r.text
    snap = r.json()["snapshot"]
    assert snap["volumeId"] == created["id"] and snap["displayName"] == "s1" and snap["size"] == 1
    assert set(snap) == {"id", "volumeId", "status", "size", "createdAt", "displayName", "displayDescription"}
    settle()
    assert nova(api, "GET", f"os-snapshots/{snap['id']}").json()["snapshot"]["status"] == "available"
    assert snap["id"] in [s["id"] for s in nova(api, "GET", "os-snapshots/detail").json()["snapshots"]]
    assert nova(api, "POST", "os-snapshots", {"snapshot": {"display_name": "x"}}).status_code == 400
    assert nova(api, "DELETE", f"os-snapshots/{snap['id']}").status_code == 202
    settle()
    assert nova(api, "GET", f"os-snapshots/{snap['id']}").status_code == 404
    assert nova(api, "DELETE", f"os-volumes/{created['id']}").status_code == 202
    settle()
    assert nova(api, "GET", f"os-volumes/{created['id']}").status_code == 404


def test_no_id_is_not_found(api: Api) -> None:
    for method in ("GET", "DELETE"):
        r = api.request(method, "/compute/v2.1/os-volumes/", headers=V235, follow_redirects=False)
        assert r.status_code == 404, (method, r.status_code, r.headers)
    r = api.request("DELETE", "/compute/v2.1/os-security-groups/", headers=V235, follow_redirects=False)
    assert r.status_code == 404 and r.json() == {
        "itemNotFound": {"code": 404, "message": "The resource could not be found."}
    }
    assert api.cloud.request("GET", "/compute/v2.1/os-volumes/", follow_redirects=False).status_code == 401
    assert api.request("GET", "/compute/v2.1/", follow_redirects=False).json()["version"]["id"] == "v2.1"
