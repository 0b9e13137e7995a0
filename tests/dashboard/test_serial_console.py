"""The instance page's serial console (issue 17): xterm.js vendored with its licence, the
console section on the page, and the page's console endpoint passing Nova's answer on (the
fake driver has no consoles: its 501 message, not a 500)."""

from __future__ import annotations

import time
from pathlib import Path

from .conftest import csrf_of

STATIC = Path(__file__).resolve().parents[2] / "core" / "overcast" / "api" / "dashboard" / "static"


def _server(cloud) -> str:
    t = cloud.admin_token
    image = cloud.request(
        "POST", "/image/v2/images", t, json={"name": "c", "disk_format": "raw", "container_format": "bare"}
    ).json()
    cloud.request(
        "PUT",
        f"/image/v2/images/{image['id']}/file",
        t,
        content=b"\0" * 1024,
        headers={"Content-Type": "application/octet-stream"},
    )
    flavor = cloud.request(
        "POST", "/compute/v2.1/flavors", t, json={"flavor": {"name": "c1", "ram": 64, "vcpus": 1, "disk": 1}}
    ).json()["flavor"]
    body = {"server": {"name": "con", "imageRef": image["id"], "flavorRef": flavor["id"], "networks": "none"}}
    headers = {"OpenStack-API-Version": "compute 2.37"}
    sid = cloud.request("POST", "/compute/v2.1/servers", t, json=body, headers=headers).json()["server"]["id"]
    for _ in range(500):
        if cloud.request("GET", f"/compute/v2.1/servers/{sid}", t).json()["server"]["status"] == "ACTIVE":
            return sid
        time.sleep(0.02)
    raise AssertionError("the server did not become ACTIVE")


def test_xterm_is_vendored_with_its_licence(admin_browser) -> None:
    assert (
        "MIT" in (STATIC / "xterm.LICENSE").read_text()
        or "Permission is hereby granted" in (STATIC / "xterm.LICENSE").read_text()
    )
    js = admin_browser.get("/static/xterm.js")
    assert js.status_code == 200 and "Terminal" in js.text
    assert admin_browser.get("/static/xterm.css").status_code == 200
    assert "WebSocket" in admin_browser.get("/static/serial-console.js").text


def test_instance_page_offers_the_console_and_passes_novas_answer_on(cloud, admin_browser) -> None:
    sid = _server(cloud)
    page = admin_browser.get(f"/instances/{sid}").text
    assert 'id="serial-console"' in page and "/static/xterm.js" in page and 'id="vnc-console"' in page
    r = admin_browser.post(
        f"/instances/{sid}/console/serial",
        data={"csrf_token": csrf_of(page)},
        headers={"referer": f"http://testserver/instances/{sid}"},
    )
    assert r.status_code == 501 and r.json() == {"error": "The requested functionality is not supported."}
    vnc = admin_browser.post(
        f"/instances/{sid}/console/novnc",
        data={"csrf_token": csrf_of(page)},
        headers={"referer": f"http://testserver/instances/{sid}"},
    )
    assert vnc.status_code == 501
    no_csrf = admin_browser.post(
        f"/instances/{sid}/console/serial", data={}, headers={"referer": f"http://testserver/instances/{sid}"}
    )
    assert "CSRF check failed" in no_csrf.text and "url" not in no_csrf.text
