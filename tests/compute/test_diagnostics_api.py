"""``/servers/{id}/diagnostics`` (issue 16): the hypervisor's numbers in the driver's format
before 2.48 and Nova's from 2.48, 409 for a server that is not running, Nova's 501 where the
driver cannot read diagnostics, 404 for an unknown server, and admin only."""

from __future__ import annotations

from .conftest import IMAGE_ID, api_wait


def _server(api, flavor_id, compute, who="p2"):
    body = {"server": {"name": "d", "flavorRef": flavor_id, "imageRef": IMAGE_ID, "networks": "none"}}
    sid = api("POST", "/servers", who, body).json()["server"]["id"]
    api_wait(api, compute, sid, "ACTIVE", who)
    return sid


def test_formats_per_version(api, api_flavor, compute):
    sid = _server(api, api_flavor["id"], compute)  # any project's server: an admin API
    r = api("GET", f"/servers/{sid}/diagnostics", "admin")
    assert r.status_code == 200, r.text
    legacy = r.json()
    assert legacy["memory"] == 512 * 1024 and legacy["cpu0_time"] == 0 and legacy["vda_read_req"] == 0
    r = api("GET", f"/servers/{sid}/diagnostics", "admin", version="2.48")
    assert r.status_code == 200, r.text
    diag = r.json()
    assert diag["state"] == "running" and diag["memory_details"] == {"maximum": 512, "used": 512}
    assert (diag["num_cpus"], diag["num_disks"], diag["num_nics"]) == (1, 1, 0)
    assert diag["cpu_details"] == [{"id": 0, "time": 0, "utilisation": None}]
    assert isinstance(diag["uptime"], int) and diag["uptime"] >= 0 and diag["config_drive"] is False


def test_refusals(api, api_flavor, compute, monkeypatch):
    sid = _server(api, api_flavor["id"], compute)
    assert api("GET", f"/servers/{sid}/diagnostics", "p2").status_code == 403
    r = api("GET", "/servers/00000000-0000-0000-0000-000000000000/diagnostics", "admin")
    assert r.status_code == 404
    assert api("POST", f"/servers/{sid}/action", "p2", {"os-stop": None}).status_code == 202
    api_wait(api, compute, sid, "SHUTOFF", "p2")
    r = api("GET", f"/servers/{sid}/diagnostics", "admin")
    assert r.status_code == 409
    assert r.json()["conflictingRequest"]["message"] == (
        f"Cannot 'get_diagnostics' instance {sid} while it is in power state shutdown"
    )
    assert api("POST", f"/servers/{sid}/action", "p2", {"os-start": None}).status_code == 202
    api_wait(api, compute, sid, "ACTIVE", "p2")
    from overcast.agent import Agents

    real = Agents.compute

    class WithoutDiagnostics:  # the host's agent, for a driver without hv_get_diagnostics
        def __init__(self, agent):
            self.agent = agent

        def supports(self, operation):
            return operation != "get_diagnostics" and self.agent.supports(operation=operation)

    monkeypatch.setattr(Agents, "compute", lambda self, host, *a, **kw: WithoutDiagnostics(real(self, host, *a, **kw)))
    r = api("GET", f"/servers/{sid}/diagnostics", "admin")
    assert (
        r.status_code == 501
        and r.json()["notImplemented"]["message"] == "The requested functionality is not supported."
    )
