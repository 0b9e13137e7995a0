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

    # --- image ------------------------------------------------------------------------

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
    "volume:volumes:force_delete": "admin",

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
