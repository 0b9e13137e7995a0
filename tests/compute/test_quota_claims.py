"""``QuotaManager.claim`` makes a project's usage row only when its UPDATE finds none. On
PostgreSQL another request's first claim may commit that row between this claim's UPDATE (which
did not see it) and its look for missing rows (which does): the claim must then update the row,
not refuse. ``bench/scale.py`` met it: "Quota exceeded for instances: Requested 1, but already
used 1 of -1 instances", an unlimited quota refusing."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table, select

from overcast.compute.quotas import OverQuota, QuotaManager
from overcast.db.models.compute import QuotaUsage


def _in_use(compute: Any, project: str, resource: str) -> int | None:
    c = QuotaUsage.__table__.c
    with compute.runtime.db.session() as s:
        return s.execute(select(c.in_use).where(c.project_id == project, c.resource == resource)).scalar()


@pytest.mark.parametrize("limit", [-1, 10])
def test_a_usage_row_made_by_a_concurrent_first_claim_is_updated_not_refused(
    compute: Any, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    quotas: QuotaManager = compute.quotas
    ensure = QuotaManager._ensure_rows

    def concurrent_first_claim(self: QuotaManager, session: Any, project_id: str, resources: Any) -> None:
        # the other request's row, committed after this claim's UPDATE found none
        table = cast(Table, QuotaUsage.__table__)
        for resource in resources:
            session.execute(table.insert().values(project_id=project_id, resource=resource, in_use=1))
        ensure(self, session, project_id, resources)

    monkeypatch.setattr(QuotaManager, "_ensure_rows", concurrent_first_claim)
    with compute.runtime.db.session() as s:
        quotas.claim(s, "fresh-project", {"instances": 1}, {**quotas.limits(s, "fresh-project"), "instances": limit})
    assert _in_use(compute, "fresh-project", "instances") == 2


def test_a_claim_over_the_limit_is_still_refused(compute: Any) -> None:
    quotas: QuotaManager = compute.quotas
    with compute.runtime.db.session() as s:
        limits = {**quotas.limits(s, "small-project"), "instances": 1}
        quotas.claim(s, "small-project", {"instances": 1}, limits)
    with pytest.raises(OverQuota, match="Quota exceeded for instances: Requested 1, but already used 1 of 1"):
        with compute.runtime.db.session() as s:
            quotas.claim(s, "small-project", {"instances": 1}, limits)
    assert _in_use(compute, "small-project", "instances") == 1
