"""A move's migration row (cold or live migration, resize, evacuation), written in the
caller's transaction.

While a move is in flight (:data:`IN_FLIGHT`) its row holds the destination's claim (what
:meth:`HostRegistry.recompute_usage` counts for it): the row is added in the claim's own
transaction, and it leaves those statuses only conditionally, in the transaction that gives
that claim back or hands it to the server's row, so that whoever ends the move (its task, a
delete, a revert) ends it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from overcast.db.models.base import utcnow
from overcast.db.models.compute import MigrationRecord
from overcast.db.values import store
from overcast.types import Flavor, MigrationData

#: the statuses of a move whose destination holds a claim besides its server's host
IN_FLIGHT = ("accepted", "migrating", "finished", "running", "preparing")
#: the statuses of a move a gone task runner leaves behind unfinished (``finished`` waits for the user)
UNFINISHED = ("accepted", "migrating", "running", "preparing")

_TABLE = cast(Table, MigrationRecord.__table__)


def add_migration(
    s: Session,
    uuid: str,
    kind: str,
    source: str,
    dest: str,
    status: str,
    old: Flavor | None = None,
    new: Flavor | None = None,
) -> int:
    """Add the migration row of server ``uuid``'s move; its id."""
    m = MigrationRecord(
        instance_uuid=uuid,
        migration_type=kind,
        source_host=source,
        dest_host=dest,
        status=status,
        data={},
        old_flavor=store(old) if old else None,
        new_flavor=store(new) if new else None,
    )
    s.add(m)
    s.flush()
    return m.id


def set_status_if(
    s: Session, mig_id: int, current: Iterable[str], status: str, data: MigrationData | None = None
) -> bool:
    """Set migration ``mig_id``'s ``status`` (and ``data``) if its status is one of ``current``;
    whether it was."""
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if data is not None:
        values["data"] = store(data)
    stmt = _TABLE.update().where(_TABLE.c.id == mig_id, _TABLE.c.status.in_(tuple(current))).values(**values)
    return cast(Any, s.execute(stmt)).rowcount == 1
