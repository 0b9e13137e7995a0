"""The metadata definitions catalog (``/image/v2/metadefs``) through the ASGI app:
namespaces and their objects, properties, tags and resource type associations; Glance's
visibility and protected rules; refusals in Glance's error format."""

from __future__ import annotations

import html
from typing import Any

NS = "/image/v2/metadefs/namespaces"


def _namespace(api: Any, name: str = "OS::Test::Thing", **body: Any) -> dict[str, Any]:
    r = api.admin.post(NS, json={"namespace": name, **body})
    assert r.status_code == 201, r.text
    return r.json()


def _error(r: Any, status: int, text: str) -> None:
    """Glance's error page (HTML unless the client accepts JSON) names the problem."""
    assert r.status_code == status, r.text
    assert text in html.unescape(r.text), r.text


def test_resource_types_are_seeded(api):
    r = api.a.get("/image/v2/metadefs/resource_types")
    assert r.status_code == 200
    names = [t["name"] for t in r.json()["resource_types"]]
    assert "OS::Glance::Image" in names and "OS::Cinder::Volume" in names
    assert all(t["created_at"] for t in r.json()["resource_types"])


def test_namespace_lifecycle_protected_and_visibility(api):
    created = _namespace(
        api,
        visibility="public",
        display_name="Thing",
        description="Tempest-like",
        protected=True,
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "thing_"}],
        properties={"cores": {"title": "Cores", "type": "integer", "minimum": 1}},
        tags=[{"name": "alpha"}],
    )
    assert created["namespace"] == "OS::Test::Thing" and created["protected"] is True
    assert (
        created["self"] == "/v2/metadefs/namespaces/OS::Test::Thing"
        and created["schema"] == "/v2/schemas/metadefs/namespace"
    )
    assert created["properties"]["cores"]["type"] == "integer"
    # a public namespace: members see it (and its contents) but cannot change it
    shown = api.a.get(f"{NS}/OS::Test::Thing").json()
    assert shown["resource_type_associations"][0]["prefix"] == "thing_"
    assert shown["tags"] == [{"name": "alpha"}]
    assert "OS::Test::Thing" in [n["namespace"] for n in api.a.get(NS).json()["namespaces"]]
    filtered = api.a.get(NS, params={"resource_types": "OS::Cinder::Volume"}).json()["namespaces"]
    assert "OS::Test::Thing" not in [n["namespace"] for n in filtered]
    assert api.a.delete(f"{NS}/OS::Test::Thing").status_code == 403
    # protected: 403 until protected is turned off
    _error(api.admin.delete(f"{NS}/OS::Test::Thing"), 403, "is protected and cannot be deleted")
    _error(api.admin.delete(f"{NS}/OS::Test::Thing/properties/cores"), 403, "is protected")
    r = api.admin.put(f"{NS}/OS::Test::Thing", json={"namespace": "OS::Test::Thing", "visibility": "private"})
    assert r.status_code == 200 and r.json()["visibility"] == "private" and r.json()["protected"] is False
    # private: other projects do not see it at all
    _error(api.a.get(f"{NS}/OS::Test::Thing"), 404, "Metadata definition namespace=OS::Test::Thing was not found.")
    assert "OS::Test::Thing" not in [n["namespace"] for n in api.a.get(NS).json()["namespaces"]]
    assert api.admin.delete(f"{NS}/OS::Test::Thing").status_code == 204
    assert api.admin.get(f"{NS}/OS::Test::Thing").status_code == 404


def test_namespace_refusals(api):
    _namespace(api)
    _error(api.admin.post(NS, json={"namespace": "OS::Test::Thing"}), 409, "already exists")
    _error(api.admin.post(NS, json={"namespace": "x", "visibility": "shared"}), 400, "visibility")
    _error(api.admin.post(NS, json={"display_name": "no name"}), 400, "'namespace' is a required property")
    r = api.a.post(NS, json={"namespace": "OS::Member::Own"}, headers={"Accept": "application/json"})
    assert r.status_code == 403
    assert r.json()["code"] == "403 Forbidden" and r.json()["title"] == "Forbidden"
    r = api.admin.post(NS, json={"namespace": "OS::Test::Thing"}, headers={"Accept": "application/json"})
    assert r.json() == {
        "message": "The metadata definition namespace=OS::Test::Thing already exists.",
        "code": "409 Conflict",
        "title": "Conflict",
    }


