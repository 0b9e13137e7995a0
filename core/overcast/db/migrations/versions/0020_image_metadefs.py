"""Image (issues 16, 18): the metadata definitions catalog (metadefs) and image import tasks.

Seeds Overcast's own small set of resource types: the kinds of resource whose properties
the catalog's namespaces describe.

Revision ID: 0020
Revises: 0017
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0017"
branch_labels = None
depends_on = None

#: resource types every cloud has (images, volumes, flavors, servers, aggregates)
RESOURCE_TYPES = (
    "OS::Glance::Image",
    "OS::Cinder::Volume",
    "OS::Nova::Flavor",
    "OS::Nova::Server",
    "OS::Nova::Aggregate",
)


def _times() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime, nullable=False), sa.Column("updated_at", sa.DateTime, nullable=False)]


def _child(table: str, name_type: sa.types.TypeEngine, *extra: sa.Column) -> None:
    op.create_table(
        table,
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer, nullable=False),
        sa.Column("name", name_type, nullable=False),
        *extra,
        *_times(),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["metadef_namespaces.id"],
            name=f"fk_{table}_namespace_id_metadef_namespaces",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("namespace_id", "name", name=f"uq_{table}_namespace_id"),
    )
    op.create_index(f"ix_{table}_namespace_id", table, ["namespace_id"])


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(80)),
        sa.Column("description", sa.Text),
        sa.Column("visibility", sa.String(32), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        sa.Column("owner", sa.String(64)),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_metadef_namespaces"),
        sa.UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
    )
    op.create_index("ix_metadef_namespaces_owner", "metadef_namespaces", ["owner"])
    resource_types = op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("protected", sa.Boolean, nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_metadef_resource_types"),
        sa.UniqueConstraint("name", name="uq_metadef_resource_types_name"),
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer, nullable=False),
        sa.Column("resource_type_id", sa.Integer, nullable=False),
        sa.Column("prefix", sa.String(80)),
        sa.Column("properties_target", sa.String(80)),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_metadef_namespace_resource_types"),
        sa.ForeignKeyConstraint(
            ["namespace_id"],
            ["metadef_namespaces.id"],
            name="fk_metadef_nrt_namespace_id",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_type_id"],
            ["metadef_resource_types.id"],
            name="fk_metadef_nrt_resource_type_id",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "namespace_id", "resource_type_id", name="uq_metadef_namespace_resource_types_namespace_id"
        ),
    )
    op.create_index(
        "ix_metadef_namespace_resource_types_namespace_id", "metadef_namespace_resource_types", ["namespace_id"]
    )
    op.create_index(
        "ix_metadef_namespace_resource_types_resource_type_id",
        "metadef_namespace_resource_types",
        ["resource_type_id"],
    )
    _child(
        "metadef_objects",
        sa.String(80),
        sa.Column("description", sa.Text),
        sa.Column("required", sa.JSON, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
    )
    _child("metadef_properties", sa.String(255), sa.Column("schema", sa.JSON, nullable=False))
    _child("metadef_tags", sa.String(255))
    op.create_table(
        "image_tasks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("image_id", sa.String(36)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("user_id", sa.String(64)),
        sa.Column("input", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_image_tasks"),
    )
    op.create_index("ix_image_tasks_owner", "image_tasks", ["owner"])
    op.create_index("ix_image_tasks_image_id", "image_tasks", ["image_id"])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.bulk_insert(
        resource_types,
        [{"name": name, "protected": True, "created_at": now, "updated_at": now} for name in RESOURCE_TYPES],
    )


def downgrade() -> None:
    for table in (
        "image_tasks",
        "metadef_tags",
        "metadef_properties",
        "metadef_objects",
        "metadef_namespace_resource_types",
        "metadef_resource_types",
        "metadef_namespaces",
    ):
        op.drop_table(table)
