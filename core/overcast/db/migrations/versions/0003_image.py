"""The image service's tables: images, properties, tags, members, locations.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _image_fk() -> sa.Column:
    return sa.Column("image_id", sa.String(36), nullable=False)


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["image_id"], ["images.id"], name=f"fk_{table}_image_id_images", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("owner", sa.String(64)),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("visibility", sa.String(20), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("os_hidden", sa.Boolean, nullable=False),
        sa.Column("disk_format", sa.String(20)),
        sa.Column("container_format", sa.String(20)),
        sa.Column("size", sa.BigInteger),
        sa.Column("virtual_size", sa.BigInteger),
        sa.Column("checksum", sa.String(32)),
        sa.Column("os_hash_algo", sa.String(64)),
        sa.Column("os_hash_value", sa.String(128)),
        sa.Column("min_disk", sa.Integer, nullable=False),
        sa.Column("min_ram", sa.Integer, nullable=False),
        sa.Column("saving_by", sa.String(255)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
    )
    op.create_index("ix_images_owner", "images", ["owner"])
    op.create_index("ix_images_status", "images", ["status"])
    op.create_index("ix_images_visibility", "images", ["visibility"])

    op.create_table(
        "image_properties",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _image_fk(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_properties"),
        _fk("image_properties"),
        sa.UniqueConstraint("image_id", "name", name="uq_image_properties_image_id"),
    )
    op.create_index("ix_image_properties_image_id", "image_properties", ["image_id"])

    op.create_table(
        "image_tags",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _image_fk(),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_tags"),
        _fk("image_tags"),
        sa.UniqueConstraint("image_id", "value", name="uq_image_tags_image_id"),
    )
    op.create_index("ix_image_tags_image_id", "image_tags", ["image_id"])

    op.create_table(
        "image_members",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _image_fk(),
        sa.Column("member", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_members"),
        _fk("image_members"),
        sa.UniqueConstraint("image_id", "member", name="uq_image_members_image_id"),
    )
    op.create_index("ix_image_members_image_id", "image_members", ["image_id"])
    op.create_index("ix_image_members_member", "image_members", ["member"])

    op.create_table(
        "image_locations",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        _image_fk(),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("crc32", sa.BigInteger),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_locations"),
        _fk("image_locations"),
    )
    op.create_index("ix_image_locations_image_id", "image_locations", ["image_id"])


def downgrade() -> None:
    for table in ("image_locations", "image_members", "image_tags", "image_properties", "images"):
        op.drop_table(table)
