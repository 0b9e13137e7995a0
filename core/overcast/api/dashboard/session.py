"""The dashboard's session: an encrypted, authenticated cookie holding the user's token.

The cookie is Fernet-encrypted with a key kept in the data dir, so it cannot be read or
forged by the browser. Each session carries a random CSRF token that every form (and every
htmx request, through a header) must echo back on POST.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

COOKIE = "overcast_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass
class Session:
    token: str
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: list[str] = field(default_factory=list)
    expires_at: float = 0.0
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class SessionCodec:
    """Turns a :class:`Session` into a cookie value and back (``None`` if invalid/expired)."""

    def __init__(self, key_file: Path) -> None:
        self.fernet = Fernet(self._load_key(key_file))

    @staticmethod
    def _load_key(path: Path) -> bytes:
        if path.exists():
            return path.read_bytes().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key

    def dump(self, session: Session) -> str:
        return self.fernet.encrypt(json.dumps(asdict(session)).encode()).decode()

    def load(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data = json.loads(self.fernet.decrypt(value.encode()))
            session = Session(**data)
        except (InvalidToken, ValueError, TypeError):
            return None
        if session.expires_at and session.expires_at < time.time():
            return None
        return session
