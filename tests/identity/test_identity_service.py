"""The identity service in process: auth, validation, revocation, policy, bootstrap."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from overcast.context import RequestContext
from overcast.errors import BadRequest, Forbidden, NotFound, Unauthorized
from overcast.identity.tokens import TokenPayload, new_audit_id


def password_auth(user: str, password: str, project: str | None = "admin") -> dict:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}},
            }
        }
    }
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return body


@pytest.fixture
def ident(overcast_runtime):
    svc = overcast_runtime.identity
    svc.bootstrap("s3cret")
    return svc


def test_bootstrap_is_idempotent_and_resets_the_password(ident) -> None:
    first = ident.bootstrap("s3cret")
    second = ident.bootstrap("other")
    assert first == second
    with pytest.raises(Unauthorized):
        ident.issue_token(password_auth("admin", "s3cret"))
    data = ident.issue_token(password_auth("admin", "other"))
    assert {r.name for r in data.roles} == {"admin", "member", "reader"}


def test_password_auth_gives_a_project_context(ident) -> None:
    data = ident.issue_token(password_auth("admin", "s3cret"))
    ctx = ident.context_from_token(data.token, request_id="req-x")
    assert isinstance(ctx, RequestContext)
    assert ctx.is_admin and ctx.project_name == "admin" and ctx.user_name == "admin"
    assert ctx.request_id == "req-x" and ctx.auth_token == data.token


@pytest.mark.parametrize(
    "body",
    [
        password_auth("admin", "wrong"),
        password_auth("nobody", "s3cret"),
        password_auth("admin", "s3cret", project="no-such-project"),
    ],
)
def test_bad_credentials_are_401(ident, body) -> None:
    with pytest.raises(Unauthorized):
        ident.issue_token(body)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"auth": []},
        {"auth": {"identity": {"methods": "password"}}},
        {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}},
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": 5}},
                }
            }
        },
    ],
)
def test_malformed_auth_is_400(ident, body) -> None:
    with pytest.raises(BadRequest):
        ident.issue_token(body)


def test_unscoped_then_rescope(ident) -> None:
    unscoped = ident.issue_token(password_auth("admin", "s3cret", project=None))
    assert unscoped.project is None and unscoped.roles == ()
    ctx = ident.context_from_token(unscoped.token)
    with pytest.raises(Forbidden):
        ident.enforce("compute:servers:list", ctx)
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped.token}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
    }
    scoped = ident.issue_token(body)
    assert scoped.project is not None and scoped.payload.expires_at == unscoped.payload.expires_at
    assert scoped.payload.audit_ids[1] == unscoped.payload.audit_id
    assert scoped.payload.methods == ("password", "token")
    # revoking the parent revokes what was re-scoped from it
    ident.revoke_token(unscoped.token)
    with pytest.raises(Unauthorized):
        ident.context_from_token(scoped.token)


def test_revocation_is_immediate_and_seen_by_other_processes(ident, overcast_runtime) -> None:
    from overcast.identity.service import IdentityService

    token = ident.issue_token(password_auth("admin", "s3cret")).token
    other = IdentityService(overcast_runtime)  # a second process: its own caches
    assert other.context_from_token(token).is_admin
    ident.revoke_token(token)
    for svc in (ident, other):
        with pytest.raises(Unauthorized, match="revoked"):
            svc.context_from_token(token)
    with pytest.raises(NotFound):
        ident.validate_subject_token(token)
    # a token issued after the revocation is fine
    assert ident.context_from_token(ident.issue_token(password_auth("admin", "s3cret")).token).is_admin


def test_expired_token_is_401(ident) -> None:
    data = ident.issue_token(password_auth("admin", "s3cret"))
    now = datetime.now(timezone.utc)
    p = data.payload
    expired = TokenPayload(
        p.user_id,
        p.methods,
        p.project_id,
        now - timedelta(hours=2),
        (now - timedelta(seconds=1)).replace(microsecond=0),
        (new_audit_id(),),
    )
    token = ident.tokens.issue(expired)
    with pytest.raises(Unauthorized, match="expired"):
        ident.context_from_token(token)


def test_password_change_and_disable_revoke_the_users_tokens(ident) -> None:
    project = ident.directory.create_project("p1")
    user = ident.directory.create_user("u1", password="pw1")
    member = ident.directory.find_by_name(
        __import__("overcast.db.models.identity", fromlist=["Role"]).Role, "member", None
    )
    ident.assignments.grant("user", user.id, project.id, member.id)
    token = ident.issue_token(password_auth("u1", "pw1", "p1")).token
    assert ident.context_from_token(token).roles == {"member", "reader"}
    ident.directory.update_user(user.id, {"password": "pw2"})
    with pytest.raises(Unauthorized):
        ident.context_from_token(token)
    token = ident.issue_token(password_auth("u1", "pw2", "p1")).token  # same second is fine
    ident.directory.update_user(user.id, {"enabled": False})
    with pytest.raises(Unauthorized):
        ident.context_from_token(token)
    with pytest.raises(Unauthorized):
        ident.issue_token(password_auth("u1", "pw2", "p1"))


def test_role_changes_apply_to_live_tokens(ident) -> None:
    from overcast.db.models.identity import Role

    project = ident.directory.create_project("p2")
    user = ident.directory.create_user("u2", password="pw")
    reader = ident.directory.find_by_name(Role, "reader", None)
    member = ident.directory.find_by_name(Role, "member", None)
    ident.assignments.grant("user", user.id, project.id, reader.id)
    token = ident.issue_token(password_auth("u2", "pw", "p2")).token
    ctx = ident.context_from_token(token)
    ident.enforce("compute:servers:list", ctx)
    with pytest.raises(Forbidden):
        ident.enforce("compute:servers:create", ctx)
    ident.assignments.grant("user", user.id, project.id, member.id)
    ident.enforce("compute:servers:create", ident.context_from_token(token))
    ident.assignments.revoke("user", user.id, project.id, member.id)
    ident.assignments.revoke("user", user.id, project.id, reader.id)
    with pytest.raises(Unauthorized):  # no role left on the project
        ident.context_from_token(token)


def test_group_roles_count(ident) -> None:
    from overcast.db.models.identity import Role

    project = ident.directory.create_project("p3")
    user = ident.directory.create_user("u3", password="pw")
    group = ident.directory.create_group("g3")
    ident.assignments.grant("group", group.id, project.id, ident.directory.find_by_name(Role, "member", None).id)
    with pytest.raises(Unauthorized):
        ident.issue_token(password_auth("u3", "pw", "p3"))
    ident.directory.add_group_member(group.id, user.id)
    assert ident.issue_token(password_auth("u3", "pw", "p3")).role_names == {"member", "reader"}


def test_application_credential_auth_and_deletion(ident) -> None:
    from overcast.db.models.identity import Role

    project = ident.directory.create_project("p4")
    user = ident.directory.create_user("u4", password="pw")
    for name in ("member", "reader"):
        ident.assignments.grant("user", user.id, project.id, ident.directory.find_by_name(Role, name, None).id)
    reader = ident.directory.find_by_name(Role, "reader", None)
    cred, secret = ident.appcreds.create(user.id, project.id, "ci", [reader.id])
    body = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred.id, "secret": secret},
            }
        }
    }
    data = ident.issue_token(body)
    assert data.project.id == project.id and data.role_names == {"reader"}
    assert data.application_credential.restricted
    by_name = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {
                    "name": "ci",
                    "user": {"name": "u4", "domain": {"id": "default"}},
                    "secret": secret,
                },
            }
        }
    }
    assert ident.issue_token(by_name).user.id == user.id
    bad = {
        "auth": {
            "identity": {
                "methods": ["application_credential"],
                "application_credential": {"id": cred.id, "secret": "nope"},
            }
        }
    }
    with pytest.raises(Unauthorized):
        ident.issue_token(bad)
    ident.appcreds.delete(user.id, cred.id)
    with pytest.raises(Unauthorized):
        ident.context_from_token(data.token)


def test_enforce_uses_the_policy_table(ident) -> None:
    reader = RequestContext("u", "p", frozenset({"reader"}))
    ident.enforce("image:images:list", reader)
    with pytest.raises(Forbidden, match="identity:projects:create"):
        ident.enforce("identity:projects:create", RequestContext("u", "p", frozenset({"member", "reader"})))
    ident.enforce("identity:projects:create", RequestContext("u", "p", frozenset({"admin"})))
    ident.enforce("identity:tokens:validate", RequestContext("u", None, frozenset()))


def test_cloud_fixture(cloud) -> None:
    pid, uid, token = cloud.new_project_user(role="reader")
    ctx = cloud.identity.context_from_token(token)
    assert ctx.project_id == pid and ctx.user_id == uid and ctx.roles == {"reader"}
    assert cloud.identity.context_from_token(cloud.admin_token).is_admin
