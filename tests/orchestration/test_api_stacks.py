"""The orchestration API in process over the fake drivers: stacks through their whole life
(create, lookup, show, outputs, resources, events, update, delete), failures with rollback,
validation with Heat's messages and fault body, isolation between projects, restarts."""

from __future__ import annotations

from typing import Any

from overcast.db.models.orchestration import Stack
from overcast.orchestration.service import OrchestrationService

from .conftest import Heat

HOT = "2018-08-31"


def net_template() -> dict[str, Any]:
    return {
        "heat_template_version": HOT,
        "description": "a network with a router",
        "parameters": {"cidr": {"type": "string", "default": "10.20.0.0/24"}},
        "resources": {
            "net": {
                "type": "OS::Neutron::Net",
                "properties": {"name": {"list_join": ["-", [{"get_param": "OS::stack_name"}, "net"]]}},
            },
            "sub": {
                "type": "OS::Neutron::Subnet",
                "properties": {"network": {"get_resource": "net"}, "cidr": {"get_param": "cidr"}},
            },
            "router": {"type": "OS::Neutron::Router"},
            "iface": {
                "type": "OS::Neutron::RouterInterface",
                "properties": {"router": {"get_resource": "router"}, "subnet": {"get_resource": "sub"}},
            },
            "sg": {
                "type": "OS::Neutron::SecurityGroup",
                "properties": {"rules": [{"protocol": "tcp", "port_range_min": 80, "port_range_max": 80}]},
            },
            "vol": {"type": "OS::Cinder::Volume", "properties": {"size": 1, "name": "data"}},
            "pw": {"type": "OS::Heat::RandomString", "properties": {"length": 12}},
        },
        "outputs": {
            "cidr": {"description": "the subnet", "value": {"get_attr": ["sub", "cidr"]}},
            "pw_len": {"value": {"str_replace": {"template": "n=$n", "params": {"$n": {"get_param": "cidr"}}}}},
        },
    }


def test_stack_life_cycle(heat: Heat) -> None:
    st = heat.create_ok("web", net_template())
    sid = st["id"]
    assert st["stack_name"] == "web" and st["description"] == "a network with a router"
    assert st["parameters"]["cidr"] == "10.20.0.0/24" and st["parameters"]["OS::stack_name"] == "web"
    assert {o["output_key"]: o["output_value"] for o in st["outputs"]}["cidr"] == "10.20.0.0/24"
    assert st["links"][0]["href"].endswith(f"/orchestration/v1/{heat.project_id}/stacks/web/{sid}")

    # lookup by name (and by id) answers 302 to name/id, keeping the sub-path and the query
    r = heat.request("GET", "/stacks/web")
    assert r.status_code == 302 and r.headers["location"].endswith(f"/stacks/web/{sid}")
    r = heat.request("GET", f"/stacks/{sid}/events?sort_dir=asc")
    assert r.status_code == 302 and r.headers["location"].endswith(f"/stacks/web/{sid}/events?sort_dir=asc")
    assert heat.request("GET", "/stacks/nope").json()["error"]["message"] == "The Stack (nope) could not be found."

    listed = heat.request("GET", "/stacks").json()["stacks"]
    assert [s["id"] for s in listed] == [sid] and listed[0]["stack_status"] == "CREATE_COMPLETE"
    assert "parameters" not in listed[0]

    res = heat.resources("web", sid)
    assert set(res) == {"net", "sub", "router", "iface", "sg", "vol", "pw"}
    assert all(r["resource_status"] == "CREATE_COMPLETE" for r in res.values())
    assert set(res["net"]["required_by"]) == {"sub"} and set(res["sub"]["required_by"]) == {"iface"}
    shown = heat.request("GET", f"/stacks/web/{sid}/resources/sub").json()["resource"]
    assert (
        shown["attributes"]["cidr"] == "10.20.0.0/24"
        and shown["physical_resource_id"] == res["sub"]["physical_resource_id"]
    )
    net = heat.cloud.request("GET", f"/networking/v2.0/networks/{res['net']['physical_resource_id']}", token=heat.token)
    assert net.status_code == 200 and net.json()["network"]["name"] == "web-net"

    events = heat.events("web", sid)
    assert events[0]["resource_name"] == "web" and events[0]["resource_status"] == "CREATE_IN_PROGRESS"
    assert events[-1]["resource_status"] == "CREATE_COMPLETE"
    assert events[-1]["resource_status_reason"] == "Stack CREATE completed successfully"
    # a dependency completes before its dependent starts
    idx = {(e["resource_name"], e["resource_status"]): i for i, e in enumerate(events)}
    assert idx[("net", "CREATE_COMPLETE")] < idx[("sub", "CREATE_IN_PROGRESS")]
    assert idx[("sub", "CREATE_COMPLETE")] < idx[("iface", "CREATE_IN_PROGRESS")]
    marker = events[2]["id"]
    after = heat.request("GET", f"/stacks/web/{sid}/events?marker={marker}&limit=2").json()["events"]
    assert [e["id"] for e in after] == [e["id"] for e in events[3:5]]
    assert heat.request("GET", f"/stacks/web/{sid}/outputs/cidr").json()["output"]["output_value"] == "10.20.0.0/24"

    # same name again: 409, Heat's text
    r = heat.create("web", net_template())
    assert r.status_code == 409 and r.json()["error"] == {
        "message": "The Stack (web) already exists.",
        "traceback": None,
        "type": "StackExists",
    }

    assert heat.request("DELETE", f"/stacks/web/{sid}").status_code == 204
    done = heat.wait("web", sid)
    assert done["stack_status"] == "DELETE_COMPLETE"
    assert heat.request("GET", "/stacks").json()["stacks"] == []
    assert heat.request("GET", "/stacks/web").status_code == 404
    # nothing is left in any service
    for path, key in (
        ("/networking/v2.0/networks", "networks"),
        ("/networking/v2.0/routers", "routers"),
        ("/volume/v3/{p}/volumes", "volumes"),
    ):
        found = heat.cloud.request("GET", path.format(p=heat.project_id), token=heat.token).json()[key]
        assert found == [], (path, found)
    groups = heat.cloud.request("GET", "/networking/v2.0/security-groups", token=heat.token).json()["security_groups"]
    assert [g["name"] for g in groups] == ["default"]
    # the deleted stack's events are still there by id
    assert heat.events("web", sid)[-1]["resource_status_reason"] == "Stack DELETE completed successfully"


