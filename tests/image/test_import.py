"""Interoperable image import through the ASGI app (fs store): ``/v2/info/import``,
staging, ``glance-direct`` and ``web-download`` (from a local HTTP server on the
operator's allow-list), tasks, Glance's ``os_glance_*`` properties, refusals and project
isolation; and the web-download URL filter on its own."""

from __future__ import annotations

import hashlib
import html
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from overcast.config import parse_config
from overcast.image.webdownload import Policy, WebDownloadError, allowed_by_list, resolve
from overcast.testing.fixtures import fake_config_data

from .conftest import qemu_img, use_fs_store

overcast_pm, _ = use_fs_store()
OCTET = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB of raw data


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path == "/images/redirect":
            self.send_response(302)
            self.send_header("Location", "/other/disk.raw")
            self.end_headers()
            return
        if self.path in ("/images/disk.raw", "/other/disk.raw"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
            return
        if self.path == "/images/disk.qcow2":
            body = self.server.qcow2  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.qcow2 = b""  # type: ignore[attr-defined]
    if shutil.which("qemu-img"):
        path = tmp_path / "disk.qcow2"
        qemu_img("create", "-f", "qcow2", str(path), "16M")
        server.qcow2 = path.read_bytes()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def overcast_config(tmp_path: Path, web: str, migrated_sqlite_template: Path) -> Any:
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path)
    data["image_store"] = {"driver": "fs", "path": str(tmp_path / "images")}
    # the operator allows one local web server's /images/ (loopback needs saying so)
    data["image"] = {"web_download_allowed": [f"{web}/images/"], "web_download_allow_local": True}
    return parse_config(data, tmp_path / "overcast.toml")


def _create(client: Any, **body: Any) -> dict[str, Any]:
    r = client.post("/image/v2/images", json={"name": "imp", "disk_format": "raw", "container_format": "bare", **body})
    assert r.status_code == 201, r.text
    return r.json()


def _import(client: Any, image_id: str, method: dict[str, Any]) -> Any:
    return client.post(f"/image/v2/images/{image_id}/import", json={"method": method, "all_stores": True})


def _refusal(r: Any, status: int, text: str) -> None:
    assert r.status_code == status, r.text
    assert text in html.unescape(r.text), r.text


def test_info_import_offers_both_methods(api):
    r = api.a.get("/image/v2/info/import")
    assert r.status_code == 200
    assert r.json()["import-methods"]["value"] == ["glance-direct", "web-download", "glance-download"]


