"""Orchestration: stacks, their resources and events.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orchestration_stacks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.String(36)),
        sa.Column("parent_resource", sa.String(255)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("template", sa.JSON, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("environment", sa.JSON, nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("prev_template", sa.JSON),
        sa.Column("prev_environment", sa.JSON),
        sa.Column("prev_files", sa.JSON),
        sa.Column("prev_parameters", sa.JSON),
        sa.Column("disable_rollback", sa.Boolean, nullable=False),
        sa.Column("timeout_mins", sa.Integer),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("deleted_at", sa.DateTime),
        sa.Column("heartbeat_at", sa.DateTime),
    )
    op.create_index("ix_orchestration_stacks_project_name", "orchestration_stacks", ["project_id", "name"])
    op.create_index("ix_orchestration_stacks_owner_id", "orchestration_stacks", ["owner_id"])
    op.create_table(
        "orchestration_resources",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("stack_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("physical_id", sa.String(255)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("rsrc_metadata", sa.JSON, nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("nested_stack_id", sa.String(36)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_orchestration_resources_stack_name", "orchestration_resources", ["stack_id", "name"])
    op.create_table(
        "orchestration_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("stack_id", sa.String(36), nullable=False),
        sa.Column("resource_name", sa.String(255), nullable=False),
        sa.Column("physical_id", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("id", name="uq_orchestration_events_id"),
    )
    op.create_index("ix_orchestration_events_stack_seq", "orchestration_events", ["stack_id", "seq"])


def downgrade() -> None:
    op.drop_table("orchestration_events")
    op.drop_table("orchestration_resources")
    op.drop_table("orchestration_stacks")