def _image_and_flavors(cloud: Any) -> None:
    h = cloud.admin_headers
    r = cloud.client.post(
        "/image/v2/images",
        headers=h,
        json={"name": "tiny", "disk_format": "raw", "container_format": "bare", "visibility": "public"},
    )
    img = r.json()["id"]
    cloud.client.put(
        f"/image/v2/images/{img}/file", headers={**h, "Content-Type": "application/octet-stream"}, content=b"x" * 1024
    )
    for name, disk in (("small", 1), ("huge", 1_000_000)):  # huge: within quotas, on no host's disk
        r = cloud.client.post(
            "/compute/v2.1/flavors", headers=h, json={"flavor": {"name": name, "ram": 64, "vcpus": 1, "disk": disk}}
        )
        assert r.status_code == 200, r.text


def server_template(flavor: str = "small") -> dict[str, Any]:
    return {
        "heat_template_version": HOT,
        "parameters": {
            "flavor": {"type": "string", "default": flavor, "constraints": [{"custom_constraint": "nova.flavor"}]}
        },
        "resources": {
            "net": {"type": "OS::Neutron::Net"},
            "sub": {
                "type": "OS::Neutron::Subnet",
                "properties": {"network": {"get_resource": "net"}, "cidr": "10.30.0.0/24"},
            },
            "srv": {
                "type": "OS::Nova::Server",
                "depends_on": "sub",
                "properties": {
                    "image": "tiny",
                    "flavor": {"get_param": "flavor"},
                    "networks": [{"network": {"get_resource": "net"}}],
                    "user_data": "#!/bin/sh\necho hi\n",
                },
            },
            "vol": {"type": "OS::Cinder::Volume", "properties": {"size": 1}},
            "att": {
                "type": "OS::Cinder::VolumeAttachment",
                "properties": {"instance_uuid": {"get_resource": "srv"}, "volume_id": {"get_resource": "vol"}},
            },
        },
        "outputs": {"ip": {"value": {"get_attr": ["srv", "first_address"]}}},
    }


