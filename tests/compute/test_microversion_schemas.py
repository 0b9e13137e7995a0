"""The compute API's responses at 2.1, middle microversions and the maximum, checked against
Tempest's own response schemas (``tempest.lib.api_schema``), chosen per version by Tempest's
own clients' ``schema_versions_info`` and validated by its ``RestClient.validate_response``
(jsonschema, with its format checker). In-process: the fake hypervisor driver and the test
doubles for the image and volume services."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytest.importorskip("tempest.lib.api_schema")

from tempest.lib.common import api_version_request as avr  # noqa: E402
from tempest.lib.common.rest_client import RestClient  # noqa: E402
from tempest.lib.services.compute import (  # noqa: E402
    aggregates_client,
    flavors_client,
    hypervisor_client,
    keypairs_client,
    limits_client,
    migrations_client,
    quotas_client,
    server_groups_client,
    servers_client,
    services_client,
)
from tempest.lib.api_schema.response.compute.v2_1 import servers as servers_v21  # noqa: E402
from tempest.lib.api_schema.response.compute.v2_1 import tenant_usages  # noqa: E402

from overcast.api.compute.microversion import MAX_VERSION, fmt  # noqa: E402

from .conftest import IMAGE_ID, api_wait  # noqa: E402

MAX = fmt(MAX_VERSION)
#: 2.1, versions where a schema changes, and the maximum
VERSIONS = ["2.1", "2.3", "2.19", "2.26", "2.37", "2.47", "2.53", "2.57", "2.61", "2.64", "2.71", "2.75", MAX]


class _Resp(dict):
    """What ``validate_response`` reads: the status, and the headers (lower-case keys)."""

    def __init__(self, r: Any) -> None:
        super().__init__({k.lower(): v for k, v in r.headers.items()})
        self.status = r.status_code


def check(r: Any, client: Any, name: str, version: str) -> Any:
    """Validate response ``r`` against schema ``name`` of Tempest's ``client`` at ``version``."""
    infos = getattr(client, "schema_versions_info", None)
    module = None
    if infos is None:  # a schema module that holds at every version
        module = client
    else:
        want = avr.APIVersionRequest(version)
        for item in infos:
            if want.matches(avr.APIVersionRequest(item["min"]), avr.APIVersionRequest(item["max"])):
                module = item["schema"]
                break
    assert module is not None, f"no Tempest schema for {client} at {version}"
    assert 200 <= r.status_code < 300, f"{name} at {version}: {r.status_code} {r.text}"
    body = r.json() if r.content else ""
    try:
        RestClient.validate_response(getattr(module, name), _Resp(r), body)
    except Exception as exc:  # the schema's own message names the field
        raise AssertionError(f"{name} at {version}: {exc}") from None
    return body


S = servers_client.ServersClient


