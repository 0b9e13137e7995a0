"""Run the Alembic migrations shipped inside the package (``overcast db upgrade``).

Alembic (with Mako and Pygments, ~10 MiB in every process of the cloud) is imported only when
a database is not already at the newest migration: a started cloud's database usually is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from overcast.db.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["engine"] = db.engine
    return cfg


def shipped_head() -> str:
    """The newest migration's revision, from the file names (``NNNN_what.py`` holds revision
    ``NNNN``; a test checks this against Alembic's own head)."""
    return max(p.name[:4] for p in (MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def upgrade(db: Database, revision: str = "head") -> str:
    """Migrate ``db`` to ``revision``; returns the revision it is at afterwards."""
    if revision == "head":
        current = stored_revision(db)
        if current is not None and current == shipped_head():
            return current
    from alembic import command

    command.upgrade(alembic_config(db), revision)
    return current_revision(db) or ""


def stored_revision(db: Database) -> str | None:
    """The revision in the database's ``alembic_version`` table (None: no such table, as in
    a new database), read without Alembic."""
    try:
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(db)).get_current_head() or ""
