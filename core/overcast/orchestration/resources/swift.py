"""OS::Swift::Container over the object-store API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from overcast.orchestration.errors import ResourceFailure
from overcast.orchestration.resource import ApiError, Prop, ResourceContext, ResourceType
from overcast.orchestration.resources.base import physical_name


class Container(ResourceType):
    type_name = "OS::Swift::Container"
    heat_class = "SwiftContainer"
    description = "An object-store container."
    requires_service = "object-store"
    properties_schema = {
        "name": Prop("string", "Name for the container. If not specified, a unique name will be generated."),
        "X-Container-Read": Prop("string", "Specify the ACL permissions on who can read objects in the container."),
        "X-Container-Write": Prop("string", "Specify the ACL permissions on who can write objects to the container."),
        "X-Container-Meta": Prop("map", "A map of user-defined meta data to associate with the container.", default={}),
        "X-Account-Meta": Prop("map", "A map of user-defined meta data to associate with the account.", default={}),
        "PurgeOnDelete": Prop(
            "boolean", "If True, delete any objects in the container when the container is deleted.", default=False
        ),
    }
    attributes_schema = {
        "DomainName": "The host from the container URL.",
        "WebsiteURL": "The URL of the container.",
        "RootURL": "The parent URL of the container.",
        "ObjectCount": "The number of objects stored in the container.",
        "BytesUsed": "The number of bytes stored in the container.",
        "HeadContainer": "A map containing all headers for the container.",
    }

    def _name(self, rc: ResourceContext) -> str:
        return str(rc.properties.get("name") or physical_name(rc))

    def handle_create(self, rc: ResourceContext) -> None:
        p = rc.properties
        headers = {f"X-Container-Meta-{k}": str(v) for k, v in (p.get("X-Container-Meta") or {}).items()}
        for key in ("X-Container-Read", "X-Container-Write"):
            if p.get(key):
                headers[key] = p[key]
        name = self._name(rc)
        rc.api.call("object-store", "PUT", f"/{quote(name, safe='')}", headers=headers, raw=b"")
        if p.get("X-Account-Meta"):
            account = {f"X-Account-Meta-{k}": str(v) for k, v in p["X-Account-Meta"].items()}
            rc.api.call("object-store", "POST", "", headers=account, raw=b"")
        rc.set_resource_id(name)

    def handle_delete(self, rc: ResourceContext) -> None:
        if not rc.resource_id:
            return
        path = f"/{quote(rc.resource_id, safe='')}"
        if rc.properties.get("PurgeOnDelete"):
            try:
                listing = rc.api.call("object-store", "GET", f"{path}?format=json") or []
            except ApiError as exc:
                if exc.status == 404:
                    return
                raise
            for obj in listing:
                try:
                    rc.api.call("object-store", "DELETE", f"{path}/{quote(obj['name'])}")
                except ApiError as exc:
                    if exc.status != 404:
                        raise
        try:
            rc.api.call("object-store", "DELETE", path)
        except ApiError as exc:
            if exc.status == 404:
                return
            if exc.status == 409:
                raise ResourceFailure(
                    "Conflict", f"Container {rc.resource_id} is not empty and PurgeOnDelete is off."
                ) from None
            raise

    def _head(self, rc: ResourceContext) -> Mapping[str, Any]:
        listing = rc.api.call("object-store", "GET", f"/{quote(str(rc.resource_id), safe='')}?format=json") or []
        return {
            "x-container-object-count": len(listing),
            "x-container-bytes-used": sum(o.get("bytes", 0) for o in listing),
        }

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        if not rc.resource_id:
            return None
        root = rc.data.get("root_url")
        if name in ("ObjectCount", "BytesUsed", "HeadContainer", "show"):
            head = self._head(rc)
            if name == "ObjectCount":
                return head["x-container-object-count"]
            if name == "BytesUsed":
                return head["x-container-bytes-used"]
            return dict(head)
        if name == "WebsiteURL":
            return f"{root}/{rc.resource_id}" if root else None
        return root if name == "RootURL" else None


TYPES: list[type[ResourceType]] = [Container]
