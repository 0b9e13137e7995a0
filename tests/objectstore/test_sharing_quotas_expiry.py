"""Isolation between projects and ACL sharing, quotas, and expiry."""

from __future__ import annotations

import time

import pytest

from overcast.objectstore.expirer import reap_due
from tests.objectstore.conftest import Swift, new_user


def test_second_project_sees_nothing_until_a_read_acl_grants_it(os_runtime, alice, bob) -> None:
    alice("PUT", "/shared")
    alice("PUT", "/shared/report.txt", content=b"q3 numbers")
    alice("PUT", "/private")
    alice("PUT", "/private/secret", content=b"s")
    # bob's own account is empty and he cannot touch alice's
    assert bob("GET", "?format=json").json() == []
    for method, path in [
        ("GET", ""),
        ("HEAD", ""),
        ("GET", "/shared"),
        ("HEAD", "/shared/report.txt"),
        ("GET", "/shared/report.txt"),
        ("GET", "/nonexistent"),
        ("PUT", "/shared/x"),
        ("DELETE", "/shared/report.txt"),
        ("POST", "/shared"),
    ]:
        r = bob.on(alice.project)(method, path, content=b"")
        assert r.status_code == 403, (method, path, r.status_code)
    # a read ACL for bob's project opens exactly that container, read-only
    assert alice("POST", "/shared", headers={"X-Container-Read": f"{bob.project}:*"}).status_code == 204
    as_bob = bob.on(alice.project)
    assert as_bob("GET", "/shared/report.txt").content == b"q3 numbers"
    assert as_bob("GET", "/shared").text == "report.txt\n"
    r = as_bob("HEAD", "/shared")
    assert r.status_code == 204 and "x-container-read" not in r.headers
    assert as_bob("PUT", "/shared/x", content=b"x").status_code == 403
    assert as_bob("GET", "/private/secret").status_code == 403
    assert as_bob("GET", "").status_code == 403
    assert as_bob("POST", "/shared", headers={"X-Container-Read": "*:*"}).status_code == 403
    # a write ACL lets bob upload and delete, still not manage the container
    bob_user = os_runtime.identity.context_from_token(bob.token).user_id
    alice("POST", "/shared", headers={"X-Container-Write": f"{bob.project}:{bob_user}"})
    assert as_bob("PUT", "/shared/from-bob", content=b"hi").status_code == 201
    assert alice("GET", "/shared/from-bob").content == b"hi"
    assert as_bob("DELETE", "/shared/from-bob").status_code == 204
    assert as_bob("DELETE", "/shared").status_code == 403
    # revoking closes it again
    alice("POST", "/shared", headers={"X-Remove-Container-Read": "x", "X-Remove-Container-Write": "x"})
    assert as_bob("GET", "/shared/report.txt").status_code == 403


def test_public_read_acl(alice, os_client) -> None:
    alice("PUT", "/www", headers={"X-Container-Read": ".r:*"})
    alice("PUT", "/www/index.html", content=b"<h1>hi</h1>")
    assert os_client.get(f"{alice.base}/www/index.html").content == b"<h1>hi</h1>"
    assert os_client.get(f"{alice.base}/www").status_code == 401  # no .rlistings
    alice("POST", "/www", headers={"X-Container-Read": ".r:*,.rlistings"})
    assert os_client.get(f"{alice.base}/www").text == "index.html\n"
    assert os_client.put(f"{alice.base}/www/x", content=b"x").status_code == 401
    assert alice("POST", "/www", headers={"X-Container-Read": ".bogus"}).status_code == 400


def test_container_quotas(alice) -> None:
    alice("PUT", "/q", headers={"X-Container-Meta-Quota-Bytes": "10", "X-Container-Meta-Quota-Count": "2"})
    assert alice("PUT", "/q/a", content=b"12345").status_code == 201
    assert alice("PUT", "/q/b", content=b"123456").status_code == 413
    assert alice("PUT", "/q/b", content=b"12345").status_code == 201
    assert alice("PUT", "/q/c", content=b"").status_code == 413  # count
    assert alice("GET", "/q").text == "a\nb\n"
    assert alice("PUT", "/q", headers={"X-Container-Meta-Quota-Bytes": "lots"}).status_code == 400

    def chunked():
        yield b"x" * 6
        yield b"y" * 6

    alice("POST", "/q", headers={"X-Container-Meta-Quota-Count": "", "X-Container-Meta-Quota-Bytes": "20"})
    assert alice("PUT", "/q/d", content=chunked()).status_code == 413
    assert alice("GET", "/q").text == "a\nb\n"


