"""The catalog as data (regions, services, endpoints), OS-POLICY blobs, credentials and
project tags (issue 16)."""

from __future__ import annotations

import json

V3 = "/identity/v3"


def _admin(cloud, method, path, **kw):
    return cloud.request(method, V3 + path, token=cloud.admin_token, **kw)


def test_regions(cloud) -> None:
    top = _admin(cloud, "POST", "/regions", json={"region": {"description": "top"}})
    assert top.status_code == 201
    top_id = top.json()["region"]["id"]
    named = _admin(cloud, "PUT", "/regions/RegionTwo", json={"region": {"parent_region_id": top_id}})
    assert named.status_code == 201 and named.json()["region"]["parent_region_id"] == top_id
    assert _admin(cloud, "PUT", "/regions/RegionTwo", json={"region": {}}).status_code == 409
    assert _admin(cloud, "POST", "/regions", json={"region": {"parent_region_id": "nope"}}).status_code == 404
    children = _admin(cloud, "GET", f"/regions?parent_region_id={top_id}").json()["regions"]
    assert [r["id"] for r in children] == ["RegionTwo"]
    # no cycles
    cycle = _admin(cloud, "PATCH", f"/regions/{top_id}", json={"region": {"parent_region_id": "RegionTwo"}})
    assert cycle.status_code == 400
    # the configured region is listed and cannot be changed
    builtin = cloud.runtime.config.api.region
    assert builtin in {r["id"] for r in _admin(cloud, "GET", "/regions").json()["regions"]}
    assert _admin(cloud, "DELETE", f"/regions/{builtin}").status_code == 403
    # deleting a region takes its children along
    assert _admin(cloud, "DELETE", f"/regions/{top_id}").status_code == 204
    assert _admin(cloud, "GET", "/regions/RegionTwo").status_code == 404


def test_services_and_endpoints_reach_the_token_catalog(cloud) -> None:
    svc = _admin(cloud, "POST", "/services", json={"service": {"type": "metering", "name": "meter"}})
    assert svc.status_code == 201
    sid = svc.json()["service"]["id"]
    assert [s["id"] for s in _admin(cloud, "GET", "/services?type=metering").json()["services"]] == [sid]
    body = {"service_id": sid, "interface": "public", "url": "http://m.example/$(project_id)s", "region": "Mars"}
    ep = _admin(cloud, "POST", "/endpoints", json={"endpoint": body})
    assert ep.status_code == 201, ep.text
    ep_id = ep.json()["endpoint"]["id"]
    assert ep.json()["endpoint"]["region"] == ep.json()["endpoint"]["region_id"] == "Mars"
    assert _admin(cloud, "GET", "/regions/Mars").status_code == 200  # made on the way, as Keystone does
    assert _admin(cloud, "DELETE", "/regions/Mars").status_code == 403  # it has an endpoint
    listed = _admin(cloud, "GET", f"/endpoints?service_id={sid}").json()["endpoints"]
    assert [e["id"] for e in listed] == [ep_id]

    catalog = _admin(cloud, "GET", "/auth/catalog").json()["catalog"]
    meter = next(s for s in catalog if s["type"] == "metering")
    assert meter["endpoints"][0]["url"] == f"http://m.example/{cloud.admin_project_id}"

    for bad in ("False", "True"):
        r = _admin(cloud, "PATCH", f"/endpoints/{ep_id}", json={"endpoint": {"enabled": bad}})
        assert r.status_code == 400
    bad_iface = {**body, "interface": "private"}
    assert _admin(cloud, "POST", "/endpoints", json={"endpoint": bad_iface}).status_code == 400
    up = _admin(cloud, "PATCH", f"/endpoints/{ep_id}", json={"endpoint": {"enabled": False, "interface": "internal"}})
    assert up.json()["endpoint"]["enabled"] is False and up.json()["endpoint"]["interface"] == "internal"
    catalog = _admin(cloud, "GET", "/auth/catalog").json()["catalog"]
    assert not any(s["type"] == "metering" for s in catalog)

    # deleting the service deletes its endpoints
    assert _admin(cloud, "DELETE", f"/services/{sid}").status_code == 204
    assert _admin(cloud, "GET", f"/endpoints/{ep_id}").status_code == 404
    assert _admin(cloud, "GET", f"/services/{sid}").status_code == 404


def test_builtin_catalog_is_read_only_and_admin_only(cloud) -> None:
    services = _admin(cloud, "GET", "/services?type=compute").json()["services"]
    assert len(services) == 1
    assert _admin(cloud, "DELETE", f"/services/{services[0]['id']}").status_code == 403
    _, _, token = cloud.new_project_user(role="member")
    create = cloud.request("POST", V3 + "/services", token=token, json={"service": {"type": "x"}})
    assert create.status_code == 403


