"""System scope (issue 22 part 5, Keystone's ``scope: {"system": {"all": true}}``): a token for
the whole cloud, carried by roles granted on the system (``/v3/system/users/{id}/roles``);
the bootstrap admin has admin on the system, as ``keystone-manage bootstrap`` gives it."""

from __future__ import annotations

from typing import Any


def _password_token(cloud: Any, user: str, password: str, scope: Any) -> Any:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": scope,
        }
    }
    return cloud.request("POST", "/identity/v3/auth/tokens", json=body)


def test_system_scoped_admin_token(cloud: Any) -> None:
    r = _password_token(cloud, "admin", cloud.admin_password, {"system": {"all": True}})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert token["system"] == {"all": True} and "project" not in token
    assert {"admin", "member", "reader"} <= {role["name"] for role in token["roles"]}
    system_token = r.headers["X-Subject-Token"]

    # cloud-wide operations work; it validates as system-scoped
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", system_token).status_code == 200
    assert cloud.request("GET", "/compute/v2.1/os-services", system_token).status_code == 200
    shown = cloud.request(
        "GET", "/identity/v3/auth/tokens", system_token, headers={"X-Subject-Token": system_token}
    ).json()["token"]
    assert shown["system"] == {"all": True}
    systems = cloud.request("GET", "/identity/v3/auth/system", system_token).json()["system"]
    assert systems == [{"all": True}]


def test_system_roles_are_granted_listed_and_revoked(cloud: Any) -> None:
    _, user_id, member_token = cloud.new_project_user(role="member")
    name = cloud.request("GET", f"/identity/v3/users/{user_id}", cloud.admin_token).json()["user"]["name"]
    password = f"pw-{name.removeprefix('user-')}"
    scope = {"system": {"all": True}}

    # no role on the system: no system-scoped token, and /auth/system says so
    assert _password_token(cloud, name, password, scope).status_code == 401
    assert cloud.request("GET", "/identity/v3/auth/system", member_token).json()["system"] == []

    reader = cloud.role_ids["reader"]
    path = f"/identity/v3/system/users/{user_id}/roles/{reader}"
    assert cloud.request("PUT", path, member_token).status_code == 403  # only an admin grants
    assert cloud.request("PUT", path, cloud.admin_token).status_code == 204
    assert cloud.request("HEAD", path, cloud.admin_token).status_code == 204
    listed = cloud.request("GET", f"/identity/v3/system/users/{user_id}/roles", cloud.admin_token).json()["roles"]
    assert [r["id"] for r in listed] == [reader]
    assignments = cloud.request(
        "GET", f"/identity/v3/role_assignments?scope.system=all&user.id={user_id}", cloud.admin_token
    ).json()["role_assignments"]
    assert assignments == [
        {
            "role": {"id": reader},
            "user": {"id": user_id},
            "scope": {"system": {"all": True}},
            "links": {"assignment": f"http://testserver/identity/v3/system/users/{user_id}/roles/{reader}"},
        }
    ]

    r = _password_token(cloud, name, password, scope)
    assert r.status_code == 201, r.text
    reader_token = r.headers["X-Subject-Token"]
    assert {role["name"] for role in r.json()["token"]["roles"]} == {"reader"}
    # a system reader is no cloud admin
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", reader_token).status_code == 403

    assert cloud.request("DELETE", path, cloud.admin_token).status_code == 204
    assert cloud.request("HEAD", path, cloud.admin_token).status_code == 404
    # the token loses its roles at once, and with them its validity
    assert cloud.request("GET", "/compute/v2.1/flavors", reader_token).status_code == 401


def test_bad_system_scopes_are_refused(cloud: Any) -> None:
    for scope in ({"system": {"all": False}}, {"system": {"all": True, "x": 1}}, {"system": "all"}):
        r = _password_token(cloud, "admin", cloud.admin_password, scope)
        assert r.status_code == 400, (scope, r.text)
    assert _password_token(cloud, "admin", cloud.admin_password, {"domain": {"id": "default"}}).status_code == 400