def test_account_quota_is_set_by_admins_only(os_runtime, alice, os_client) -> None:
    assert alice("POST", "", headers={"X-Account-Meta-Quota-Bytes": "8"}).status_code == 403
    boot = os_runtime.bootstrap
    admin = Swift(os_client, os_runtime.identity.issue_token_for(boot.user_id, boot.project_id).token, alice.project)
    assert admin("POST", "", headers={"X-Account-Meta-Quota-Bytes": "8"}).status_code == 204
    alice("PUT", "/c")
    assert alice("PUT", "/c/a", content=b"12345").status_code == 201
    assert alice("PUT", "/c/b", content=b"12345").status_code == 413
    # removing it takes any value (Tempest sends the header with an arbitrary one)
    assert alice("POST", "", headers={"X-Remove-Account-Meta-Quota-Bytes": "x"}).status_code == 403
    assert admin("POST", "", headers={"X-Remove-Account-Meta-Quota-Bytes": "x"}).status_code == 204
    assert alice("PUT", "/c/b", content=b"12345").status_code == 201


def test_reseller_admin_role_on_any_project_sets_account_quotas(os_runtime, alice, os_client) -> None:
    """Swift's reseller admin is a role, held on any project (Tempest's account-quota tests give
    it to a user of their own project); an admin of another project only is not one."""
    ident = os_runtime.identity
    role = ident.directory.create_role("ResellerAdmin")
    reseller_project, reseller_token = new_user(os_runtime)
    user_id = ident.validate_token(reseller_token).payload.user_id
    ident.assignments.grant("user", user_id, reseller_project, role.id)
    reseller = Swift(os_client, ident.issue_token_for(user_id, reseller_project).token, alice.project)
    _, project_admin_token = new_user(os_runtime, role="admin")
    project_admin = Swift(os_client, project_admin_token, alice.project)
    assert project_admin("POST", "", headers={"X-Account-Meta-Quota-Bytes": "8"}).status_code == 403
    assert reseller("POST", "", headers={"X-Account-Meta-Quota-Bytes": "8"}).status_code == 204
    assert alice("HEAD", "").headers["X-Account-Meta-Quota-Bytes"] == "8"
    # holding that role alone (no member role anywhere) is enough, as keystoneauth lets it
    only = ident.directory.create_user("reseller-only", password="pw-reseller-only")
    own = ident.directory.create_project("reseller-only-project")
    ident.assignments.grant("user", only.id, own.id, role.id)
    sole = Swift(os_client, ident.issue_token_for(only.id, own.id).token, alice.project)
    assert sole("POST", "", headers={"X-Account-Meta-Quota-Bytes": "9"}).status_code == 204
    assert sole("GET", "").status_code in (200, 204)


def test_expiry_hides_then_reaps(os_runtime, alice, monkeypatch) -> None:
    alice("PUT", "/c")
    alice("PUT", "/c/keep", content=b"k")
    assert alice("PUT", "/c/soon", content=b"s", headers={"X-Delete-After": "100"}).status_code == 201
    at = int(alice("HEAD", "/c/soon").headers["x-delete-at"])
    assert abs(at - (time.time() + 100)) < 5
    assert alice("PUT", "/c/past", content=b"x", headers={"X-Delete-At": "1000"}).status_code == 400
    assert alice("PUT", "/c/bad", content=b"x", headers={"X-Delete-After": "soon"}).status_code == 400
    future = time.time() + 200
    monkeypatch.setattr(time, "time", lambda: future)
    assert alice("GET", "/c/soon").status_code == 404
    assert alice("HEAD", "/c/soon").status_code == 404
    assert alice("GET", "/c").text == "keep\n"
    backend = os_runtime.objectstore.backends["Policy-0"]
    driver = os_runtime.plugins.driver("object_store", "fs")
    assert driver.stats(backend=backend, account=alice.base.rsplit("/", 1)[1], container="c")["objects"] == 2
    assert reap_due(os_runtime.objectstore) == 1
    assert driver.stats(backend=backend, account=alice.base.rsplit("/", 1)[1], container="c")["objects"] == 1