def test_policies(cloud) -> None:
    r = _admin(cloud, "POST", "/policies", json={"policy": {"type": "application/json", "blob": '{"a": "b"}'}})
    assert r.status_code == 201
    pid = r.json()["policy"]["id"]
    assert _admin(cloud, "GET", f"/policies/{pid}").json()["policy"]["blob"] == '{"a": "b"}'
    up = _admin(cloud, "PATCH", f"/policies/{pid}", json={"policy": {"type": "text/plain"}})
    assert up.json()["policy"]["type"] == "text/plain" and up.json()["policy"]["blob"] == '{"a": "b"}'
    assert pid in {p["id"] for p in _admin(cloud, "GET", "/policies").json()["policies"]}
    assert _admin(cloud, "POST", "/policies", json={"policy": {"type": "x"}}).status_code == 400
    _, _, token = cloud.new_project_user(role="member")
    assert cloud.request("GET", V3 + "/policies", token=token).status_code == 403
    assert _admin(cloud, "DELETE", f"/policies/{pid}").status_code == 204
    assert _admin(cloud, "GET", f"/policies/{pid}").status_code == 404


def test_credentials_belong_to_their_user(cloud) -> None:
    pa, ua, ta = cloud.new_project_user(role="member")
    pb, ub, tb = cloud.new_project_user(role="member")
    blob = json.dumps({"access": "AK1", "secret": "S1"})
    r = cloud.request(
        "POST",
        V3 + "/credentials",
        token=ta,
        json={"credential": {"user_id": ua, "project_id": pa, "type": "ec2", "blob": blob}},
    )
    assert r.status_code == 201, r.text
    cid = r.json()["credential"]["id"]
    # ec2: the id is the SHA-256 of the access key, so the same key twice conflicts
    again = {"credential": {"user_id": ua, "project_id": pa, "type": "ec2", "blob": blob}}
    assert cloud.request("POST", V3 + "/credentials", token=ta, json=again).status_code == 409
    no_project = {"credential": {"user_id": ua, "type": "ec2", "blob": json.dumps({"access": "AK2"})}}
    assert cloud.request("POST", V3 + "/credentials", token=ta, json=no_project).status_code == 400
    # another user neither sees nor changes it, nor makes credentials for someone else
    assert cloud.request("GET", V3 + f"/credentials/{cid}", token=tb).status_code == 404
    assert cloud.request("DELETE", V3 + f"/credentials/{cid}", token=tb).status_code == 404
    assert cloud.request("GET", V3 + "/credentials", token=tb).json()["credentials"] == []
    theft = {"credential": {"user_id": ua, "project_id": pb, "type": "totp", "blob": "x"}}
    assert cloud.request("POST", V3 + "/credentials", token=tb, json=theft).status_code == 400
    # the owner and an admin do
    new_blob = json.dumps({"access": "AK1", "secret": "S2"})
    up = cloud.request("PATCH", V3 + f"/credentials/{cid}", token=ta, json={"credential": {"blob": new_blob}})
    assert json.loads(up.json()["credential"]["blob"])["secret"] == "S2"
    assert cid in {c["id"] for c in _admin(cloud, "GET", "/credentials").json()["credentials"]}
    assert cloud.request("DELETE", V3 + f"/credentials/{cid}", token=ta).status_code == 204
    # a project's credentials go with it
    kept = {"credential": {"user_id": ua, "project_id": pa, "type": "totp", "blob": "seed"}}
    kid = cloud.request("POST", V3 + "/credentials", token=ta, json=kept).json()["credential"]["id"]
    assert _admin(cloud, "DELETE", f"/projects/{pa}").status_code == 204
    assert _admin(cloud, "GET", f"/credentials/{kid}").status_code == 404


def test_project_tags(cloud) -> None:
    pid = _admin(cloud, "POST", "/projects", json={"project": {"name": "p", "tags": ["a"]}}).json()["project"]["id"]
    assert _admin(cloud, "PUT", f"/projects/{pid}/tags/b").status_code == 201
    assert _admin(cloud, "GET", f"/projects/{pid}/tags/b").status_code == 204
    assert sorted(_admin(cloud, "GET", f"/projects/{pid}/tags").json()["tags"]) == ["a", "b"]
    assert [p["id"] for p in _admin(cloud, "GET", "/projects?tags=a,b").json()["projects"]] == [pid]
    assert pid not in {p["id"] for p in _admin(cloud, "GET", "/projects?not-tags-any=b").json()["projects"]}
    put = _admin(cloud, "PUT", f"/projects/{pid}/tags", json={"tags": ["x", "y"]})
    assert put.status_code == 200 and sorted(put.json()["tags"]) == ["x", "y"]
    assert _admin(cloud, "PUT", f"/projects/{pid}/tags", json={"tags": ["a/b"]}).status_code == 400
    assert _admin(cloud, "PUT", f"/projects/{pid}/tags", json={"tags": ["d", "d"]}).status_code == 400
    assert _admin(cloud, "DELETE", f"/projects/{pid}/tags/x").status_code == 204
    assert _admin(cloud, "GET", f"/projects/{pid}/tags/x").status_code == 404
    assert _admin(cloud, "DELETE", f"/projects/{pid}/tags").status_code == 204
    assert _admin(cloud, "GET", f"/projects/{pid}/tags").json()["tags"] == []
    # a member reads its own project's tags and changes none; another project is not there
    own, _, token = cloud.new_project_user(role="member")
    assert cloud.request("GET", V3 + f"/projects/{own}/tags", token=token).status_code == 200
    assert cloud.request("PUT", V3 + f"/projects/{own}/tags/z", token=token).status_code == 403
    assert cloud.request("GET", V3 + f"/projects/{pid}/tags", token=token).status_code == 404


