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

    # --- compute ----------------------------------------------------------------------
    "compute:flavors:create": "admin",
    "compute:flavors:delete": "admin",
    "compute:flavor_extra_specs:create": "admin",
    "compute:flavor_extra_specs:update": "admin",
    "compute:flavor_extra_specs:delete": "admin",
    "compute:flavor_access:list": "admin",
    "compute:flavor_access:update": "admin",
    "compute:hypervisors:list": "admin",
    "compute:hypervisors:detail": "admin",
    "compute:hypervisors:show": "admin",
    "compute:hypervisors:statistics": "admin",
    "compute:services:list": "admin",
    "compute:services:update": "admin",
    "compute:availability_zones:detail": "admin",
    "compute:servers:migrate": "admin",
    "compute:servers:live_migrate": "admin",
    "compute:quota_sets:update": "admin",
    "compute:quota_sets:delete": "admin",

    # --- image ------------------------------------------------------------------------

    # --- volume -----------------------------------------------------------------------

    # --- network ----------------------------------------------------------------------

    # --- objectstore ------------------------------------------------------------------

    # --- dashboard --------------------------------------------------------------------
}


def required_role(rule: str) -> str:
    """The least role that may perform ``rule``."""
    if rule in RULES:
        return RULES[rule]
    action = rule.rsplit(":", 1)[-1]
    return "reader" if action in READ_ACTIONS else "member"


def role_satisfies(roles: frozenset[str] | set[str], needed: str) -> bool:
    """Whether any of ``roles`` is ``needed`` or implies it."""
    rank = ROLE_ORDER.index(needed)
    return any(r in ROLE_ORDER and ROLE_ORDER.index(r) >= rank for r in roles)
