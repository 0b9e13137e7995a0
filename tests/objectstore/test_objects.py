"""Objects over the Swift API: PUT/GET/HEAD/POST/DELETE, ETags, streaming, conditional
requests, ranges, copies, names."""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import quote

import pytest


@pytest.fixture
def c1(alice):
    assert alice("PUT", "/c1").status_code == 201
    return alice


def test_put_get_head_delete(c1) -> None:
    data = os.urandom(100_000)
    r = c1("PUT", "/c1/dir/obj.bin", content=data, headers={"X-Object-Meta-Color": "Blue", "Content-Type": "image/png"})
    assert r.status_code == 201 and r.headers["etag"] == hashlib.md5(data).hexdigest()
    assert r.headers["content-length"] == "0" and "last-modified" in r.headers
    r = c1("GET", "/c1/dir/obj.bin")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "image/png" and r.headers["x-object-meta-color"] == "Blue"
    assert r.headers["content-length"] == str(len(data)) and r.headers["accept-ranges"] == "bytes"
    r = c1("HEAD", "/c1/dir/obj.bin")
    assert r.status_code == 200 and r.headers["content-length"] == str(len(data)) and r.content == b""
    assert c1("DELETE", "/c1/dir/obj.bin").status_code == 204
    assert c1("GET", "/c1/dir/obj.bin").status_code == 404
    assert c1("HEAD", "/c1/dir/obj.bin").status_code == 404
    assert c1("DELETE", "/c1/dir/obj.bin").status_code == 404


def test_content_type_is_guessed_from_the_name(c1) -> None:
    c1("PUT", "/c1/page.html", content=b"<p>")
    assert c1("HEAD", "/c1/page.html").headers["content-type"] == "text/html"


def test_a_json_object_is_data_not_an_api_body(c1) -> None:
    """The API's JSON body limit (1 MiB) is for API requests; an object of any type is data."""
    data = b'{"k": "' + b"v" * (2 * 1024 * 1024) + b'"}'
    r = c1("PUT", "/c1/big.json", content=data, headers={"Content-Type": "application/json"})
    assert r.status_code == 201 and r.headers["etag"] == hashlib.md5(data).hexdigest()
    got = c1("GET", "/c1/big.json")
    assert got.content == data and got.headers["content-type"] == "application/json"


def test_etag_mismatch_is_422_and_stores_nothing(c1) -> None:
    c1("PUT", "/c1/o", content=b"old")
    r = c1("PUT", "/c1/o", content=b"new", headers={"ETag": "0" * 32})
    assert r.status_code == 422
    assert c1("GET", "/c1/o").content == b"old"
    r = c1("PUT", "/c1/o", content=b"new", headers={"ETag": hashlib.md5(b"new").hexdigest()})
    assert r.status_code == 201 and c1("GET", "/c1/o").content == b"new"


def test_chunked_upload_of_a_large_object(c1) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)

    def gen():
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    r = c1("PUT", "/c1/big", content=gen())
    assert r.status_code == 201 and r.headers["etag"] == hashlib.md5(data).hexdigest()
    got = c1("GET", "/c1/big")
    assert got.content == data and got.headers["etag"] == hashlib.md5(data).hexdigest()


def test_object_names(c1) -> None:
    for name in ["/leading/slash", "../escape", "a/../../b", "a//b", "sp ace/\u00fcml\u00e4ut", "x" * 1024]:
        path = "/c1/" + quote(name).replace(".", "%2E")  # keep the HTTP client from resolving ../
        assert c1("PUT", path, content=name.encode()).status_code == 201, name
        assert c1("GET", path).content == name.encode()
    assert c1("PUT", "/c1/" + "x" * 1025, content=b"x").status_code == 400
    assert c1("PUT", "/c1/nul%00byte", content=b"x").status_code == 412
    assert c1("PUT", "/c1/bad%ffutf8", content=b"x").status_code == 412
    listing = c1("GET", "/c1").text.splitlines()
    assert "/leading/slash" in listing and "../escape" in listing


