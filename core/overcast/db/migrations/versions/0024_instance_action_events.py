"""Compute: the events of instance actions (Nova's ``instance_actions_events``): each step a
service takes for an action (``compute_stop_instance``...), with its start, finish, result
(``Success``/``Error``), traceback and host; and the action's ``updated_at``, which each
event's start and finish move, as Nova does (2.58 lists and filters on it).

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_instance_action_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("action_id", sa.Integer, nullable=False),
        sa.Column("event", sa.String(255), nullable=False),
        sa.Column("start_time", sa.DateTime, nullable=False),
        sa.Column("finish_time", sa.DateTime),
        sa.Column("result", sa.String(255)),
        sa.Column("traceback", sa.Text),
        sa.Column("details", sa.Text),
        sa.Column("host", sa.String(255)),
        sa.PrimaryKeyConstraint("id", name="pk_compute_instance_action_events"),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["compute_instance_actions.id"],
            ondelete="CASCADE",
            name="fk_compute_instance_action_events_action_id",
        ),
    )
    op.create_index("ix_compute_instance_action_events_action_id", "compute_instance_action_events", ["action_id"])
    with op.batch_alter_table("compute_instance_actions") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_instance_actions") as batch:
        batch.drop_column("updated_at")
    op.drop_table("compute_instance_action_events")
