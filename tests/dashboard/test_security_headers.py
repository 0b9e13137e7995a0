"""Security headers on dashboard responses (issue 22, part 9)."""

from __future__ import annotations


def test_dashboard_responses_carry_security_headers_and_apis_do_not(cloud) -> None:
    for path in ("/login", "/overview", "/static/style.css"):
        r = cloud.client.get(path, follow_redirects=False)
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff", path
        assert (
            "frame-ancestors 'none'" in r.headers["content-security-policy"]
            and "object-src 'none'" in r.headers["content-security-policy"]
        )
        assert r.headers["referrer-policy"] == "same-origin"
    assert cloud.client.get("/login").headers["cache-control"] == "no-store"
    assert cloud.client.get("/static/style.css").headers["cache-control"] == "max-age=3600"  # its own, kept
    assert (
        "content-security-policy" not in cloud.client.get("/compute/v2.1/flavors", headers=cloud.admin_headers).headers
    )
