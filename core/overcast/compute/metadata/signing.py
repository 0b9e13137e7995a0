"""The proxies' signature: only a proxy that knows the shared secret can say which network
(or router) and source address a request came from (Nova's ``X-Instance-ID-Signature``,
here over what the proxy vouches for, since the metadata API finds the instance itself).

The message is ``<kind>:<id>:<address>`` (``network:<network id>:10.0.0.5`` or
``router:<router id>:10.0.0.5``) and the signature its HMAC-SHA256, hex. Network drivers
compute it in their proxy (haproxy's ``hmac`` converter).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

SECRET_FILE = "metadata_secret"
NETWORK_HEADER = "X-Overcast-Network-ID"
ROUTER_HEADER = "X-Overcast-Router-ID"
ADDRESS_HEADER = "X-Forwarded-For"
SIGNATURE_HEADER = "X-Overcast-Metadata-Signature"


def shared_secret(config: Any) -> bytes:
    """``[metadata] shared_secret``, or the data dir's own one (made 0600 on first use)."""
    if config.metadata.shared_secret:
        return str(config.metadata.shared_secret).encode()
    path = Path(config.data_dir) / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(value)
    try:
        os.link(tmp, path)  # the first writer wins; everyone reads the same secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


def secret_b64(secret: bytes) -> str:
    """The secret as haproxy's ``hmac`` converter takes its key."""
    return base64.b64encode(secret).decode()


def message(kind: str, resource_id: str, address: str) -> bytes:
    return f"{kind}:{resource_id}:{address}".encode()


def sign(secret: bytes, kind: str, resource_id: str, address: str) -> str:
    return hmac.new(secret, message(kind, resource_id, address), hashlib.sha256).hexdigest()


def verify(secret: bytes, kind: str, resource_id: str, address: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, kind, resource_id, address), signature.lower())
