"""``GET /metrics``: Prometheus's text format for allowed addresses only; request counts by
route name (never the raw path), latencies, driver calls and errors, hosts by status."""

from __future__ import annotations

import warnings
from typing import Any

from overcast.api.metrics import allowed


def _client(cloud: Any, address: str) -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from starlette.testclient import TestClient
    return TestClient(cloud.app, base_url="http://testserver", client=(address, 40000))


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels...}``'s value (labels matched as a subset)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        body = line[len(name) + 1 : line.index("}")]
        found = dict(part.split("=", 1) for part in body.split(","))
        if all(found.get(k) == f'"{v}"' for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{labels} in metrics")


def test_metrics_refused_to_other_addresses(cloud: Any) -> None:
    assert _client(cloud, "192.0.2.7").get("/metrics").status_code == 403
    assert cloud.client.get("/metrics").status_code == 403  # the test client's "testclient" is no address
    assert allowed("10.1.2.3", ["10.0.0.0/8"]) and not allowed("10.1.2.3", ["127.0.0.0/8"])
    assert allowed("::1", ["::1/128"]) and not allowed(None, ["0.0.0.0/0"])


def test_metrics_count_requests_by_route(cloud: Any) -> None:
    scraper = _client(cloud, "127.0.0.1")
    before = scraper.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain; version=")
    for _ in range(3):
        r = cloud.request("GET", "/compute/v2.1/servers/00000000-0000-0000-0000-000000000000", cloud.admin_token)
        assert r.status_code == 404
    cloud.request("GET", "/definitely/not/a/route")
    text = scraper.get("/metrics").text

    route = "show_server"
    assert _value(text, "overcast_http_requests_total", service="compute", route=route, status="404") >= 3
    assert _value(text, "overcast_http_request_duration_seconds_count", service="compute", route=route) >= 3
    assert "00000000-0000-0000-0000-000000000000" not in text  # ids never become labels
    assert _value(text, "overcast_http_requests_total", service="other", route="unmatched", status="404") >= 1
    assert "definitely" not in text
    # hosts by Nova host_status, read from the database at scrape time
    assert _value(text, "overcast_hosts", status="UP") + _value(text, "overcast_hosts", status="UNKNOWN") >= 1


def test_driver_calls_and_errors_are_counted(overcast_runtime: Any) -> None:
    import pytest

    from overcast import metrics

    pm = overcast_runtime.plugins
    driver = pm.driver("volume", "fake")
    calls_before = metrics.DRIVER_CALLS.labels("volume", "fake", "delete")._value.get()
    with pytest.raises(Exception) as raised:
        driver.delete(backend="nope", volume=None)  # the fake refuses what it does not hold
    text = metrics.render().decode()
    assert metrics.DRIVER_CALLS.labels("volume", "fake", "delete")._value.get() == calls_before + 1
    assert _value(text, "overcast_driver_errors_total", kind="volume", driver="fake", operation="delete") >= 1
    assert type(raised.value).__name__ in text
