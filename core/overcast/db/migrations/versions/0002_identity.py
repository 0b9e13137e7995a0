"""The identity service's tables.

Revision ID: 0002
Revises: 0001
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime, nullable=False)


def _updated() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime, nullable=False)


def upgrade() -> None:
    op.create_table(
        "identity_domains",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_domains"),
        sa.UniqueConstraint("name", name="uq_identity_domains_name"),
    )
    op.create_table(
        "identity_projects",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("domain_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        _created(),
        _updated(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_projects"),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["identity_domains.id"], name="fk_identity_projects_domain_id_identity_domains"
        ),
        sa.UniqueConstraint("domain_id", "name", name="uq_identity_projects_domain_id"),
    )
    op.create_table(
        "identity_users",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("domain_id", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("password_hash", sa.String(255)),
        sa.Column("password_changed_at", sa.DateTime),
        sa.Column("default_project_id", sa.String(64)),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        _created(),
        _updated(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_users"),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["identity_domains.id"], name="fk_identity_users_domain_id_identity_domains"
        ),
        sa.UniqueConstraint("domain_id", "name", name="uq_identity_users_domain_id"),
    )
    op.create_table(
        "identity_groups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("domain_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_groups"),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["identity_domains.id"], name="fk_identity_groups_domain_id_identity_domains"
        ),
        sa.UniqueConstraint("domain_id", "name", name="uq_identity_groups_domain_id"),
    )
    op.create_table(
        "identity_group_members",
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_identity_group_members"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["identity_groups.id"],
            ondelete="CASCADE",
            name="fk_identity_group_members_group_id_identity_groups",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_users.id"],
            ondelete="CASCADE",
            name="fk_identity_group_members_user_id_identity_users",
        ),
    )
    op.create_index("ix_identity_group_members_user_id", "identity_group_members", ["user_id"])
    op.create_table(
        "identity_roles",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_roles"),
        sa.UniqueConstraint("name", name="uq_identity_roles_name"),
    )
    op.create_table(
        "identity_role_assignments",
        sa.Column("actor_type", sa.String(8), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("role_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("actor_type", "actor_id", "project_id", "role_id", name="pk_identity_role_assignments"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["identity_projects.id"],
            ondelete="CASCADE",
            name="fk_identity_role_assignments_project_id_identity_projects",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["identity_roles.id"],
            ondelete="CASCADE",
            name="fk_identity_role_assignments_role_id_identity_roles",
        ),
    )
    op.create_index("ix_identity_role_assignments_project_id", "identity_role_assignments", ["project_id"])
    op.create_index("ix_identity_role_assignments_role_id", "identity_role_assignments", ["role_id"])
    op.create_table(
        "identity_app_credentials",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("role_ids", sa.JSON, nullable=False),
        sa.Column("unrestricted", sa.Boolean, nullable=False),
        sa.Column("expires_at", sa.DateTime),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_app_credentials"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_users.id"],
            ondelete="CASCADE",
            name="fk_identity_app_credentials_user_id_identity_users",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["identity_projects.id"],
            ondelete="CASCADE",
            name="fk_identity_app_credentials_project_id_identity_projects",
        ),
        sa.UniqueConstraint("user_id", "name", name="uq_identity_app_credentials_user_id"),
    )
    op.create_table(
        "identity_revocation_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("project_id", sa.String(64)),
        sa.Column("audit_id", sa.String(32)),
        sa.Column("application_credential_id", sa.String(64)),
        sa.Column("issued_before", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_revocation_events"),
    )
    op.create_index("ix_identity_revocation_events_expires_at", "identity_revocation_events", ["expires_at"])
    op.create_table(
        "identity_state",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        _updated(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_state"),
    )
    # the one row every identity write bumps (present from the start, so a bump is always
    # an UPDATE and concurrent first writers cannot collide)
    state = sa.table(
        "identity_state",
        sa.column("id", sa.Integer),
        sa.column("generation", sa.Integer),
        sa.column("updated_at", sa.DateTime),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0, "updated_at": datetime.now(timezone.utc).replace(tzinfo=None)}])


def downgrade() -> None:
    for table in (
        "identity_state",
        "identity_revocation_events",
        "identity_app_credentials",
        "identity_role_assignments",
        "identity_roles",
        "identity_group_members",
        "identity_groups",
        "identity_users",
        "identity_projects",
        "identity_domains",
    ):
        op.drop_table(table)
