"""Identity (issue 16): domains with content, project hierarchy, domain roles, implied roles,
domain and inherited (OS-INHERIT) role assignments, the catalog (regions, services, endpoints)
as data with OS-EP-FILTER's endpoint groups and project associations, policies (OS-POLICY
blobs) and credentials.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_KEY = ("actor_type", "actor_id", "project_id", "role_id")


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime, nullable=False)


#: Tables whose rows SQLite would delete when a table they reference is recreated (see
#: :func:`_snapshot`).
_REFERRERS = ("identity_role_assignments", "identity_system_assignments", "identity_app_credentials")


def _snapshot() -> dict[str, list[dict[str, object]]]:
    """The rows that reference roles or projects. On SQLite, recreating ``identity_roles``
    or ``identity_projects`` (to change a constraint or drop a column) drops the old table,
    and with foreign keys on that DROP deletes them through ``ON DELETE CASCADE``: they are
    put back afterwards (:func:`_restore`)."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return {}  # nothing is recreated
    out = {}
    for name in _REFERRERS:
        table = sa.Table(name, sa.MetaData(), autoload_with=conn)
        out[name] = [dict(row._mapping) for row in conn.execute(sa.select(table))]
    return out


def _restore(saved: dict[str, list[dict[str, object]]], **defaults: object) -> None:
    """Put the snapshot back; ``defaults``: values for columns added since (``inherited``)."""
    conn = op.get_bind()
    for name, rows in saved.items():
        table = sa.Table(name, sa.MetaData(), autoload_with=conn)
        conn.execute(table.delete())
        if rows:
            wanted = [{**{k: v for k, v in defaults.items() if k in table.c}, **r} for r in rows]
            conn.execute(table.insert(), [{k: v for k, v in r.items() if k in table.c} for r in wanted])


