"""Role inference rules (Keystone's implied roles): whoever holds the prior role also holds
the implied one, transitively. The default roles are chained by rules that bootstrap makes
(``admin`` implies ``member``, which implies ``reader``), as ``keystone-manage bootstrap``
does; any other rule is data an admin adds or removes.

A domain-specific role never appears in a token or an effective assignment: it only counts
through the global roles it implies. A global role cannot imply a domain-specific one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from overcast.db.models.identity import GLOBAL_ROLE_DOMAIN, ImpliedRole, Role
from overcast.errors import BadRequest, Forbidden, NotFound
from overcast.identity.directory import not_found
from overcast.identity.revocation import bump_generation


def rule_map(s: Session) -> dict[str, set[str]]:
    """prior role id -> the ids it implies directly."""
    out: dict[str, set[str]] = {}
    for prior, implied in s.execute(select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)):
        out.setdefault(prior, set()).add(implied)
    return out


def closure(role_ids: Iterable[str], rules: dict[str, set[str]]) -> dict[str, str | None]:
    """Every role reached from ``role_ids``: id -> the prior role it was implied by (``None``
    for the roles given). Cycles end where a role was already reached."""
    reached: dict[str, str | None] = {rid: None for rid in role_ids}
    todo = list(reached)
    while todo:
        prior = todo.pop()
        for implied in rules.get(prior, ()):
            if implied not in reached:
                reached[implied] = prior
                todo.append(implied)
    return reached


def domain_specific(s: Session, role_ids: Iterable[str]) -> set[str]:
    ids = set(role_ids)
    if not ids:
        return set()
    stmt = select(Role.id).where(Role.id.in_(ids), Role.domain_id != GLOBAL_ROLE_DOMAIN)
    return set(s.scalars(stmt))


class ImpliedRoles:
    def __init__(self, session_factory: Callable[[], Any]) -> None:
        self.session = session_factory

    def _roles(self, s: Session, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        prior = s.get(Role, prior_id)
        if prior is None:
            raise not_found("role", prior_id)
        implied = s.get(Role, implied_id)
        if implied is None:
            raise not_found("role", implied_id)
        return prior, implied

    def create(self, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        with self.session() as s:
            prior, implied = self._roles(s, prior_id, implied_id)
            if prior_id == implied_id:
                raise BadRequest(f"Role {prior_id} cannot imply itself.")
            if implied.domain_id != GLOBAL_ROLE_DOMAIN and prior.domain_id == GLOBAL_ROLE_DOMAIN:
                raise Forbidden(
                    f"Implied role {implied_id} is domain-specific: a global role cannot imply a domain-specific role."
                )
            if prior_id in closure([implied_id], rule_map(s)):
                raise Forbidden(f"Role {prior_id} is already implied by {implied_id}: the rule would make a cycle.")
            if s.get(ImpliedRole, (prior_id, implied_id)) is None:
                s.add(ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))
                bump_generation(s)
            return prior, implied

    def get(self, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        with self.session() as s:
            prior, implied = self._roles(s, prior_id, implied_id)
            if s.get(ImpliedRole, (prior_id, implied_id)) is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.", code="ImpliedRoleNotFound")
            return prior, implied

    def delete(self, prior_id: str, implied_id: str) -> None:
        with self.session() as s:
            self._roles(s, prior_id, implied_id)
            row = s.get(ImpliedRole, (prior_id, implied_id))
            if row is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.", code="ImpliedRoleNotFound")
            s.delete(row)
            bump_generation(s)

    def implied_by(self, prior_id: str) -> tuple[Role, list[Role]]:
        """A role and the roles it implies directly."""
        with self.session() as s:
            prior = s.get(Role, prior_id)
            if prior is None:
                raise not_found("role", prior_id)
            stmt = (
                select(Role)
                .join(ImpliedRole, ImpliedRole.implied_role_id == Role.id)
                .where(ImpliedRole.prior_role_id == prior_id)
                .order_by(Role.name)
            )
            return prior, list(s.scalars(stmt))

    def all(self) -> list[tuple[Role, list[Role]]]:
        """Every prior role with the roles it implies directly."""
        with self.session() as s:
            rules = rule_map(s)
            ids = set(rules) | {i for implied in rules.values() for i in implied}
            roles = {r.id: r for r in s.scalars(select(Role).where(Role.id.in_(ids)))} if ids else {}
        out = []
        for prior_id in sorted(rules, key=lambda r: roles[r].name):
            out.append((roles[prior_id], sorted((roles[i] for i in rules[prior_id]), key=lambda r: r.name)))
        return out
