"""Implied roles, domain roles, grants on domains and OS-INHERIT grants (issue 16), through
the API and into tokens and effective role assignments."""

from __future__ import annotations

V3 = "/identity/v3"


def _admin(cloud, method, path, **kw):
    return cloud.request(method, V3 + path, token=cloud.admin_token, **kw)


def _role(cloud, name, **fields):
    r = _admin(cloud, "POST", "/roles", json={"role": {"name": name, **fields}})
    assert r.status_code == 201, r.text
    return r.json()["role"]["id"]


def _effective(cloud, user_id, project_id):
    path = f"/role_assignments?effective&user.id={user_id}&scope.project.id={project_id}"
    return {a["role"]["id"] for a in _admin(cloud, "GET", path).json()["role_assignments"]}


def test_implied_roles_crud_and_effect(cloud) -> None:
    a, b, c = _role(cloud, "ra"), _role(cloud, "rb"), _role(cloud, "rc")
    put = _admin(cloud, "PUT", f"/roles/{a}/implies/{b}")
    assert put.status_code == 201
    assert put.json()["role_inference"]["prior_role"]["id"] == a
    assert put.json()["role_inference"]["implies"]["id"] == b
    assert _admin(cloud, "PUT", f"/roles/{b}/implies/{c}").status_code == 201
    assert _admin(cloud, "HEAD", f"/roles/{a}/implies/{b}").status_code == 204
    assert [r["id"] for r in _admin(cloud, "GET", f"/roles/{a}/implies").json()["role_inference"]["implies"]] == [b]
    rules = _admin(cloud, "GET", "/role_inferences").json()["role_inferences"]
    assert {r["prior_role"]["id"] for r in rules} >= {a, b, cloud.role_ids["admin"], cloud.role_ids["member"]}
    # a cycle and a self-implication are refused
    assert _admin(cloud, "PUT", f"/roles/{c}/implies/{a}").status_code == 403
    assert _admin(cloud, "PUT", f"/roles/{a}/implies/{a}").status_code == 400

    project, user, _ = cloud.new_project_user(role="reader")
    _admin(cloud, "PUT", f"/projects/{project}/users/{user}/roles/{a}")
    assert _effective(cloud, user, project) >= {a, b, c}
    token = cloud.identity.issue_token_for(user, project)
    assert {r.id for r in token.roles} >= {a, b, c}

    assert _admin(cloud, "DELETE", f"/roles/{a}/implies/{b}").status_code == 204
    assert _admin(cloud, "GET", f"/roles/{a}/implies/{b}").status_code == 404
    assert b not in _effective(cloud, user, project)


def test_domain_roles(cloud) -> None:
    domain = _admin(cloud, "POST", "/domains", json={"domain": {"name": "d"}}).json()["domain"]["id"]
    dr = _role(cloud, "domain-role", domain_id=domain)
    glob = _role(cloud, "global-role")
    # a global role may not imply a domain role; the other way round is fine
    assert _admin(cloud, "PUT", f"/roles/{glob}/implies/{dr}").status_code == 403
    assert _admin(cloud, "PUT", f"/roles/{dr}/implies/{glob}").status_code == 201
    project, user, _ = cloud.new_project_user(role="reader")
    _admin(cloud, "PUT", f"/projects/{project}/users/{user}/roles/{dr}")
    # a domain role is never effective itself, only what it implies
    effective = _effective(cloud, user, project)
    assert glob in effective and dr not in effective
    assert dr not in {r.id for r in cloud.identity.issue_token_for(user, project).roles}


