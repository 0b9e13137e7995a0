"""Dashboard test helpers: a logged-in browser-like client over the in-process cloud."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def login(cloud, username: str, password: str, project: str = "") -> TestClient:
    client = TestClient(cloud.app)
    r = client.post(
        "/login",
        data={"username": username, "password": password, "project": project, "next": "/overview"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def admin_browser(cloud) -> TestClient:
    return login(cloud, "admin", cloud.admin_password, "admin")
