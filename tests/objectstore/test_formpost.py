"""Swift's FormPost: a form signed with the TempURL key uploads files without a token;
expired or wrongly signed forms, too many or too large files are refused and store nothing."""

from __future__ import annotations

import hashlib
import hmac
import time

from tests.objectstore.conftest import Swift


def _form(
    alice: Swift,
    path: str,
    files: list[tuple[str, bytes]],
    key: str = "k",
    redirect: str = "",
    max_file_size: int = 1024,
    max_file_count: int = 2,
    expires_in: int = 600,
    extra: dict[str, str] | None = None,
) -> tuple[bytes, str]:
    expires = int(time.time()) + expires_in
    signed = f"/v1/AUTH_{alice.project}{path}\n{redirect}\n{max_file_size}\n{max_file_count}\n{expires}"
    fields = {
        "redirect": redirect,
        "max_file_size": str(max_file_size),
        "max_file_count": str(max_file_count),
        "expires": str(expires),
        "signature": hmac.new(key.encode(), signed.encode(), hashlib.sha256).hexdigest(),
        **(extra or {}),
    }
    boundary = "----form-boundary"
    lines: list[bytes] = []
    for name, value in fields.items():
        lines += [
            f"--{boundary}".encode(),
            f'Content-Disposition: form-data; name="{name}"'.encode(),
            b"",
            value.encode(),
        ]
    for filename, data in files:
        lines += [
            f"--{boundary}".encode(),
            f'Content-Disposition: form-data; name="file"; filename="{filename}"'.encode(),
            b"Content-Type: text/plain",
            b"",
            data,
        ]
    lines += [f"--{boundary}--".encode(), b""]
    return b"\r\n".join(lines), f"multipart/form-data; boundary={boundary}"


def _post(os_client, alice: Swift, path: str, form: tuple[bytes, str]):
    body, content_type = form
    return os_client.post(
        alice.base + path, content=body, headers={"Content-Type": content_type}, follow_redirects=False
    )


def test_form_uploads_files_under_the_prefix(alice, os_client) -> None:
    alice("PUT", "/uploads")
    alice("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "k"})
    r = _post(
        os_client, alice, "/uploads/user1/", _form(alice, "/uploads/user1/", [("a.txt", b"alpha"), ("b.txt", b"beta")])
    )
    assert r.status_code == 201 and r.text == "201 Created"
    assert alice("GET", "/uploads/user1/a.txt").content == b"alpha"
    assert alice("HEAD", "/uploads/user1/b.txt").headers["content-type"] == "text/plain"
    # to the container itself, with a redirect and an expiry for the files
    form = _form(
        alice, "/uploads", [("c.txt", b"gamma")], redirect="https://app.example/done", extra={"x_delete_after": "60"}
    )
    r = _post(os_client, alice, "/uploads", form)
    assert r.status_code == 303 and r.headers["location"] == "https://app.example/done?status=201&message="
    assert "x-delete-at" in alice("HEAD", "/uploads/c.txt").headers
    # a container key signs too
    alice("POST", "/uploads", headers={"X-Container-Meta-Temp-URL-Key": "ck"})
    assert _post(os_client, alice, "/uploads", _form(alice, "/uploads", [("d.txt", b"d")], key="ck")).status_code == 201


def test_bad_forms_are_refused_and_store_nothing(alice, bob, os_client) -> None:
    alice("PUT", "/uploads")
    alice("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "k"})
    r = _post(os_client, alice, "/uploads", _form(alice, "/uploads", [("x", b"x")], key="wrong"))
    assert r.status_code == 401 and "FormPost: Invalid Signature" in r.text
    r = _post(os_client, alice, "/uploads", _form(alice, "/uploads", [("x", b"x")], expires_in=-10))
    assert r.status_code == 401 and "FormPost: Form Expired" in r.text
    r = _post(os_client, alice, "/uploads", _form(alice, "/uploads", [("big", b"x" * 2000)]))
    assert r.status_code == 400 and "FormPost: max_file_size exceeded" in r.text
    r = _post(os_client, alice, "/uploads", _form(alice, "/uploads", [("1", b"1"), ("2", b"2"), ("3", b"3")]))
    assert r.status_code == 400 and r.text == "400 Bad Request\r\nFormPost: Max File Count Exceeded"
    r = _post(os_client, alice, "/uploads", _form(alice, "/uploads", []))
    assert r.status_code == 400 and "No Files To Process" in r.text
    # the two within the count went in, as in Swift; nothing else did
    assert alice("GET", "/uploads").text == "1\n2\n"
    # a form cut short in the middle of a file keeps nothing of it
    body, content_type = _form(alice, "/uploads", [("cut", b"y" * 500)])
    r = os_client.post(alice.base + "/uploads", content=body[:-200], headers={"Content-Type": content_type})
    assert r.status_code == 400 and "FormPost: the form ended in the middle of a part" in r.text
    assert alice("HEAD", "/uploads/cut").status_code == 404
    # another account is not opened by this account's key
    bob("PUT", "/inbox")
    r = _post(os_client, bob, "/inbox", _form(bob, "/inbox", [("x", b"x")], key="k"))
    assert r.status_code == 401
    assert bob("GET", "/inbox").status_code == 204
