"""Swift's symlinks: dynamic and static links, followed on GET/HEAD (with Content-Location),
``?symlink=get`` for the link itself, chains bounded by symloop_max, POST's 307, COPY, the
JSON listing's ``symlink_path``, and each refusal changing nothing."""

from __future__ import annotations

import json

from tests.objectstore.conftest import Swift


def _link(client: Swift, path: str, target: str, **headers: str) -> int:
    return client("PUT", path, headers={"X-Symlink-Target": target, **headers}, content=b"").status_code


def test_dynamic_link_is_followed_and_shows_itself_with_symlink_get(alice) -> None:
    alice("PUT", "/src")
    alice("PUT", "/dst")
    alice("PUT", "/src/file.txt", content=b"the data", headers={"Content-Type": "text/plain"})
    assert _link(alice, "/dst/link", "src/file.txt") == 201
    r = alice("GET", "/dst/link")
    assert r.content == b"the data" and r.headers["content-type"] == "text/plain"
    assert r.headers["content-location"] == f"/v1/AUTH_{alice.project}/src/file.txt"
    assert alice("HEAD", "/dst/link").headers["content-length"] == "8"
    assert alice("GET", "/dst/link", headers={"Range": "bytes=4-"}).content == b"data"
    itself = alice("GET", "/dst/link?symlink=get")
    assert itself.content == b"" and itself.headers["content-type"] == "application/symlink"
    assert itself.headers["x-symlink-target"] == "src/file.txt"
    listing = json.loads(alice("GET", "/dst?format=json").content)
    assert listing[0]["symlink_path"] == f"/v1/AUTH_{alice.project}/src/file.txt"
    assert listing[0]["content_type"] == "application/symlink" and listing[0]["bytes"] == 0
    assert "symlink_path" not in json.loads(alice("GET", "/src?format=json").content)[0]
    # a dangling link is made, and answers 404 until its target exists
    assert _link(alice, "/dst/dangling", "src/later") == 201
    assert alice("GET", "/dst/dangling").status_code == 404
    alice("PUT", "/src/later", content=b"now")
    assert alice("GET", "/dst/dangling").content == b"now"
    # deleting the link leaves the target
    assert alice("DELETE", "/dst/link").status_code == 204
    assert alice("GET", "/src/file.txt").content == b"the data"


def test_chains_are_bounded_and_links_are_checked(alice, bob) -> None:
    alice("PUT", "/c")
    alice("PUT", "/c/obj", content=b"x")
    assert _link(alice, "/c/l1", "c/obj") == 201
    assert _link(alice, "/c/l2", "c/l1") == 201
    assert alice("GET", "/c/l2").content == b"x"  # two links: within symloop_max
    assert _link(alice, "/c/l3", "c/l2") == 201
    r = alice("GET", "/c/l3")
    assert r.status_code == 409 and b"Too many levels of symbolic links, maximum allowed is 2" in r.content
    # refused, nothing stored
    for target, status in [("/c/obj", 412), ("no-object", 412), ("c/self", 400)]:
        assert _link(alice, "/c/self", target) == status, target
    r = alice("PUT", "/c/self", headers={"X-Symlink-Target": "c/obj"}, content=b"body")
    assert r.status_code == 400 and b"Symlink requests require a zero byte body" in r.content
    assert alice("HEAD", "/c/self?symlink=get").status_code == 404
    assert alice("POST", "/c/obj", headers={"X-Symlink-Target": "c/l1"}).status_code == 400
    # a link does not open another project's object to its reader
    bob("PUT", "/mine")
    assert _link(bob, "/mine/peek", "c/obj", **{"X-Symlink-Target-Account": f"AUTH_{alice.project}"}) == 201
    assert bob("GET", "/mine/peek").status_code == 403


