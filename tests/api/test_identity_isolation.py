"""Two projects, two users: neither sees anything of the other through any identity call
it is not admin for. Another project's or user's resource answers 404 (writes 403)."""

from __future__ import annotations

import pytest

V3 = "/identity/v3"


@pytest.fixture
def two(cloud):
    a = cloud.new_project_user(role="member")
    b = cloud.new_project_user(role="member")
    ident = cloud.identity
    group = ident.directory.create_group("group-of-b")
    ident.directory.add_group_member(group.id, b[1])
    ident.assignments.grant("group", group.id, b[0], cloud.role_ids["reader"])
    cred_b, _ = ident.appcreds.create(b[1], b[0], "cred-of-b", [cloud.role_ids["member"]])
    return a, b, group.id, cred_b.id


def _ids(items):
    return {i["id"] for i in items}


def test_reads_show_only_your_own(cloud, two) -> None:
    (pa, ua, ta), (pb, ub, tb), gb, _ = two
    get = lambda path, **kw: cloud.request("GET", V3 + path, token=ta, **kw)  # noqa: E731

    assert get("/projects").status_code == 403  # listing projects is an admin's, as in Keystone
    assert get("/projects/" + pa).status_code == 200
    assert _ids(get("/users").json()["users"]) == {ua}
    assert _ids(get("/auth/projects").json()["projects"]) == {pa}
    assert _ids(get(f"/users/{ua}/projects").json()["projects"]) == {pa}
    assert get("/groups").json()["groups"] == []
    rows = get("/role_assignments").json()["role_assignments"]
    assert rows and {r["scope"]["project"]["id"] for r in rows} == {pa}
    assert get(f"/role_assignments?scope.project.id={pb}").json()["role_assignments"] == []
    assert get(f"/role_assignments?user.id={ub}").json()["role_assignments"] == []
    # Keystone refuses effective with a group filter (the list would always be empty)
    assert get(f"/role_assignments?group.id={gb}&effective").status_code == 400
    assert get(f"/role_assignments?group.id={gb}").json()["role_assignments"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/projects/{pb}",
        "/users/{ub}",
        "/users/{ub}/projects",
        "/users/{ub}/groups",
        "/users/{ub}/application_credentials",
        "/users/{ub}/application_credentials/{cb}",
        "/projects/{pb}/users/{ub}/roles",
        "/projects/{pb}/users/{ub}/roles/{member}",
        "/projects/{pa}/users/{ub}/roles",
        "/projects/{pb}/groups/{gb}/roles",
        "/groups/{gb}",
        "/groups/{gb}/users",
        "/groups/{gb}/users/{ub}",
    ],
)
def test_the_other_users_things_are_not_found(cloud, two, path) -> None:
    (pa, ua, ta), (pb, ub, tb), gb, cb = two
    url = V3 + path.format(pa=pa, pb=pb, ub=ub, gb=gb, cb=cb, member=cloud.role_ids["member"])
    r = cloud.request("GET", url, token=ta)
    assert r.status_code == 404, r.text
    assert set(r.json()["error"]) == {"code", "title", "message"}
    assert cloud.request("GET", url, token=cloud.admin_token).status_code in (200, 204)  # it does exist


def test_the_other_users_token_cannot_be_inspected_or_revoked(cloud, two) -> None:
    (pa, ua, ta), (pb, ub, tb), _, _ = two
    for method in ("GET", "HEAD", "DELETE"):
        r = cloud.request(method, V3 + "/auth/tokens", token=ta, headers={"X-Subject-Token": tb})
        assert r.status_code == 403
    assert cloud.identity.context_from_token(tb).user_id == ub
    own = cloud.request("GET", V3 + "/auth/tokens", token=ta, headers={"X-Subject-Token": ta})
    assert own.status_code == 200 and own.json()["token"]["project"]["id"] == pa


def test_writes_are_forbidden_and_change_nothing(cloud, two) -> None:
    (pa, ua, ta), (pb, ub, tb), gb, cb = two
    member = cloud.role_ids["member"]
    attempts = [
        ("PATCH", f"/projects/{pb}", {"project": {"name": "stolen"}}),
        ("DELETE", f"/projects/{pb}", None),
        ("PATCH", f"/users/{ub}", {"user": {"password": "stolen"}}),
        ("DELETE", f"/users/{ub}", None),
        ("PUT", f"/projects/{pb}/users/{ua}/roles/{member}", None),
        ("PUT", f"/projects/{pa}/users/{ua}/roles/{cloud.role_ids['admin']}", None),
        ("DELETE", f"/projects/{pb}/users/{ub}/roles/{member}", None),
        ("PUT", f"/groups/{gb}/users/{ua}", None),
        ("DELETE", f"/groups/{gb}", None),
        ("POST", "/projects", {"project": {"name": "mine-now"}}),
        ("POST", "/roles", {"role": {"name": "superuser"}}),
    ]
    for method, path, body in attempts:
        r = cloud.request(method, V3 + path, token=ta, json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert cloud.request("DELETE", V3 + f"/users/{ub}/application_credentials/{cb}", token=ta).status_code == 404
    # a password changes only for whoever proves the original one (Keystone's rule): 401 here
    body = {"user": {"password": "x-new-password", "original_password": "y"}}
    assert cloud.request("POST", V3 + f"/users/{ub}/password", token=ta, json=body).status_code == 401
    # B is untouched: its token, roles, credential and group still work
    ctx = cloud.identity.context_from_token(tb)
    assert ctx.project_id == pb and ctx.roles == {"member", "reader"}
    assert cloud.identity.appcreds.get(ub, cb).name == "cred-of-b"
    assert [u.id for u in cloud.identity.directory.group_members(gb)] == [ub]
    assert cloud.identity.context_from_token(ta).roles == {"member", "reader"}
