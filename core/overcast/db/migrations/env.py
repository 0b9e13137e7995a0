"""Alembic environment: runs against the engine ``overcast.db.migrate`` hands over."""

from typing import cast

from alembic import context
from sqlalchemy import create_engine

from overcast.db.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("engine") or create_engine(cast(str, config.get_main_option("sqlalchemy.url")))
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run()
