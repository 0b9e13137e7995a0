"""A fresh PostgreSQL database per test (the server on 127.0.0.1:5432, user ``postgres``).

::

    @pytest.mark.postgres
    def test_x(tmp_path):
        with fresh_database("mytest") as url:
            data["database"] = {"url": url}
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(prefix: str = "overcast_test") -> Iterator[str]:
    """Create an empty database, yield its ``postgresql://`` url, drop it (forcing out
    connections a failed test left open)."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
