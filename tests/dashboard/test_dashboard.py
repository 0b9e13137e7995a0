"""The dashboard over the real in-process APIs: sign-in, pages, forms, errors, escaping, CSRF."""

from __future__ import annotations

import uuid

from tests.dashboard.conftest import csrf_of, login


def test_login_required_and_bad_password(cloud) -> None:
    from starlette.testclient import TestClient

    anonymous = TestClient(cloud.app)
    r = anonymous.get("/instances", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = anonymous.post("/login", data={"username": "admin", "password": "wrong", "project": "admin"})
    assert r.status_code == 401 and "overcast_session" not in r.cookies
    assert "Log in" in r.text


def test_every_page_renders_for_the_admin(admin_browser) -> None:
    for path in [
        "/overview",
        "/instances",
        "/images",
        "/volumes",
        "/networks",
        "/topology",
        "/objects",
        "/projects",
        "/admin",
    ]:
        r = admin_browser.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert "<nav>" in r.text
    assert "Plugins" in admin_browser.get("/admin").text
    assert "<svg" in admin_browser.get("/topology").text


def test_forms_show_the_api_error_text(admin_browser) -> None:
    page = admin_browser.get("/volumes").text
    r = admin_browser.post(
        "/volumes",
        data={"csrf_token": csrf_of(page), "action": "create", "name": "too-big", "size": "100000"},
        headers={"referer": "http://testserver/volumes"},
    )
    assert r.status_code == 200 and 'class="flash err"' in r.text
    r = admin_browser.post(
        "/volumes",
        data={"csrf_token": csrf_of(page), "action": "create", "name": "v", "size": "lots"},
        headers={"referer": "http://testserver/volumes"},
    )
    assert "Size must be a whole number of GiB." in r.text


def test_csrf_is_required(admin_browser) -> None:
    r = admin_browser.post(
        "/volumes",
        data={"action": "create", "name": "x", "size": "1"},
        headers={"referer": "http://testserver/volumes"},
    )
    assert "CSRF check failed" in r.text
    r = admin_browser.post(
        "/volumes",
        data={"csrf_token": "forged", "action": "create", "name": "x", "size": "1"},
        headers={"referer": "http://testserver/volumes"},
    )
    assert "CSRF check failed" in r.text


def test_user_input_is_rendered_as_text(cloud, admin_browser) -> None:
    probe = "<script>alert('xss')</script>"
    page = admin_browser.get("/networks").text
    admin_browser.post(
        "/networks",
        data={"csrf_token": csrf_of(page), "action": "create-network", "name": probe},
        headers={"referer": "http://testserver/networks"},
    )
    html = admin_browser.get("/networks").text
    assert probe not in html
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html
    assert probe not in admin_browser.get("/topology").text


def test_another_project_sees_none_of_it(cloud, admin_browser) -> None:
    name = f"secret-{uuid.uuid4().hex[:6]}"
    page = admin_browser.get("/objects").text
    admin_browser.post(
        "/objects",
        data={"csrf_token": csrf_of(page), "container": name},
        headers={"referer": "http://testserver/objects"},
    )
    assert name in admin_browser.get("/objects").text
    project_id, _user_id, _token = cloud.new_project_user(role="member")
    username = f"user-{uuid.uuid4().hex[:6]}"
    password = "pass-" + uuid.uuid4().hex
    r = cloud.request(
        "POST",
        "/identity/v3/users",
        token=cloud.admin_token,
        json={
            "user": {"name": username, "password": password, "domain_id": "default", "default_project_id": project_id}
        },
    )
    assert r.status_code == 201, r.text
    member_role = [
        r
        for r in cloud.request("GET", "/identity/v3/roles", token=cloud.admin_token).json()["roles"]
        if r["name"] == "member"
    ][0]
    r = cloud.request(
        "PUT",
        f"/identity/v3/projects/{project_id}/users/{r.json()['user']['id']}/roles/{member_role['id']}",
        token=cloud.admin_token,
    )
    assert r.status_code == 204
    other = login(cloud, username, password)
    assert name not in other.get("/objects").text
    projects_page = other.get("/projects").text
    assert cloud.admin_project_id not in projects_page and cloud.admin_user_id not in projects_page
    assert "Identity</a>" not in other.get("/overview").text


def test_logout_revokes_the_session(admin_browser) -> None:
    page = admin_browser.get("/overview").text
    r = admin_browser.post("/logout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303
    assert admin_browser.get("/overview", follow_redirects=False).status_code == 303
