"""The real, unmodified ``openstack`` CLI and openstacksdk against ``overcast up``."""

from __future__ import annotations

import httpx
import pytest

from overcast.identity.catalog import SERVICES

pytestmark = [pytest.mark.clients, pytest.mark.slow, pytest.mark.filterwarnings("ignore:::openstack")]


def password_token_status(cloud, user: str, password: str, project: str) -> int:
    """A password auth over plain HTTP (cheaper than a CLI run, for the negative checks)."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"id": "default"}}},
        }
    }
    return httpx.post(cloud.auth_url + "/v3/auth/tokens", json=body, timeout=30).status_code


def test_token_issue_and_catalog(running_cloud) -> None:
    token = running_cloud.openstack("token", "issue", "-f", "json")
    assert token["id"] and token["project_id"] and token["user_id"]
    catalog = running_cloud.openstack("catalog", "list", "-f", "json")
    types = {entry["Type"] for entry in catalog}
    assert types == {svc.type for svc in SERVICES}
    assert {"identity", "compute", "image", "block-storage", "volumev3", "network", "object-store"} <= types
    volume = next(e for e in catalog if e["Type"] == "volumev3")
    urls = {ep["url"] for ep in volume["Endpoints"]}
    assert urls == {f"{running_cloud.url}/volume/v3/{token['project_id']}"}
    assert {ep["interface"] for ep in volume["Endpoints"]} == {"public", "internal", "admin"}


def test_projects_users_roles(running_cloud) -> None:
    os_ = running_cloud.openstack
    project = os_("project", "create", "cli-p2", "-f", "json")
    assert project["name"] == "cli-p2" and project["domain_id"] == "default"
    assert "cli-p2" in {p["Name"] for p in os_("project", "list", "-f", "json")}
    user = os_("user", "create", "--password", "pw-1", "cli-u2", "-f", "json")
    assert user["name"] == "cli-u2"
    assert "cli-u2" in {u["Name"] for u in os_("user", "list", "-f", "json")}
    os_("role", "add", "--project", "cli-p2", "--user", "cli-u2", "member")
    rows = os_("role", "assignment", "list", "--project", "cli-p2", "--names", "-f", "json")
    assert [(r["Role"], r["User"], r["Project"]) for r in rows] == [("member", "cli-u2@Default", "cli-p2@Default")]

    as_user = dict(
        running_cloud.env,
        OS_CLOUD="",
        OS_AUTH_URL=running_cloud.auth_url,
        OS_USERNAME="cli-u2",
        OS_PASSWORD="pw-1",
        OS_PROJECT_NAME="cli-p2",
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        OS_IDENTITY_API_VERSION="3",
    )
    as_user.pop("OS_CLIENT_CONFIG_FILE")
    assert os_("token", "issue", "-f", "json", env=as_user)["project_id"] == project["id"]

    os_("user", "set", "--password", "pw-2", "cli-u2")
    assert password_token_status(running_cloud, "cli-u2", "pw-1", "cli-p2") == 401  # old password
    as_user["OS_PASSWORD"] = "pw-2"
    assert os_("token", "issue", "-f", "json", env=as_user)["user_id"] == user["id"]

    os_("role", "remove", "--project", "cli-p2", "--user", "cli-u2", "member")
    assert password_token_status(running_cloud, "cli-u2", "pw-2", "cli-p2") == 401  # no role left
    os_("project", "delete", "cli-p2")
    assert os_("role", "assignment", "list", "--user", "cli-u2", "-f", "json") == []
    assert password_token_status(running_cloud, "admin", running_cloud.admin_password, "cli-p2") == 401  # gone


def test_application_credential(running_cloud) -> None:
    cred = running_cloud.openstack("application", "credential", "create", "cli-ac", "-f", "json")
    assert cred["Secret"] and cred["ID"]
    env = {k: v for k, v in running_cloud.env.items() if k not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")}
    env.update(
        OS_AUTH_TYPE="v3applicationcredential",
        OS_AUTH_URL=running_cloud.auth_url,
        OS_APPLICATION_CREDENTIAL_ID=cred["ID"],
        OS_APPLICATION_CREDENTIAL_SECRET=cred["Secret"],
        OS_IDENTITY_API_VERSION="3",
    )
    token = running_cloud.openstack("token", "issue", "-f", "json", env=env)
    assert token["project_id"] == cred["Project ID"]
    wrong = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred["ID"], "secret": "wrong"},
            }
        }
    }
    assert httpx.post(running_cloud.auth_url + "/v3/auth/tokens", json=wrong, timeout=30).status_code == 401


def test_openstacksdk(running_cloud) -> None:
    openstack = pytest.importorskip("openstack")
    conn = openstack.connect(
        auth_url=running_cloud.auth_url,
        username="admin",
        password=running_cloud.admin_password,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
    )
    try:
        project = conn.identity.create_project(name="sdk-p")
        user = conn.identity.create_user(name="sdk-u", password="pw", default_project_id=project.id)
        member = conn.identity.find_role("member")
        conn.identity.assign_project_role_to_user(project, user, member)
        assert conn.identity.validate_user_has_project_role(project, user, member)
        assert "sdk-p" in {p.name for p in conn.identity.projects()}
        assert conn.identity.get_user(user.id).default_project_id == project.id
        assert conn.session.get_endpoint(service_type="object-store", interface="public").endswith(
            f"/object/v1/AUTH_{conn.current_project_id}"
        )
        conn.identity.unassign_project_role_from_user(project, user, member)
        conn.identity.delete_user(user)
        conn.identity.delete_project(project)
        assert conn.identity.find_project("sdk-p") is None
    finally:
        conn.close()


def test_system_scope_with_the_cli(running_cloud) -> None:
    """``--os-system-scope all`` as an operator uses it: the bootstrap admin holds admin on the
    system; ``role add --system all`` grants it; the token is system-scoped."""
    env = {k: v for k, v in running_cloud.env.items() if k not in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE")}
    env.update(
        OS_AUTH_URL=running_cloud.auth_url,
        OS_USERNAME="admin",
        OS_PASSWORD=running_cloud.admin_password,
        OS_USER_DOMAIN_NAME="Default",
        OS_SYSTEM_SCOPE="all",
        OS_IDENTITY_API_VERSION="3",
        OS_REGION_NAME="RegionOne",
    )
    token = running_cloud.openstack("token", "issue", "-f", "json", env=env)
    assert token["system"] == "all" or token.get("project_id") is None
    hypervisors = running_cloud.openstack("hypervisor", "list", "-f", "json", env=env)
    assert hypervisors and all(h["State"] in ("up", "down") for h in hypervisors)

    os_ = running_cloud.openstack
    os_("user", "create", "--password", "pw-sys", "cli-sysreader")
    os_("role", "add", "--system", "all", "--user", "cli-sysreader", "reader")
    rows = os_("role", "assignment", "list", "--system", "all", "--user", "cli-sysreader", "--names", "-f", "json")
    assert [(r["Role"], r["System"]) for r in rows] == [("reader", "all")]
    env.update(OS_USERNAME="cli-sysreader", OS_PASSWORD="pw-sys")
    assert running_cloud.openstack("token", "issue", "-f", "json", env=env)["user_id"]
    refused = running_cloud.openstack("hypervisor", "list", env=env, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr
