"""Fernet tokens: layout, key rotation and retirement, expiry, tampering."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from overcast.identity.keys import KeyRepository
from overcast.identity.tokens import (
    InvalidTokenError,
    TokenPayload,
    TokenProvider,
    decode_payload,
    encode_payload,
    new_audit_id,
)

USER = "0123456789abcdef0123456789abcdef"
PROJECT = "fedcba9876543210fedcba9876543210"


def payload(**kw) -> TokenPayload:
    now = datetime.now(timezone.utc)
    base = dict(
        user_id=USER,
        methods=("password",),
        project_id=PROJECT,
        issued_at=now,
        expires_at=(now + timedelta(hours=1)).replace(microsecond=0),
        audit_ids=(new_audit_id(),),
    )
    base.update(kw)
    return TokenPayload(**base)


@pytest.fixture
def keys(tmp_path: Path) -> KeyRepository:
    repo = KeyRepository(tmp_path / "keys", max_active_keys=3, recheck_seconds=0)
    repo.setup()
    return repo


def test_payload_round_trips_every_field() -> None:
    p = payload(
        methods=("password", "token"), audit_ids=(new_audit_id(), new_audit_id()), application_credential_id="ab" * 16
    )
    assert decode_payload(encode_payload(p)) == p
    unscoped = payload(project_id=None)
    assert decode_payload(encode_payload(unscoped)) == unscoped


def test_payload_refuses_non_hex_ids() -> None:
    with pytest.raises(ValueError, match="user id"):
        encode_payload(payload(user_id="admin"))


def test_token_is_short_and_validates(keys: KeyRepository) -> None:
    provider = TokenProvider(keys)
    p = payload()
    token = provider.issue(p)
    assert len(token) < 200 and "=" not in token
    assert provider.decode(token) == p


def test_expired_token_is_refused(keys: KeyRepository) -> None:
    provider = TokenProvider(keys)
    now = datetime.now(timezone.utc)
    token = provider.issue(
        payload(issued_at=now - timedelta(hours=2), expires_at=(now - timedelta(seconds=1)).replace(microsecond=0))
    )
    with pytest.raises(InvalidTokenError, match="expired"):
        provider.decode(token)
    # the same token is fine at a moment before its expiry
    assert provider.decode(token, now=now - timedelta(minutes=5)).user_id == USER


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],
        lambda t: t[:50],
        lambda t: "x" + t,
        lambda t: "",
        lambda t: "é" * 10,
    ],
)
def test_tampered_or_garbage_token_is_refused(keys: KeyRepository, mangle) -> None:
    provider = TokenProvider(keys)
    token = provider.issue(payload())
    with pytest.raises(InvalidTokenError):
        provider.decode(mangle(token))


def test_rotation_keeps_old_tokens_valid_until_their_key_retires(keys: KeyRepository) -> None:
    provider = TokenProvider(keys)
    assert keys.key_numbers() == [0, 1]
    old = provider.issue(payload())
    assert keys.rotate() == 2  # staged 0 became primary 2; 1 is secondary
    assert keys.key_numbers() == [0, 1, 2]
    newer = provider.issue(payload())
    assert provider.decode(old).user_id == USER  # signed by the secondary key
    assert keys.rotate() == 3  # max_active_keys=3: staged + primary + one secondary
    assert keys.key_numbers() == [0, 2, 3]
    with pytest.raises(InvalidTokenError):
        provider.decode(old)  # key 1 retired
    assert provider.decode(newer).user_id == USER


def test_staged_key_is_accepted_before_it_signs(keys: KeyRepository, tmp_path: Path) -> None:
    """Another process that already rotated signs with what is our staged key."""
    other = KeyRepository(tmp_path / "other", recheck_seconds=0)
    other.directory.mkdir()
    for n in (0, 1):
        (other.directory / str(n)).write_bytes((keys.directory / str(n)).read_bytes())
    other.rotate()
    token = TokenProvider(other).issue(payload())
    assert TokenProvider(keys).decode(token).project_id == PROJECT


def test_a_rotation_by_another_process_is_picked_up(keys: KeyRepository) -> None:
    reader = KeyRepository(keys.directory, recheck_seconds=0)
    TokenProvider(reader).issue(payload())  # loads the keys
    writer = KeyRepository(keys.directory)
    writer.rotate()
    writer.rotate()
    token = TokenProvider(writer).issue(payload())
    assert TokenProvider(reader).decode(token).user_id == USER


def test_key_files_are_private(keys: KeyRepository) -> None:
    assert keys.directory.stat().st_mode & 0o777 == 0o700
    for n in keys.key_numbers():
        assert (keys.directory / str(n)).stat().st_mode & 0o777 == 0o600


def test_cache_drops_values_loaded_before_a_clear() -> None:
    from overcast.identity.cache import TTLCache

    cache: TTLCache[str] = TTLCache(60)

    def load_while_cleared() -> str:
        cache.clear()  # a write elsewhere invalidated the state this load read
        return "stale"

    assert cache.get_or_load("k", load_while_cleared) == "stale"
    assert cache.get("k") is None
    assert cache.get_or_load("k", lambda: "fresh") == "fresh" and cache.get("k") == "fresh"