def upgrade() -> None:
    with op.batch_alter_table("identity_projects") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(64), nullable=True))
    saved = _snapshot()
    # a role is global (domain_id "") or belongs to one domain; names are unique per domain
    with op.batch_alter_table("identity_roles") as batch:
        batch.add_column(sa.Column("domain_id", sa.String(64), nullable=False, server_default=""))
        batch.drop_constraint("uq_identity_roles_name", type_="unique")
        batch.create_unique_constraint("uq_identity_roles_domain_id", ["domain_id", "name"])
    # OS-INHERIT: an assignment on a project may be inherited by its subtree only
    with op.batch_alter_table("identity_role_assignments", recreate="always") as batch:
        batch.add_column(sa.Column("inherited", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.drop_constraint("pk_identity_role_assignments", type_="primary")
        batch.create_primary_key("pk_identity_role_assignments", [*_KEY, "inherited"])
    _restore(saved, inherited=False)
    op.create_table(
        "identity_domain_assignments",
        sa.Column("actor_type", sa.String(8), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("domain_id", sa.String(64), nullable=False),
        sa.Column("role_id", sa.String(64), nullable=False),
        sa.Column("inherited", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint(
            "actor_type", "actor_id", "domain_id", "role_id", "inherited", name="pk_identity_domain_assignments"
        ),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["identity_domains.id"],
            ondelete="CASCADE",
            name="fk_identity_domain_assignments_domain_id_identity_domains",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["identity_roles.id"],
            ondelete="CASCADE",
            name="fk_identity_domain_assignments_role_id_identity_roles",
        ),
    )
    op.create_index("ix_identity_domain_assignments_domain_id", "identity_domain_assignments", ["domain_id"])
    op.create_table(
        "identity_implied_roles",
        sa.Column("prior_role_id", sa.String(64), nullable=False),
        sa.Column("implied_role_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("prior_role_id", "implied_role_id", name="pk_identity_implied_roles"),
        sa.ForeignKeyConstraint(
            ["prior_role_id"],
            ["identity_roles.id"],
            ondelete="CASCADE",
            name="fk_identity_implied_roles_prior_role_id_identity_roles",
        ),
        sa.ForeignKeyConstraint(
            ["implied_role_id"],
            ["identity_roles.id"],
            ondelete="CASCADE",
            name="fk_identity_implied_roles_implied_role_id_identity_roles",
        ),
    )
    op.create_table(
        "identity_regions",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("parent_region_id", sa.String(255), nullable=True),
        sa.Column("extra", sa.JSON, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_regions"),
    )
    op.create_table(
        "identity_services",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_services"),
    )
    op.create_table(
        "identity_endpoints",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("interface", sa.String(8), nullable=False),
        sa.Column("region_id", sa.String(255), nullable=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_endpoints"),
    )
    op.create_index("ix_identity_endpoints_service_id", "identity_endpoints", ["service_id"])
    op.create_table(
        "identity_endpoint_groups",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("filters", sa.JSON, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_endpoint_groups"),
    )
    op.create_table(
        "identity_project_endpoints",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("endpoint_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "endpoint_id", name="pk_identity_project_endpoints"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["identity_projects.id"],
            ondelete="CASCADE",
            name="fk_identity_project_endpoints_project",
        ),
    )
    op.create_table(
        "identity_project_endpoint_groups",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("endpoint_group_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "endpoint_group_id", name="pk_identity_project_endpoint_groups"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["identity_projects.id"],
            ondelete="CASCADE",
            name="fk_identity_project_endpoint_groups_project",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_group_id"],
            ["identity_endpoint_groups.id"],
            ondelete="CASCADE",
            name="fk_identity_project_endpoint_groups_group",
        ),
    )
    op.create_table(
        "identity_policies",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("blob", sa.Text, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_policies"),
    )
    op.create_table(
        "identity_credentials",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("blob", sa.Text, nullable=False),
        sa.Column("extra", sa.JSON, nullable=False),
        _created(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_credentials"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["identity_users.id"],
            ondelete="CASCADE",
            name="fk_identity_credentials_user_id_identity_users",
        ),
    )
    op.create_index("ix_identity_credentials_user_id", "identity_credentials", ["user_id"])
    # the default roles imply each other as keystone-manage bootstrap makes them:
    # admin -> member -> reader (until now this was built in)
    roles = sa.table("identity_roles", sa.column("id", sa.String), sa.column("name", sa.String))
    conn = op.get_bind()
    ids = {name: rid for rid, name in conn.execute(sa.select(roles.c.id, roles.c.name))}
    implied = sa.table(
        "identity_implied_roles", sa.column("prior_role_id", sa.String), sa.column("implied_role_id", sa.String)
    )
    rows = [
        {"prior_role_id": ids[a], "implied_role_id": ids[b]}
        for a, b in (("admin", "member"), ("member", "reader"))
        if a in ids and b in ids
    ]
    if rows:
        op.bulk_insert(implied, rows)


def downgrade() -> None:
    op.drop_index("ix_identity_credentials_user_id", "identity_credentials")
    op.drop_table("identity_credentials")
    op.drop_table("identity_policies")
    op.drop_table("identity_project_endpoint_groups")
    op.drop_table("identity_project_endpoints")
    op.drop_table("identity_endpoint_groups")
    op.drop_index("ix_identity_endpoints_service_id", "identity_endpoints")
    op.drop_table("identity_endpoints")
    op.drop_table("identity_services")
    op.drop_table("identity_regions")
    op.drop_table("identity_implied_roles")
    op.drop_index("ix_identity_domain_assignments_domain_id", "identity_domain_assignments")
    op.drop_table("identity_domain_assignments")
    op.execute("DELETE FROM identity_role_assignments WHERE inherited")
    op.execute("DELETE FROM identity_roles WHERE domain_id != ''")  # domain roles go with the feature
    with op.batch_alter_table("identity_role_assignments", recreate="always") as batch:
        batch.drop_constraint("pk_identity_role_assignments", type_="primary")
        batch.create_primary_key("pk_identity_role_assignments", list(_KEY))
        batch.drop_column("inherited")
    saved = _snapshot()
    with op.batch_alter_table("identity_roles") as batch:
        batch.drop_constraint("uq_identity_roles_domain_id", type_="unique")
        batch.create_unique_constraint("uq_identity_roles_name", ["name"])
        batch.drop_column("domain_id")
    with op.batch_alter_table("identity_projects") as batch:
        batch.drop_column("parent_id")
    _restore(saved)