def _boot(api, flavor_id: str, compute, name: str = "vm", version: str = "2.37") -> str:
    body = {"server": {"name": name, "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    r = api("POST", "/servers", json=body, version=version)
    check(r, servers_v21, "create_server_with_admin_pass", version)  # Tempest's one create schema
    server_id = r.json()["server"]["id"]
    api_wait(api, compute, server_id, "ACTIVE")
    return server_id


def test_server_views_match_tempest_at_every_version(api, api_flavor, compute):
    server_id = _boot(api, api_flavor["id"], compute)
    for v in VERSIONS:
        for who in ("p1", "admin"):
            check(api("GET", f"/servers/{server_id}", who, version=v), S, "get_server", v)
            check(api("GET", "/servers/detail?all_tenants=1", who, version=v), S, "list_servers_detail", v)
        check(api("GET", "/servers", version=v), S, "list_servers", v)
        r = api("PUT", f"/servers/{server_id}", json={"server": {"name": f"vm-{v}"}}, version=v)
        check(r, S, "update_server", v)
        check(api("GET", f"/servers/{server_id}/os-instance-actions", version=v), S, "list_instance_actions", v)
        request_id = api("GET", f"/servers/{server_id}/os-instance-actions").json()["instanceActions"][0]["request_id"]
        r = api("GET", f"/servers/{server_id}/os-instance-actions/{request_id}", version=v)
        check(r, S, "show_instance_action", v)


def test_instance_action_events_match_tempest(api, api_flavor, compute):
    """Actions with events, one finished with ``Success`` and one with ``Error`` (and its
    traceback), as the owner and as an admin, around 2.51 (events for owners) and 2.62
    (``host``/``hostId``)."""
    server_id = _boot(api, api_flavor["id"], compute)
    assert api("POST", f"/servers/{server_id}/action", json={"os-stop": None}).status_code == 202
    api_wait(api, compute, server_id, "SHUTOFF")
    # a volume that is not attached: the compute_extend_volume step fails
    event = {"name": "volume-extended", "server_uuid": server_id, "tag": str(uuid.uuid4())}
    assert api("POST", "/os-server-external-events", "admin", {"events": [event]}, version="2.51").status_code == 200
    compute.runner.wait_idle(timeout=10)
    actions = api("GET", f"/servers/{server_id}/os-instance-actions").json()["instanceActions"]
    request_ids = {a["action"]: a["request_id"] for a in actions}
    results = set()
    for v in ["2.1", "2.50", "2.51", "2.58", "2.61", "2.62", MAX]:
        for who in ("p1", "admin"):
            for action in ("stop", "extend_volume"):
                r = api("GET", f"/servers/{server_id}/os-instance-actions/{request_ids[action]}", who, version=v)
                shown = check(r, S, "show_instance_action", v)["instanceAction"]
                later = avr.APIVersionRequest(v) >= avr.APIVersionRequest("2.51")
                assert ("events" in shown) == (who == "admin" or later), (v, who)
                results |= {(who, e["result"], e.get("traceback") is not None) for e in shown.get("events", [])}
    assert results == {
        ("p1", "Success", False),
        ("p1", "Error", False),
        ("admin", "Success", False),
        ("admin", "Error", True),
    }


@pytest.mark.parametrize("v", ["2.1", "2.26", "2.47", "2.57", "2.71", MAX])
def test_rebuild_and_create_match_tempest(api, api_flavor, compute, v):
    later = avr.APIVersionRequest(v) >= avr.APIVersionRequest("2.37")
    server_id = _boot(api, api_flavor["id"], compute, version=v if later else "2.37")
    for who in ("p1", "admin"):
        r = api("POST", f"/servers/{server_id}/action", who, {"rebuild": {"imageRef": IMAGE_ID}}, version=v)
        check(r, S, "rebuild_server_with_admin_pass", v)
        api_wait(api, compute, server_id, "ACTIVE")


def test_volume_attachments_match_tempest(api, api_flavor, compute):
    server_id = _boot(api, api_flavor["id"], compute)
    volumes = compute.runtime._services["volume"]
    for v in ["2.1", "2.49", "2.70", MAX]:
        volume_id = str(uuid.uuid4())
        volumes.add(volume_id, api.projects["p1"])
        body: dict[str, Any] = {"volumeAttachment": {"volumeId": volume_id}}
        if v == MAX:
            body["volumeAttachment"]["delete_on_termination"] = True
        r = api("POST", f"/servers/{server_id}/os-volume_attachments", json=body, version=v)
        attached = check(r, S, "attach_volume", v)["volumeAttachment"]
        assert attached.get("delete_on_termination", True) is True
        check(api("GET", f"/servers/{server_id}/os-volume_attachments", version=v), S, "list_volume_attachments", v)
        r = api("GET", f"/servers/{server_id}/os-volume_attachments/{volume_id}", version=v)
        check(r, S, "show_volume_attachment", v)
        assert api("DELETE", f"/servers/{server_id}/os-volume_attachments/{volume_id}", version=v).status_code == 202
        compute.runner.wait_idle(timeout=10)


def test_flavors_keypairs_and_groups_match_tempest(api):
    F = flavors_client.FlavorsClient
    K = keypairs_client.KeyPairsClient
    G = server_groups_client.ServerGroupsClient
    for i, v in enumerate(VERSIONS):
        body: dict[str, Any] = {"flavor": {"name": f"f{i}", "ram": 64, "vcpus": 1, "disk": 0}}
        if avr.APIVersionRequest(v) >= avr.APIVersionRequest("2.55"):
            body["flavor"]["description"] = "small"
        created = check(api("POST", "/flavors", "admin", body, version=v), F, "create_update_get_flavor_details", v)
        flavor_id = created["flavor"]["id"]
        check(api("GET", "/flavors", version=v), F, "list_flavors", v)
        check(api("GET", "/flavors/detail", version=v), F, "list_flavors_details", v)
        check(api("GET", f"/flavors/{flavor_id}", version=v), F, "create_update_get_flavor_details", v)
        if avr.APIVersionRequest(v) >= avr.APIVersionRequest("2.55"):
            r = api("PUT", f"/flavors/{flavor_id}", "admin", {"flavor": {"description": "new"}}, version=v)
            assert check(r, F, "create_update_get_flavor_details", v)["flavor"]["description"] == "new"

        r = api("POST", "/os-keypairs", json={"keypair": {"name": f"k{i}"}}, version=v)
        check(r, K, "create_keypair", v)
        check(api("GET", "/os-keypairs", version=v), K, "list_keypairs", v)
        check(api("GET", f"/os-keypairs/k{i}", version=v), K, "get_keypair", v)
        check(api("DELETE", f"/os-keypairs/k{i}", version=v), K, "delete_keypair", v)

        new = avr.APIVersionRequest(v) >= avr.APIVersionRequest("2.64")
        group = {"name": f"g{i}", **({"policy": "affinity"} if new else {"policies": ["affinity"]})}
        r = api("POST", "/os-server-groups", json={"server_group": group}, version=v)
        group_id = check(r, G, "create_show_server_group", v)["server_group"]["id"]
        check(api("GET", "/os-server-groups", version=v), G, "list_server_groups", v)
        check(api("GET", f"/os-server-groups/{group_id}", version=v), G, "create_show_server_group", v)
        check(api("DELETE", f"/os-server-groups/{group_id}", version=v), G, "delete_server_group", v)


def test_admin_resources_match_tempest(api, api_flavor, compute):
    _boot(api, api_flavor["id"], compute)
    H = hypervisor_client.HypervisorClient
    Sv = services_client.ServicesClient
    L = limits_client.LimitsClient
    Q = quotas_client.QuotasClient
    M = migrations_client.MigrationsClient
    A = aggregates_client.AggregatesClient
    U = tenant_usages  # Tempest's TenantUsagesClient checks its one schema at every version
    project = api.projects["p1"]
    for i, v in enumerate(VERSIONS):
        query = "?with_servers=true" if avr.APIVersionRequest(v) >= avr.APIVersionRequest("2.53") else ""
        check(api("GET", f"/os-hypervisors{query}", "admin", version=v), H, "list_search_hypervisors", v)
        r = api("GET", f"/os-hypervisors/detail{query}", "admin", version=v)
        hypervisors = check(r, H, "list_hypervisors_detail", v)["hypervisors"]
        if query:  # the server booted above is on one of them (2.75: the others show [])
            assert sum(len(h.get("servers", [])) for h in hypervisors) == 1
        check(api("GET", f"/os-hypervisors/{hypervisors[0]['id']}", "admin", version=v), H, "get_hypervisor", v)
        check(api("GET", "/os-hypervisors/statistics", "admin", version=v), H, "get_hypervisor_statistics", v)
        check(api("GET", "/os-services", "admin", version=v), Sv, "list_services", v)
        check(api("GET", "/limits", version=v), L, "get_limit", v)
        check(api("GET", f"/os-quota-sets/{project}", version=v), Q, "get_quota_set", v)
        check(api("GET", f"/os-quota-sets/{project}/detail", version=v), Q, "get_quota_set_details", v)
        check(api("GET", f"/os-quota-sets/{project}/defaults", version=v), Q, "get_quota_set", v)
        check(api("GET", "/os-migrations", "admin", version=v), M, "list_migrations", v)
        r = api("POST", "/os-aggregates", "admin", {"aggregate": {"name": f"a{i}"}}, version=v)
        agg_id = check(r, A, "create_aggregate", v)["aggregate"]["id"]
        check(api("GET", "/os-aggregates", "admin", version=v), A, "list_aggregates", v)
        check(api("GET", f"/os-aggregates/{agg_id}", "admin", version=v), A, "get_aggregate", v)
        check(api("GET", "/os-simple-tenant-usage?detailed=1", "admin", version=v), U, "list_tenant_usage", v)


def test_issue16_apis_match_tempest(api, api_flavor, compute):
    """os-hosts (before 2.43) and the other admin APIs of issue 16."""
    from tempest.lib.api_schema.response.compute.v2_1 import hosts, instance_usage_audit_logs, server_external_events

    sid = _boot(api, api_flavor["id"], compute)
    host = api("GET", f"/servers/{sid}", "admin").json()["server"]["OS-EXT-SRV-ATTR:host"]
    for v in ("2.1", "2.42"):
        check(api("GET", "/os-hosts", "admin", version=v), hosts, "list_hosts", v)
        check(api("GET", f"/os-hosts/{host}", "admin", version=v), hosts, "get_host_detail", v)
        check(api("PUT", f"/os-hosts/{host}", "admin", {"status": "enable"}, version=v), hosts, "update_host", v)
    for v in ("2.1", MAX):
        r = api("GET", "/os-instance_usage_audit_log", "admin", version=v)
        check(r, instance_usage_audit_logs, "list_instance_usage_audit_log", v)
        r = api("GET", "/os-instance_usage_audit_log/2026-03-15%2008%3A00%3A00", "admin", version=v)
        check(r, instance_usage_audit_logs, "get_instance_usage_audit_log", v)
        body = {"events": [{"name": "network-changed", "server_uuid": sid}]}
        r = api("POST", "/os-server-external-events", "admin", body, version=v)
        check(r, server_external_events, "create", v)
    # server diagnostics: before 2.48 any object (the driver's keys); from 2.48 Nova's format, whose
    # ``driver`` enum names Nova's drivers: the in-process fake driver's "fake" is added to it
    import copy

    from tempest.lib.api_schema.response.compute.v2_1 import servers as servers_21
    from tempest.lib.api_schema.response.compute.v2_48 import servers as servers_248

    check(
        api("GET", f"/servers/{sid}/diagnostics", "admin", version="2.47"),
        servers_21,
        "show_server_diagnostics",
        "2.47",
    )
    schema = copy.deepcopy(servers_248.show_server_diagnostics)
    schema["response_body"]["properties"]["driver"]["enum"].append("fake")
    r = api("GET", f"/servers/{sid}/diagnostics", "admin", version=MAX)
    RestClient.validate_response(schema, _Resp(r), r.json())
    H = hypervisor_client.HypervisorClient
    for v in ("2.1", "2.52"):
        check(api("GET", f"/os-hypervisors/{host}/search", "admin", version=v), H, "list_search_hypervisors", v)
        check(api("GET", f"/os-hypervisors/{host}/servers", "admin", version=v), H, "get_hypervisors_servers", v)
