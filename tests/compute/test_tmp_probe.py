def test_probe(api, api_flavor, compute):
    from .conftest import IMAGE_ID, api_wait

    body = {"server": {"name": "x", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", "p1", body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE")
    b2 = {
        "server": {"name": "y", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"},
        "os:scheduler_hints": {"same_host": sid},
    }
    r = api("POST", "/servers", "p1", b2)
    print("HINT", r.status_code, r.text[:300])
    if r.status_code == 202:
        print("HINT2", api_wait(api, compute, r.json()["server"]["id"], "ACTIVE")["status"])
    r = api("GET", "/os-simple-tenant-usage/?start=2026-01-01T00:00:00&end=2026-02-01T00:00:00", "admin")
    print("USAGE", r.status_code, r.text[:200])
    assert 0
