"""Nova's remote consoles (issue 17): the API's answers (a driver without consoles gets
Nova's 501, not a 500), the one-time expiring tokens, and the websocket proxy piping bytes to
the console endpoint a driver names."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from starlette.websockets import WebSocketDisconnect

from overcast.api.compute.consoles import tokens
from overcast.compute.consoles import ConsoleTokens
from overcast.types import ConsoleEndpoint

from .conftest import IMAGE_ID, api_wait


@pytest.fixture
def server_id(api, api_flavor, compute) -> str:
    body = {"server": {"name": "c1", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    return sid


def test_driver_without_consoles_answers_novas_501(api, server_id) -> None:
    body = {"remote_console": {"protocol": "serial", "type": "serial"}}
    r = api("POST", f"/servers/{server_id}/remote-consoles", "p1", body, version="2.6")
    assert r.status_code == 501, r.text
    assert r.json() == {"notImplemented": {"code": 501, "message": "The requested functionality is not supported."}}
    r = api("POST", f"/servers/{server_id}/action", "p1", {"os-getSerialConsole": {"type": "serial"}})
    assert r.status_code == 501 and "notImplemented" in r.json()


def test_remote_console_requests_are_checked_as_nova_does(api, server_id) -> None:
    path = f"/servers/{server_id}/remote-consoles"
    good = {"remote_console": {"protocol": "serial", "type": "serial"}}
    assert api("POST", path, "p1", good, version="2.5").status_code == 404  # before 2.6 there is no such API
    bad = api("POST", path, "p1", {"remote_console": {"protocol": "telnet", "type": "serial"}}, version="2.6")
    assert bad.status_code == 400 and "badRequest" in bad.json()
    spice = api("POST", path, "p1", {"remote_console": {"protocol": "spice", "type": "spice-html5"}}, version="2.6")
    assert spice.status_code == 400 and spice.json()["badRequest"]["message"] == "Unavailable console type spice-html5."
    assert api("POST", path, "p2", good, version="2.6").status_code == 404  # another project's server
    legacy = api("POST", f"/servers/{server_id}/action", "p1", {"os-getVNCConsole": {"type": "serial"}})
    assert legacy.status_code == 400


def test_tokens_are_one_time_and_expire() -> None:
    store = ConsoleTokens(ttl=0.2)
    endpoint = ConsoleEndpoint("serial", "127.0.0.1", 1)
    token = store.issue("u1", endpoint)
    assert store.consume(token) is not None and store.consume(token) is None
    late = store.issue("u1", endpoint)
    time.sleep(0.3)
    assert store.consume(late) is None and store.consume("guessed") is None


def test_websocket_proxy_pipes_the_console(cloud_runtime, cloud) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def guest() -> None:  # a serial console that answers a typed line
        conn, _ = listener.accept()
        with conn:
            line = b""
            while not line.endswith(b"\n"):
                line += conn.recv(100)
            conn.sendall(b"$ " + line + b"c1\n")

    threading.Thread(target=guest, daemon=True).start()
    client = cloud.client
    token = tokens(client.app).issue("u1", ConsoleEndpoint("serial", "127.0.0.1", port))
    with client.websocket_connect(f"/compute/console/serial?token={token}", subprotocols=["binary"]) as ws:
        assert ws.accepted_subprotocol == "binary"
        ws.send_text("hostname\n")
        got = b""
        while b"c1\n" not in got:
            got += ws.receive_bytes()
        assert got == b"$ hostname\nc1\n"
    with pytest.raises(WebSocketDisconnect):  # the token was used
        with client.websocket_connect(f"/compute/console/serial?token={token}") as ws:
            ws.receive_bytes()
    listener.close()


def test_novnc_is_served_from_debians_package(cloud) -> None:
    from overcast.api.compute.consoles import NOVNC_DIR

    if not (NOVNC_DIR / "vnc_lite.html").is_file():
        pytest.skip("Debian's novnc is not installed (scripts/install-host-deps.sh)")
    page = cloud.client.get("/compute/console/novnc/vnc_lite.html")
    assert page.status_code == 200 and "import RFB from './core/rfb.js'" in page.text
    module = cloud.client.get("/compute/console/novnc/core/rfb.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert cloud.client.get("/compute/console/novnc/../../../etc/passwd").status_code == 404
    assert cloud.client.get("/compute/console/novnc/utils/novnc_proxy").status_code == 404  # not a page asset


def test_novnc_url_leads_to_the_vnc_proxy(cloud) -> None:
    from urllib.parse import parse_qs, urlsplit

    from overcast.api.compute import consoles

    class Req:
        base_url = "http://cloud.example:6080/"

    if not (consoles.NOVNC_DIR / "vnc_lite.html").is_file():
        pytest.skip("Debian's novnc is not installed")
    url = consoles._url(Req(), "novnc", "T0K")  # type: ignore[arg-type]
    parts = urlsplit(url)
    assert parts.netloc == "cloud.example:6080" and parts.path == "/compute/console/novnc/vnc_lite.html"
    assert parse_qs(parts.query)["path"] == ["compute/console/vnc?token=T0K"]
    serial = consoles._url(Req(), "serial", "T0K")  # type: ignore[arg-type]
    assert serial == "ws://cloud.example:6080/compute/console/serial?token=T0K"
