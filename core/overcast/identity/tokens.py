"""Fernet tokens: short, stateless, signed and encrypted.

A token carries only who, where, how and when; roles and names are looked up (and cached)
when it is validated, so a removed role takes effect at once. The payload is a fixed
binary layout (62 to 94 bytes), which keeps tokens near 180 characters:

====== ======================================================================
bytes  field
====== ======================================================================
1      layout version (high nibble) and flags: project, application credential,
       parent audit id, system scope
1      auth methods, one bit each (:data:`METHOD_BITS`)
16     user id (the 32-hex-digit id as bytes)
16     project id, if scoped
16     application credential id, if any
8      issued at, microseconds since the epoch
4      expires at, seconds since the epoch
16     audit id; 16 more for the parent audit id after a re-scope
====== ======================================================================

Fernet adds its own timestamp, IV and HMAC; the ``=`` padding is stripped as Keystone does.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography.fernet import InvalidToken

from overcast.errors import Unauthorized
from overcast.identity.keys import KeyRepository

LAYOUT_VERSION = 1
METHOD_BITS = {"password": 1, "token": 2, "application_credential": 4}
_F_PROJECT, _F_APPCRED, _F_PARENT, _F_SYSTEM = 1, 2, 4, 8
_TIMES = struct.Struct(">QI")

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class InvalidTokenError(Unauthorized):
    """The token is malformed, signed by an unknown key, expired or revoked."""

    def __init__(self, message: str = "The request you have made requires authentication.") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    project_id: str | None
    issued_at: datetime  # aware, UTC, microsecond precision
    expires_at: datetime  # aware, UTC, second precision
    audit_ids: tuple[str, ...]  # own audit id first, then the parent's after a re-scope
    application_credential_id: str | None = None
    system: bool = False  # scoped to the system ("all"): no project

    @property
    def audit_id(self) -> str:
        return self.audit_ids[0]

    @property
    def audit_chain_id(self) -> str:
        return self.audit_ids[-1]


def new_audit_id() -> str:
    return _b64(secrets.token_bytes(16))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _id_bytes(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 16 or raw.hex() != value:
        raise ValueError(f"{what} {value!r} is not a 32-hex-digit id")
    return raw


def _to_micros(moment: datetime) -> int:
    return (moment - EPOCH) // _ONE_MICRO


_ONE_MICRO = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc) - EPOCH


def encode_payload(p: TokenPayload) -> bytes:
    flags = (_F_PROJECT if p.project_id else 0) | (_F_APPCRED if p.application_credential_id else 0)
    flags |= _F_PARENT if len(p.audit_ids) > 1 else 0
    flags |= _F_SYSTEM if p.system else 0
    methods = 0
    for method in p.methods:
        methods |= METHOD_BITS[method]
    parts = [bytes([(LAYOUT_VERSION << 4) | flags, methods]), _id_bytes(p.user_id, "user id")]
    if p.project_id:
        parts.append(_id_bytes(p.project_id, "project id"))
    if p.application_credential_id:
        parts.append(_id_bytes(p.application_credential_id, "application credential id"))
    parts.append(_TIMES.pack(_to_micros(p.issued_at), int(p.expires_at.timestamp())))
    for audit_id in p.audit_ids[:2]:
        parts.append(_unb64(audit_id))
    return b"".join(parts)


def decode_payload(raw: bytes) -> TokenPayload:
    if len(raw) < 2 or raw[0] >> 4 != LAYOUT_VERSION:
        raise ValueError("unknown token layout")
    flags, method_bits = raw[0] & 0x0F, raw[1]
    pos = 2

    def take(n: int) -> bytes:
        nonlocal pos
        chunk = raw[pos : pos + n]
        if len(chunk) != n:
            raise ValueError("token payload is truncated")
        pos += n
        return chunk

    user_id = take(16).hex()
    project_id = take(16).hex() if flags & _F_PROJECT else None
    appcred_id = take(16).hex() if flags & _F_APPCRED else None
    micros, expires = _TIMES.unpack(take(_TIMES.size))
    audit_ids = [_b64(take(16))]
    if flags & _F_PARENT:
        audit_ids.append(_b64(take(16)))
    if pos != len(raw):
        raise ValueError("token payload has trailing bytes")
    if flags & _F_SYSTEM and flags & (_F_PROJECT | _F_APPCRED):
        raise ValueError("a system-scoped token has no project")
    methods = tuple(name for name, bit in METHOD_BITS.items() if method_bits & bit)
    return TokenPayload(
        user_id=user_id,
        methods=methods,
        project_id=project_id,
        issued_at=EPOCH + micros * _ONE_MICRO,
        expires_at=datetime.fromtimestamp(expires, timezone.utc),
        audit_ids=tuple(audit_ids),
        application_credential_id=appcred_id,
        system=bool(flags & _F_SYSTEM),
    )


class TokenProvider:
    """Turns payloads into token strings and back with the repository's keys."""

    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys

    def issue(self, payload: TokenPayload) -> str:
        token = self.keys.fernet().encrypt(encode_payload(payload))
        return token.rstrip(b"=").decode()

    def decode(self, token: str, now: datetime | None = None) -> TokenPayload:
        """The payload of a token signed by any active key; raises :class:`InvalidTokenError`
        if it is malformed, signed by an unknown key or expired. (Revocation is checked by
        the caller, which knows the revocation events.)"""
        if not token or len(token) > 1024:
            raise InvalidTokenError()
        try:
            raw = self.keys.fernet().decrypt((token + "=" * (-len(token) % 4)).encode())
            payload = decode_payload(raw)
        except (InvalidToken, ValueError, TypeError, binascii.Error, UnicodeEncodeError):
            raise InvalidTokenError() from None
        if payload.expires_at <= (now or datetime.now(timezone.utc)):
            raise InvalidTokenError("The token has expired.")
        return payload