def test_grants_on_domains(cloud) -> None:
    domain = _admin(cloud, "POST", "/domains", json={"domain": {"name": "d"}}).json()["domain"]["id"]
    role = _role(cloud, "r")
    user = cloud.identity.directory.create_user("u", password="pw-12345")
    path = f"/domains/{domain}/users/{user.id}/roles"
    assert _admin(cloud, "GET", f"{path}/{role}").status_code == 404
    assert _admin(cloud, "PUT", f"{path}/{role}").status_code == 204
    assert [r["id"] for r in _admin(cloud, "GET", path).json()["roles"]] == [role]
    assert _admin(cloud, "HEAD", f"{path}/{role}").status_code == 204
    rows = _admin(cloud, "GET", f"/role_assignments?scope.domain.id={domain}").json()["role_assignments"]
    assert [(r["scope"]["domain"]["id"], r["user"]["id"]) for r in rows] == [(domain, user.id)]
    token = cloud.token_for(user.id, None)
    listed = cloud.request("GET", V3 + "/auth/domains", token=token).json()["domains"]
    assert [d["id"] for d in listed] == [domain]
    assert _admin(cloud, "DELETE", f"{path}/{role}").status_code == 204
    assert _admin(cloud, "DELETE", f"{path}/{role}").status_code == 404
    assert _admin(cloud, "PUT", f"/domains/nope/users/{user.id}/roles/{role}").status_code == 404


def test_inherited_grants(cloud) -> None:
    domain = _admin(cloud, "POST", "/domains", json={"domain": {"name": "d"}}).json()["domain"]["id"]
    parent = _admin(cloud, "POST", "/projects", json={"project": {"name": "parent", "domain_id": domain}})
    parent_id = parent.json()["project"]["id"]
    leaf = _admin(cloud, "POST", "/projects", json={"project": {"name": "leaf", "parent_id": parent_id}})
    assert leaf.json()["project"]["parent_id"] == parent_id and leaf.json()["project"]["domain_id"] == domain
    leaf_id = leaf.json()["project"]["id"]
    role = _role(cloud, "r")
    user = cloud.identity.directory.create_user("u", password="pw-12345", domain_id=domain)

    on_domain = f"/OS-INHERIT/domains/{domain}/users/{user.id}/roles"
    assert _admin(cloud, "PUT", f"{on_domain}/{role}/inherited_to_projects").status_code == 204
    assert [r["id"] for r in _admin(cloud, "GET", f"{on_domain}/inherited_to_projects").json()["roles"]] == [role]
    assert _admin(cloud, "HEAD", f"{on_domain}/{role}/inherited_to_projects").status_code == 204
    assert role in _effective(cloud, user.id, parent_id) and role in _effective(cloud, user.id, leaf_id)
    # an inherited grant is not a grant on the domain itself
    assert _admin(cloud, "GET", f"/domains/{domain}/users/{user.id}/roles").json()["roles"] == []
    rows = _admin(cloud, "GET", "/role_assignments?scope.OS-INHERIT:inherited_to=projects").json()["role_assignments"]
    assert rows[0]["scope"]["OS-INHERIT:inherited_to"] == "projects"
    assert _admin(cloud, "DELETE", f"{on_domain}/{role}/inherited_to_projects").status_code == 204
    assert role not in _effective(cloud, user.id, leaf_id)

    on_project = f"/OS-INHERIT/projects/{parent_id}/users/{user.id}/roles/{role}/inherited_to_projects"
    assert _admin(cloud, "PUT", on_project).status_code == 204
    assert role in _effective(cloud, user.id, leaf_id)
    assert role not in _effective(cloud, user.id, parent_id)  # only the subtree inherits
    assert {r.id for r in cloud.identity.issue_token_for(user.id, leaf_id).roles} == {role}
    # a parent with children cannot be deleted
    assert _admin(cloud, "DELETE", f"/projects/{parent_id}").status_code == 403
    assert _admin(cloud, "DELETE", on_project).status_code == 204
    assert role not in _effective(cloud, user.id, leaf_id)


def test_non_admin_cannot_grant_or_imply(cloud) -> None:
    project, user, token = cloud.new_project_user(role="member")
    role = _role(cloud, "r")
    for method, path in (
        ("PUT", f"/roles/{role}/implies/{cloud.role_ids['admin']}"),
        ("PUT", f"/domains/default/users/{user}/roles/{cloud.role_ids['admin']}"),
        ("PUT", f"/OS-INHERIT/projects/{project}/users/{user}/roles/{role}/inherited_to_projects"),
    ):
        r = cloud.request(method, V3 + path, token=token)
        assert r.status_code == 403 and r.json()["error"]["code"] == 403, path