def test_glance_direct_stage_then_import(api):
    image = _create(api.a)
    r = api.a.put(f"/image/v2/images/{image['id']}/stage", content=PAYLOAD, headers=OCTET)
    assert r.status_code == 204, r.text
    assert api.a.get(f"/image/v2/images/{image['id']}").json()["status"] == "uploading"
    _refusal(api.a.put(f"/image/v2/images/{image['id']}/stage", content=b"x", headers=OCTET), 409, "uploading")
    r = _import(api.a, image["id"], {"name": "glance-direct"})
    assert r.status_code == 202, r.text
    request_id = r.headers["x-openstack-request-id"]
    api.runtime.image.importer.wait(30)
    view = api.a.get(f"/image/v2/images/{image['id']}").json()
    assert view["status"] == "active"
    assert view["checksum"] == hashlib.md5(PAYLOAD).hexdigest()
    assert view["os_hash_value"] == hashlib.sha512(PAYLOAD).hexdigest() and view["size"] == len(PAYLOAD)
    assert view["os_glance_failed_import"] == "" and view["os_glance_importing_to_stores"] == ""
    assert "os_glance_import_task" not in view
    assert api.a.get(f"/image/v2/images/{image['id']}/file").content == PAYLOAD
    tasks = api.a.get(f"/image/v2/images/{image['id']}/tasks").json()["tasks"]
    assert len(tasks) == 1 and tasks[0]["status"] == "success" and tasks[0]["request_id"] == request_id
    assert tasks[0]["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert tasks[0]["result"] == {"image_id": image["id"]}
    assert list(api.runtime.config.resolve_path("", "image-staging").glob("*")) == []


def test_glance_direct_refusals(api):
    image = _create(api.a)
    _refusal(_import(api.a, image["id"], {"name": "glance-direct"}), 409, "needs to be staged")
    _refusal(_import(api.a, image["id"], {"name": "copy-image"}), 400, "copy-image is not supported")
    _refusal(_import(api.a, image["id"], {"name": "glance-upload"}), 400, "Import method glance-upload is not valid")
    _refusal(api.a.post(f"/image/v2/images/{image['id']}/import", json={"all_stores": True}), 400, "'method'")
    # another project neither stages nor imports it, nor sees its tasks
    assert api.b.put(f"/image/v2/images/{image['id']}/stage", content=b"x", headers=OCTET).status_code == 404
    assert _import(api.b, image["id"], {"name": "glance-direct"}).status_code == 404
    assert api.b.get(f"/image/v2/images/{image['id']}/tasks").status_code == 404
    assert api.a.get(f"/image/v2/images/{image['id']}").json()["status"] == "queued"


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_glance_direct_inspects_the_format(api):
    """Staged data goes through the upload's format check: qcow2 data is no raw image."""
    image = _create(api.a)
    qcow2 = api.runtime.config.data_dir / "fmt.qcow2"
    qemu_img("create", "-f", "qcow2", str(qcow2), "16M")
    assert (
        api.a.put(f"/image/v2/images/{image['id']}/stage", content=qcow2.read_bytes(), headers=OCTET).status_code == 204
    )
    assert _import(api.a, image["id"], {"name": "glance-direct"}).status_code == 202
    api.runtime.image.importer.wait(30)
    view = api.a.get(f"/image/v2/images/{image['id']}").json()
    assert view["status"] == "queued" and view["os_glance_failed_import"]
    task = api.a.get(f"/image/v2/images/{image['id']}/tasks").json()["tasks"][0]
    assert task["status"] == "failure" and "qcow2" in task["message"]


def test_web_download_from_the_allow_list(api, web):
    image = _create(api.a)
    r = _import(api.a, image["id"], {"name": "web-download", "uri": f"{web}/images/disk.raw"})
    assert r.status_code == 202, r.text
    api.runtime.image.importer.wait(30)
    view = api.a.get(f"/image/v2/images/{image['id']}").json()
    assert view["status"] == "active" and view["os_hash_value"] == hashlib.sha512(PAYLOAD).hexdigest()
    assert api.a.get(f"/image/v2/images/{image['id']}/file").content == PAYLOAD


def test_web_download_refuses_urls_off_the_list(api, web):
    image = _create(api.a)
    for uri in (f"{web}/other/disk.raw", "http://example.org/images/disk.raw", "file:///etc/passwd"):
        _refusal(
            _import(api.a, image["id"], {"name": "web-download", "uri": uri}),
            400,
            f"URI for web-download does not pass filtering: {uri}",
        )
    # a redirect off the list is refused when followed: the task fails, the image is queued again
    assert _import(api.a, image["id"], {"name": "web-download", "uri": f"{web}/images/redirect"}).status_code == 202
    api.runtime.image.importer.wait(30)
    view = api.a.get(f"/image/v2/images/{image['id']}").json()
    assert view["status"] == "queued" and view["os_glance_failed_import"]
    task = api.a.get(f"/image/v2/images/{image['id']}/tasks").json()["tasks"][0]
    assert task["status"] == "failure" and "does not pass filtering" in task["message"]


def test_legacy_task_api_is_for_admins_and_filters_urls(api, web):
    body = {
        "type": "import",
        "input": {
            "import_from": "http://tempest-dummy.qcow2",
            "import_from_format": "qcow2",
            "image_properties": {"disk_format": "raw", "container_format": "bare", "name": "t"},
        },
    }
    assert api.a.post("/image/v2/tasks", json=body).status_code == 403
    _refusal(api.admin.post("/image/v2/tasks", json=body), 400, "does not pass filtering")
    body["input"]["import_from"] = f"{web}/images/disk.raw"
    r = api.admin.post("/image/v2/tasks", json=body)
    assert r.status_code == 201, r.text
    api.runtime.image.importer.wait(30)
    task = api.admin.get(f"/image/v2/tasks/{r.json()['id']}").json()
    assert task["status"] == "success" and task["type"] == "import"
    assert api.admin.get(f"/image/v2/images/{task['result']['image_id']}").json()["status"] == "active"


def test_reserved_os_glance_properties_and_owner(api):
    r = api.a.post("/image/v2/images", json={"name": "x", "os_glance_foo": "bar"})
    _refusal(r, 403, "Attribute 'os_glance_foo' is reserved.")
    image = _create(api.a)
    r = api.a.patch(
        f"/image/v2/images/{image['id']}", json=[{"op": "add", "path": "/os_glance_foo", "value": "1"}], headers=PATCH
    )
    _refusal(r, 403, "reserved")
    # only an admin gives an image to another project
    _refusal(api.a.post("/image/v2/images", json={"owner": api.b_project}), 403, "not permitted")
    r = api.a.patch(
        f"/image/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/owner", "value": api.b_project}],
        headers=PATCH,
    )
    _refusal(r, 403, "not permitted to modify 'owner'")
    r = api.admin.post(
        "/image/v2/images", json={"owner": api.b_project, "disk_format": "raw", "container_format": "bare"}
    )
    assert r.status_code == 201 and r.json()["owner"] == api.b_project
    r = api.admin.patch(
        f"/image/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/owner", "value": api.b_project}],
        headers=PATCH,
    )
    assert r.status_code == 200 and r.json()["owner"] == api.b_project


