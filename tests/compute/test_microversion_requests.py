"""What compute requests may carry per microversion (2.38-2.79): honoured from the version
that brings it, refused with Nova's 400/404 before it or where this cloud cannot do it."""

from __future__ import annotations

import uuid

from .conftest import IMAGE_ID, api_wait


def _boot(api, compute, flavor_id: str, version: str = "2.37", **extra) -> str:
    body = {"server": {"name": "vm", "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none", **extra}}
    r = api("POST", "/servers", json=body, version=version)
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    return server_id


def _create(api, flavor_id: str, version: str, **extra):
    body = {"server": {"name": "vm", "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none", **extra}}
    return api("POST", "/servers", json=body, version=version)


def test_create_keys_per_version(api, api_flavor, compute):
    fid = api_flavor["id"]
    personality = [{"path": "/etc/x", "contents": "eA=="}]
    r = _create(api, fid, "2.56", personality=personality)
    assert r.status_code == 400 and "Personality" in r.text  # known, but no file injection here
    r = _create(api, fid, "2.57", personality=personality)
    assert r.status_code == 400 and "'personality' was unexpected" in r.text
    assert _create(api, fid, "2.51", tags=["a"]).status_code == 400
    bdm = [{"source_type": "image", "destination_type": "local", "boot_index": 0, "uuid": IMAGE_ID}]
    r = _create(api, fid, "2.66", block_device_mapping_v2=[{**bdm[0], "volume_type": "x"}])
    assert r.status_code == 400 and "'volume_type' was unexpected" in r.text
    r = _create(api, fid, "2.37", networks=[{"uuid": str(uuid.uuid4()), "tag": "t"}])
    assert r.status_code == 400 and "'tag' was unexpected" in r.text
    r = _create(api, fid, "2.42", networks=[{"uuid": str(uuid.uuid4()), "tag": "t"}])
    assert r.status_code == 400 and "Device tagging is not supported" in r.text
    r = _create(api, fid, "2.63", trusted_image_certificates=["cert"])
    assert r.status_code == 400 and "certificate validation is not supported" in r.text
    assert _create(api, fid, "2.73", host="h").status_code == 400  # not known before 2.74
    r = _create(api, fid, "2.74", host="h")
    assert r.status_code == 400 and "destination host" in r.text
    assert _create(api, fid, "2.36").status_code == 400  # the "none" string only from 2.37
    assert compute.list_servers(api_ctx(api), {}) == []  # nothing was made by any of these

    r = _create(api, fid, "2.52", tags=["a", "b"])
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    assert api("GET", f"/servers/{server_id}", version="2.52").json()["server"]["tags"] == ["a", "b"]


def api_ctx(api):
    from .conftest import make_ctx

    return make_ctx(project=api.projects["p1"])


def test_server_views_per_version(api, api_flavor, compute):
    group = api("POST", "/os-server-groups", json={"server_group": {"name": "g", "policy": "affinity"}}, version="2.64")
    assert group.status_code == 200, group.text
    group_id = group.json()["server_group"]["id"]
    hints = {"os:scheduler_hints": {"group": group_id}}
    body = {"server": {"name": "vm", "flavorRef": api_flavor["id"], "imageRef": IMAGE_ID, "networks": "none"}, **hints}
    server_id = api("POST", "/servers", json=body).json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    old = api("GET", f"/servers/{server_id}", version="2.46").json()["server"]
    assert set(old["flavor"]) == {"id", "links"} and "server_groups" not in old
    new = api("GET", f"/servers/{server_id}", version="2.79").json()["server"]
    assert new["flavor"]["original_name"] == "m1.tiny" and new["flavor"]["ram"] == 512
    assert new["server_groups"] == [group_id] and new["trusted_image_certificates"] is None
    assert new["locked_reason"] is None
    listed = api("GET", "/servers/detail", version="2.79").json()["servers"][0]
    assert "server_groups" not in listed  # 2.71: show, update and rebuild only


def test_lock_reason_and_locked_filter(api, api_flavor, compute):
    server_id = _boot(api, compute, api_flavor["id"])
    action = f"/servers/{server_id}/action"
    r = api("POST", action, json={"lock": {"locked_reason": "maintenance"}}, version="2.72")
    assert r.status_code == 400
    assert api("POST", action, json={"lock": {"locked_reason": "maintenance"}}, version="2.73").status_code == 202
    server = api("GET", f"/servers/{server_id}", version="2.73").json()["server"]
    assert server["locked"] is True and server["locked_reason"] == "maintenance"
    assert [s["id"] for s in api("GET", "/servers?locked=true", version="2.73").json()["servers"]] == [server_id]
    assert api("GET", "/servers?locked=false", version="2.73").json()["servers"] == []
    assert len(api("GET", "/servers?locked=false", version="2.72").json()["servers"]) == 1  # unknown before
    assert api("POST", action, json={"unlock": None}, version="2.73").status_code == 202
    assert api("GET", f"/servers/{server_id}", version="2.73").json()["server"]["locked_reason"] is None


