"""``os-quota-class-sets``: the ``default`` class sets every project's defaults."""


def test_default_class_sets_the_defaults(api) -> None:
    shown = api("GET", "/os-quota-class-sets/default", "admin").json()["quota_class_set"]
    assert shown["id"] == "default" and "floating_ips" in shown and "server_groups" not in shown
    assert api("GET", "/os-quota-class-sets/default", "p1").status_code == 403
    body = {k: v for k, v in shown.items() if k != "id"}
    own = {k: v + 100 for k, v in body.items() if k not in ("floating_ips", "security_groups", "security_group_rules")}
    r = api("PUT", "/os-quota-class-sets/default", "admin", {"quota_class_set": {**body, **own}})
    assert r.status_code == 200, r.text
    assert "id" not in r.json()["quota_class_set"] and r.json()["quota_class_set"]["instances"] == own["instances"]
    project = api.projects["p1"]
    defaults = api("GET", f"/os-quota-sets/{project}/defaults", "p1").json()["quota_set"]
    assert defaults["instances"] == own["instances"] and defaults["cores"] == own["cores"]
    assert api("GET", f"/os-quota-sets/{project}", "p1").json()["quota_set"]["instances"] == own["instances"]
    # the network service's keys are its own configuration: unchanged is fine, a change is refused
    changed = {"quota_class_set": {"floating_ips": body["floating_ips"] + 1}}
    assert api("PUT", "/os-quota-class-sets/default", "admin", changed).status_code == 400
    assert api("PUT", "/os-quota-class-sets/default", "admin", {"quota_class_set": {"bogus": 1}}).status_code == 400
    at_257 = api("GET", "/os-quota-class-sets/default", "admin", version="2.57").json()["quota_class_set"]
    assert "server_groups" in at_257 and "floating_ips" not in at_257 and "injected_files" not in at_257
    r = api("PUT", "/os-quota-class-sets/default", "admin", {"quota_class_set": {"server_groups": 55}}, version="2.57")
    assert r.status_code == 200 and r.json()["quota_class_set"]["server_groups"] == 55
    # another class has the default class's values where it has none of its own
    other = api("GET", "/os-quota-class-sets/gold", "admin").json()["quota_class_set"]
    assert other["id"] == "gold" and other["instances"] == own["instances"]
