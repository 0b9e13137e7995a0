"""Compute (issue 16): the password a guest posts to the metadata service (Nova's
``os-server-password``: the guest's own encrypted password, at most 1020 characters, shown
to the owner until they clear it), and the reservation id a create request gives all the
servers it makes (Nova's ``r-xxxxxxxx``; servers made before keep the id they were shown);
and Nova's quota classes (``os-quota-class-sets``: the ``default`` class sets the defaults).

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_instances") as batch:
        batch.add_column(sa.Column("password", sa.Text, nullable=True))
        batch.add_column(sa.Column("reservation_id", sa.String(36), nullable=True))
    op.execute("UPDATE compute_instances SET reservation_id = 'r-' || substr(uuid, 1, 8)")
    op.create_table(
        "compute_quota_classes",
        sa.Column("class_name", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("hard_limit", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("class_name", "resource", name="pk_compute_quota_classes"),
    )


def downgrade() -> None:
    op.drop_table("compute_quota_classes")
    with op.batch_alter_table("compute_instances") as batch:
        batch.drop_column("reservation_id")
        batch.drop_column("password")
