"""The objectstore service's tables: accounts, containers, and the expiry queue.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objectstore_accounts",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("project_id", name="pk_objectstore_accounts"),
    )
    op.create_table(
        "objectstore_containers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("policy", sa.String(255), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("read_acl", sa.Text, nullable=False),
        sa.Column("write_acl", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_objectstore_containers"),
        sa.UniqueConstraint("project_id", "name", name="uq_objectstore_containers_project_id"),
    )
    op.create_table(
        "objectstore_expiring",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("container", sa.String(256), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("delete_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_objectstore_expiring"),
    )
    op.create_index("ix_objectstore_expiring_delete_at", "objectstore_expiring", ["delete_at"])


def downgrade() -> None:
    op.drop_index("ix_objectstore_expiring_delete_at", table_name="objectstore_expiring")
    op.drop_table("objectstore_expiring")
    op.drop_table("objectstore_containers")
    op.drop_table("objectstore_accounts")