def test_list_query_validation(api, api_flavor, compute):
    _boot(api, compute, api_flavor["id"])
    assert api("GET", "/servers?status=bogus", version="2.37").json()["servers"] == []
    r = api("GET", "/servers?status=bogus", version="2.38")
    assert r.status_code == 400 and "Invalid status value" in r.text
    assert api("GET", "/servers?bogus=1", version="2.74").status_code == 200
    assert api("GET", "/servers/detail?bogus=1", version="2.75").status_code == 400
    r = api("GET", "/servers?changes-since=2030-01-01T00:00:00Z&changes-before=2020-01-01T00:00:00Z", version="2.66")
    assert r.status_code == 400


def test_rebuild_keys_per_version(api, api_flavor, compute):
    server_id = _boot(api, compute, api_flavor["id"])
    assert api("POST", "/os-keypairs", json={"keypair": {"name": "k"}}).status_code == 201
    action = f"/servers/{server_id}/action"
    r = api("POST", action, json={"rebuild": {"imageRef": IMAGE_ID, "key_name": "k"}}, version="2.53")
    assert r.status_code == 400
    r = api("POST", action, json={"rebuild": {"imageRef": IMAGE_ID, "key_name": "k"}}, version="2.54")
    assert r.status_code == 202 and r.json()["server"]["key_name"] == "k"
    api_wait(api, compute, server_id, "ACTIVE")
    assert (
        api("POST", action, json={"rebuild": {"imageRef": IMAGE_ID, "user_data": "eA=="}}, version="2.56").status_code
        == 400
    )
    r = api("POST", action, json={"rebuild": {"imageRef": IMAGE_ID, "user_data": "eA=="}}, version="2.57")
    assert r.status_code == 202 and r.json()["server"]["user_data"] == "eA=="
    api_wait(api, compute, server_id, "ACTIVE")


def test_force_ends_at_2_68(api, api_flavor, compute):
    server_id = _boot(api, compute, api_flavor["id"])
    action = f"/servers/{server_id}/action"
    live = {"os-migrateLive": {"host": None, "block_migration": "auto", "force": False}}
    assert api("POST", action, "admin", live, version="2.68").status_code == 400
    evac = {"evacuate": {"force": False}}
    r = api("POST", action, "admin", evac, version="2.68")
    assert r.status_code == 400 and "'force' was unexpected" in r.text


def test_volume_attach_keys_per_version(api, api_flavor, compute):
    server_id = _boot(api, compute, api_flavor["id"])
    volumes = compute.runtime._services["volume"]
    volume_id = str(uuid.uuid4())
    volumes.add(volume_id, api.projects["p1"])
    path = f"/servers/{server_id}/os-volume_attachments"
    body = {"volumeAttachment": {"volumeId": volume_id, "delete_on_termination": True}}
    assert api("POST", path, json=body, version="2.78").status_code == 400
    tagged = {"volumeAttachment": {"volumeId": volume_id, "tag": "t"}}
    r = api("POST", path, json=tagged, version="2.48")
    assert r.status_code == 400 and "'tag' was unexpected" in r.text
    r = api("POST", path, json=tagged, version="2.49")
    assert r.status_code == 400 and "Tagged volume attachment is not supported" in r.text
    r = api("POST", path, json=body, version="2.79")
    assert r.status_code == 200 and r.json()["volumeAttachment"]["delete_on_termination"] is True


def test_server_group_policy_per_version(api):
    def create(group, version):
        return api("POST", "/os-server-groups", json={"server_group": {"name": "g", **group}}, version=version)

    assert create({"policy": "affinity"}, "2.63").status_code == 400
    assert create({"policies": ["affinity"]}, "2.64").status_code == 400
    r = create({"policy": "affinity", "rules": {"max_server_per_host": 2}}, "2.64")
    assert r.status_code == 400 and "Only anti-affinity" in r.text
    r = create({"policy": "anti-affinity", "rules": {"max_server_per_host": 2}}, "2.64")
    assert r.status_code == 400 and "not supported" in r.text
    old = create({"policies": ["anti-affinity"]}, "2.63").json()["server_group"]
    assert old["policies"] == ["anti-affinity"] and "policy" not in old
    new = create({"policy": "anti-affinity"}, "2.64").json()["server_group"]
    assert new["policy"] == "anti-affinity" and new["rules"] == {} and "policies" not in new