def test_post_can_add_and_remove_expiry(os_runtime, alice, monkeypatch) -> None:
    alice("PUT", "/c")
    alice("PUT", "/c/o", content=b"x")
    alice("POST", "/c/o", headers={"X-Delete-After": "50"})
    assert "x-delete-at" in alice("HEAD", "/c/o").headers
    alice("POST", "/c/o", headers={"X-Object-Meta-A": "1"})
    assert "x-delete-at" not in alice("HEAD", "/c/o").headers
    future = time.time() + 100
    monkeypatch.setattr(time, "time", lambda: future)
    reap_due(os_runtime.objectstore)
    assert alice("GET", "/c/o").content == b"x"  # the queue entry no longer matches: kept


@pytest.mark.parametrize("expired_first", [True])
def test_container_with_only_expired_objects_can_be_deleted(alice, monkeypatch, expired_first) -> None:
    alice("PUT", "/c")
    alice("PUT", "/c/o", content=b"x", headers={"X-Delete-After": "10"})
    future = time.time() + 20
    monkeypatch.setattr(time, "time", lambda: future)
    assert alice("DELETE", "/c").status_code == 204


def test_tempurl_get_and_put_without_a_token(alice, bob, os_client) -> None:
    import hashlib
    import hmac

    alice("PUT", "/c", headers={"X-Container-Read": f"{bob.project}:*"})
    alice("PUT", "/c/o", content=b"signed content")
    alice("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "sekrit"})
    path = f"/v1/AUTH_{alice.project}/c/o"
    expires = str(int(time.time()) + 60)

    def sig(method: str, p: str = path, key: str = "sekrit", when: str = expires) -> str:
        return hmac.new(key.encode(), f"{method}\n{when}\n{p}".encode(), hashlib.sha256).hexdigest()

    url = f"{alice.base}/c/o?temp_url_sig={sig('GET')}&temp_url_expires={expires}"
    assert os_client.get(url).content == b"signed content"
    assert os_client.head(url).status_code == 200
    assert os_client.put(url, content=b"nope").status_code == 401  # signed for GET only
    assert (
        os_client.get(f"{alice.base}/c/o?temp_url_sig={sig('GET', key='wrong')}&temp_url_expires={expires}").status_code
        == 401
    )
    past = str(int(time.time()) - 1)
    assert (
        os_client.get(f"{alice.base}/c/o?temp_url_sig={sig('GET', when=past)}&temp_url_expires={past}").status_code
        == 401
    )
    other = f"/v1/AUTH_{alice.project}/c/other"
    assert (
        os_client.get(f"{alice.base}/c/o?temp_url_sig={sig('GET', other)}&temp_url_expires={expires}").status_code
        == 401
    )
    put = f"{alice.base}/c/new?temp_url_sig={sig('PUT', f'/object/v1/AUTH_{alice.project}/c/new')}&temp_url_expires={expires}"
    assert os_client.put(put, content=b"uploaded").status_code == 201
    assert alice("GET", "/c/new").content == b"uploaded"
    # the key is not shown to readers who are not the owner
    alice("POST", "/c", headers={"X-Container-Meta-Temp-URL-Key": "ckey"})
    assert "x-container-meta-temp-url-key" not in bob.on(alice.project)("HEAD", "/c").headers
    assert alice("HEAD", "/c").headers["x-container-meta-temp-url-key"] == "ckey"


def test_account_tempurl_keys_are_shown_to_the_owner(alice) -> None:
    # Tempest (and swiftclient's tempurl helpers) read the key back from the account
    alice("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "k1", "X-Account-Meta-Temp-URL-Key-2": "k2"})
    r = alice("HEAD")
    assert (r.headers["x-account-meta-temp-url-key"], r.headers["x-account-meta-temp-url-key-2"]) == ("k1", "k2")
    assert alice("GET", "?format=json").headers["x-account-meta-temp-url-key"] == "k1"


def test_tempurl_keys_are_sealed_at_rest(alice, os_runtime) -> None:
    """The database holds TempURL keys encrypted with the data dir's key (issue 22): a copy of
    the database does not give away keys that sign URLs; the API reads them back as set."""
    import json

    from sqlalchemy import text

    from overcast.sealing import KEY_FILE, Sealer

    alice("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "account-sekrit", "X-Account-Meta-Color": "blue"})
    alice("PUT", "/c", headers={"X-Container-Meta-Temp-URL-Key-2": "container-sekrit"})
    with os_runtime.db.engine.connect() as conn:
        raw = " ".join(
            str(row[0])
            for table in ("objectstore_accounts", "objectstore_containers")
            for row in conn.execute(text(f"SELECT meta FROM {table}"))
        )
    assert "account-sekrit" not in raw and "container-sekrit" not in raw
    assert "blue" in raw  # other metadata is not secret
    key_file = os_runtime.config.resolve_path("", KEY_FILE)
    assert key_file.stat().st_mode & 0o077 == 0
    with os_runtime.db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT meta FROM objectstore_accounts WHERE project_id = :p"), {"p": alice.project}
        ).scalar_one()
    sealed = (json.loads(stored) if isinstance(stored, str) else stored)["x-account-meta-temp-url-key"]
    assert sealed != "account-sekrit" and Sealer(key_file).open(sealed) == "account-sekrit"
    assert alice("HEAD").headers["x-account-meta-temp-url-key"] == "account-sekrit"
    assert alice("HEAD", "/c").headers["x-container-meta-temp-url-key-2"] == "container-sekrit"


def test_a_key_stored_before_sealing_still_reads(alice, os_runtime) -> None:
    from sqlalchemy import text

    alice("POST", "", headers={"X-Account-Meta-Color": "red"})
    with os_runtime.db.engine.begin() as conn:  # as a release before sealing wrote it
        conn.execute(
            text("UPDATE objectstore_accounts SET meta = :m WHERE project_id = :p"),
            {"m": '{"x-account-meta-temp-url-key": "legacy"}', "p": alice.project},
        )
    os_runtime.objectstore.records._cache.clear()
    assert alice("HEAD").headers["x-account-meta-temp-url-key"] == "legacy"


def _reseller(os_runtime, os_client, project: str) -> Swift:
    boot = os_runtime.bootstrap
    return Swift(os_client, os_runtime.identity.issue_token_for(boot.user_id, boot.project_id).token, project)


def test_account_object_count_and_policy_quotas(os_runtime, alice, os_client) -> None:
    """Swift 2.34's account quotas: a count, and bytes and count per storage policy; shown on
    the account's HEAD; removed with X-Remove-; a reseller admin is not bound by them."""
    admin = _reseller(os_runtime, os_client, alice.project)
    alice("PUT", "/c")
    alice("PUT", "/c/one", content=b"1")
    assert alice("POST", "", headers={"X-Account-Quota-Count": "2"}).status_code == 403
    assert admin("POST", "", headers={"X-Account-Quota-Count": "2"}).status_code == 204
    assert alice("HEAD", "").headers["x-account-quota-count"] == "2"
    assert alice("PUT", "/c/two", content=b"2").status_code == 201
    r = alice("PUT", "/c/three", content=b"3")
    assert r.status_code == 413 and b"Upload exceeds quota." in r.content
    assert alice("GET", "/c").text == "one\ntwo\n"  # nothing was stored
    assert admin("PUT", "/c/by-admin", content=b"a").status_code == 201  # resellers are not bound
    assert admin("POST", "", headers={"X-Remove-Account-Quota-Count": "x"}).status_code == 204
    assert "x-account-quota-count" not in alice("HEAD", "").headers
    assert alice("PUT", "/c/three", content=b"3").status_code == 201
    # per policy: the container's policy is what counts
    policy = alice("HEAD", "/c").headers["x-storage-policy"]
    assert admin("POST", "", headers={f"X-Account-Quota-Count-Policy-{policy}": "4"}).status_code == 204
    r = alice("PUT", "/c/four", content=b"4")
    assert r.status_code == 413 and b"Upload exceeds policy quota." in r.content
    assert admin("POST", "", headers={f"X-Remove-Account-Quota-Count-Policy-{policy}": "x"}).status_code == 204
    assert admin("POST", "", headers={"X-Account-Quota-Bytes": "5"}).status_code == 204
    assert alice("PUT", "/c/four", content=b"44").status_code == 413  # 4 bytes stored, 2 more
    assert alice("PUT", "/c/four", content=b"4").status_code == 201
    # refused, and nothing changed: a value that is not a count, a policy that does not exist
    assert admin("POST", "", headers={"X-Account-Quota-Count": "many"}).status_code == 400
    assert admin("POST", "", headers={"X-Account-Quota-Count-Policy-Nope": "1"}).status_code == 400
    assert "x-account-quota-count" not in alice("HEAD", "").headers


def test_object_store_info_names_the_swift_api_it_speaks(os_client) -> None:
    """Clients gate features on /info's swift.version (Tempest's account object-count quota
    test needs 2.34); Overcast's own version is beside it."""
    from overcast import __version__

    info = os_client.get("/object/info").json()
    assert info["swift"]["version"] == "2.34.0"
    assert info["overcast"] == {"version": __version__}
    assert info["tempurl"]["methods"] == ["GET", "HEAD", "PUT", "POST", "DELETE"]


def test_tempurl_prefix_inline_filename_and_expiry(alice, os_client) -> None:
    """Swift's tempurl: a prefix link signs every object under the prefix; ``inline`` and
    ``filename`` set Content-Disposition; an expired or bad link is refused even beside a
    valid token (the link decides, as Swift's tempurl runs before auth)."""
    import hashlib
    import hmac

    alice("PUT", "/c")
    alice("PUT", "/c/reports/q1.txt", content=b"q1")
    alice("PUT", "/c/other.txt", content=b"o")
    alice("POST", "", headers={"X-Account-Meta-Temp-URL-Key": "k"})
    base = f"/v1/AUTH_{alice.project}/c/"
    expires = str(int(time.time()) + 60)

    def sig(method: str, path: str, when: str = expires) -> str:
        return hmac.new(b"k", f"{method}\n{when}\n{path}".encode(), hashlib.sha1).hexdigest()

    plain = (
        f"{alice.base}/c/reports/q1.txt?temp_url_sig={sig('GET', base + 'reports/q1.txt')}&temp_url_expires={expires}"
    )
    r = os_client.get(plain)
    assert r.content == b"q1"
    assert r.headers["content-disposition"] == "attachment; filename=\"q1.txt\"; filename*=UTF-8''q1.txt"
    assert r.headers["expires"].endswith("GMT")
    assert os_client.get(plain + "&inline").headers["content-disposition"] == "inline"
    named = os_client.get(plain + "&filename=my%20file.txt").headers["content-disposition"]
    assert named == "attachment; filename=\"my file.txt\"; filename*=UTF-8''my%20file.txt"
    assert os_client.head(plain + "&inline&filename=a.txt").headers["content-disposition"].startswith("inline; ")
    prefix = (
        f"temp_url_sig={sig('GET', 'prefix:' + base + 'reports/')}&temp_url_expires={expires}&temp_url_prefix=reports/"
    )
    assert os_client.get(f"{alice.base}/c/reports/q1.txt?{prefix}").content == b"q1"
    assert os_client.get(f"{alice.base}/c/other.txt?{prefix}").status_code == 401  # not under the prefix
    past = str(int(time.time()) - 1)
    expired = f"{alice.base}/c/other.txt?temp_url_sig={sig('GET', base + 'other.txt', past)}&temp_url_expires={past}"
    assert os_client.get(expired, headers={"X-Auth-Token": alice.token}).status_code == 401
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(expires)))
    assert (
        os_client.get(
            f"{alice.base}/c/other.txt?temp_url_sig={sig('GET', base + 'other.txt', iso)}&temp_url_expires={iso}"
        ).content
        == b"o"
    )
    # a link names an object: on a container it is refused
    assert os_client.get(f"{alice.base}/c?temp_url_sig=x&temp_url_expires={expires}").status_code == 401