def test_post_replaces_user_metadata(c1) -> None:
    c1("PUT", "/c1/o", content=b"x", headers={"X-Object-Meta-A": "1", "X-Object-Meta-B": "2"})
    assert c1("POST", "/c1/o", headers={"X-Object-Meta-C": "3"}).status_code == 202
    h = c1("HEAD", "/c1/o").headers
    assert h["x-object-meta-c"] == "3" and "x-object-meta-a" not in h
    assert c1("POST", "/c1/missing", headers={"X-Object-Meta-C": "3"}).status_code == 404
    assert c1("POST", "/c1/o", headers={"X-Object-Meta-" + "k" * 129: "v"}).status_code == 400


def test_conditional_requests(c1) -> None:
    etag = c1("PUT", "/c1/o", content=b"hello").headers["etag"]
    lm = c1("HEAD", "/c1/o").headers["last-modified"]
    assert c1("GET", "/c1/o", headers={"If-Match": f'"{etag}"'}).status_code == 200
    assert c1("GET", "/c1/o", headers={"If-Match": "nope"}).status_code == 412
    r = c1("GET", "/c1/o", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert c1("GET", "/c1/o", headers={"If-None-Match": "other"}).status_code == 200
    assert c1("GET", "/c1/o", headers={"If-Modified-Since": lm}).status_code == 304
    assert c1("GET", "/c1/o", headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status_code == 200
    assert c1("GET", "/c1/o", headers={"If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}).status_code == 412
    assert c1("HEAD", "/c1/o", headers={"If-None-Match": "*"}).status_code == 304
    assert c1("PUT", "/c1/o", content=b"again", headers={"If-None-Match": "*"}).status_code == 412
    assert c1("PUT", "/c1/new", content=b"first", headers={"If-None-Match": "*"}).status_code == 201
    assert c1("GET", "/c1/o").content == b"hello"


@pytest.mark.parametrize("size", [1000, 3 * 1024 * 1024])
def test_ranges(c1, size: int) -> None:
    data = os.urandom(size)
    c1("PUT", "/c1/r", content=data)
    r = c1("GET", "/c1/r", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20] and r.headers["content-range"] == f"bytes 10-19/{size}"
    assert c1("GET", "/c1/r", headers={"Range": "bytes=-5"}).content == data[-5:]
    assert c1("GET", "/c1/r", headers={"Range": f"bytes={size - 3}-"}).content == data[-3:]
    assert c1("GET", "/c1/r", headers={"Range": f"bytes=0-{size * 2}"}).content == data
    assert c1("GET", "/c1/r", headers={"Range": f"bytes={size}-"}).status_code == 416
    assert c1("GET", "/c1/r", headers={"Range": "garbage"}).content == data
    r = c1("GET", "/c1/r", headers={"Range": "bytes=0-1,5-9,-3"})
    assert r.status_code == 206
    m = re.match(r"multipart/byteranges;\s*boundary=(\w+)", r.headers["content-type"])
    assert m and int(r.headers["content-length"]) == len(r.content)
    parts = [p for p in r.content.split(b"--" + m.group(1).encode()) if p.strip(b"-\r\n")]
    bodies = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts]
    assert bodies == [data[0:2], data[5:10], data[-3:]]
    assert b"Content-Range: bytes 5-9/" in parts[1]


def test_copy_and_x_copy_from(c1) -> None:
    c1("PUT", "/c2")
    c1("PUT", "/c1/src", content=b"payload", headers={"X-Object-Meta-Tag": "one", "Content-Type": "text/x-a"})
    r = c1("COPY", "/c1/src", headers={"Destination": "c2/dst", "X-Object-Meta-Extra": "two"})
    assert r.status_code == 201 and r.headers["x-copied-from"] == "c1/src"
    r = c1("GET", "/c2/dst")
    assert (
        r.content == b"payload"
        and r.headers["x-object-meta-tag"] == "one"
        and r.headers["x-object-meta-extra"] == "two"
    )
    assert r.headers["content-type"] == "text/x-a"
    r = c1("PUT", "/c2/dst2", headers={"X-Copy-From": "/c1/src", "X-Fresh-Metadata": "true", "Content-Length": "0"})
    assert r.status_code == 201
    h = c1("HEAD", "/c2/dst2").headers
    assert "x-object-meta-tag" not in h and c1("GET", "/c2/dst2").content == b"payload"
    assert c1("COPY", "/c1/missing", headers={"Destination": "c2/x"}).status_code == 404
    assert c1("COPY", "/c1/src", headers={"Destination": "nocontainer/x"}).status_code == 404
    assert c1("COPY", "/c1/src", headers={"Destination": "bad"}).status_code == 412


def test_requests_without_or_with_bad_tokens(os_client, c1) -> None:
    c1("PUT", "/c1/o", content=b"x")
    assert os_client.get(f"{c1.base}/c1/o").status_code == 401
    r = os_client.get(f"{c1.base}/c1/o", headers={"X-Auth-Token": "forged"})
    assert r.status_code == 401 and r.headers["content-type"].startswith("text/plain")
    assert os_client.get("/object/v1/notanaccount/c1/o", headers={"X-Auth-Token": c1.token}).status_code == 404


def test_reader_role_may_read_but_not_write(os_runtime, os_client, c1) -> None:
    from tests.objectstore.conftest import Swift, new_user

    c1("PUT", "/c1/o", content=b"x")
    _, token = new_user(os_runtime, role="reader", project_id=c1.project)
    reader = Swift(os_client, token, c1.project)
    assert reader("GET", "/c1/o").content == b"x"
    assert reader("PUT", "/c1/o2", content=b"x").status_code == 403
    assert reader("DELETE", "/c1/o").status_code == 403


def test_info_capabilities(os_client) -> None:
    info = os_client.get("/object/info").json()
    assert info["swift"]["max_object_name_length"] == 1024 and "slo" in info
    assert info["swift"]["policies"] == [{"name": "Policy-0", "default": True}]


def test_versions_location_keeps_overwritten_objects_and_delete_restores(alice) -> None:
    alice("PUT", "/archive")
    assert alice("PUT", "/base", headers={"X-Versions-Location": "archive"}).status_code == 201
    assert alice("HEAD", "/base").headers["x-versions-location"] == "archive"
    alice("PUT", "/base/o", content=b"one")
    alice("PUT", "/base/o", content=b"two")
    alice("PUT", "/base/o", content=b"three")
    assert alice("GET", "/base/o").content == b"three"
    archived = [o["name"] for o in alice("GET", "/archive?format=json").json()]
    assert len(archived) == 2 and all(n.startswith("001o/") for n in archived)
    assert alice("DELETE", "/base/o").status_code == 204
    assert alice("GET", "/base/o").content == b"two"
    assert alice("DELETE", "/base/o").status_code == 204
    assert alice("GET", "/base/o").content == b"one"
    assert alice("DELETE", "/base/o").status_code == 204
    assert alice("GET", "/base/o").status_code == 404
    assert alice("HEAD", "/archive").headers["x-container-object-count"] == "0"
    # turned off by X-Remove-Versions-Location; a missing archive container is a 412
    alice("POST", "/base", headers={"X-Remove-Versions-Location": "x"})
    assert "x-versions-location" not in alice("HEAD", "/base").headers
    alice("POST", "/base", headers={"X-Versions-Location": "gone"})
    alice("PUT", "/base/p", content=b"1")
    assert alice("PUT", "/base/p", content=b"2").status_code == 412
    assert alice("GET", "/base/p").content == b"1"
    assert alice("PUT", "/c2", headers={"X-Versions-Location": "a", "X-History-Location": "b"}).status_code == 400


def test_history_location_archives_on_overwrite_and_delete(alice) -> None:
    alice("PUT", "/hist")
    alice("PUT", "/base", headers={"X-History-Location": "hist"})
    alice("PUT", "/base/o", content=b"one")
    alice("PUT", "/base/o", content=b"two")
    assert alice("DELETE", "/base/o").status_code == 204
    assert alice("GET", "/base/o").status_code == 404
    archived = alice("GET", "/hist?format=json").json()
    assert [alice("GET", f"/hist/{o['name']}").content for o in archived] == [b"one", b"two"]
