"""Transactions for the network service: retried when a constraint refuses a racing twin.

IPAM, MAC addresses, segmentation ids and default security groups are all claimed by
inserting a row that a unique constraint protects. When two requests race, one commit
fails; running the whole unit of work again re-reads the state and picks another value
(or reports the real error, such as an exhausted pool).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from overcast.errors import Conflict

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 25


def run_in_transaction(db: Any, work: Callable[[Session, int], T], attempts: int = ATTEMPTS) -> T:
    """Run ``work(session, attempt)`` in one transaction, again on a constraint race.

    ``attempt`` starts at 0; allocators use it to spread their picks on retries.
    """
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            with db.session() as session:
                return work(session, attempt)
        except IntegrityError as exc:
            last = exc
            log.debug("network transaction conflicted (attempt %d): %s", attempt + 1, exc.orig)
        except OperationalError as exc:  # SQLite: "database is locked" past the busy timeout
            if "locked" not in str(exc.orig).lower():
                raise
            last = exc
        time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
    raise Conflict(f"The request conflicted with concurrent changes; try again ({last}).", code="Conflict")
