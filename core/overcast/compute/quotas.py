"""Per-project quotas (instances, cores, ram, key_pairs, server_groups), claimed atomically.

Usage rows are updated with one conditional UPDATE per resource in the caller's transaction
(``in_use + delta <= limit``), so two concurrent creates cannot both take the last slot, and
a failed create rolls its usage back with everything else.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, literal, select, text, union_all
from sqlalchemy.exc import IntegrityError

from overcast.db.models.compute import QuotaClassLimit, QuotaLimit, QuotaUsage
from overcast.errors import BadRequest, Forbidden, OverQuota

_CLAIM_ANY = text("UPDATE compute_quota_usages SET in_use = in_use + :d WHERE project_id = :p AND resource = :r")
_CLAIM_BOUNDED = text(
    "UPDATE compute_quota_usages SET in_use = in_use + :d WHERE project_id = :p AND resource = :r AND in_use + :d <= :limit"
)

RESOURCES = ("instances", "cores", "ram", "key_pairs", "server_groups")
UNLIMITED = -1
#: the quota class whose values are every project's defaults (Nova's)
DEFAULT_CLASS = "default"
#: limits with no usage counter, and their defaults (Nova's): server metadata items and server
#: group members are checked where they are set (:func:`check_metadata_items`,
#: :func:`check_group_members`); the file injection limits and nova-network's fixed IPs limit
#: what this cloud never does (personality is refused, fixed IPs are the network service's),
#: so they hold trivially, and are kept as set, as Nova keeps them (issue 16)
LIMITS_ONLY = {
    "metadata_items": 128,
    "server_group_members": 10,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "fixed_ips": UNLIMITED,
}


#: a project's limits and the default class's, built once (every server create reads them)
_LIMITS = union_all(
    select(literal(0).label("own"), QuotaClassLimit.resource, QuotaClassLimit.hard_limit).where(
        QuotaClassLimit.class_name == DEFAULT_CLASS
    ),
    select(literal(1).label("own"), QuotaLimit.resource, QuotaLimit.hard_limit).where(
        QuotaLimit.project_id == bindparam("project_id")
    ),
)


def parse_limit(resource: str, value: Any) -> int:
    """A quota value as Nova takes it: an integer >= -1 (or its decimal string)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():  # Nova takes "5120" too
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < UNLIMITED:
        raise BadRequest(f"Invalid input for field/attribute {resource}. Value: {value}. must be an integer >= -1")
    return value


def check_metadata_items(limits: dict[str, int], count: int) -> None:
    """Nova's MetadataLimitExceeded (403) for ``count`` items over the project's limit."""
    allowed = limits.get("metadata_items", UNLIMITED)
    if allowed != UNLIMITED and count > allowed:
        raise Forbidden(f"Maximum number of metadata items exceeds {allowed}")


def check_group_members(limits: dict[str, int], members: int) -> None:
    """Nova's 403 when a server group would get more members than the project's limit."""
    allowed = limits.get("server_group_members", UNLIMITED)
    if allowed != UNLIMITED and members > allowed:
        raise Forbidden("Quota exceeded, too many servers in group")


