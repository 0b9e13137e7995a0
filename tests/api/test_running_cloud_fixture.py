"""The ``running_cloud`` fixture itself: extra config reaches the real server."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("running_cloud", [{"api": {"region": "RegionTwo"}}], indirect=True)
def test_extra_config_reaches_the_server(running_cloud) -> None:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"id": "default"}, "password": running_cloud.admin_password}
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
        }
    }
    r = httpx.post(running_cloud.auth_url + "/v3/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201
    regions = {e["region"] for s in r.json()["token"]["catalog"] for e in s["endpoints"]}
    assert regions == {"RegionTwo"}
    assert running_cloud.env["OS_CLOUD"] == "overcast" and running_cloud.process.poll() is None
