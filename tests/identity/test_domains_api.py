"""Domains beyond ``default`` (issue 16): CRUD, domain-scoped content, disable-before-delete,
delete cascading to the content, tokens of a disabled domain, and what a non-admin sees."""

from __future__ import annotations

V3 = "/identity/v3"


def _admin(cloud, method, path, **kw):
    return cloud.request(method, V3 + path, token=cloud.admin_token, **kw)


def _domain(cloud, name="dom", **fields):
    r = _admin(cloud, "POST", "/domains", json={"domain": {"name": name, **fields}})
    assert r.status_code == 201, r.text
    return r.json()["domain"]


def test_domain_crud_and_refusals(cloud) -> None:
    d = _domain(cloud, "acme", description="Acme Inc")
    assert d["enabled"] is True and d["description"] == "Acme Inc" and d["links"]["self"].endswith(d["id"])
    assert _admin(cloud, "GET", f"/domains/{d['id']}").json()["domain"]["name"] == "acme"
    assert [x["id"] for x in _admin(cloud, "GET", "/domains?name=acme").json()["domains"]] == [d["id"]]

    dup = _admin(cloud, "POST", "/domains", json={"domain": {"name": "acme"}})
    assert dup.status_code == 409 and "error" in dup.json()
    assert _admin(cloud, "POST", "/domains", json={"domain": {"name": ""}}).status_code == 400
    assert _admin(cloud, "POST", "/domains", json={"domain": {"name": "a" * 65}}).status_code == 400

    # an enabled domain cannot be deleted (Keystone's 403), a disabled one can
    refused = _admin(cloud, "DELETE", f"/domains/{d['id']}")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == 403 and "disable it first" in refused.json()["error"]["message"]
    up = _admin(cloud, "PATCH", f"/domains/{d['id']}", json={"domain": {"enabled": False, "name": "acme2"}})
    assert up.json()["domain"]["enabled"] is False and up.json()["domain"]["name"] == "acme2"
    assert [x["id"] for x in _admin(cloud, "GET", "/domains?enabled=false").json()["domains"]] == [d["id"]]
    assert _admin(cloud, "DELETE", f"/domains/{d['id']}").status_code == 204
    assert _admin(cloud, "GET", f"/domains/{d['id']}").status_code == 404
    assert _admin(cloud, "DELETE", f"/domains/{d['id']}").status_code == 404
    # the default domain stays
    assert _admin(cloud, "PATCH", "/domains/default", json={"domain": {"enabled": False}}).status_code == 403


def test_domain_content_and_cascade(cloud) -> None:
    d = _domain(cloud)
    user = _admin(cloud, "POST", "/users", json={"user": {"name": "u", "domain_id": d["id"], "password": "pw-1"}})
    group = _admin(cloud, "POST", "/groups", json={"group": {"name": "g", "domain_id": d["id"]}})
    project = _admin(cloud, "POST", "/projects", json={"project": {"name": "p", "domain_id": d["id"]}})
    role = _admin(cloud, "POST", "/roles", json={"role": {"name": "r", "domain_id": d["id"]}})
    assert user.status_code == group.status_code == project.status_code == role.status_code == 201
    uid, gid, pid = user.json()["user"]["id"], group.json()["group"]["id"], project.json()["project"]["id"]
    assert project.json()["project"]["parent_id"] == d["id"]
    # the same names are free in another domain
    assert _admin(cloud, "POST", "/users", json={"user": {"name": "u"}}).status_code == 201
    assert _admin(cloud, "POST", "/users", json={"user": {"name": "u", "domain_id": d["id"]}}).status_code == 409
    assert [u["id"] for u in _admin(cloud, "GET", f"/users?domain_id={d['id']}").json()["users"]] == [uid]
    assert [r["name"] for r in _admin(cloud, "GET", f"/roles?domain_id={d['id']}").json()["roles"]] == ["r"]
    assert "r" not in {r["name"] for r in _admin(cloud, "GET", "/roles").json()["roles"]}

    _admin(cloud, "PATCH", f"/domains/{d['id']}", json={"domain": {"enabled": False}})
    assert _admin(cloud, "DELETE", f"/domains/{d['id']}").status_code == 204
    for path in (f"/users/{uid}", f"/groups/{gid}", f"/projects/{pid}"):
        assert _admin(cloud, "GET", path).status_code == 404, path


def test_disabled_domain_invalidates_tokens(cloud) -> None:
    d = _domain(cloud)
    ident = cloud.identity
    project = ident.directory.create_project("p", domain_id=d["id"])
    user = ident.directory.create_user("u", password="pw-12345", domain_id=d["id"])
    ident.assignments.grant("user", user.id, project.id, cloud.role_ids["member"])
    token = cloud.token_for(user.id, project.id)
    assert cloud.request("GET", V3 + f"/projects/{project.id}", token=token).status_code == 200
    _admin(cloud, "PATCH", f"/domains/{d['id']}", json={"domain": {"enabled": False}})
    assert cloud.request("GET", V3 + f"/projects/{project.id}", token=token).status_code == 401
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": "u", "domain": {"id": d["id"]}, "password": "pw-12345"}},
            }
        }
    }
    assert cloud.request("POST", V3 + "/auth/tokens", json=body).status_code == 401


def test_non_admin_sees_only_its_own_domain(cloud) -> None:
    other = _domain(cloud, "other")
    _, _, token = cloud.new_project_user(role="member")
    listed = cloud.request("GET", V3 + "/domains", token=token).json()["domains"]
    assert [x["id"] for x in listed] == ["default"]
    assert cloud.request("GET", V3 + f"/domains/{other['id']}", token=token).status_code == 404
    assert cloud.request("POST", V3 + "/domains", token=token, json={"domain": {"name": "x"}}).status_code == 403
    patch = cloud.request("PATCH", V3 + f"/domains/{other['id']}", token=token, json={"domain": {"enabled": False}})
    assert patch.status_code == 403


def test_is_domain_projects(cloud) -> None:
    r = _admin(cloud, "POST", "/projects", json={"project": {"name": "as-project", "is_domain": True}})
    assert r.status_code == 201 and r.json()["project"]["is_domain"] is True
    did = r.json()["project"]["id"]
    assert did in {d["id"] for d in _admin(cloud, "GET", "/domains").json()["domains"]}
    assert did in {p["id"] for p in _admin(cloud, "GET", "/projects?is_domain=true").json()["projects"]}
    assert did not in {p["id"] for p in _admin(cloud, "GET", "/projects").json()["projects"]}
    assert _admin(cloud, "PATCH", f"/projects/{did}", json={"project": {"enabled": False}}).status_code == 200
    assert _admin(cloud, "DELETE", f"/projects/{did}").status_code == 204
    assert _admin(cloud, "GET", f"/domains/{did}").status_code == 404
