"""The policy table: which role each API rule needs. Enforced in one place,
``IdentityService.enforce`` (reached through ``overcast.api.deps.authorize``).

Rules are named ``<service>:<resource>:<action>``. By default a read action
(:data:`READ_ACTIONS`) needs ``reader`` and anything else needs ``member``; roles imply
each other (admin > member > reader). ``RULES`` lists the exceptions, one section per
service: add yours in your section only.
"""

from __future__ import annotations

READ_ACTIONS = frozenset({"list", "show", "get", "head", "download", "detail", "discover"})

ROLE_ORDER = ("reader", "member", "admin")

RULES: dict[str, str] = {
    # --- identity ---------------------------------------------------------------------
    # "authenticated": any valid token, scoped or not; the handler limits what it shows
    # to the caller's own user, projects and credentials.
    "identity:tokens:validate": "authenticated",
    "identity:tokens:revoke": "authenticated",
    "identity:auth:catalog": "authenticated",
    "identity:auth:projects": "authenticated",
    "identity:user_projects:list": "authenticated",
    "identity:users:change_password": "authenticated",
    "identity:application_credentials:list": "authenticated",
    "identity:application_credentials:show": "authenticated",
    "identity:application_credentials:create": "reader",
    "identity:application_credentials:delete": "reader",
    "identity:projects:create": "admin",
    "identity:projects:update": "admin",
    "identity:projects:delete": "admin",
    "identity:users:create": "admin",
    "identity:users:update": "admin",
    "identity:users:delete": "admin",
    "identity:groups:create": "admin",
    "identity:groups:update": "admin",
    "identity:groups:delete": "admin",
    "identity:groups:add_user": "admin",
    "identity:groups:remove_user": "admin",
    "identity:roles:create": "admin",
    "identity:roles:update": "admin",
    "identity:roles:delete": "admin",
    "identity:grants:create": "admin",
    "identity:grants:delete": "admin",
    "identity:system_grants:create": "admin",
    "identity:system_grants:delete": "admin",
    # issue 16: domains, OS-INHERIT, implied roles, the catalog, OS-POLICY, credentials, tags
    "identity:domains:create": "admin",
    "identity:domains:update": "admin",
    "identity:domains:delete": "admin",
    **{f"identity:inherited_grants:{a}": "admin" for a in ("list", "show", "create", "delete")},
    "identity:implied_roles:create": "admin",
    "identity:implied_roles:delete": "admin",
    **{
        f"identity:{r}:{a}": "admin"
        for r in ("regions", "services", "endpoints")
        for a in ("create", "update", "delete")
    },
    **{
        f"identity:{r}:{a}": "admin"
        for r in ("policies", "endpoint_groups")
        for a in ("list", "show", "create", "update", "delete")
    },
    # credentials: the handler limits a non-admin to their own
    **{
        f"identity:{r}:{a}": "authenticated"
        for r in ("credentials", "ec2_credentials")
        for a in ("list", "show", "create", "update", "delete")
    },
    "identity:project_tags:create": "admin",
    "identity:project_tags:update": "admin",
    "identity:project_tags:delete": "admin",
    # --- compute ----------------------------------------------------------------------
    "compute:flavors:create": "admin",
    "compute:flavors:delete": "admin",
    "compute:flavors:update": "admin",  # PUT /flavors/{id}: its description (2.55)
    "compute:flavor_extra_specs:create": "admin",
    "compute:flavor_extra_specs:update": "admin",
    "compute:flavor_extra_specs:delete": "admin",
    "compute:flavor_access:list": "admin",
    "compute:flavor_access:update": "admin",
    "compute:hypervisors:list": "admin",
    "compute:hypervisors:detail": "admin",
    "compute:hypervisors:show": "admin",
    "compute:hypervisors:statistics": "admin",
    "compute:hypervisors:search": "admin",  # before 2.53 (issue 16)
    "compute:hypervisors:servers": "admin",
    "compute:services:list": "admin",
    "compute:services:update": "admin",
    "compute:availability_zones:detail": "admin",
    "compute:servers:migrate": "admin",
    "compute:servers:live_migrate": "admin",
    "compute:servers:evacuate": "admin",
    "compute:servers:reset_state": "admin",  # os-resetState (issue 16)
    "compute:servers:inject_network_info": "admin",
    "compute:volume_attachments:swap": "admin",  # Nova's swap volume: admin/service
    "compute:quota_sets:update": "admin",
    "compute:quota_sets:delete": "admin",
    "compute:quota_classes:show": "admin",  # os-quota-class-sets (issue 16), as Nova
    "compute:quota_classes:update": "admin",
    "compute:migrations:list": "admin",  # os-migrations (issue 18), as Nova
    "compute:aggregates:list": "admin",  # os-aggregates (issue 18): all admin, as Nova
    "compute:aggregates:show": "admin",
    "compute:aggregates:create": "admin",
    "compute:aggregates:update": "admin",
    "compute:aggregates:delete": "admin",
    "compute:aggregates:action": "admin",
    "compute:simple_tenant_usage:list": "admin",  # every project's usage (issue 18); show: own project
    "compute:hosts:list": "admin",  # os-hosts (before 2.43): all admin, as Nova
    "compute:hosts:show": "admin",
    "compute:hosts:update": "admin",
    "compute:hosts:power_action": "admin",
    "compute:instance_usage_audit_log:list": "admin",
    "compute:instance_usage_audit_log:show": "admin",
    "compute:server_external_events:create": "admin",
    "compute:server_diagnostics:show": "admin",
    # --- image ------------------------------------------------------------------------
    "image:images:publicize": "admin",  # visibility=public (Glance's publicize_image)
    # the metadata definitions catalog: everyone reads (what they see), admins change it (Glance's default)
    "image:metadefs:create": "admin",
    "image:metadefs:update": "admin",
    "image:metadefs:delete": "admin",
    # the task API (Glance's tasks_api_access): admins; an image's own tasks: whoever sees the image
    "image:tasks:list": "admin",
    "image:tasks:show": "admin",
    "image:tasks:create": "admin",
    # --- volume -----------------------------------------------------------------------
    "volume:types:create": "admin",
    "volume:types:update": "admin",
    "volume:types:delete": "admin",
    "volume:type_specs:create": "admin",
    "volume:type_specs:update": "admin",
    "volume:type_specs:delete": "admin",
    "volume:quotas:update": "admin",
    "volume:quotas:delete": "admin",
    "volume:services:list": "admin",
    "volume:services:update": "admin",
    "volume:volumes:reset_status": "admin",
    # QoS specs, private type access, group types, quota classes and the backend views (issues
    # 16 and 18): admin-only, as Cinder's defaults
    **{
        f"volume:{rule}": "admin"
        for rule in (
            "qos_specs:list",
            "qos_specs:show",
            "qos_specs:create",
            "qos_specs:update",
            "qos_specs:delete",
            "type_access:list",
            "type_access:update",
            "group_types:create",
            "group_types:update",
            "group_types:delete",
            "groups:reset_status",
            "group_snapshots:reset_status",
            "quota_classes:show",
            "quota_classes:update",
            "capabilities:show",
            "pools:list",
            "hosts:list",
            "snapshots:reset_status",
            "snapshots:force_delete",
        )
    },
    "volume:volumes:force_delete": "admin",
    "volume:volumes:force_detach": "admin",
    "volume:volumes:migrate": "admin",  # os-migrate_volume (issue 18)
    "volume:volumes:migrate_completion": "admin",
    # volume backups (issue 18): Cinder's defaults; the action route's own rules are checked inside it
    "volume:backups:export_record": "admin",
    "volume:backups:import_record": "admin",
    "volume:backups:reset_status": "admin",
    "volume:backups:force_delete": "admin",
    # --- network ----------------------------------------------------------------------
    "network:quotas:list": "admin",  # every project's quotas
    "network:quotas:update": "admin",
    "network:quotas:delete": "admin",
    # --- objectstore ------------------------------------------------------------------
    # --- orchestration ----------------------------------------------------------------
    # reads need reader (Heat's project-reader defaults); everything else needs member
    **{
        f"orchestration:{rule}": "reader"
        for rule in (
            "stacks:lookup",
            "stacks:template",
            "stacks:environment",
            "stacks:files",
            "stacks:list_outputs",
            "stacks:show_output",
            "stacks:validate_template",
            "stacks:list_resource_types",
            "stacks:resource_schema",
            "stacks:list_template_versions",
            "stacks:list_template_functions",
            "resource:index",
            "resource:metadata",
            "events:index",
        )
    },
    # --- loadbalancer -----------------------------------------------------------------
    "loadbalancer:quotas:list": "reader",  # the handler shows members their own project's only
    "loadbalancer:quotas:update": "admin",
    "loadbalancer:quotas:delete": "admin",
    "loadbalancer:flavors:create": "admin",
    "loadbalancer:flavorprofiles:list": "admin",
    "loadbalancer:flavorprofiles:show": "admin",
    "loadbalancer:flavorprofiles:create": "admin",
    "loadbalancer:availabilityzones:create": "admin",
    "loadbalancer:availabilityzoneprofiles:list": "admin",
    "loadbalancer:availabilityzoneprofiles:show": "admin",
    "loadbalancer:availabilityzoneprofiles:create": "admin",
    "loadbalancer:loadbalancers:failover": "admin",
    # --- dashboard --------------------------------------------------------------------
    "dashboard:plugins:list": "admin",
}


def required_role(rule: str) -> str:
    """The least role that may perform ``rule``."""
    if rule in RULES:
        return RULES[rule]
    action = rule.rsplit(":", 1)[-1]
    return "reader" if action in READ_ACTIONS else "member"


def role_satisfies(roles: frozenset[str] | set[str], needed: str) -> bool:
    """Whether any of ``roles`` is ``needed`` or implies it."""
    if needed not in ROLE_ORDER:
        return False
    rank = ROLE_ORDER.index(needed)
    return any(r in ROLE_ORDER and ROLE_ORDER.index(r) >= rank for r in roles)
