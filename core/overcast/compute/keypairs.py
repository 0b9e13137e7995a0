"""SSH key pairs, owned by a user; counted against the project's ``key_pairs`` quota."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from overcast.context import RequestContext
from overcast.db.models.compute import KeyPairRecord
from overcast.errors import BadRequest, Conflict, NotFound

_NAME = re.compile(r"^[\w\-. @]{1,255}$")


def fingerprint(public_key: str) -> str:
    """Nova's ``generate_fingerprint``: the MD5 fingerprint (``aa:bb:...``) of a key that
    ``cryptography`` loads as an OpenSSH public key; BadRequest otherwise (``ssh-rsa JUNK``,
    a blob of zeros)."""
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.strip().split()[1], validate=True)
    except (ValueError, TypeError, IndexError, UnicodeError, binascii.Error):
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


def x509_fingerprint(pem: str) -> str:
    """Nova's ``generate_x509_fingerprint``: the SHA-1 fingerprint of a PEM certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError, UnicodeError) as exc:
        raise BadRequest(
            f"Keypair data is invalid: failed to generate X509 fingerprint. Error message: {exc}"
        ) from None
    digest = cert.fingerprint(hashes.SHA1()).hex()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def generate() -> tuple[str, str]:
    """A new ed25519 key pair: (OpenSSH public key, PEM private key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return public + " Generated-by-Overcast", private


def generate_x509(user_id: str, project_id: str) -> tuple[str, str]:
    """Nova's ``generate_x509_cert``: a self-signed certificate for the user (RSA 2048, ten
    years) as (PEM certificate, PEM private key)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{project_id}-{user_id}"[:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private


class KeyPairManager:
    def __init__(self, db, quotas) -> None:
        self.db = db
        self.quotas = quotas

    def _owner(self, ctx: RequestContext, user_id: str | None) -> str:
        if user_id and user_id != ctx.user_id:
            if not ctx.is_admin:
                raise NotFound("Keypair not found")
            return user_id
        return ctx.user_id

    def create(self, ctx: RequestContext, body: dict) -> tuple[KeyPairRecord, str | None]:
        name = body.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise BadRequest("Keypair data is invalid: Keypair name contains unsafe characters")
        key_type = body.get("type", "ssh")
        if key_type not in ("ssh", "x509"):
            raise BadRequest(f"Invalid input for field/attribute type. Value: {key_type}.")
        public_key = body.get("public_key")
        private_key = None
        owner = self._owner(ctx, body.get("user_id"))
        if public_key is None:
            if key_type == "x509":
                public_key, private_key = generate_x509(owner, ctx.project_id or "")
            else:
                public_key, private_key = generate()
        elif not isinstance(public_key, str):
            raise BadRequest("Invalid input for field/attribute public_key.")
        rec = KeyPairRecord(
            name=name,
            user_id=owner,
            project_id=ctx.project_id or "",
            public_key=public_key.strip() if key_type == "ssh" else public_key,
            fingerprint=fingerprint(public_key) if key_type == "ssh" else x509_fingerprint(public_key),
            type=key_type,
        )
        try:
            with self.db.session() as s:
                existing = s.scalars(
                    select(KeyPairRecord).where(KeyPairRecord.user_id == rec.user_id, KeyPairRecord.name == name)
                ).first()
                if existing is not None:
                    raise Conflict(f"Key pair '{name}' already exists.")
                self.quotas.claim(s, rec.project_id, {"key_pairs": 1})
                s.add(rec)
        except IntegrityError:
            raise Conflict(f"Key pair '{name}' already exists.") from None
        return rec, private_key

    def list(self, ctx: RequestContext, user_id: str | None = None) -> list[KeyPairRecord]:
        owner = self._owner(ctx, user_id)
        with self.db.session() as s:
            return list(
                s.scalars(select(KeyPairRecord).where(KeyPairRecord.user_id == owner).order_by(KeyPairRecord.name))
            )

    def get(self, ctx: RequestContext, name: str, user_id: str | None = None) -> KeyPairRecord:
        owner = self._owner(ctx, user_id)
        with self.db.session() as s:
            rec = s.scalars(
                select(KeyPairRecord).where(KeyPairRecord.user_id == owner, KeyPairRecord.name == name)
            ).first()
        if rec is None:
            raise NotFound(f"Keypair {name} not found for user {owner}")
        return rec

    def delete(self, ctx: RequestContext, name: str, user_id: str | None = None) -> None:
        rec = self.get(ctx, name, user_id)
        with self.db.session() as s:
            row = s.get(KeyPairRecord, rec.id)
            if row is not None:
                s.delete(row)
                self.quotas.release(s, row.project_id, {"key_pairs": 1})
