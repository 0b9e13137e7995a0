"""A revoked token stops working on the object store at once (no token cache by default)."""

from __future__ import annotations


def test_revoked_token_is_refused_at_once(cloud) -> None:
    project_id, _user_id, token = cloud.new_project_user(role="member")
    account = f"/object/v1/AUTH_{project_id}"
    assert cloud.request("PUT", f"{account}/box", token=token).status_code == 201
    assert cloud.request("GET", f"{account}/box", token=token).status_code in (200, 204)
    r = cloud.request("DELETE", "/identity/v3/auth/tokens", token=cloud.admin_token, headers={"X-Subject-Token": token})
    assert r.status_code == 204
    assert cloud.request("GET", f"{account}/box", token=token).status_code == 401
