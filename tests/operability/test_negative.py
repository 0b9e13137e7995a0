"""Negative requests across every service (issue 22): each must be refused with a clear error
in that service's OpenStack format, and must change nothing.

The cases come from the API's own OpenAPI document, so a new route is covered the day it
lands: every operation on a resource that does not exist (a random id in each id slot),
and every operation that takes a body, on real resources, with a body that is not JSON and
with one that is JSON of the wrong shape (a list). The Swift API, which is served by a fast
path outside the document, gets its own cases. A member of an ordinary project sends them
all. "Changed nothing" is read from the database: a fingerprint of every table's rows is
taken before and after each case (the tables the controller's periodic work writes, host
heartbeats and the like, are left out, and the cloud is idle while the cases run).

The number of cases is printed at the end of the run (``conftest.py`` here)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from overcast.db.models.base import Base
from overcast.testing.waiting import wait_until

#: written by the controller's periodic work (heartbeats, the scheduler's and services' rows, the
#: task runners' liveness rows), not by requests
BACKGROUND_TABLES = {"hosts", "services", "compute_task_runners"}

#: the path segment before an id slot -> the resource whose id fills it
Ids = dict[str, str]


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    what: str
    body: bytes | None = None
    content_type: str = "application/json"


def fingerprint(runtime: Any) -> dict[str, str]:
    """A digest of every table's rows (but the periodic work's)."""
    out = {}
    with runtime.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in BACKGROUND_TABLES:
                continue
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = hashlib.sha1(repr(rows).encode()).hexdigest()
    return out


def service_error_ok(path: str, status: int, response: Any) -> str:
    """Why ``response`` is not a clear error in the format of the service at ``path`` ('' if it is)."""
    service = path.lstrip("/").split("/", 1)[0]
    if service == "object":
        text = response.text
        return "" if text.startswith(f"{status} ") and len(text.strip().splitlines()) >= 2 else f"Swift body {text!r}"
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:200]!r}"
    if service == "identity":
        err = body.get("error") or {}
        ok = err.get("code") == status and err.get("title") and err.get("message")
    elif service in ("compute", "volume"):
        (inner,) = body.values() if len(body) == 1 else (None,)
        ok = isinstance(inner, dict) and inner.get("code") == status and inner.get("message")
    elif service == "networking":
        err = body.get("NeutronError") or {}
        ok = err.get("type") and err.get("message")
    elif service == "image":  # JSON when the client prefers it (the cases send Accept: application/json)
        ok = body.get("message") and str(body.get("code", "")).startswith(str(status))
    elif service == "load-balancer":
        ok = body.get("faultcode") == "Client" and body.get("faultstring")
    elif service == "orchestration":
        ok = body.get("code") == status and (body.get("error") or {}).get("message") and body.get("title")
    else:
        return f"no error format known for service {service!r}"
    return "" if ok else f"not the {service} error format: {body}"


def fill(path: str, ids: Ids, project_id: str, real: bool) -> str:
    """The template ``path`` with each id slot filled: the caller's project for project slots;
    a real resource's id (``real``) where one is known for the segment before the slot, else a
    random id."""

    def slot(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ("project_id", "tenant_id"):
            return project_id
        before = path[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        if real and before in ids:
            return ids[before]
        return uuid.uuid4().hex if "project" in name or "user" in name else str(uuid.uuid4())

    return re.sub(r"{(\w+)(?::path)?}", slot, path)


#: operations whose id slot is not a lookup: Nova and Cinder answer any project's default quotas
NOT_LOOKUPS = re.compile(r"/os-quota-sets/\{\w+\}/defaults$")


def document_cases(doc: dict[str, Any], ids: Ids, project_id: str) -> Iterator[Case]:
    """From the OpenAPI document: a random id in every id slot of every operation; a body that
    is not JSON, and a JSON list, to every operation that declares a request body."""
    for template, operations in sorted(doc["paths"].items()):
        slots = [s for s in re.findall(r"{(\w+)(?::path)?}", template) if s not in ("project_id", "tenant_id")]
        for method, operation in sorted((m.upper(), op) for m, op in operations.items()):
            if slots and not NOT_LOOKUPS.search(template):
                body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                yield Case(method, fill(template, ids, project_id, real=False), "no such resource", body)
            if "requestBody" in operation:
                path = fill(template, ids, project_id, real=True)
                yield Case(method, path, "body is not JSON", b'{"name": ')
                yield Case(method, path, "body is a JSON list", b"[]")


def swift_cases(project_id: str, other_project: str) -> Iterator[Case]:
    base = f"/object/v1/AUTH_{project_id}"
    yield Case("GET", f"{base}/no-such-container", "no such container")
    yield Case("GET", f"{base}/c1/no-such-object", "no such object")
    yield Case("DELETE", f"{base}/c1/no-such-object", "no such object")
    yield Case("PUT", f"{base}/no-such-container/o", "object in no container", b"x", "application/octet-stream")
    yield Case("GET", f"/object/v1/AUTH_{other_project}/c1", "another project's account")
    yield Case("PUT", f"/object/v1/AUTH_{other_project}/c2", "another project's account", b"")
    yield Case("PUT", f"{base}/{'x' * 300}", "container name too long", b"")
    yield Case("DELETE", f"{base}/c1", "container not empty")


def make_resources(cloud: Any, token: str, project_id: str) -> Ids:
    """A network, subnet, port, security group, router, image, key pair, server group, server,
    volume and snapshot of the caller's, and a container with an object; their ids by the path
    segment that precedes their slot in routes."""

    def call(method: str, path: str, body: Any = None, ok: int = 200, **kw: Any) -> Any:
        r = cloud.request(method, path, token=token, json=body, **kw)
        assert r.status_code in (ok, 200, 201, 202, 204), (path, r.status_code, r.text)
        return r.json() if r.content and r.headers.get("content-type", "").startswith("application/json") else None

    net = call("POST", "/networking/v2.0/networks", {"network": {"name": "neg"}})["network"]["id"]
    sub = call(
        "POST", "/networking/v2.0/subnets", {"subnet": {"network_id": net, "cidr": "10.77.0.0/24", "ip_version": 4}}
    )
    port = call("POST", "/networking/v2.0/ports", {"port": {"network_id": net}})["port"]["id"]
    sg = call("POST", "/networking/v2.0/security-groups", {"security_group": {"name": "neg"}})["security_group"]["id"]
    router = call("POST", "/networking/v2.0/routers", {"router": {"name": "neg"}})["router"]["id"]
    image = call("POST", "/image/v2/images", {"name": "neg", "disk_format": "raw", "container_format": "bare"})["id"]
    call(
        "PUT",
        f"/image/v2/images/{image}/file",
        content=b"\0" * 1024,
        headers={"Content-Type": "application/octet-stream"},
    )
    call("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": "neg"}})
    group = call("POST", "/compute/v2.1/os-server-groups", {"server_group": {"name": "neg", "policies": ["affinity"]}})
    flavor = cloud.request(
        "POST",
        "/compute/v2.1/flavors",
        token=cloud.admin_token,
        json={"flavor": {"name": "neg", "ram": 64, "vcpus": 1, "disk": 1}},
    ).json()["flavor"]["id"]
    server = call(
        "POST",
        "/compute/v2.1/servers",
        {"server": {"name": "neg", "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": net}]}},
    )["server"]["id"]
    volume = call("POST", f"/volume/v3/{project_id}/volumes", {"volume": {"size": 1, "name": "neg"}})["volume"]["id"]

    def status(path: str, key: str) -> str:
        return str(cloud.request("GET", path, token=token).json()[key]["status"])

    wait_until(lambda: status(f"/compute/v2.1/servers/{server}", "server") == "ACTIVE", "server ACTIVE", 60)
    wait_until(lambda: status(f"/volume/v3/{project_id}/volumes/{volume}", "volume") == "available", "volume", 60)
    snapshot = call("POST", f"/volume/v3/{project_id}/snapshots", {"snapshot": {"volume_id": volume}})["snapshot"]["id"]
    wait_until(lambda: status(f"/volume/v3/{project_id}/snapshots/{snapshot}", "snapshot") == "available", "snap", 60)
    swift = f"/object/v1/AUTH_{project_id}"
    assert cloud.request("PUT", f"{swift}/c1", token=token).status_code in (201, 202)
    assert cloud.request("PUT", f"{swift}/c1/o1", token=token, content=b"data").status_code == 201
    return {
        "networks": net,
        "subnets": sub["subnet"]["id"],
        "ports": port,
        "security-groups": sg,
        "routers": router,
        "images": image,
        "os-keypairs": "neg",
        "os-server-groups": group["server_group"]["id"],
        "servers": server,
        "flavors": flavor,
        "volumes": volume,
        "snapshots": snapshot,
    }


def settled(runtime: Any) -> Callable[[], dict[str, str]]:
    """A fingerprint once two in a row, 0.2 s apart, agree (the cloud is idle)."""
    import time

    def take() -> dict[str, str]:
        last = fingerprint(runtime)
        for _ in range(50):
            time.sleep(0.2)
            now = fingerprint(runtime)
            if now == last:
                return now
            last = now
        raise AssertionError("the cloud did not settle")

    return take


@pytest.fixture
def negative_counts(record_property: Any) -> Iterator[dict[str, Any]]:
    counts: dict[str, Any] = {"cases": 0, "by_service": {}}
    yield counts
    record_property("negative_cases", counts)


def test_every_refusal_is_clear_and_changes_nothing(cloud: Any, negative_counts: dict[str, Any]) -> None:
    project_id, _, token = cloud.new_project_user(role="member")
    other_project, _, _ = cloud.new_project_user(role="member")
    ids = make_resources(cloud, token, project_id)
    doc = cloud.client.get("/openapi.json").json()
    cases = [*document_cases(doc, ids, project_id), *swift_cases(project_id, other_project)]
    before = settled(cloud.runtime)()
    failures = []
    for case in cases:
        headers = {"Content-Type": case.content_type, "Accept": "application/json"}
        response = cloud.request(case.method, case.path, token=token, content=case.body, headers=headers)
        status = response.status_code
        problem = ""
        if not 400 <= status < 500 or status == 401:
            problem = f"answered {status}: {response.text[:200]}"
        elif case.method != "HEAD":  # a HEAD answer has no body
            problem = service_error_ok(case.path, status, response)
        after = fingerprint(cloud.runtime)
        if after != before:
            changed = sorted(t for t in after if after[t] != before[t])
            problem += f" changed tables {changed}"
            before = settled(cloud.runtime)()
        if problem:
            failures.append(f"{case.method} {case.path} ({case.what}): {problem}")
        service = case.path.lstrip("/").split("/", 1)[0]
        negative_counts["cases"] += 1
        negative_counts["by_service"][service] = negative_counts["by_service"].get(service, 0) + 1
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
    assert len(cases) >= 400, len(cases)
    # the cases really reached the resources: each still there, as it was
    assert (
        cloud.request("GET", f"/compute/v2.1/servers/{ids['servers']}", token=token).json()["server"]["status"]
        == "ACTIVE"
    )
    assert cloud.request("GET", f"/object/v1/AUTH_{project_id}/c1/o1", token=token).content == b"data"