class QuotaManager:
    def __init__(self, db, section) -> None:
        self.db = db
        # SQLite has one writer at a time: its multi-row statements need no lock order
        self._ordered = not db.is_sqlite
        self.configured = {
            "instances": section.quota_instances,
            "cores": section.quota_cores,
            "ram": section.quota_ram,
            "key_pairs": section.quota_key_pairs,
            "server_groups": section.quota_server_groups,
            **LIMITS_ONLY,
        }

    def class_limits(self, session, class_name: str = DEFAULT_CLASS) -> dict[str, int]:
        """A quota class's limits: its own values over the ``default`` class's over the
        configured defaults (Nova's ``get_class_quotas``)."""
        out = dict(self.configured)
        for name in dict.fromkeys((DEFAULT_CLASS, class_name)):
            for row in session.scalars(select(QuotaClassLimit).where(QuotaClassLimit.class_name == name)):
                out[row.resource] = row.hard_limit
        return out

    def set_class_limits(self, session, class_name: str, values: dict[str, Any]) -> None:
        _store(session, QuotaClassLimit, "class_name", class_name, _checked(values, "quota_class_set"))

    def limits(self, session, project_id: str) -> dict[str, int]:
        """The project's limits: its own over the ``default`` class's over the configured
        defaults, read in one query (every server create reads them)."""
        out = dict(self.configured)
        for _own, resource, hard_limit in sorted(session.execute(_LIMITS, {"project_id": project_id}).all()):
            out[resource] = hard_limit
        return out

    def usage(self, session, project_id: str) -> dict[str, int]:
        out = {r: 0 for r in RESOURCES}
        for row in session.scalars(select(QuotaUsage).where(QuotaUsage.project_id == project_id)):
            out[row.resource] = row.in_use
        return out

    def set_limits(self, session, project_id: str, values: dict[str, int]) -> None:
        _store(session, QuotaLimit, "project_id", project_id, _checked(values, "quota_set"))

    def reset(self, session, project_id: str) -> None:
        for row in session.scalars(select(QuotaLimit).where(QuotaLimit.project_id == project_id)):
            session.delete(row)

    def _ensure_rows(self, session, project_id: str, resources) -> None:
        """Make the project's missing usage rows (at 0)."""
        c = QuotaUsage.__table__.c
        have = set(session.execute(select(c.resource).where(c.project_id == project_id)).scalars())
        missing = [r for r in resources if r not in have]
        for resource in missing:
            try:
                with session.begin_nested():
                    session.execute(
                        cast(Table, QuotaUsage.__table__)
                        .insert()
                        .values(project_id=project_id, resource=resource, in_use=0)
                    )
            except IntegrityError:
                pass  # a concurrent request created it

    def claim(self, session, project_id: str, deltas: dict[str, int], limits: dict[str, int] | None = None) -> None:
        """Add ``deltas`` to the project's usage or raise ``OverQuota`` naming the resource.
        ``limits``: the project's :meth:`limits` when the caller has just read them.

        Every resource in one conditional UPDATE: the project's usage rows are the hottest rows
        of a busy cloud (each create of a project locks them until its transaction ends), so a
        claim is one statement, and callers make it the last one before their commit. When it
        does not update every row (a project's first claim has no rows yet, or a resource is
        over its limit), what it did update is given back and each resource is claimed alone:
        a missing row is made (and the claim tried once more), an exhausted one is named."""
        deltas = {k: v for k, v in deltas.items() if v}
        if not deltas:
            return
        if limits is None:
            limits = self.limits(session, project_id)
        items = list(deltas.items())
        bounded = tuple(limits[r] != UNLIMITED and d > 0 for r, d in items)
        params = _params(project_id, items)
        params.update({f"l{i}": limits[r] for i, (r, _) in enumerate(items)})
        claimed = set(session.execute(_claim_all(bounded, self._ordered), params).scalars())
        if len(claimed) == len(items):
            return
        if claimed:  # give back the part that fitted, then claim each to find the one that did not
            session.execute(_add_all(len(claimed)), _params(project_id, [(r, -deltas[r]) for r in sorted(claimed)]))
        self._claim_each(session, project_id, dict(sorted(deltas.items())), limits)

    def _claim_each(self, session, project_id: str, deltas: dict[str, int], limits: dict[str, int]) -> None:
        """:meth:`claim` one resource at a time, making missing usage rows (in the order of
        ``deltas``: the caller's is by resource name, the order the one-statement claim locks in)."""
        for resource, delta in deltas.items():
            limit = limits[resource]
            params = {"p": project_id, "r": resource, "d": delta, "limit": limit}
            stmt = _CLAIM_BOUNDED if limit != UNLIMITED and delta > 0 else _CLAIM_ANY
            if session.execute(stmt, params).rowcount == 1:
                continue
            # no row seen: make it, or find that a concurrent first claim has committed it since
            # (on PostgreSQL each statement sees what committed before it), and claim again
            self._ensure_rows(session, project_id, [resource])
            if session.execute(stmt, params).rowcount == 1:
                continue
            c = QuotaUsage.__table__.c
            used = session.execute(select(c.in_use).where(c.project_id == project_id, c.resource == resource)).scalar()
            raise OverQuota(
                f"Quota exceeded for {resource}: Requested {delta}, but already used {used or 0} of {limit} {resource}"
            )

    def release(self, session, project_id: str, deltas: dict[str, int]) -> None:
        """Give ``deltas`` back (never below zero), every resource in one statement (see :meth:`claim`)."""
        items = [(r, d) for r, d in deltas.items() if d]
        if items:
            session.execute(_release_all(len(items), self._ordered), _params(project_id, items))