def test_services_and_hypervisors_by_uuid_from_2_53(api):
    services = api("GET", "/os-services", "admin", version="2.53").json()["services"]
    svc = services[0]
    uuid.UUID(svc["id"])
    assert isinstance(api("GET", "/os-services", "admin", version="2.52").json()["services"][0]["id"], int)
    r = api("PUT", f"/os-services/{svc['id']}", "admin", {"status": "disabled", "disabled_reason": "x"}, version="2.53")
    assert r.status_code == 200 and r.json()["service"]["status"] == "disabled", r.text
    assert r.json()["service"]["disabled_reason"] == "x"
    r = api("PUT", f"/os-services/{svc['id']}", "admin", {"status": "enabled"}, version="2.53")
    assert r.json()["service"]["status"] == "enabled"
    old_verb = {"host": svc["host"], "binary": svc["binary"]}
    assert api("PUT", "/os-services/disable", "admin", old_verb, version="2.53").status_code == 400
    assert api("PUT", "/os-services/disable", "admin", old_verb, version="2.52").status_code == 200
    api("PUT", "/os-services/enable", "admin", old_verb, version="2.52")

    hyps = api("GET", "/os-hypervisors", "admin", version="2.53").json()["hypervisors"]
    uuid.UUID(hyps[0]["id"])
    assert api("GET", f"/os-hypervisors/{hyps[0]['id']}", "admin", version="2.53").status_code == 200
    assert api("GET", "/os-hypervisors/1", "admin", version="2.53").status_code == 400
    name = hyps[0]["hypervisor_hostname"]
    found = api("GET", f"/os-hypervisors?hypervisor_hostname_pattern={name}", "admin", version="2.53").json()
    assert [h["hypervisor_hostname"] for h in found["hypervisors"]] == [name]
    r = api("GET", "/os-hypervisors?hypervisor_hostname_pattern=nomatch", "admin", version="2.53")
    assert r.status_code == 404


def test_flavor_description_and_swap(api):
    body = {"flavor": {"name": "d", "ram": 64, "vcpus": 1, "disk": 0, "description": "small"}}
    assert api("POST", "/flavors", "admin", body, version="2.54").status_code == 400
    flavor = api("POST", "/flavors", "admin", body, version="2.55").json()["flavor"]
    assert flavor["description"] == "small"
    put = {"flavor": {"description": "tiny"}}
    assert api("PUT", f"/flavors/{flavor['id']}", "admin", put, version="2.54").status_code == 404
    assert api("PUT", f"/flavors/{flavor['id']}", "p1", put, version="2.55").status_code == 403
    assert (
        api("PUT", f"/flavors/{flavor['id']}", "admin", put, version="2.55").json()["flavor"]["description"] == "tiny"
    )
    api("POST", f"/flavors/{flavor['id']}/os-extra_specs", "admin", {"extra_specs": {"a": "b"}})
    shown = api("GET", f"/flavors/{flavor['id']}", version="2.61").json()["flavor"]
    assert shown["extra_specs"] == {"a": "b"} and shown["swap"] == ""
    assert "extra_specs" not in api("GET", f"/flavors/{flavor['id']}", version="2.60").json()["flavor"]
    assert api("GET", f"/flavors/{flavor['id']}", version="2.75").json()["flavor"]["swap"] == 0


def test_paging_of_actions_migrations_and_usage(api, api_flavor, compute):
    server_id = _boot(api, compute, api_flavor["id"])
    for action in ("os-stop", "os-start"):
        assert api("POST", f"/servers/{server_id}/action", json={action: None}).status_code == 202
        compute.runner.wait_idle(timeout=10)
    path = f"/servers/{server_id}/os-instance-actions"
    everything = api("GET", path, version="2.58").json()["instanceActions"]
    assert [a["action"] for a in everything] == ["start", "stop", "create"]
    assert all("updated_at" in a for a in everything)
    first = api("GET", f"{path}?limit=1", version="2.58").json()
    assert [a["action"] for a in first["instanceActions"]] == ["start"] and first["links"][0]["rel"] == "next"
    rest = api("GET", f"{path}?marker={everything[0]['request_id']}", version="2.58").json()["instanceActions"]
    assert [a["action"] for a in rest] == ["stop", "create"]
    assert api("GET", f"{path}?bogus=1", version="2.58").status_code == 400
    assert "updated_at" not in api("GET", path, version="2.57").json()["instanceActions"][0]

    assert api("GET", "/os-migrations?bogus=1", "admin", version="2.59").status_code == 400
    assert api("GET", "/os-migrations?bogus=1", "admin", version="2.58").status_code == 200

    usage = "/os-simple-tenant-usage?detailed=1&start=2000-01-01T00:00:00&limit=1"
    r = api("GET", usage, "admin", version="2.40").json()
    assert len(r["tenant_usages"][0]["server_usages"]) == 1 and "tenant_usages_links" in r
    marker = r["tenant_usages"][0]["server_usages"][0]["instance_id"]
    r = api("GET", usage + f"&marker={marker}", "admin", version="2.40").json()
    assert r["tenant_usages"] == [] and "tenant_usages_links" not in r


def test_topology_from_2_78(api, api_flavor, compute):
    server_id = _boot(api, compute, api_flavor["id"])
    assert api("GET", f"/servers/{server_id}/topology", version="2.77").status_code == 404
    r = api("GET", f"/servers/{server_id}/topology", version="2.78")
    assert r.status_code == 200 and r.json() == {"nodes": [], "pagesize_kb": None}