def test_static_link_pins_the_etag(alice) -> None:
    alice("PUT", "/c")
    etag = alice("PUT", "/c/obj", content=b"v1", headers={"Content-Type": "text/x-v1"}).headers["etag"]
    r = alice("PUT", "/c/pinned", headers={"X-Symlink-Target": "c/obj", "X-Symlink-Target-Etag": "0" * 32})
    assert r.status_code == 409 and b"does not match X-Symlink-Target-Etag" in r.content
    r = alice("PUT", "/c/pinned", headers={"X-Symlink-Target": "c/missing", "X-Symlink-Target-Etag": etag})
    assert r.status_code == 409 and b"X-Symlink-Target does not exist" in r.content
    assert (
        alice("PUT", "/c/pinned", headers={"X-Symlink-Target": "c/obj", "X-Symlink-Target-Etag": etag}).status_code
        == 201
    )
    itself = alice("HEAD", "/c/pinned?symlink=get")
    assert itself.headers["content-type"] == "text/x-v1"  # a static link takes its target's type
    assert itself.headers["x-symlink-target-etag"] == etag
    entry = json.loads(alice("GET", "/c?format=json&prefix=pinned").content)[0]
    assert (entry["symlink_etag"], entry["symlink_bytes"]) == (etag, 2)
    assert alice("GET", "/c/pinned").content == b"v1"
    alice("PUT", "/c/obj", content=b"v2")
    r = alice("GET", "/c/pinned")
    assert r.status_code == 409 and b"does not match X-Symlink-Target-Etag header" in r.content


def test_post_answers_307_and_copy_follows_unless_symlink_get(alice) -> None:
    alice("PUT", "/c")
    alice("PUT", "/c/obj", content=b"payload")
    _link(alice, "/c/link", "c/obj")
    r = alice("POST", "/c/link", headers={"X-Object-Meta-Color": "red"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"/object/v1/AUTH_{alice.project}/c/obj"
    assert alice("HEAD", "/c/link?symlink=get").headers["x-object-meta-color"] == "red"  # applied to the link
    assert "x-object-meta-color" not in alice("HEAD", "/c/obj").headers
    assert alice("COPY", "/c/link", headers={"Destination": "c/copy-of-target"}).status_code == 201
    assert alice("GET", "/c/copy-of-target?symlink=get").content == b"payload"
    assert alice("COPY", "/c/link?symlink=get", headers={"Destination": "c/copy-of-link"}).status_code == 201
    assert alice("HEAD", "/c/copy-of-link?symlink=get").headers["x-symlink-target"] == "c/obj"
    assert alice("GET", "/c/copy-of-link").content == b"payload"


def test_info_advertises_symlinks(os_client) -> None:
    assert os_client.get("/object/info").json()["symlink"] == {"symloop_max": 2, "static_links": True}


def test_a_link_is_versioned_itself_and_cannot_be_made_through_a_tempurl(alice, os_client) -> None:
    import hashlib
    import hmac
    import time

    alice("PUT", "/archive")
    alice("PUT", "/c", headers={"X-History-Location": "archive"})
    alice("PUT", "/c/obj", content=b"x")
    _link(alice, "/c/link", "c/missing")  # dangling: archiving it must not follow it
    assert alice("PUT", "/c/link", content=b"now a plain object").status_code == 201
    archived = json.loads(alice("GET", "/archive?format=json").content)
    assert [e.get("symlink_path") for e in archived] == [f"/v1/AUTH_{alice.project}/c/missing"]
    alice("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "k"})
    expires = str(int(time.time()) + 60)
    path = f"/v1/AUTH_{alice.project}/c/sneaky"
    sig = hmac.new(b"k", f"PUT\n{expires}\n{path}".encode(), hashlib.sha256).hexdigest()
    r = os_client.put(
        f"{alice.base}/c/sneaky?temp_url_sig={sig}&temp_url_expires={expires}",
        headers={"X-Symlink-Target": "c/obj"},
        content=b"",
    )
    assert r.status_code == 400
    assert alice("HEAD", "/c/sneaky").status_code == 404