def _params(project_id: str, items: list[tuple[str, int]]) -> dict[str, Any]:
    """The parameters of the statements below: ``p``, and ``r<i>``/``d<i>`` per resource."""
    params: dict[str, Any] = {"p": project_id}
    for i, (resource, delta) in enumerate(items):
        params[f"r{i}"], params[f"d{i}"] = resource, delta
    return params


def _delta(n: int) -> str:
    """The row's own delta: ``CASE resource WHEN :r0 THEN :d0 ... END``."""
    return "CASE resource " + " ".join(f"WHEN :r{i} THEN :d{i}" for i in range(n)) + " END"


def _rows(n: int, ordered: bool = False) -> str:
    """The project's rows of resources ``r0``...; ``ordered``: locked first, by resource name.
    A multi-row UPDATE locks its rows in the order it finds them, which on PostgreSQL can
    differ between two transactions (one rechecking a row the other updated): two claims of
    one project then wait for each other (a deadlock). Locking in one order, as the one-row
    statements of a first claim do, cannot."""
    rows = "project_id = :p AND resource IN (" + ", ".join(f":r{i}" for i in range(n)) + ")"
    if not ordered:
        return rows
    return f"{rows} AND resource IN (SELECT resource FROM locked)"


def _locked(n: int, ordered: bool) -> str:
    if not ordered:
        return ""
    return f"WITH locked AS (SELECT resource FROM compute_quota_usages WHERE {_rows(n)} ORDER BY resource FOR UPDATE) "


@functools.cache
def _claim_all(bounded: tuple[bool, ...], ordered: bool) -> TextClause:
    """Add each resource's delta to its row if it stays within its limit (``l<i>``; the
    resources whose ``bounded`` is false have none); the resources claimed."""
    n = len(bounded)
    fits = " ".join(f"WHEN :r{i} THEN " + (f"in_use + :d{i} <= :l{i}" if b else "1 = 1") for i, b in enumerate(bounded))
    return text(
        f"{_locked(n, ordered)}UPDATE compute_quota_usages SET in_use = in_use + {_delta(n)}"
        f" WHERE {_rows(n, ordered)} AND CASE resource {fits} END RETURNING resource"
    )


@functools.cache
def _add_all(n: int) -> TextClause:
    return text(f"UPDATE compute_quota_usages SET in_use = in_use + {_delta(n)} WHERE {_rows(n)}")


@functools.cache
def _release_all(n: int, ordered: bool) -> TextClause:
    return text(
        f"{_locked(n, ordered)}UPDATE compute_quota_usages SET in_use = CASE WHEN in_use - {_delta(n)} < 0 THEN 0"
        f" ELSE in_use - {_delta(n)} END WHERE {_rows(n, ordered)}"
    )


def _checked(values: dict[str, Any], body: str) -> dict[str, int]:
    """The limits a quota set or quota class set asks for (400 for an unknown key or value)."""
    checked = {}
    for resource, value in values.items():
        if resource not in RESOURCES and resource not in LIMITS_ONLY:
            raise BadRequest(f"Bad key(s) {resource} in {body}")
        checked[resource] = parse_limit(resource, value)
    return checked


def _store(session: Any, model: Any, owner_column: str, owner: str, limits: dict[str, int]) -> None:
    """Set ``limits`` on the rows of ``model`` keyed ``(owner, resource)``, making the missing ones."""
    for resource, value in limits.items():
        row = session.get(model, (owner, resource))
        if row is None:
            session.add(model(**{owner_column: owner}, resource=resource, hard_limit=value))
        else:
            row.hard_limit = value
    session.flush()
