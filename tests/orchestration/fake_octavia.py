"""An in-memory stand-in for the load-balancer API (Octavia v2 shapes), for the OS::Octavia::*
types until the real service is merged: objects go PENDING_* -> ACTIVE on the next read,
children of a load balancer that is not ACTIVE are refused with 409 (immutable), and a
cascade delete removes everything. The VIP port is a real Neutron port, made as the owner."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from overcast.orchestration.resource import ApiError

KINDS = {"loadbalancers": "loadbalancer", "listeners": "listener", "pools": "pool", "healthmonitors": "healthmonitor"}


class FakeOctavia:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}  # id -> object (with "_kind")
        self.calls: list[tuple[str, str]] = []

    def _lb_of(self, obj: dict[str, Any]) -> dict[str, Any]:
        lb_id = obj.get("loadbalancer_id") or obj.get("_lb")
        return self.objects[lb_id]

    def _tick(self) -> None:
        """The controller finishes what was pending before this call."""
        for obj in self.objects.values():
            if obj["provisioning_status"].startswith("PENDING_"):
                if obj.get("_pending_at", -1) < len(self.calls) - 1:
                    obj["provisioning_status"] = "ACTIVE"
                else:
                    obj.setdefault("_pending_at", len(self.calls) - 1)
            else:
                obj.pop("_pending_at", None)

    def _read(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _immutable(self, lb: dict[str, Any]) -> None:
        if lb["provisioning_status"] != "ACTIVE":
            raise ApiError(409, f"Load Balancer {lb['id']} is immutable and cannot be updated.", "Conflict")

    def call(self, real: Any, method: str, path: str, body: Any) -> Any:
        self.calls.append((method, path))
        self._tick()
        parts = path.split("?")[0].strip("/").split("/")
        assert parts[:2] == ["v2", "lbaas"], path
        parts = parts[2:]
        if parts[0] == "pools" and len(parts) >= 3 and parts[2] == "members":
            return self._members(method, parts[1], parts[3] if len(parts) > 3 else None, body)
        kind = KINDS[parts[0]]
        obj_id = parts[1] if len(parts) > 1 else None
        if method == "POST":
            return {kind: self._create(real, kind, body[kind])}
        obj = self.objects.get(obj_id or "")
        if obj is None or obj["_kind"] != kind:
            raise ApiError(404, f"{kind} {obj_id} not found.", "NotFound")
        if method == "GET":
            return {kind: self._read(obj)}
        if method == "PUT":
            self._immutable(self._lb_of(obj) if kind != "loadbalancer" else obj)
            obj.update(body[kind])
            obj["provisioning_status"] = "PENDING_UPDATE"
            return {kind: self._read(dict(obj))}
        if method == "DELETE":
            if kind == "loadbalancer":
                for child in [o for o in self.objects.values() if o.get("_lb") == obj_id]:
                    del self.objects[child["id"]]
                real.call("network", "DELETE", f"/v2.0/ports/{obj['vip_port_id']}")
            else:
                self._immutable(self._lb_of(obj))
                self._lb_of(obj)["provisioning_status"] = "PENDING_UPDATE"
                for child in [o for o in self.objects.values() if o.get("_parent") == obj_id]:
                    del self.objects[child["id"]]
            del self.objects[obj["id"]]
            return None
        raise ApiError(405, "Method not allowed", "MethodNotAllowed")

    def _create(self, real: Any, kind: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "provisioning_status": "PENDING_CREATE",
            "operating_status": "ONLINE",
            **spec,
            "_kind": kind,
        }
        if kind == "loadbalancer":
            subnet = real.call("network", "GET", f"/v2.0/subnets/{spec['vip_subnet_id']}")["subnet"]
            port = real.call(
                "network",
                "POST",
                "/v2.0/ports",
                {
                    "port": {
                        "network_id": subnet["network_id"],
                        "name": "octavia-lb-vip",
                        "fixed_ips": [{"subnet_id": subnet["id"]}],
                    }
                },
            )["port"]
            obj.update(vip_port_id=port["id"], vip_address=port["fixed_ips"][0]["ip_address"], listeners=[], pools=[])
        else:
            if kind == "listener":
                lb = self.objects[spec["loadbalancer_id"]]
            elif kind == "pool":
                parent = self.objects[spec.get("listener_id") or spec["loadbalancer_id"]]
                lb = parent if parent["_kind"] == "loadbalancer" else self.objects[parent["loadbalancer_id"]]
                obj["_parent"] = spec.get("listener_id")
            else:
                pool = self.objects[spec["pool_id"]]
                lb = self._lb_of(pool)
                obj["_parent"] = pool["id"]
            self._immutable(lb)
            obj["_lb"] = lb["id"]
            obj.setdefault("loadbalancer_id", lb["id"])
            lb["provisioning_status"] = "PENDING_UPDATE"
        self.objects[obj["id"]] = obj
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def members(self, pool_id: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["_kind"] == "member" and o["_pool"] == pool_id]

    def _members(self, method: str, pool_id: str, member_id: str | None, body: Any) -> Any:
        pool = self.objects.get(pool_id)
        if pool is None:
            raise ApiError(404, f"Pool {pool_id} not found.", "NotFound")
        lb = self._lb_of(pool)
        if method == "POST":
            self._immutable(lb)
            obj = {
                "id": str(uuid.uuid4()),
                "provisioning_status": "PENDING_CREATE",
                **body["member"],
                "_kind": "member",
                "_pool": pool_id,
                "_lb": lb["id"],
                "_parent": pool_id,
            }
            self.objects[obj["id"]] = obj
            lb["provisioning_status"] = "PENDING_UPDATE"
            return {"member": {k: v for k, v in obj.items() if not k.startswith("_")}}
        obj = self.objects.get(member_id or "")
        if obj is None:
            raise ApiError(404, f"Member {member_id} not found.", "NotFound")
        if method == "GET":
            return {"member": self._read(obj)}
        if method == "DELETE":
            self._immutable(lb)
            lb["provisioning_status"] = "PENDING_UPDATE"
            del self.objects[obj["id"]]
            return None
        self._immutable(lb)
        obj.update(body["member"])
        return {"member": self._read(obj)}


class WithOctavia:
    """The owner's API with ``load-balancer`` answered by a :class:`FakeOctavia`."""

    def __init__(self, real: Any, fake: FakeOctavia) -> None:
        self.real = real
        self.fake = fake

    def has_service(self, service: str) -> bool:
        return service == "load-balancer" or bool(self.real.has_service(service))

    def endpoint(self, service: str) -> str:
        return "/load-balancer" if service == "load-balancer" else str(self.real.endpoint(service))

    def call(self, service: str, method: str, path: str, body: Any = None, headers: Any = None, raw: Any = None) -> Any:
        if service == "load-balancer":
            return self.fake.call(self.real, method, path, body)
        return self.real.call(service, method, path, body, headers=headers, raw=raw)