def test_objects(api):
    _namespace(api, visibility="public")
    base = f"{NS}/OS::Test::Thing/objects"
    body = {"name": "CPU", "required": ["cores"], "properties": {"cores": {"title": "Cores", "type": "integer"}}}
    r = api.admin.post(base, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["self"] == "/v2/metadefs/namespaces/OS::Test::Thing/objects/CPU"
    _error(api.admin.post(base, json=body), 409, "already exists in namespace=OS::Test::Thing")
    assert [o["name"] for o in api.a.get(base).json()["objects"]] == ["CPU"]
    r = api.admin.put(f"{base}/CPU", json={"name": "Processor", "description": "d"})
    assert r.status_code == 200 and r.json()["name"] == "Processor" and r.json()["properties"] == {}
    _error(api.a.get(f"{base}/CPU"), 404, "The metadata definition object with name=CPU was not found")
    assert api.admin.delete(f"{base}/Processor").status_code == 204
    assert api.admin.get(base).json()["objects"] == []


def test_properties(api):
    _namespace(api, visibility="public", resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "t_"}])
    base = f"{NS}/OS::Test::Thing/properties"
    r = api.admin.post(base, json={"name": "hv", "title": "HV", "type": "string", "enum": ["kvm", "qemu"]})
    assert r.status_code == 201 and r.json() == {"name": "hv", "title": "HV", "type": "string", "enum": ["kvm", "qemu"]}
    _error(api.admin.post(base, json={"name": "bad", "title": "B", "type": "color"}), 400, "'type'")
    assert api.a.get(base).json()["properties"] == {"hv": {"title": "HV", "type": "string", "enum": ["kvm", "qemu"]}}
    assert api.a.get(f"{base}/t_hv", params={"resource_type": "OS::Glance::Image"}).json()["name"] == "hv"
    r = api.admin.put(f"{base}/hv", json={"name": "hv", "title": "Hypervisor", "type": "string"})
    assert r.status_code == 200 and r.json()["title"] == "Hypervisor"
    assert api.admin.delete(f"{base}/hv").status_code == 204
    _error(api.admin.get(f"{base}/hv"), 404, "property with name=hv was not found")


def test_tags(api):
    _namespace(api)
    base = f"{NS}/OS::Test::Thing/tags"
    r = api.admin.post(base, json={"tags": [{"name": "a"}, {"name": "b"}]})
    assert r.status_code == 201 and r.json() == {"tags": [{"name": "a"}, {"name": "b"}]}
    # without X-Openstack-Append the set is replaced; with it, added to
    api.admin.post(base, json={"tags": [{"name": "c"}]})
    assert [t["name"] for t in api.admin.get(base).json()["tags"]] == ["c"]
    api.admin.post(base, json={"tags": [{"name": "d"}]}, headers={"X-Openstack-Append": "True"})
    assert sorted(t["name"] for t in api.admin.get(base).json()["tags"]) == ["c", "d"]
    _error(api.admin.post(f"{base}/C"), 409, "case insensitive")
    assert api.admin.post(f"{base}/e").status_code == 201
    r = api.admin.put(f"{base}/e", json={"name": "f"})
    assert r.status_code == 200 and r.json()["name"] == "f"
    assert api.admin.get(f"{base}/f").json()["name"] == "f"
    assert api.admin.delete(f"{base}/f").status_code == 204
    assert api.admin.delete(base).status_code == 204
    assert api.admin.get(base).json()["tags"] == []
    # a private namespace's tags are as invisible to other projects as the namespace
    _error(api.a.get(base), 404, "was not found")


def test_resource_type_associations(api):
    _namespace(api)
    base = f"{NS}/OS::Test::Thing/resource_types"
    r = api.admin.post(base, json={"name": "OS::Nova::Flavor", "prefix": "hw:"})
    assert r.status_code == 201 and r.json()["name"] == "OS::Nova::Flavor" and r.json()["prefix"] == "hw:"
    _error(api.admin.post(base, json={"name": "OS::Nova::Flavor"}), 409, "already exists")
    assert [a["name"] for a in api.admin.get(base).json()["resource_type_associations"]] == ["OS::Nova::Flavor"]
    assert api.admin.delete(f"{base}/OS::Nova::Flavor").status_code == 204
    assert api.admin.get(base).json()["resource_type_associations"] == []
    _error(api.admin.delete(f"{base}/OS::Nova::Flavor"), 404, "was not found")


def test_schemas(api):
    names = {
        "namespace": "namespace",
        "namespaces": "namespaces",
        "resource_type": "resource_type_association",
        "resource_types": "resource_type_associations",
        "object": "object",
        "objects": "objects",
        "property": "property",
        "properties": "properties",
        "tag": "tag",
        "tags": "tags",
    }
    for path, name in names.items():
        r = api.a.get(f"/image/v2/schemas/metadefs/{path}")
        assert r.status_code == 200 and r.json()["name"] == name
    assert api.a.get("/image/v2/schemas/metadefs/nothing").status_code == 404
    assert api.a.get("/image/v2/schemas/task").json()["name"] == "task"
    assert api.a.get("/image/v2/schemas/tasks").json()["name"] == "tasks"