def test_server_with_volume(heat: Heat) -> None:
    _image_and_flavors(heat.cloud)
    st = heat.create_ok("vm", server_template())
    assert st["outputs"][0]["output_value"].startswith("10.30.0.")
    res = heat.resources("vm", st["id"])
    vol = heat.cloud.request(
        "GET", f"/volume/v3/{heat.project_id}/volumes/{res['vol']['physical_resource_id']}", token=heat.token
    )
    assert vol.json()["volume"]["status"] == "in-use"
    assert vol.json()["volume"]["attachments"][0]["server_id"] == res["srv"]["physical_resource_id"]
    heat.request("DELETE", f"/stacks/vm/{st['id']}")
    assert heat.wait("vm", st["id"])["stack_status"] == "DELETE_COMPLETE"
    assert heat.cloud.request("GET", "/compute/v2.1/servers", token=heat.token).json()["servers"] == []
    assert heat.cloud.request("GET", f"/volume/v3/{heat.project_id}/volumes", token=heat.token).json()["volumes"] == []


def test_failure_names_the_resource_and_rolls_back(heat: Heat) -> None:
    _image_and_flavors(heat.cloud)
    r = heat.create("bad", server_template("huge"), disable_rollback=False)
    assert r.status_code == 201, r.text
    sid = r.json()["stack"]["id"]
    st = heat.wait("bad", sid)
    assert st["stack_status"] == "ROLLBACK_COMPLETE", st["stack_status_reason"]
    events = heat.events("bad", sid)
    failed = [e for e in events if e["resource_name"] == "bad" and e["resource_status"] == "CREATE_FAILED"]
    assert len(failed) == 1
    reason = failed[0]["resource_status_reason"]
    assert reason.startswith("Resource CREATE failed: ResourceInError: resources.srv: Went to status ERROR due to"), (
        reason
    )
    assert "No valid host was found" in reason
    assert [e["resource_status"] for e in events if e["resource_name"] == "bad"][-2:] == [
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_COMPLETE",
    ]
    assert heat.resources("bad", sid) == {}
    assert heat.cloud.request("GET", "/compute/v2.1/servers", token=heat.token).json()["servers"] == []
    assert heat.cloud.request("GET", "/networking/v2.0/networks", token=heat.token).json()["networks"] == []

    # without rollback the stack stays CREATE_FAILED with the reason
    r = heat.create("bad2", server_template("huge"))
    st = heat.wait("bad2", r.json()["stack"]["id"])
    assert st["stack_status"] == "CREATE_FAILED" and "resources.srv" in st["stack_status_reason"]


def test_unknown_flavor_parameter_is_refused_up_front(heat: Heat) -> None:
    _image_and_flavors(heat.cloud)
    r = heat.create("x", server_template("m1.nope"))
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Parameter 'flavor' is invalid: \"m1.nope\" does not validate nova.flavor"


def group_template(count: Any) -> dict[str, Any]:
    return {
        "heat_template_version": HOT,
        "parameters": {"count": {"type": "number", "default": count}, "length": {"type": "number", "default": 8}},
        "resources": {
            "group": {
                "type": "OS::Heat::ResourceGroup",
                "properties": {
                    "count": {"get_param": "count"},
                    "resource_def": {
                        "type": "OS::Heat::RandomString",
                        "properties": {"length": {"get_param": "length"}, "salt": "m%index%"},
                    },
                },
            },
            "net": {"type": "OS::Neutron::Net", "properties": {"name": "n1"}},
        },
        "outputs": {
            "values": {"value": {"get_attr": ["group", "value"]}},
            "refs": {"value": {"get_attr": ["group", "refs"]}},
        },
    }


