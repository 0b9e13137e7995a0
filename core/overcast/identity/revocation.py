"""Revocation events and the cross-process cache generation.

Every write that can change whether a token is valid, or which roles it carries, bumps
``identity_state.generation`` in the same transaction. Each validation reads that one
integer (an indexed single-row read); when it moved, this process drops its caches and
reloads the revocation events. So a revocation made by any process takes effect on the
next validation everywhere, while unchanged state is served from memory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.orm import Session

from overcast.db.models.base import utcnow
from overcast.db.models.identity import IdentityState, RevocationEvent
from overcast.identity.tokens import TokenPayload

_STATE_ROW = 1
_GENERATION_SQL = f"SELECT generation FROM identity_state WHERE id = {_STATE_ROW}"


def bump_generation(session: Session) -> None:
    """Mark identity state as changed; call inside the write's own transaction."""
    result = cast(
        "CursorResult[Any]",
        session.execute(
            update(IdentityState)
            .where(IdentityState.id == _STATE_ROW)
            .values(generation=IdentityState.generation + 1, updated_at=utcnow())
        ),
    )
    if result.rowcount == 0:
        session.execute(insert(IdentityState).values(id=_STATE_ROW, generation=1, updated_at=utcnow()))


def add_revocation(
    session: Session,
    token_ttl: int,
    *,
    user_id: str | None = None,
    project_id: str | None = None,
    audit_id: str | None = None,
    application_credential_id: str | None = None,
) -> None:
    """Revoke every token issued until now that matches all the given fields."""
    if not any((user_id, project_id, audit_id, application_credential_id)):
        raise ValueError("a revocation event needs at least one field")
    now = utcnow()
    session.add(
        RevocationEvent(
            user_id=user_id,
            project_id=project_id,
            audit_id=audit_id,
            application_credential_id=application_credential_id,
            issued_before=now,
            expires_at=now + timedelta(seconds=token_ttl + 60),
        )
    )
    bump_generation(session)


@dataclass(frozen=True)
class _Event:
    user_id: str | None
    project_id: str | None
    audit_id: str | None
    application_credential_id: str | None
    issued_before: datetime  # aware UTC

    def matches(self, p: TokenPayload) -> bool:
        if p.issued_at > self.issued_before:
            return False
        if self.user_id is not None and self.user_id != p.user_id:
            return False
        if self.project_id is not None and self.project_id != p.project_id:
            return False
        if self.audit_id is not None and self.audit_id not in p.audit_ids:
            return False
        if self.application_credential_id is not None and self.application_credential_id != p.application_credential_id:
            return False
        return True


class RevocationList:
    """The unexpired events, indexed by the fields a token is looked up with."""

    def __init__(self, events: list[_Event]) -> None:
        self._by_key: dict[tuple[str, str], list[_Event]] = defaultdict(list)
        for e in events:
            key = (
                ("audit", e.audit_id)
                if e.audit_id
                else ("appcred", e.application_credential_id)
                if e.application_credential_id
                else ("user", e.user_id)
                if e.user_id
                else ("project", e.project_id)
            )
            self._by_key[key].append(e)  # type: ignore[index]

    def is_revoked(self, p: TokenPayload) -> bool:
        keys = [("user", p.user_id)] + [("audit", a) for a in p.audit_ids]
        if p.project_id:
            keys.append(("project", p.project_id))
        if p.application_credential_id:
            keys.append(("appcred", p.application_credential_id))
        for key in keys:
            for event in self._by_key.get(key, ()):
                if event.matches(p):
                    return True
        return False


class GenerationWatch:
    """Per-process view of ``identity_state.generation`` plus caches that depend on it."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._generation: int | None = None
        self.revocations = RevocationList([])
        self._listeners: list[Any] = []
        self._local = threading.local()
        self._raw: list[sqlite3.Connection] = []
        self._sqlite_path: str | None = None  # "" when not an SQLite file

    def on_change(self, callback: Any) -> None:
        """``callback()`` runs whenever the generation moved (drop your caches there)."""
        self._listeners.append(callback)

    def read_generation(self) -> int:
        """The current generation. On SQLite through a per-thread raw connection: this
        read runs on every validation, and the raw read costs microseconds."""
        path = self._sqlite_path
        if path is None:
            database = self.db.engine.url.database
            path = self._sqlite_path = database if self.db.is_sqlite and database and database != ":memory:" else ""
        if path:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
                self._local.conn = conn
                with self._lock:
                    self._raw.append(conn)
            row = conn.execute(_GENERATION_SQL).fetchone()
            return row[0] if row else 0
        # a server database: one statement, outside a transaction, straight through the driver
        return int(self.db.value(_GENERATION_SQL) or 0)

    def check(self) -> None:
        """Read the generation; reload revocations and clear caches if it moved."""
        generation = self.read_generation()
        if generation == self._generation:
            return
        with self._lock:
            if generation == self._generation:
                return
            self.revocations = self._load()
            for callback in self._listeners:
                callback()
            self._generation = generation

    def close(self) -> None:
        """Close the raw connections opened for :meth:`read_generation`."""
        with self._lock:
            raw, self._raw = self._raw, []
        for conn in raw:
            conn.close()
        self._local = threading.local()

    def _load(self) -> RevocationList:
        now = utcnow()
        with self.db.session() as s:
            s.execute(delete(RevocationEvent).where(RevocationEvent.expires_at < now))
            rows = s.scalars(select(RevocationEvent)).all()
        return RevocationList(
            [
                _Event(
                    r.user_id,
                    r.project_id,
                    r.audit_id,
                    r.application_credential_id,
                    r.issued_before.replace(tzinfo=timezone.utc),
                )
                for r in rows
            ]
        )
