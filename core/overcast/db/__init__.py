"""Database access: SQLAlchemy 2 models (``overcast.db.models``) and Alembic migrations.

SQLite (WAL) in the data dir is the default; a PostgreSQL URL works the same way.
"""

from overcast.db.engine import Database, retry_while_lost
from overcast.db.migrate import upgrade

__all__ = ["Database", "retry_while_lost", "upgrade"]
