"""Networking: subnet pools (Neutron's subnet allocation), and the pool a subnet came from.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_subnetpools",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("ip_version", sa.Integer, nullable=False),
        sa.Column("prefixes", sa.JSON, nullable=False),
        sa.Column("min_prefixlen", sa.Integer, nullable=False),
        sa.Column("max_prefixlen", sa.Integer, nullable=False),
        sa.Column("default_prefixlen", sa.Integer, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("revision_number", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_network_subnetpools"),
    )
    op.create_index("ix_network_subnetpools_project_id", "network_subnetpools", ["project_id"])
    with op.batch_alter_table("network_subnets") as batch:
        batch.add_column(sa.Column("subnetpool_id", sa.String(36), nullable=True))
        batch.create_foreign_key(
            "fk_network_subnets_subnetpool_id_network_subnetpools",
            "network_subnetpools",
            ["subnetpool_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch.create_index("ix_network_subnets_subnetpool_id", ["subnetpool_id"])


def downgrade() -> None:
    with op.batch_alter_table("network_subnets") as batch:
        batch.drop_index("ix_network_subnets_subnetpool_id")
        batch.drop_constraint("fk_network_subnets_subnetpool_id_network_subnetpools", type_="foreignkey")
        batch.drop_column("subnetpool_id")
    op.drop_index("ix_network_subnetpools_project_id", "network_subnetpools")
    op.drop_table("network_subnetpools")
