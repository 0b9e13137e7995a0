"""VNIs are picked at random from the cloud's range, so two clouds on one host (or a stopped
cloud's leftover devices) do not all want 1001 first (issue 22, part 6)."""

from __future__ import annotations

import random

from overcast.network.networks import free_vni


def test_free_vni_is_random_free_and_exhaustible() -> None:
    rng = random.Random(7)
    picks = [free_vni(1001, 65000, set(), rng) for _ in range(20)]
    assert all(1001 <= p <= 65000 for p in picks)
    assert sorted(picks) != list(range(1001, 1021)) and len(set(picks)) > 15
    assert free_vni(5, 5, set(), rng) == 5
    assert free_vni(5, 6, {5}, rng) == 6
    assert free_vni(5, 6, {5, 6}, rng) is None
    nearly_full = set(range(1, 1000)) - {640}
    assert free_vni(1, 999, nearly_full, rng) == 640  # the scan finds the last one


def test_networks_get_distinct_vnis_not_counted_from_the_bottom(cloud) -> None:
    h = cloud.admin_headers
    vnis = []
    for i in range(5):
        r = cloud.client.post("/networking/v2.0/networks", json={"network": {"name": f"n{i}"}}, headers=h)
        assert r.status_code == 201, r.text
        vnis.append(r.json()["network"]["provider:segmentation_id"])
    assert len(set(vnis)) == 5 and vnis != list(range(1001, 1006))