def test_url_filter():
    allowed = ["https://mirror.example.org/images/", "http://10.0.0.5:8080/disk.img"]
    assert allowed_by_list("https://mirror.example.org/images/cirros.img", allowed)
    assert not allowed_by_list("https://mirror.example.org.evil.net/images/cirros.img", allowed)
    assert not allowed_by_list("https://mirror.example.org/imagesX/cirros.img", allowed)
    assert not allowed_by_list("http://mirror.example.org/images/cirros.img", allowed)  # scheme
    assert not allowed_by_list("https://user:pw@mirror.example.org/images/a", allowed)
    assert allowed_by_list("http://10.0.0.5:8080/disk.img", allowed)
    assert not allowed_by_list("http://10.0.0.5:8081/disk.img", allowed)
    assert not allowed_by_list("http://10.0.0.5:8080/disk.img.bak", allowed)
    # loopback and link-local addresses are refused even when listed, unless allowed
    for uri in ("http://127.0.0.1:8000/a", "http://169.254.169.254/latest/meta-data", "http://[::1]/a"):
        with pytest.raises(WebDownloadError, match="does not pass filtering"):
            resolve(uri, Policy([uri.rsplit("/", 1)[0] + "/"]))
    resolve("http://127.0.0.1:8000/a", Policy(["http://127.0.0.1:8000/"], allow_local=True))


def test_web_download_not_offered_without_an_allow_list(tmp_path, overcast_pm, migrated_sqlite_template):
    from overcast.runtime import build_runtime

    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path)
    runtime = build_runtime(parse_config(data, tmp_path / "overcast.toml"), pm=overcast_pm)
    try:
        assert runtime.image.import_info()["import-methods"]["value"] == ["glance-direct", "glance-download"]
    finally:
        runtime.close()


def _glance_download(client: Any, image_id: str, source: str, region: str = "RegionOne") -> Any:
    method = {"name": "glance-download", "glance_image_id": source, "glance_region": region}
    return _import(client, image_id, {**method, "glance_service_interface": "public"})


def test_glance_download_copies_an_image_the_caller_sees(api):
    source = _create(api.a, hw_cpu_cores="5", os_distro="rhel", speed="88mph")
    api.a.put(f"/image/v2/images/{source['id']}/file", content=PAYLOAD, headers=OCTET)
    target = _create(api.a, disk_format="iso", container_format="ovf", os_distro="windows")
    r = _glance_download(api.a, target["id"], source["id"], api.runtime.config.api.region)
    assert r.status_code == 202, r.text
    api.runtime.image.importer.wait(30)
    view = api.a.get(f"/image/v2/images/{target['id']}").json()
    assert view["status"] == "active" and (view["disk_format"], view["container_format"]) == ("raw", "bare")
    assert (view["hw_cpu_cores"], view["os_distro"]) == ("5", "rhel") and "speed" not in view
    assert api.a.get(f"/image/v2/images/{target['id']}/file").content == PAYLOAD
    # another project cannot copy a's private image: its task fails, its image stays queued
    theirs = _create(api.b)
    assert _glance_download(api.b, theirs["id"], source["id"], api.runtime.config.api.region).status_code == 202
    api.runtime.image.importer.wait(30)
    assert api.b.get(f"/image/v2/images/{theirs['id']}").json()["status"] == "queued"
    task = api.b.get(f"/image/v2/images/{theirs['id']}/tasks").json()["tasks"][0]
    assert task["status"] == "failure" and "No image found" in task["message"]


def test_glance_download_refusals(api):
    image = _create(api.a, os_distro="windows")
    _refusal(_glance_download(api.a, image["id"], "foo"), 400, "image id does not look like a UUID")
    assert (
        _glance_download(api.a, image["id"], "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c", "not a region").status_code == 202
    )
    api.runtime.image.importer.wait(30)
    view = api.a.get(f"/image/v2/images/{image['id']}").json()
    assert view["status"] == "queued" and view["os_distro"] == "windows"
    task = api.a.get(f"/image/v2/images/{image['id']}/tasks").json()["tasks"][0]
    assert task["status"] == "failure" and "region" in task["message"]
