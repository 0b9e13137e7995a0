"""The object expirer: deletes objects whose ``X-Delete-At`` has passed.

Expired objects are already invisible (GET, HEAD and listings skip them); this reclaims
their space. A queue row is acted on only if the object still carries that same time, so
a newer PUT or POST that changed or removed the expiry keeps its object.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from overcast.db.models.objectstore import ObjectExpiry
from overcast.errors import NotFound, OvercastError
from overcast.objectstore import metadata, names

if TYPE_CHECKING:
    from overcast.objectstore.records import ContainerRecord
    from overcast.objectstore.service import ObjectStoreService

log = logging.getLogger(__name__)
BATCH = 500


def _delete_if_due(svc: ObjectStoreService, project_id: str, container: str, name: str, delete_at: float) -> None:
    record = svc.records.container(project_id, container)
    if record is None:
        return
    backend, driver = svc.driver(record.policy)
    account = names.account_of_project(project_id)
    try:
        info = driver.head(backend=backend, account=account, container=container, name=name)
    except NotFound:
        return
    when = info.metadata.get("x-delete-at")
    if when and float(when) == delete_at and metadata.is_expired(info.metadata):
        try:
            driver.delete(backend=backend, account=account, container=container, name=name)
        except NotFound:
            pass


def reap_due(svc: ObjectStoreService, now: float | None = None) -> int:
    """Delete every due object; returns how many queue entries were handled."""
    now = time.time() if now is None else now
    handled = 0
    while True:
        with svc.runtime.db.session() as s:
            rows = s.execute(
                select(
                    ObjectExpiry.id,
                    ObjectExpiry.project_id,
                    ObjectExpiry.container,
                    ObjectExpiry.name,
                    ObjectExpiry.delete_at,
                )
                .where(ObjectExpiry.delete_at <= now)
                .limit(BATCH)
            ).all()
        if not rows:
            return handled
        for row in rows:
            try:
                _delete_if_due(svc, row.project_id, row.container, row.name, row.delete_at)
            except OvercastError as exc:
                log.warning("expirer: could not delete %s/%s: %s", row.container, row.name, exc)
        with svc.runtime.db.session() as s:
            s.execute(delete(ObjectExpiry).where(ObjectExpiry.id.in_([r.id for r in rows])))
        handled += len(rows)


def reap_container(svc: ObjectStoreService, record: ContainerRecord) -> None:
    """Delete a container's due objects now."""
    now = time.time()
    with svc.runtime.db.session() as s:
        rows = s.execute(
            select(ObjectExpiry.id, ObjectExpiry.name, ObjectExpiry.delete_at).where(
                ObjectExpiry.project_id == record.project_id,
                ObjectExpiry.container == record.name,
                ObjectExpiry.delete_at <= now,
            )
        ).all()
    for row in rows:
        _delete_if_due(svc, record.project_id, record.name, row.name, row.delete_at)
    if rows:
        with svc.runtime.db.session() as s:
            s.execute(delete(ObjectExpiry).where(ObjectExpiry.id.in_([r.id for r in rows])))


def run_expirer(svc: ObjectStoreService, stop: threading.Event) -> None:
    while not stop.wait(svc.settings.expirer_interval):
        try:
            reap_due(svc)
        except Exception:  # noqa: BLE001 - keep the expirer alive; the next pass retries
            log.exception("object expirer pass failed")
