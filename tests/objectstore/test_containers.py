"""Accounts and containers over the Swift API: create/update/delete, metadata, listings in
three formats with Swift's paging rules."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def test_account_head_counts_and_metadata(alice) -> None:
    r = alice("HEAD")
    assert r.status_code == 204 and r.headers["x-account-container-count"] == "0"
    assert r.headers["content-length"] == "0"
    alice("PUT", "/c1")
    alice("PUT", "/c1/a", content=b"12345")
    alice("PUT", "/c1/b", content=b"123")
    assert alice("POST", "", headers={"X-Account-Meta-Owner": "ops"}).status_code == 204
    r = alice("HEAD")
    assert (
        r.headers["x-account-container-count"],
        r.headers["x-account-object-count"],
        r.headers["x-account-bytes-used"],
    ) == ("1", "2", "8")
    assert r.headers["x-account-meta-owner"] == "ops"
    alice("POST", "", headers={"X-Remove-Account-Meta-Owner": "x"})
    assert "x-account-meta-owner" not in alice("HEAD").headers


def test_container_create_update_delete(alice) -> None:
    assert alice("PUT", "/c1", headers={"X-Container-Meta-Color": "blue"}).status_code == 201
    r = alice("PUT", "/c1", headers={"X-Container-Meta-Size": "big"})
    assert r.status_code == 202 and r.headers["content-length"] == "0"
    r = alice("HEAD", "/c1")
    assert r.status_code == 204
    assert r.headers["x-container-meta-color"] == "blue" and r.headers["x-container-meta-size"] == "big"
    assert r.headers["x-container-object-count"] == "0" and r.headers["x-storage-policy"] == "Policy-0"
    assert alice("POST", "/c1", headers={"X-Container-Meta-Color": ""}).status_code == 204
    assert "x-container-meta-color" not in alice("HEAD", "/c1").headers
    alice("PUT", "/c1/o", content=b"x")
    r = alice("DELETE", "/c1")
    assert r.status_code == 409
    alice("DELETE", "/c1/o")
    assert alice("DELETE", "/c1").status_code == 204
    assert alice("HEAD", "/c1").status_code == 404
    assert alice("DELETE", "/c1").status_code == 404
    assert alice("PUT", "/c1/o", content=b"x").status_code == 404


def test_bad_container_names(alice) -> None:
    assert alice("PUT", "/" + "c" * 257).status_code == 400
    assert alice("PUT", "/c1", headers={"X-Storage-Policy": "nope"}).status_code == 400
    assert alice("HEAD", "/c1").status_code == 404


def test_account_listing_formats_and_paging(alice) -> None:
    for name in ["b", "a", "logs-1", "logs-2", "c"]:
        alice("PUT", f"/{name}")
    alice("PUT", "/a/o", content=b"xyz")
    assert alice("GET").text == "a\nb\nc\nlogs-1\nlogs-2\n"
    listing = alice("GET", "?format=json").json()
    assert listing[0] == {"name": "a", "count": 1, "bytes": 3, "last_modified": listing[0]["last_modified"]}
    assert [c["name"] for c in alice("GET", "?format=json&marker=b&limit=2").json()] == ["c", "logs-1"]
    assert [c["name"] for c in alice("GET", "?format=json&prefix=logs-").json()] == ["logs-1", "logs-2"]
    assert alice("GET", "?delimiter=-").text == "a\nb\nc\nlogs-\n"
    assert alice("GET", "?delimiter=-&marker=logs-").status_code == 204
    assert alice("GET", "?reverse=true&limit=2").text == "logs-2\nlogs-1\n"
    root = ET.fromstring(alice("GET", "?format=xml").content)
    assert root.tag == "account" and [e.findtext("name") for e in root.findall("container")][:2] == ["a", "b"]
    r = alice("GET", "?marker=zzz")
    assert r.status_code == 204 and r.headers["content-length"] == "0"
    assert alice("GET", "?format=json&marker=zzz").json() == []
    assert alice("GET", "?limit=-1").status_code == 412
    assert alice("GET", "?limit=10001").status_code == 412


def test_object_listing_formats(alice) -> None:
    alice("PUT", "/c1")
    for name in ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "readme", "/lead", "d\u00e9j\u00e0 vu"]:
        alice("PUT", f"/c1/{name}", content=name.encode(), headers={"Content-Type": "text/plain"})
    assert alice("GET", "/c1").text.splitlines() == sorted(
        ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "readme", "/lead", "d\u00e9j\u00e0 vu"]
    )
    assert alice("GET", "/c1?delimiter=/").text.splitlines() == ["/", "d\u00e9j\u00e0 vu", "photos/", "readme"]
    assert alice("GET", "/c1?delimiter=/&prefix=photos/").text.splitlines() == ["photos/2024/", "photos/2025/"]
    assert alice("GET", "/c1?delimiter=/&marker=photos/").text.splitlines() == ["readme"]
    assert alice("GET", "/c1?delimiter=/&prefix=photos/&marker=photos/2025/").status_code == 204
    body = alice("GET", "/c1?format=json&prefix=photos/2024/").json()
    assert body[0]["name"] == "photos/2024/a.jpg" and body[0]["bytes"] == 17 and body[0]["content_type"] == "text/plain"
    assert len(body[0]["hash"]) == 32 and "T" in body[0]["last_modified"]
    assert alice("GET", "/c1?format=json&delimiter=/&prefix=photos/").json() == [
        {"subdir": "photos/2024/"},
        {"subdir": "photos/2025/"},
    ]
    assert alice("GET", "/c1?end_marker=photos/2025&prefix=photos/").text.splitlines() == [
        "photos/2024/a.jpg",
        "photos/2024/b.jpg",
    ]
    root = ET.fromstring(alice("GET", "/c1?format=xml&delimiter=/").content)
    assert root.get("name") == "c1" and [s.get("name") for s in root.findall("subdir")] == ["/", "photos/"]
    r = alice("GET", "/c1", headers={"Accept": "application/json"})
    assert r.headers["content-type"].startswith("application/json") and r.headers["x-container-object-count"] == "6"


def test_marker_paging_terminates_like_swiftclient(alice) -> None:
    alice("PUT", "/c1")
    names = sorted(f"obj{i:03d}" for i in range(25))
    for name in names:
        alice("PUT", f"/c1/{name}", content=b"x")
    seen, marker, requests = [], "", 0
    while True:
        page = alice("GET", f"/c1?format=json&limit=7&marker={marker}").json()
        requests += 1
        if not page:
            break
        seen += [o["name"] for o in page]
        marker = page[-1]["name"]
    assert seen == names and requests == 5


def test_every_response_carries_a_swift_transaction_id(alice, bob, os_client) -> None:
    import re

    shape = re.compile(r"^tx[0-9a-f]{21}-[0-9a-f]{10}$")
    alice("PUT", "/c1")
    responses = [
        alice("HEAD"),
        alice("GET", "/c1"),
        alice("PUT", "/c1/o", content=b"x"),
        alice("GET", "/c1/o"),
        alice("GET", "/nope"),
        alice("DELETE", "/nope/o"),
        bob.on(alice.project)("GET", "/c1"),
        os_client.get(alice.base),
        os_client.get("/object/info"),
    ]
    assert [r.status_code for r in responses] == [204, 204, 201, 200, 404, 404, 403, 401, 200]
    ids = [r.headers.get("x-trans-id", "") for r in responses]
    assert all(shape.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert [r.headers["x-openstack-request-id"] for r in responses] == ids
    assert [r.status_code for r in responses if "content-type" not in r.headers] == []


def test_bulk_delete_deletes_objects_and_containers(alice) -> None:
    alice("PUT", "/c1")
    alice("PUT", "/c1/a b", content=b"1")
    alice("PUT", "/c1/c", content=b"2")
    alice("PUT", "/c2")
    alice("PUT", "/full")
    alice("PUT", "/full/keep", content=b"3")
    body = "/c1/a%20b\n/c1/c\n/c1/missing\n/c1\n/c2\n/full\n"
    r = alice(
        "POST",
        "?bulk-delete",
        content=body.encode(),
        headers={"Accept": "application/json", "Content-Type": "text/plain"},
    )
    assert r.status_code == 200
    report = r.json()
    assert (report["Number Deleted"], report["Number Not Found"]) == (4, 1)
    assert report["Errors"] == [["/full", "409 Conflict"]] and report["Response Status"] == "400 Bad Request"
    assert [c["name"] for c in alice("GET", "?format=json").json()] == ["full"]
    # DELETE works the same (python-swiftclient and Tempest use it), here with a plain-text report
    r = alice("DELETE", "?bulk-delete", content=b"/full/keep\n/full\n")
    assert r.status_code == 200 and "Number Deleted: 2" in r.text and "Response Status: 200 OK" in r.text
    assert alice("GET").status_code == 204
    assert alice("DELETE").status_code == 405  # without ?bulk-delete an account is not deleted


def test_account_shows_usage_per_storage_policy(alice) -> None:
    alice("PUT", "/c1")
    alice("PUT", "/c1/o", content=b"12345")
    alice("PUT", "/c2")
    r = alice("HEAD")
    prefix = "x-account-storage-policy-policy-0-"
    assert (
        r.headers[prefix + "container-count"],
        r.headers[prefix + "object-count"],
        r.headers[prefix + "bytes-used"],
    ) == ("2", "1", "5")


def _tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_extract_archive_makes_one_object_per_file(alice, bob) -> None:
    """Swift's ?extract-archive: to the account, each file's first segment is its container
    (made when missing); to a container, the path is the object's name; a bad archive is a
    400 report, and another project cannot extract into this account."""
    import json

    body = _tar({"photos/a.jpg": b"A", "photos/b/c.jpg": b"BC", "docs/readme": b"R"})
    r = alice("PUT", "?extract-archive=tar", content=body, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    report = json.loads(r.text)
    assert (report["Number Files Created"], report["Response Status"], report["Errors"]) == (3, "201 Created", [])
    assert alice("GET", "/photos").text.split() == ["a.jpg", "b/c.jpg"]
    assert alice("GET", "/photos/b/c.jpg").content == b"BC"
    r = alice("PUT", "/docs?extract-archive=tar.gz", content=_tar({"x/y": b"Y"}, "w:gz"))
    assert r.status_code == 200 and "Number Files Created: 1" in r.text
    assert alice("GET", "/docs/x/y").content == b"Y"
    bad = alice("PUT", "?extract-archive=tar", content=b"not a tar", headers={"Accept": "application/json"})
    assert json.loads(bad.text)["Response Status"] == "400 Bad Request"
    assert alice("PUT", "?extract-archive=zip", content=body).status_code == 400
    assert bob.on(alice.project)("PUT", "?extract-archive=tar", content=body).status_code == 403
    assert alice("GET", "/photos").text.split() == ["a.jpg", "b/c.jpg"]


def test_copy_answers_with_the_copys_metadata_and_swifts_texts(alice) -> None:
    alice("PUT", "/c")
    alice("PUT", "/c/src", content=b"s", headers={"X-Object-Meta-Src": "1"})
    r = alice("COPY", "/c/src", headers={"Destination": "c/dst", "X-Object-Meta-Test": "v"})
    assert r.status_code == 201
    assert (r.headers["X-Object-Meta-Test"], r.headers["X-Object-Meta-Src"]) == ("v", "1")
    assert r.headers["X-Copied-From"] == "c/src"
    r = alice("DELETE", "/c")
    assert r.status_code == 409 and "There was a conflict when trying to complete your request." in r.text
    r = alice("PUT", "/" + "x" * 257)
    assert r.status_code == 400 and "Container name length of 257 longer than 256" in r.text


def test_crossdomain_xml_is_served_only_when_the_operator_sets_a_policy(os_runtime, os_client, monkeypatch) -> None:
    """Swift's crossdomain middleware: off by default (404, not in /info); with
    ``[objectstore] cross_domain_policy`` the policy document, advertised in /info."""
    assert os_client.get("/object/crossdomain.xml").status_code == 404
    assert "crossdomain" not in os_client.get("/object/info").json()
    policy = '<allow-access-from domain="*" secure="false" />'
    monkeypatch.setattr(os_runtime.config.objectstore, "cross_domain_policy", policy)
    r = os_client.get("/object/crossdomain.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert r.text.startswith('<?xml version="1.0"?>\n<!DOCTYPE cross-domain-policy SYSTEM ')
    assert r.text.endswith(f"<cross-domain-policy>\n{policy}\n</cross-domain-policy>")
    assert "x-trans-id" in r.headers
    assert os_client.get("/object/info").json()["crossdomain"] == {}
