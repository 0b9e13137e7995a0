"""Limits on failed password logins (lockout, backoff, per source) and password rules
(issue 22, part 3)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from overcast.config import Config, IdentitySection, parse_config
from overcast.errors import AccountLocked, TooManyRequests
from overcast.identity.throttle import LoginThrottle
from overcast.testing.fixtures import fake_config_data

V3 = "/identity/v3"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **settings: Any) -> LoginThrottle:
    base = {
        "lockout_failure_attempts": 4,
        "lockout_duration": 600,
        "login_backoff": 1.0,
        "source_failure_limit": 0,
        "source_failure_window": 60,
    }
    return LoginThrottle(IdentitySection(**{**base, **settings}), clock=clock)


def test_lockout_after_failures_in_a_row_and_its_end() -> None:
    clock = Clock()
    t = throttle(clock, login_backoff=0)
    for _ in range(4):
        t.check("u", "u", "1.2.3.4")
        t.failed("u", "1.2.3.4")
    with pytest.raises(AccountLocked) as exc:
        t.check("u", "u", "1.2.3.4")
    assert exc.value.status == 401 and exc.value.headers() == {"Retry-After": "600"}
    assert "locked for user: u" in exc.value.message
    clock.now += 599.5
    with pytest.raises(AccountLocked):
        t.check("u", "u", None)  # locked for any source, the right password included
    clock.now += 1
    t.check("u", "u", None)  # over: the count starts again
    t.failed("u", None)
    t.check("u", "u", None)


def test_success_clears_the_count_and_other_users_are_not_affected() -> None:
    clock = Clock()
    t = throttle(clock, login_backoff=0)
    for _ in range(3):
        t.failed("u", None)
    t.succeeded("u")
    for _ in range(3):
        t.failed("u", None)
    t.check("u", "u", None)
    for _ in range(4):
        t.failed("v", None)
    t.check("u", "u", None)
    with pytest.raises(AccountLocked):
        t.check("v", "v", None)


def test_backoff_doubles_from_the_third_failure() -> None:
    clock = Clock()
    t = throttle(clock, lockout_failure_attempts=0)
    t.failed("u", None)
    t.failed("u", None)
    t.check("u", "u", None)  # two typos cost nothing
    t.failed("u", None)
    with pytest.raises(TooManyRequests) as exc:
        t.check("u", "u", None)
    assert exc.value.status == 429 and exc.value.headers() == {"Retry-After": "1"}
    clock.now += 1.01
    t.check("u", "u", None)
    t.failed("u", None)
    clock.now += 1.5
    with pytest.raises(TooManyRequests):
        t.check("u", "u", None)  # 2 s after the fourth failure
    clock.now += 0.6
    t.check("u", "u", None)
    for _ in range(20):
        t.failed("u", None)
    with pytest.raises(TooManyRequests) as exc:
        t.check("u", "u", None)
    assert exc.value.headers() == {"Retry-After": "30"}  # capped


def test_per_source_limit_over_many_users() -> None:
    clock = Clock()
    t = throttle(clock, lockout_failure_attempts=0, login_backoff=0, source_failure_limit=5, source_failure_window=60)
    for i in range(5):
        t.check(f"user{i}", None, "10.0.0.9")
        t.failed(f"user{i}", "10.0.0.9")
    with pytest.raises(TooManyRequests) as exc:
        t.check("someone-else", None, "10.0.0.9")
    assert exc.value.headers() == {"Retry-After": "60"}
    t.check("someone-else", None, "10.0.0.10")  # another address is not limited
    clock.now += 60.1
    t.check("someone-else", None, "10.0.0.9")


# --- over the API ---------------------------------------------------------------------------


@pytest.fixture
def overcast_config(tmp_path: Path, migrated_sqlite_template: Path) -> Config:
    shutil.copyfile(migrated_sqlite_template, tmp_path / "overcast.db")
    data = fake_config_data(tmp_path)
    data["identity"].update(
        {
            "lockout_failure_attempts": 3,
            "lockout_duration": 120,
            "login_backoff": 0,
            "password_min_length": 8,
            "password_regex": r"^(?=.*\d)",
            "password_regex_description": "it must contain a digit",
        }
    )
    return parse_config(data, tmp_path / "overcast.toml")


def password_auth(name: str, password: str) -> dict[str, Any]:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": name, "domain": {"id": "default"}, "password": password}},
            }
        }
    }


def test_api_locks_a_user_out_with_keystones_401_and_retry_after(cloud) -> None:
    c = cloud.client
    for _ in range(3):
        r = c.post(V3 + "/auth/tokens", json=password_auth("admin", "wrong"))
        assert r.status_code == 401
    r = c.post(V3 + "/auth/tokens", json=password_auth("admin", cloud.admin_password))
    assert r.status_code == 401 and r.headers["Retry-After"] == "120"
    assert r.json()["error"]["message"] == f"The account is locked for user: {cloud.admin_user_id}."
    # an unknown user is limited the same way (its answers do not tell it apart)
    for _ in range(3):
        assert c.post(V3 + "/auth/tokens", json=password_auth("nobody", "wrong")).status_code == 401
    r = c.post(V3 + "/auth/tokens", json=password_auth("nobody", "wrong"))
    assert r.status_code == 401 and r.headers["Retry-After"] == "120"


def test_api_password_rules_on_create_and_change(cloud) -> None:
    h = cloud.admin_headers
    c = cloud.client
    r = c.post(V3 + "/users", headers=h, json={"user": {"name": "short", "password": "a1"}})
    assert r.status_code == 400 and "at least 8 characters" in r.json()["error"]["message"]
    r = c.post(V3 + "/users", headers=h, json={"user": {"name": "nodigit", "password": "abcdefghij"}})
    assert r.status_code == 400 and "it must contain a digit" in r.json()["error"]["message"]
    assert c.get(V3 + "/users?name=short", headers=h).json()["users"] == []
    user = c.post(V3 + "/users", headers=h, json={"user": {"name": "good", "password": "abcdefgh1"}}).json()["user"]
    r = c.patch(V3 + f"/users/{user['id']}", headers=h, json={"user": {"password": "nodigitsatall"}})
    assert r.status_code == 400
    token = cloud.identity.issue_token_for(user["id"], None).token
    r = c.post(
        V3 + f"/users/{user['id']}/password",
        headers={"X-Auth-Token": token},
        json={"user": {"original_password": "abcdefgh1", "password": "short1"}},
    )
    assert r.status_code == 400
    assert c.post(V3 + "/auth/tokens", json=password_auth("good", "abcdefgh1")).status_code == 201


def test_config_check_shows_the_limits_and_rules(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from overcast.cli import admin
    from overcast.cli.server import to_toml

    data = fake_config_data(tmp_path)
    for table in ("hosts", "volume_backends", "image_store", "object_store", "network", "backup", "loadbalancer"):
        data.pop(table, None)
    data["identity"].update({"password_min_length": 12, "password_regex": "^(?=.*[A-Z])"})
    path = tmp_path / "overcast.toml"
    path.write_text(to_toml(data))
    result = CliRunner().invoke(admin.config_check, ["--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "locked for 1800 s after 6 failed password logins in a row" in result.output
    assert "30 failed logins per 60 s from one address" in result.output
    assert "passwords: at least 12 characters, matching ^(?=.*[A-Z])" in result.output
