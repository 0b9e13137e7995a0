"""Nova's image proxy (until 2.35) filters as Nova maps them onto the image service: a
server's snapshots (``server``), backups (``type``), ``minRam``/``minDisk`` and
``changes-since``; anything else is refused."""

from __future__ import annotations

from typing import Any


def test_proxy_filters(cloud: Any) -> None:
    _, _, token = cloud.new_project_user(role="member")

    def api(method: str, path: str, version: str = "2.1") -> Any:
        headers = {"X-Auth-Token": token, "OpenStack-API-Version": f"compute {version}"}
        return cloud.client.request(method, "/compute/v2.1" + path, headers=headers)

    def image(name: str, **props: Any) -> str:
        body = {"name": name, "disk_format": "raw", "container_format": "bare", **props}
        r = cloud.client.post("/image/v2/images", json=body, headers={"X-Auth-Token": token})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    snap = image("snap", instance_uuid="srv-1", image_type="snapshot", min_ram=512)
    backup = image("backup", instance_uuid="srv-1", image_type="backup", min_disk=5)
    image("other")

    def names(query: str) -> list[str]:
        r = api("GET", f"/images/detail?{query}")
        assert r.status_code == 200, r.text
        return sorted(i["name"] for i in r.json()["images"])

    assert names("server=srv-1") == ["backup", "snap"]
    assert names("server=srv-1&type=backup") == ["backup"]
    assert names("minRam=256") == ["snap"] and names("minDisk=5") == ["backup"]
    assert "snap" in names("changes-since=2000-01-01T00:00:00Z")
    assert names("changes-since=2999-01-01T00:00:00Z") == []
    assert api("GET", "/images?bogus=1").status_code == 400
    assert api("GET", "/images?minRam=x").status_code == 400
    assert {snap, backup} <= {i["id"] for i in api("GET", "/images").json()["images"]}
