"""The Keystone v3 API over HTTP (in process): shapes clients read, and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from overcast.identity.catalog import SERVICES
from overcast.identity.tokens import TokenPayload, new_audit_id

V3 = "/identity/v3"


def auth_body(user: str, password: str, project: str | None = "admin") -> dict:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}},
            }
        }
    }
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"id": "default"}}}
    return body


def keystone_error(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert err["code"] == status and err["title"] and err["message"]
    return err


def counts(cloud) -> tuple[int, int, int]:
    from overcast.db.models.identity import Project, Role, User

    d = cloud.identity.directory
    return len(d.list(Project)), len(d.list(User)), len(d.list(Role))


# --- discovery and tokens ----------------------------------------------------------------


def test_version_discovery(cloud) -> None:
    r = cloud.client.get("/identity")
    assert r.status_code == 300
    (version,) = r.json()["versions"]["values"]
    assert version["id"].startswith("v3.") and version["links"][0]["href"].endswith("/identity/v3/")
    assert cloud.client.get("/identity/v3").json()["version"]["status"] == "stable"


def test_issue_validate_check_revoke(cloud) -> None:
    r = cloud.client.post(V3 + "/auth/tokens", json=auth_body("admin", cloud.admin_password))
    assert r.status_code == 201
    token = r.headers["X-Subject-Token"]
    body = r.json()["token"]
    assert body["methods"] == ["password"] and body["user"]["name"] == "admin"
    assert body["project"]["id"] == cloud.admin_project_id and body["is_domain"] is False
    assert {x["name"] for x in body["roles"]} == {"admin", "member", "reader"}
    assert body["expires_at"].endswith("Z") and body["issued_at"].endswith("Z") and len(body["audit_ids"]) == 1
    types = {s["type"]: s for s in body["catalog"]}
    assert set(types) == {s.type for s in SERVICES}  # every service the catalog module lists
    assert {"identity", "compute", "image", "block-storage", "volumev3", "network", "object-store"} <= set(types)
    store = {e["interface"]: e["url"] for e in types["object-store"]["endpoints"]}
    assert set(store) == {"public", "internal", "admin"} and store["public"].endswith(
        f"/object/v1/AUTH_{cloud.admin_project_id}"
    )

    headers = {"X-Auth-Token": cloud.admin_token, "X-Subject-Token": token}
    r = cloud.client.get(V3 + "/auth/tokens", headers=headers)
    assert (
        r.status_code == 200
        and r.headers["X-Subject-Token"] == token
        and r.json()["token"]["audit_ids"] == body["audit_ids"]
    )
    assert "catalog" not in cloud.client.get(V3 + "/auth/tokens?nocatalog", headers=headers).json()["token"]
    r = cloud.client.head(V3 + "/auth/tokens", headers=headers)
    assert r.status_code == 200 and r.headers["content-length"] == "0"
    r = cloud.client.delete(V3 + "/auth/tokens", headers=headers)
    assert r.status_code == 204 and r.headers["content-length"] == "0" and r.content == b""
    keystone_error(cloud.client.get(V3 + "/auth/tokens", headers=headers), 404)
    keystone_error(cloud.client.get(V3 + "/projects", headers={"X-Auth-Token": token}), 401)


def test_rescope_and_auth_listings(cloud) -> None:
    r = cloud.client.post(V3 + "/auth/tokens", json=auth_body("admin", cloud.admin_password, project=None))
    unscoped = r.headers["X-Subject-Token"]
    # unscoped: neither a project nor a catalog, as in Keystone (Tempest checks both)
    assert "project" not in r.json()["token"] and "catalog" not in r.json()["token"]
    projects = cloud.client.get(V3 + "/auth/projects", headers={"X-Auth-Token": unscoped}).json()["projects"]
    assert [p["id"] for p in projects] == [cloud.admin_project_id]
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"project": {"id": cloud.admin_project_id}},
        }
    }
    r = cloud.client.post(V3 + "/auth/tokens", json=body)
    assert r.status_code == 201 and r.json()["token"]["methods"] == ["password", "token"]
    catalog = cloud.client.get(V3 + "/auth/catalog", headers={"X-Auth-Token": r.headers["X-Subject-Token"]}).json()[
        "catalog"
    ]
    assert len(catalog) == len(SERVICES)


def test_wrong_password_expired_and_revoked_tokens_are_401(cloud) -> None:
    err = keystone_error(cloud.client.post(V3 + "/auth/tokens", json=auth_body("admin", "wrong")), 401)
    assert "password" not in err["message"].lower()
    keystone_error(cloud.client.post(V3 + "/auth/tokens", json=auth_body("ghost", "x")), 401)
    r = cloud.client.get(V3 + "/projects")
    keystone_error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    keystone_error(cloud.request("GET", V3 + "/projects", token="not-a-token"), 401)
    p = cloud.identity.validate_token(cloud.admin_token).payload
    now = datetime.now(timezone.utc)
    expired = cloud.identity.tokens.issue(
        TokenPayload(
            p.user_id,
            p.methods,
            p.project_id,
            now - timedelta(hours=1),
            (now - timedelta(seconds=1)).replace(microsecond=0),
            (new_audit_id(),),
        )
    )
    keystone_error(cloud.request("GET", V3 + "/projects", token=expired), 401)
    _, _, token = cloud.new_project_user()
    cloud.identity.revoke_token(token)
    keystone_error(cloud.request("GET", V3 + "/auth/projects", token=token), 401)


def test_missing_role_is_403(cloud) -> None:
    _, _, reader = cloud.new_project_user(role="reader")
    _, _, member = cloud.new_project_user(role="member")
    before = counts(cloud)
    for token in (reader, member):
        err = keystone_error(
            cloud.request("POST", V3 + "/projects", token=token, json={"project": {"name": "nope"}}), 403
        )
        assert "identity:projects:create" in err["message"]
    keystone_error(cloud.request("POST", V3 + "/roles", token=member, json={"role": {"name": "x"}}), 403)
    assert counts(cloud) == before


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path,payload",
    [
        ("/projects", b"{not json"),
        ("/projects", b"[]"),
        ("/projects", b'{"project": "p"}'),
        ("/projects", b'{"project": {}}'),
        ("/projects", b'{"project": {"name": 5}}'),
        ("/projects", b'{"project": {"name": ""}}'),
        ("/projects", b'{"project": {"name": "x", "enabled": "yes"}}'),
        ("/projects", b'{"project": {"name": "x", "tags": "a"}}'),
        ("/projects", b'{"project": {"name": "' + b"n" * 300 + b'"}}'),
        ("/users", b'{"user": {"password": "pw"}}'),
        ("/users", b'{"user": {"name": "u", "password": 12}}'),
        ("/users", b'{"user": {"name": "u", "email": {"a": 1}}}'),
        ("/roles", b'{"role": {"name": null}}'),
        ("/groups", b'{"group": {"description": "no name"}}'),
        ("/auth/tokens", b'{"auth": {"identity": {"methods": ["password"]}}}'),
        ("/auth/tokens", b'{"auth": {"identity": {"methods": []}}}'),
        ("/auth/tokens", b"garbage"),
    ],
)
def test_malformed_bodies_are_400_and_change_nothing(cloud, path, payload) -> None:
    before = counts(cloud)
    r = cloud.client.post(
        V3 + path, content=payload, headers={**cloud.admin_headers, "Content-Type": "application/json"}
    )
    keystone_error(r, 400)
    assert counts(cloud) == before


def test_unknown_ids_are_404_and_names_in_the_id_slot_too(cloud) -> None:
    h = cloud.admin_headers
    for path in (
        "/projects/admin",
        "/users/admin",
        "/roles/member",
        "/groups/nope",
        "/projects/0123",
        "/domains/nope",
        "/regions/nowhere",
    ):
        err = keystone_error(cloud.client.get(V3 + path, headers=h), 404)
        assert "Could not find" in err["message"]
    keystone_error(cloud.client.patch(V3 + "/projects/nope", headers=h, json={"project": {"name": "x"}}), 404)
    keystone_error(cloud.client.delete(V3 + "/users/nope", headers=h), 404)
    role = cloud.role_ids["member"]
    keystone_error(cloud.client.put(V3 + f"/projects/nope/users/{cloud.admin_user_id}/roles/{role}", headers=h), 404)
    keystone_error(cloud.client.put(V3 + f"/projects/{cloud.admin_project_id}/users/nope/roles/{role}", headers=h), 404)
    keystone_error(
        cloud.client.put(V3 + f"/projects/{cloud.admin_project_id}/users/{cloud.admin_user_id}/roles/nope", headers=h),
        404,
    )
    keystone_error(
        cloud.client.delete(
            V3 + f"/projects/{cloud.admin_project_id}/users/{cloud.admin_user_id}/roles/{role}", headers=h
        ),
        404,
    )
    keystone_error(cloud.client.get(V3 + "/no-such-thing", headers=h), 404)


def test_duplicates_are_409_and_change_nothing(cloud) -> None:
    h = cloud.admin_headers
    assert cloud.client.post(V3 + "/projects", headers=h, json={"project": {"name": "dup"}}).status_code == 201
    assert cloud.client.post(V3 + "/users", headers=h, json={"user": {"name": "dupu"}}).status_code == 201
    before = counts(cloud)
    keystone_error(cloud.client.post(V3 + "/projects", headers=h, json={"project": {"name": "dup"}}), 409)
    keystone_error(cloud.client.post(V3 + "/users", headers=h, json={"user": {"name": "dupu", "password": "x"}}), 409)
    keystone_error(cloud.client.post(V3 + "/roles", headers=h, json={"role": {"name": "member"}}), 409)
    keystone_error(
        cloud.client.patch(V3 + f"/projects/{cloud.admin_project_id}", headers=h, json={"project": {"name": "dup"}}),
        409,
    )
    assert counts(cloud) == before
    assert cloud.client.get(V3 + f"/projects/{cloud.admin_project_id}", headers=h).json()["project"]["name"] == "admin"


def test_oversized_body_is_413(cloud) -> None:
    limit = cloud.runtime.config.api.max_request_body
    big = b'{"project": {"name": "x", "description": "' + b"d" * (limit + 10) + b'"}}'
    before = counts(cloud)
    r = cloud.client.post(
        V3 + "/projects", content=big, headers={**cloud.admin_headers, "Content-Type": "application/json"}
    )
    keystone_error(r, 413)
    r = cloud.client.post(V3 + "/projects", content=big, headers={**cloud.admin_headers, "Content-Type": "text/plain"})
    keystone_error(r, 413)  # identity has no uploads: every body is limited
    assert counts(cloud) == before


# --- resources ---------------------------------------------------------------------------


def test_user_lifecycle_and_own_password_change(cloud) -> None:
    h = cloud.admin_headers
    project = cloud.client.post(
        V3 + "/projects", headers=h, json={"project": {"name": "lp", "description": "d", "tags": ["a"]}}
    ).json()["project"]
    assert project["tags"] == ["a"] and project["links"]["self"].endswith(project["id"])
    r = cloud.client.post(
        V3 + "/users",
        headers=h,
        json={
            "user": {"name": "lu", "password": "pw1", "email": "lu@example.org", "default_project_id": project["id"]}
        },
    )
    user = r.json()["user"]
    assert (
        r.status_code == 201
        and user["email"] == "lu@example.org"
        and user["default_project_id"] == project["id"]
        and "password" not in user
    )
    assert [u["name"] for u in cloud.client.get(V3 + "/users?name=lu", headers=h).json()["users"]] == ["lu"]
    assert (
        cloud.client.put(
            V3 + f"/projects/{project['id']}/users/{user['id']}/roles/{cloud.role_ids['reader']}", headers=h
        ).status_code
        == 204
    )
    # no scope in the request: the default project is used
    r = cloud.client.post(V3 + "/auth/tokens", json=auth_body("lu", "pw1", project=None))
    token = r.headers["X-Subject-Token"]
    assert r.json()["token"]["project"]["id"] == project["id"]
    bad = cloud.client.post(
        V3 + f"/users/{user['id']}/password",
        headers={"X-Auth-Token": token},
        json={"user": {"original_password": "no", "password": "pw2"}},
    )
    keystone_error(bad, 401)
    ok = cloud.client.post(
        V3 + f"/users/{user['id']}/password",
        headers={"X-Auth-Token": token},
        json={"user": {"original_password": "pw1", "password": "pw2"}},
    )
    assert ok.status_code == 204
    keystone_error(cloud.request("GET", V3 + f"/users/{user['id']}", token=token), 401)  # its tokens are revoked
    assert cloud.client.post(V3 + "/auth/tokens", json=auth_body("lu", "pw2", project="lp")).status_code == 201
    r = cloud.client.patch(V3 + f"/users/{user['id']}", headers=h, json={"user": {"enabled": False}})
    assert r.json()["user"]["enabled"] is False
    keystone_error(cloud.client.post(V3 + "/auth/tokens", json=auth_body("lu", "pw2", project="lp")), 401)
    assert cloud.client.get(V3 + "/users?enabled=false", headers=h).json()["users"][0]["id"] == user["id"]
    assert cloud.client.delete(V3 + f"/users/{user['id']}", headers=h).status_code == 204
    assert cloud.client.delete(V3 + f"/projects/{project['id']}", headers=h).status_code == 204
    keystone_error(cloud.client.get(V3 + f"/projects/{project['id']}", headers=h), 404)


def test_groups_and_effective_assignments(cloud) -> None:
    h = cloud.admin_headers
    pid, uid, _ = cloud.new_project_user(role="reader")
    group = cloud.client.post(V3 + "/groups", headers=h, json={"group": {"name": "ops"}}).json()["group"]
    assert cloud.client.put(V3 + f"/groups/{group['id']}/users/{uid}", headers=h).status_code == 204
    assert cloud.client.head(V3 + f"/groups/{group['id']}/users/{uid}", headers=h).status_code == 204
    assert (
        cloud.client.put(
            V3 + f"/projects/{pid}/groups/{group['id']}/roles/{cloud.role_ids['member']}", headers=h
        ).status_code
        == 204
    )
    rows = cloud.client.get(V3 + f"/role_assignments?scope.project.id={pid}&effective&include_names", headers=h).json()[
        "role_assignments"
    ]
    assert {(r["role"]["name"], r["user"]["id"]) for r in rows} == {("reader", uid), ("member", uid)}
    assert any("membership" in r["links"] for r in rows)
    rows = cloud.client.get(V3 + f"/role_assignments?group.id={group['id']}", headers=h).json()["role_assignments"]
    assert [r["group"]["id"] for r in rows] == [group["id"]]
    assert cloud.identity.issue_token_for(uid, pid).role_names == {"member", "reader"}


def test_application_credentials_api(cloud) -> None:
    pid, uid, token = cloud.new_project_user(role="member")
    base = V3 + f"/users/{uid}/application_credentials"
    r = cloud.request(
        "POST",
        base,
        token=token,
        json={
            "application_credential": {
                "name": "ci",
                "roles": [{"name": "reader"}],
                "expires_at": "2099-01-01T00:00:00Z",
            }
        },
    )
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    assert (
        cred["secret"]
        and [x["name"] for x in cred["roles"]] == ["reader"]
        and cred["expires_at"].startswith("2099-01-01")
    )
    keystone_error(cloud.request("POST", base, token=token, json={"application_credential": {"name": "ci"}}), 409)
    keystone_error(
        cloud.request(
            "POST", base, token=token, json={"application_credential": {"name": "x", "roles": [{"name": "admin"}]}}
        ),
        403,
    )
    keystone_error(
        cloud.request(
            "POST",
            base,
            token=token,
            json={"application_credential": {"name": "y", "expires_at": "2001-01-01T00:00:00"}},
        ),
        400,
    )
    listed = cloud.request("GET", base, token=token).json()["application_credentials"]
    assert [c["name"] for c in listed] == ["ci"] and "secret" not in listed[0]
    auth = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred["id"], "secret": cred["secret"]},
            }
        }
    }
    r = cloud.client.post(V3 + "/auth/tokens", json=auth)
    assert r.status_code == 201
    body = r.json()["token"]
    assert body["application_credential"]["id"] == cred["id"] and [x["name"] for x in body["roles"]] == ["reader"]
    ac_token = r.headers["X-Subject-Token"]
    keystone_error(
        cloud.request("POST", base, token=ac_token, json={"application_credential": {"name": "z"}}), 403
    )  # restricted
    scoped = {**auth, "auth": {**auth["auth"], "scope": {"project": {"id": pid}}}}
    keystone_error(cloud.client.post(V3 + "/auth/tokens", json=scoped), 400)
    assert cloud.request("DELETE", f"{base}/{cred['id']}", token=token).status_code == 204
    keystone_error(cloud.request("GET", V3 + "/auth/projects", token=ac_token), 401)
    keystone_error(cloud.client.post(V3 + "/auth/tokens", json=auth), 401)


def test_services_endpoints_regions_domains(cloud) -> None:
    h = cloud.admin_headers
    services = cloud.client.get(V3 + "/services", headers=h).json()["services"]
    endpoints = cloud.client.get(V3 + "/endpoints?interface=public", headers=h).json()["endpoints"]
    assert len(services) == len(SERVICES) and len(endpoints) == len(SERVICES)
    assert {e["service_id"] for e in endpoints} == {s["id"] for s in services}
    assert any(e["url"].endswith("/volume/v3/$(project_id)s") for e in endpoints)
    assert (
        cloud.client.get(V3 + f"/services/{services[0]['id']}", headers=h).json()["service"]["type"]
        == services[0]["type"]
    )
    assert cloud.client.get(V3 + "/regions/RegionOne", headers=h).status_code == 200
    assert [d["id"] for d in cloud.client.get(V3 + "/domains", headers=h).json()["domains"]] == ["default"]
