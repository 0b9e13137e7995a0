"""Keystone's admin project (issue 22 part 5): the admin role administers the cloud only on
``[identity] admin_project``. Granted on any other project, it administers that project and
nothing else: no other project's resources, no cloud-wide operation."""

from __future__ import annotations

from typing import Any


def _admin_elsewhere(cloud: Any) -> tuple[str, str]:
    """(project, token) of a user with the admin role on a project that is not the admin project."""
    project, user, _ = cloud.new_project_user(role="member")
    cloud.identity.assignments.grant("user", user, project, cloud.role_ids["admin"])
    return project, cloud.token_for(user, project)


def test_admin_on_another_project_is_not_cloud_admin(cloud: Any) -> None:
    project, token = _admin_elsewhere(cloud)
    other, _, other_token = cloud.new_project_user(role="member")
    net = cloud.request("POST", "/networking/v2.0/networks", other_token, json={"network": {"name": "private"}})
    assert net.status_code == 201

    # cloud-wide operations: refused, with the reason
    for method, path, body in (
        ("GET", "/compute/v2.1/os-hypervisors", None),
        ("GET", "/compute/v2.1/os-services", None),
        ("POST", "/compute/v2.1/flavors", {"flavor": {"name": "f", "ram": 64, "vcpus": 1, "disk": 1}}),
        ("POST", "/identity/v3/projects", {"project": {"name": "grab"}}),
        ("GET", "/volume/v3/{project}/os-services", None),
    ):
        r = cloud.request(method, path.format(project=project), token, json=body)
        assert r.status_code == 403, (path, r.status_code, r.text)
    denied = cloud.request("GET", "/compute/v2.1/os-hypervisors", token)
    assert "admin project" in denied.text

    # another project's resources: invisible, as to any member
    assert cloud.request("GET", f"/networking/v2.0/networks/{net.json()['network']['id']}", token).status_code == 404
    listed = cloud.request("GET", "/networking/v2.0/networks", token).json()["networks"]
    assert net.json()["network"]["id"] not in {n["id"] for n in listed}
    servers = cloud.request("GET", "/compute/v2.1/servers?all_tenants=1", token)
    assert servers.status_code in (200, 403)
    if servers.status_code == 200:
        assert all(s.get("tenant_id", project) == project for s in servers.json()["servers"])

    # its own project: it can still work there as a member
    own = cloud.request("POST", "/networking/v2.0/networks", token, json={"network": {"name": "mine"}})
    assert own.status_code == 201


def test_admin_on_the_admin_project_administers_the_cloud(cloud: Any) -> None:
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", cloud.admin_token).status_code == 200
    r = cloud.request("POST", "/identity/v3/projects", cloud.admin_token, json={"project": {"name": "made-by-admin"}})
    assert r.status_code == 201


def test_the_admin_project_is_configurable(cloud: Any, monkeypatch: Any) -> None:
    project, token = _admin_elsewhere(cloud)
    name = cloud.request("GET", f"/identity/v3/projects/{project}", cloud.admin_token).json()["project"]["name"]
    monkeypatch.setattr(cloud.runtime.config.identity, "admin_project", name)
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", token).status_code == 200
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", cloud.admin_token).status_code == 403


def test_no_admin_project_makes_every_projects_admin_a_cloud_admin(cloud: Any, monkeypatch: Any) -> None:
    """Empty ``admin_project``: Keystone's default (``admin_project_name`` unset), as Tempest's
    dynamic admin credentials expect."""
    _, token = _admin_elsewhere(cloud)
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", token).status_code == 403
    monkeypatch.setattr(cloud.runtime.config.identity, "admin_project", "")
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", token).status_code == 200
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", cloud.admin_token).status_code == 200
    _, member_token = cloud.new_project_user(role="member")[::2]
    assert cloud.request("GET", "/compute/v2.1/os-hypervisors", member_token).status_code == 403