def test_update_scales_a_group_and_replaces_or_updates_in_place(heat: Heat) -> None:
    st = heat.create_ok("grp", group_template(2))
    sid = st["id"]
    outs = {o["output_key"]: o["output_value"] for o in st["outputs"]}
    assert len(outs["values"]) == 2 and all(len(v) == 8 for v in outs["values"])
    net_id = heat.resources("grp", sid)["net"]["physical_resource_id"]

    # PATCH: keep the template, change one parameter: the group gains one member
    r = heat.request("PATCH", f"/stacks/grp/{sid}", json={"parameters": {"count": 3}})
    assert r.status_code == 202, r.text
    st = heat.wait("grp", sid)
    assert st["stack_status"] == "UPDATE_COMPLETE", st["stack_status_reason"]
    new = {o["output_key"]: o["output_value"] for o in st["outputs"]}
    assert len(new["values"]) == 3 and new["values"][:2] == outs["values"]  # the first two kept
    nested = heat.request("GET", f"/stacks/grp/{sid}/resources?nested_depth=1").json()["resources"]
    members = [r for r in nested if r.get("parent_resource") == "group"]
    assert sorted(r["resource_name"] for r in members) == ["0", "1", "2"]
    assert all(r["resource_type"] == "OS::Heat::RandomString" for r in members)
    assert any(link["rel"] == "nested" for r in nested if r["resource_name"] == "group" for link in r["links"])
    deep = heat.request("GET", f"/stacks/grp/{sid}/events?nested_depth=1").json()["events"]
    assert {"0", "1", "2"} <= {e["resource_name"] for e in deep}
    assert all(any(link["rel"] == "root_stack" for link in e["links"]) for e in deep)

    # PUT with a new template: the net's name updates in place (same id)
    t = group_template(3)
    t["resources"]["net"]["properties"]["name"] = "n2"
    r = heat.request("PUT", f"/stacks/grp/{sid}", json={"template": t})
    assert r.status_code == 202
    assert heat.wait("grp", sid)["stack_status"] == "UPDATE_COMPLETE"
    assert heat.resources("grp", sid)["net"]["physical_resource_id"] == net_id
    net = heat.cloud.request("GET", f"/networking/v2.0/networks/{net_id}", token=heat.token).json()["network"]
    assert net["name"] == "n2"
    statuses = [(e["resource_name"], e["resource_status"]) for e in heat.events("grp", sid)]
    assert ("net", "UPDATE_COMPLETE") in statuses

    # a property that cannot change in place (RandomString length) replaces each member
    r = heat.request("PATCH", f"/stacks/grp/{sid}", json={"parameters": {"length": 16}})
    st = heat.wait("grp", sid)
    assert st["stack_status"] == "UPDATE_COMPLETE", st["stack_status_reason"]
    vals = {o["output_key"]: o["output_value"] for o in st["outputs"]}["values"]
    assert len(vals) == 3 and all(len(v) == 16 for v in vals)

    # another action while one runs: 409; scale down to 1
    r = heat.request("PATCH", f"/stacks/grp/{sid}", json={"parameters": {"count": 1}})
    assert r.status_code == 202
    st = heat.wait("grp", sid)
    assert len({o["output_key"]: o["output_value"] for o in st["outputs"]}["values"]) == 1


def test_update_failure_rolls_back(heat: Heat) -> None:
    st = heat.create_ok("u", group_template(1), disable_rollback=False)
    sid = st["id"]
    t = group_template(1)
    t["resources"]["sub"] = {
        "type": "OS::Neutron::Subnet",
        "properties": {"network": {"get_resource": "net"}, "cidr": "not-a-cidr"},
    }
    r = heat.request("PUT", f"/stacks/u/{sid}", json={"template": t})
    assert r.status_code == 202
    st = heat.wait("u", sid)
    assert st["stack_status"] == "ROLLBACK_COMPLETE", st["stack_status_reason"]
    reasons = [e["resource_status_reason"] for e in heat.events("u", sid) if e["resource_status"] == "UPDATE_FAILED"]
    assert reasons and reasons[0].startswith("Resource CREATE failed: ") and "resources.sub" in reasons[0]
    assert "sub" not in heat.resources("u", sid)


def bad(template: dict[str, Any], heat: Heat) -> tuple[int, dict[str, Any]]:
    r = heat.request("POST", "/validate", json={"template": template})
    return r.status_code, r.json()