def test_ec2_credentials(cloud) -> None:
    pa, ua, ta = cloud.new_project_user(role="member")
    pb, ub, tb = cloud.new_project_user(role="member")
    path = f"/users/{ua}/credentials/OS-EC2"
    r = cloud.request("POST", V3 + path, token=ta, json={"tenant_id": pa})
    assert r.status_code == 201, r.text
    cred = r.json()["credential"]
    assert cred["user_id"] == ua and cred["tenant_id"] == pa and cred["access"] and cred["secret"]
    shown = cloud.request("GET", V3 + f"{path}/{cred['access']}", token=ta).json()["credential"]
    assert shown["secret"] == cred["secret"]
    assert [c["access"] for c in cloud.request("GET", V3 + path, token=ta).json()["credentials"]] == [cred["access"]]
    # it is an ec2 credential in /v3/credentials too
    assert cloud.request("GET", V3 + "/credentials?type=ec2", token=ta).json()["credentials"][0]["user_id"] == ua
    # a project without a role of the user's is refused; another user sees nothing
    assert cloud.request("POST", V3 + path, token=ta, json={"tenant_id": pb}).status_code == 403
    assert cloud.request("GET", V3 + path, token=tb).status_code == 404
    assert cloud.request("DELETE", V3 + f"{path}/{cred['access']}", token=tb).status_code == 404
    assert cloud.request("DELETE", V3 + f"{path}/{cred['access']}", token=ta).status_code == 204
    assert cloud.request("GET", V3 + f"{path}/{cred['access']}", token=ta).status_code == 404


def test_endpoint_groups_narrow_a_projects_catalog(cloud) -> None:
    ep = "/OS-EP-FILTER"
    compute = _admin(cloud, "GET", "/services?type=compute").json()["services"][0]["id"]
    r = _admin(
        cloud,
        "POST",
        f"{ep}/endpoint_groups",
        json={"endpoint_group": {"name": "g", "filters": {"service_id": compute}}},
    )
    assert r.status_code == 201, r.text
    gid = r.json()["endpoint_group"]["id"]
    bad = {"endpoint_group": {"name": "g2", "filters": {"colour": "blue"}}}
    assert _admin(cloud, "POST", f"{ep}/endpoint_groups", json=bad).status_code == 400
    assert _admin(cloud, "HEAD", f"{ep}/endpoint_groups/{gid}").status_code == 200
    assert {
        e["service_id"] for e in _admin(cloud, "GET", f"{ep}/endpoint_groups/{gid}/endpoints").json()["endpoints"]
    } == {compute}
    project, user, token = cloud.new_project_user(role="member")
    # no association: the whole catalog
    full = cloud.request("GET", V3 + "/auth/catalog", token=token).json()["catalog"]
    assert len({s["type"] for s in full}) > 1
    assert _admin(cloud, "PUT", f"{ep}/endpoint_groups/{gid}/projects/{project}").status_code == 204
    assert _admin(cloud, "GET", f"{ep}/endpoint_groups/{gid}/projects/{project}").json()["project"]["id"] == project
    narrowed = cloud.request("GET", V3 + "/auth/catalog", token=token).json()["catalog"]
    assert [s["type"] for s in narrowed] == ["compute"]
    # the admin's project is not narrowed
    assert len(_admin(cloud, "GET", "/auth/catalog").json()["catalog"]) == len(full)
    # a direct endpoint association adds to it
    image = next(s for s in full if s["type"] == "image")["endpoints"][0]["id"]
    assert _admin(cloud, "PUT", f"{ep}/projects/{project}/endpoints/{image}").status_code == 204
    assert _admin(cloud, "HEAD", f"{ep}/projects/{project}/endpoints/{image}").status_code == 204
    narrowed = cloud.request("GET", V3 + "/auth/catalog", token=token).json()["catalog"]
    assert sorted(s["type"] for s in narrowed) == ["compute", "image"]
    assert _admin(cloud, "PUT", f"{ep}/projects/{project}/endpoints/nope").status_code == 404
    # the group and the endpoint go: the whole catalog again
    assert _admin(cloud, "DELETE", f"{ep}/endpoint_groups/{gid}").status_code == 204
    assert _admin(cloud, "DELETE", f"{ep}/projects/{project}/endpoints/{image}").status_code == 204
    again = cloud.request("GET", V3 + "/auth/catalog", token=token).json()["catalog"]
    assert len(again) == len(full)
    # members neither see nor make endpoint groups
    assert cloud.request("GET", V3 + f"{ep}/endpoint_groups", token=token).status_code == 403