def test_template_validate(heat: Heat) -> None:
    ok = heat.request(
        "POST",
        "/validate",
        json={"template": net_template(), "environment": {"parameters": {"cidr": "10.0.0.0/8"}}},
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["Description"] == "a network with a router"
    assert body["Parameters"]["cidr"]["Type"] == "String" and body["Parameters"]["cidr"]["Value"] == "10.0.0.0/8"

    status, err = bad({"heat_template_version": HOT, "resources": {"a": {"type": "OS::Nope::Widget"}}}, heat)
    assert status == 400
    assert err == {
        "explanation": "The server could not comply with the request since it is either malformed or otherwise incorrect.",
        "code": 400,
        "error": {
            "message": "The Resource Type (OS::Nope::Widget) could not be found.",
            "traceback": None,
            "type": "HTTPBadRequest",
        },
        "title": "Bad Request",
    }
    status, err = bad(
        {
            "heat_template_version": HOT,
            "resources": {"a": {"type": "OS::Heat::RandomString", "properties": {"salt": {"str_replace": "x"}}}},
        },
        heat,
    )
    assert status == 400 and err["error"]["message"] == 'Arguments to "str_replace" must be a map'
    cyc = {
        "heat_template_version": HOT,
        "resources": {
            "a": {"type": "OS::Heat::RandomString", "depends_on": "b"},
            "b": {"type": "OS::Heat::RandomString", "depends_on": "a"},
        },
    }
    status, err = bad(cyc, heat)
    assert status == 400 and err["error"]["message"] == "Circular Dependency Found: {a: {b}, b: {a}}"
    # create refuses the same templates before making anything
    r = heat.create("cyc", cyc)
    assert r.status_code == 400 and r.json()["error"]["type"] == "CircularDependencyException"
    r = heat.create(
        "p",
        {
            "heat_template_version": HOT,
            "resources": {"a": {"type": "OS::Heat::RandomString", "properties": {"lenght": 3}}},
        },
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Property error: resources.a.properties: Unknown Property lenght"


def test_types_versions_and_preview(heat: Heat) -> None:
    types = heat.request("GET", "/resource_types").json()["resource_types"]
    assert "OS::Nova::Server" in types and "OS::Heat::ResourceGroup" in types
    assert "OS::Octavia::LoadBalancer" in types  # the catalog has the load-balancer service
    schema = heat.request("GET", "/resource_types/OS::Neutron::Net").json()
    assert schema["resource_type"] == "OS::Neutron::Net" and schema["properties"]["name"]["update_allowed"] is True
    r = heat.request("GET", "/resource_types/OS::Nope")
    assert r.status_code == 404 and r.json()["error"]["message"] == "The Resource Type (OS::Nope) could not be found."
    versions = heat.request("GET", "/template_versions").json()["template_versions"]
    assert {
        "version": "heat_template_version.2018-08-31",
        "type": "hot",
        "aliases": ["heat_template_version.rocky"],
    } in versions
    fns = heat.request("GET", "/template_versions/heat_template_version.2018-08-31/functions").json()[
        "template_functions"
    ]
    assert "get_attr" in {f["functions"] for f in fns}
    prev = heat.request("POST", "/stacks/preview", json={"stack_name": "pv", "template": net_template()})
    assert prev.status_code == 200, prev.text
    assert {r["resource_name"] for r in prev.json()["stack"]["resources"]} >= {"net", "sub"}
    assert heat.request("GET", "/stacks").json()["stacks"] == []  # preview makes nothing
    lb = {
        "heat_template_version": HOT,
        "resources": {"lb": {"type": "OS::Octavia::LoadBalancer", "properties": {"vip_subnet": "x"}}},
    }
    r = heat.create("lb", lb)
    assert r.status_code == 201, r.text  # the load-balancer API is in the catalog: the type is known
    st = heat.wait("lb", r.json()["stack"]["id"])
    assert st["stack_status"] == "CREATE_FAILED" and "resources.lb" in st["stack_status_reason"]


def test_list_filters_by_tags(heat: Heat) -> None:
    t = {"heat_template_version": HOT, "resources": {}}
    heat.create_ok("a", t, tags="web,prod")
    heat.create_ok("b", t, tags="web")

    def names(query: str) -> list[str]:
        return sorted(s["stack_name"] for s in heat.request("GET", f"/stacks?{query}").json()["stacks"])

    assert names("tags=web,prod") == ["a"] and names("tags_any=prod,x") == ["a"]
    assert names("not_tags=prod") == ["b"] and names("not_tags_any=web") == []
    assert heat.request("GET", "/stacks?name=b").json()["stacks"][0]["tags"] == ["web"]


def test_projects_are_isolated(heat: Heat, cloud: Any) -> None:
    st = heat.create_ok("mine", {"heat_template_version": HOT, "resources": {"pw": {"type": "OS::Heat::RandomString"}}})
    other_project, _, other_token = cloud.new_project_user(role="member")
    other = Heat(cloud, other_token, other_project)
    assert other.request("GET", "/stacks").json()["stacks"] == []
    assert other.request("GET", f"/stacks/mine/{st['id']}").status_code == 404
    assert other.request("GET", "/stacks/mine").status_code == 404
    assert other.request("DELETE", f"/stacks/mine/{st['id']}").status_code == 404
    # another project's path: 403 as Heat answers
    r = cloud.request("GET", f"/orchestration/v1/{heat.project_id}/stacks", token=other_token)
    assert r.status_code == 403 and r.json()["error"]["type"] == "HTTPForbidden"
    # a reader may look but not create
    reader_project, _, reader_token = cloud.new_project_user(role="reader")
    r = cloud.request(
        "POST",
        f"/orchestration/v1/{reader_project}/stacks",
        token=reader_token,
        json={"stack_name": "x", "template": {}},
    )
    assert r.status_code == 403
    for path in ("/stacks", "/resource_types", "/template_versions"):
        assert cloud.request("GET", f"/orchestration/v1/{reader_project}{path}", token=reader_token).status_code == 200
    r = cloud.request(
        "POST", f"/orchestration/v1/{reader_project}/validate", token=reader_token, json={"template": net_template()}
    )
    assert r.status_code == 200, r.text
    r = cloud.request("GET", f"/orchestration/v1/{heat.project_id}/stacks")
    assert r.status_code == 401 and r.json()["error"]["code"] == 401  # keystonemiddleware's shape


def test_restart_marks_in_progress_stacks_failed(heat: Heat, cloud: Any) -> None:
    from datetime import timedelta

    from overcast.db.models.base import utcnow

    st = heat.create_ok("r", {"heat_template_version": HOT, "resources": {"pw": {"type": "OS::Heat::RandomString"}}})
    other = heat.create_ok("o", {"heat_template_version": HOT, "resources": {"pw": {"type": "OS::Heat::RandomString"}}})
    svc = cloud.runtime.orchestration
    # one engine died mid-update a while ago; another (live) engine is working on "o"
    svc.store.set_stack(st["id"], action="UPDATE", status="IN_PROGRESS", heartbeat_at=utcnow() - timedelta(minutes=5))
    svc.store.set_stack(other["id"], action="UPDATE", status="IN_PROGRESS", heartbeat_at=utcnow())
    fresh = OrchestrationService(cloud.runtime)  # what a new process does first
    fresh.start()
    fresh.close()
    row = svc.store.stack(st["id"])
    assert isinstance(row, Stack)
    assert (row.action, row.status, row.status_reason) == ("UPDATE", "FAILED", "Engine went down during stack UPDATE")
    assert heat.events("r", st["id"])[-1]["resource_status"] == "UPDATE_FAILED"
    live = svc.store.stack(other["id"])
    assert live is not None and live.status == "IN_PROGRESS"  # a live engine's stack is left alone
    # this process's own actions keep their heartbeat fresh, so its sweeps never fail them
    svc.active.add(other["id"])
    svc.store.set_stack(other["id"], heartbeat_at=utcnow() - timedelta(minutes=5))
    assert svc.sweep() == 0
    live = svc.store.stack(other["id"])
    assert live is not None and live.status == "IN_PROGRESS" and live.heartbeat_at > utcnow() - timedelta(minutes=1)
    svc.store.set_stack(other["id"], status="COMPLETE")
    # and the failed stack can be deleted afterwards
    heat.request("DELETE", f"/stacks/r/{st['id']}")
    assert heat.wait("r", st["id"])["stack_status"] == "DELETE_COMPLETE"


def test_mark_unhealthy_and_wait_condition(heat: Heat) -> None:
    t = {
        "heat_template_version": HOT,
        "resources": {
            "handle": {"type": "OS::Heat::WaitConditionHandle"},
            "pw": {"type": "OS::Heat::RandomString"},
        },
        "outputs": {"curl": {"value": {"get_attr": ["handle", "curl_cli"]}}},
    }
    st = heat.create_ok("w", t)
    curl = st["outputs"][0]["output_value"]
    assert curl.startswith("curl -i -X POST -H 'Content-Type: application/json'")
    url = curl.split()[-1]
    path = url.split("://", 1)[1].split("/", 1)[1]
    r = heat.cloud.client.post("/" + path, json={"status": "SUCCESS", "reason": "booted", "data": "ok"})
    assert r.status_code == 200, r.text
    assert heat.cloud.client.post("/" + path[:-3] + "xyz", json={}).status_code == 404  # the secret is checked
    # a WaitCondition added by an update completes at once: the signal is already there
    t["resources"]["wait"] = {
        "type": "OS::Heat::WaitCondition",
        "properties": {"handle": {"get_resource": "handle"}, "timeout": 30},
    }
    t["outputs"]["data"] = {"value": {"get_attr": ["wait", "data"]}}
    heat.request("PUT", f"/stacks/w/{st['id']}", json={"template": t})
    st = heat.wait("w", st["id"])
    assert st["stack_status"] == "UPDATE_COMPLETE", st["stack_status_reason"]
    assert {o["output_key"]: o["output_value"] for o in st["outputs"]}["data"] == '{"1": "ok"}'

    r = heat.request(
        "PATCH", f"/stacks/w/{st['id']}/resources/pw", json={"mark_unhealthy": True, "resource_status_reason": "bad"}
    )
    assert r.status_code == 200
    pw = heat.resources("w", st["id"])["pw"]
    assert pw["resource_status"] == "CREATE_FAILED" and pw["resource_status_reason"] == "Marked unhealthy: bad"
    r = heat.request("PATCH", f"/stacks/w/{st['id']}/resources/pw", json={"mark_unhealthy": True, "nope": 1})
    assert r.status_code == 400
    # an update replaces the unhealthy resource
    heat.request("PATCH", f"/stacks/w/{st['id']}", json={})
    assert heat.wait("w", st["id"])["stack_status"] == "UPDATE_COMPLETE"
    assert heat.resources("w", st["id"])["pw"]["resource_status"] == "CREATE_COMPLETE"


def test_stack_actions(heat: Heat) -> None:
    _image_and_flavors(heat.cloud)
    t = server_template()
    del t["resources"]["att"], t["resources"]["vol"]
    st = heat.create_ok("act", t)
    sid = st["id"]
    # by name: 302 to name/id/actions, as Heat's lookup
    r = heat.request("POST", "/stacks/act/actions", json={"suspend": None})
    assert r.status_code == 302 and r.headers["location"].endswith(f"/stacks/act/{sid}/actions")
    assert heat.request("POST", f"/stacks/act/{sid}/actions", json={"suspend": None}).status_code == 200
    assert heat.wait("act", sid)["stack_status"] == "SUSPEND_COMPLETE"
    srv = heat.resources("act", sid)["srv"]
    server = heat.cloud.request("GET", f"/compute/v2.1/servers/{srv['physical_resource_id']}", token=heat.token)
    assert server.json()["server"]["status"] == "SUSPENDED"
    heat.request("POST", f"/stacks/act/{sid}/actions", json={"resume": None})
    assert heat.wait("act", sid)["stack_status"] == "RESUME_COMPLETE"
    heat.request("POST", f"/stacks/act/{sid}/actions", json={"check": None})
    assert heat.wait("act", sid)["stack_status"] == "CHECK_COMPLETE"
    # a server deleted behind the stack's back fails the check, naming it
    heat.cloud.request("DELETE", f"/compute/v2.1/servers/{srv['physical_resource_id']}", token=heat.token)
    import time

    deadline = time.monotonic() + 30
    while (
        heat.cloud.request("GET", f"/compute/v2.1/servers/{srv['physical_resource_id']}", token=heat.token).status_code
        != 404
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    heat.request("POST", f"/stacks/act/{sid}/actions", json={"check": None})
    st = heat.wait("act", sid)
    assert st["stack_status"] == "CHECK_FAILED" and "resources.srv" in st["stack_status_reason"]
    r = heat.request("POST", f"/stacks/act/{sid}/actions", json={"cancel_update": None})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Cancelling update when stack is CHECK_FAILED is not supported."
    assert heat.request("POST", f"/stacks/act/{sid}/actions", json={"dance": None}).json()["error"]["message"] == (
        "Invalid action dance specified"
    )


def test_wait_condition_timeout_fails_the_stack(heat: Heat) -> None:
    t = {
        "heat_template_version": HOT,
        "resources": {
            "handle": {"type": "OS::Heat::WaitConditionHandle"},
            "wait": {
                "type": "OS::Heat::WaitCondition",
                "properties": {"handle": {"get_resource": "handle"}, "timeout": 1},
            },
        },
    }
    r = heat.create("wt", t, timeout_mins=5)
    st = heat.wait("wt", r.json()["stack"]["id"])
    assert st["stack_status"] == "CREATE_FAILED" and st["timeout_mins"] == 5
    assert st["stack_status_reason"] == "Resource CREATE failed: WaitConditionTimeout: resources.wait: 0 of 1 received"


def test_stack_timeout(heat: Heat, monkeypatch: Any) -> None:
    """``timeout_mins`` bounds the whole action (shortened here to half a second)."""
    import time as _time

    from overcast.orchestration.engine import StackRun

    def short_limit(self: StackRun) -> None:
        self.deadline = _time.monotonic() + 0.5 if self.stack.timeout_mins else None

    monkeypatch.setattr(StackRun, "_limit", short_limit)
    t = {
        "heat_template_version": HOT,
        "resources": {
            "handle": {"type": "OS::Heat::WaitConditionHandle"},
            "wait": {
                "type": "OS::Heat::WaitCondition",
                "properties": {"handle": {"get_resource": "handle"}, "timeout": 600},
            },
        },
    }
    r = heat.create("to", t, timeout_mins=1, disable_rollback=False)
    st = heat.wait("to", r.json()["stack"]["id"])
    assert st["stack_status"] == "ROLLBACK_COMPLETE", st["stack_status_reason"]
    failed = [
        e for e in heat.events("to", st["id"]) if e["resource_name"] == "to" and e["resource_status"] == "CREATE_FAILED"
    ]
    assert failed[0]["resource_status_reason"] == "Create timed out"


def test_preview_update(heat: Heat) -> None:
    st = heat.create_ok("pv", group_template(2))
    sid = st["id"]
    t = group_template(2)
    t["resources"]["net"]["properties"]["name"] = "renamed"
    t["resources"]["pw"] = {"type": "OS::Heat::RandomString"}
    r = heat.request("PUT", f"/stacks/pv/{sid}/preview", json={"template": t, "parameters": {"count": 3}})
    assert r.status_code == 200, r.text
    changes = {k: sorted(x["resource_name"] for x in v) for k, v in r.json()["resource_changes"].items()}
    assert changes == {"added": ["pw"], "deleted": [], "replaced": [], "updated": ["group", "net"], "unchanged": []}
    r = heat.request("PATCH", f"/stacks/pv/{sid}/preview", json={"parameters": {"length": 4}})
    changes = {k: sorted(x["resource_name"] for x in v) for k, v in r.json()["resource_changes"].items()}
    assert changes["updated"] == ["group"] and changes["unchanged"] == ["net"]
    t2 = {"heat_template_version": HOT, "resources": {"net": {"type": "OS::Heat::RandomString"}}}
    changes = heat.request("PUT", f"/stacks/pv/{sid}/preview", json={"template": t2}).json()["resource_changes"]
    assert [x["resource_name"] for x in changes["replaced"]] == ["net"] and [
        x["resource_name"] for x in changes["deleted"]
    ] == ["group"]
    # nothing changed
    assert heat.show("pv", sid)["stack_status"] == "CREATE_COMPLETE"
    assert len(heat.show("pv", sid)["outputs"][0]["output_value"]) == 2


def test_update_removes_dependent_resources_in_reverse_order(heat: Heat) -> None:
    t = net_template()
    st = heat.create_ok("rm", t)
    sid = st["id"]
    small = {"heat_template_version": HOT, "resources": {"pw": t["resources"]["pw"]}}
    heat.request("PUT", f"/stacks/rm/{sid}", json={"template": small})
    st = heat.wait("rm", sid)
    assert st["stack_status"] == "UPDATE_COMPLETE", st["stack_status_reason"]
    assert set(heat.resources("rm", sid)) == {"pw"}
    events = [(e["resource_name"], e["resource_status"]) for e in heat.events("rm", sid)]
    order = [name for name, status in events if status == "DELETE_COMPLETE"]
    assert order.index("iface") < order.index("sub") < order.index("net") and order.index("iface") < order.index(
        "router"
    )
    assert heat.cloud.request("GET", "/networking/v2.0/networks", token=heat.token).json()["networks"] == []
