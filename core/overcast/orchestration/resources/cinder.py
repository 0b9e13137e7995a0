"""OS::Cinder::Volume and VolumeAttachment over the block-storage and compute APIs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from overcast.orchestration.errors import ResourceFailure, ResourceInError
from overcast.orchestration.resource import ApiError, Prop, ResourceContext, ResourceType
from overcast.orchestration.resources.base import find_image, gone, name_or_physical, show
from overcast.orchestration.template.parameters import Constraint


class Volume(ResourceType):
    type_name = "OS::Cinder::Volume"
    heat_class = "CinderVolume"
    description = "A block storage volume."
    requires_service = "volumev3"
    properties_schema = {
        "size": Prop(
            "integer",
            "The size of the volume in GB.",
            update_allowed=True,
            constraints=(Constraint("range", {"min": 1}),),
        ),
        "name": Prop("string", "A name used to distinguish the volume.", update_allowed=True),
        "description": Prop("string", "A description of the volume.", update_allowed=True),
        "image": Prop("string", "If specified, the name or ID of the image to create the volume from."),
        "volume_type": Prop("string", "If specified, the type of volume to use, mapping to a specific backend."),
        "source_volid": Prop("string", "If specified, the volume to use as source."),
        "snapshot_id": Prop("string", "If specified, the snapshot to create the volume from."),
        "availability_zone": Prop("string", "The availability zone in which the volume will be created."),
        "metadata": Prop("map", "Key/value pairs to associate with the volume.", default={}, update_allowed=True),
        "multiattach": Prop("boolean", "Whether allow the volume to be attached more than once."),
    }
    attributes_schema = {
        "availability_zone": "The availability zone in which the volume is located.",
        "size": "The size of the volume in GB.",
        "snapshot_id": "The snapshot the volume was created from, if any.",
        "display_name": "Name of the volume.",
        "display_description": "Description of the volume.",
        "volume_type": "The type of the volume mapping to a backend, if any.",
        "metadata": "Key/value pairs associated with the volume.",
        "source_volid": "The volume used as source, if any.",
        "status": "The current status of the volume.",
        "created_at": "The timestamp indicating volume creation.",
        "bootable": "Boolean indicating if the volume can be booted or not.",
        "attachments": "A string representation of the list of attachments of the volume.",
        "attachments_list": "The list of attachments of the volume.",
        "encrypted": "Boolean indicating if the volume is encrypted or not.",
        "multiattach": "Boolean indicating whether allow the volume to be attached more than once.",
    }

    def validate(self, properties: Mapping[str, Any]) -> None:
        if not properties.get("size") and not any(properties.get(k) for k in ("source_volid", "snapshot_id")):
            from overcast.orchestration.errors import StackValidationFailed

            raise StackValidationFailed("size of the volume must be specified", error="Property error")

    def handle_create(self, rc: ResourceContext) -> None:
        p = rc.properties
        body: dict[str, Any] = {
            "name": name_or_physical(rc),
            "metadata": {k: str(v) for k, v in (p.get("metadata") or {}).items()},
        }
        for key in (
            "size",
            "description",
            "volume_type",
            "source_volid",
            "snapshot_id",
            "availability_zone",
            "multiattach",
        ):
            if p.get(key) is not None:
                body[key] = p[key]
        if p.get("image"):
            body["imageRef"] = find_image(rc, p["image"])
        made = rc.api.call("volumev3", "POST", "/volumes", {"volume": body})
        rc.set_resource_id(made["volume"]["id"])

    def _show(self, rc: ResourceContext) -> dict[str, Any] | None:
        return show(rc, "volumev3", f"/volumes/{rc.resource_id}", "volume")

    def check_create_complete(self, rc: ResourceContext) -> bool:
        vol = self._show(rc)
        if vol is None:
            raise ResourceFailure("NotFound", f"Volume {rc.resource_id} could not be found.")
        if vol["status"] in ("error", "error_restoring"):
            raise ResourceInError(vol["status"], "Unknown")
        return bool(vol["status"] == "available")

    def handle_check(self, rc: ResourceContext) -> bool:
        vol = self._show(rc)
        if vol is None or vol["status"].startswith("error"):
            raise ResourceFailure(
                "NotFound" if vol is None else "ResourceInError",
                f"Volume {rc.resource_id} is {'gone' if vol is None else vol['status']}.",
            )
        return True

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        p = rc.properties
        if changed & {"name", "description"}:
            rc.api.call(
                "volumev3",
                "PUT",
                f"/volumes/{rc.resource_id}",
                {"volume": {"name": name_or_physical(rc), "description": p.get("description")}},
            )
        if "metadata" in changed:
            meta = {k: str(v) for k, v in (p.get("metadata") or {}).items()}
            rc.api.call("volumev3", "PUT", f"/volumes/{rc.resource_id}/metadata", {"metadata": meta})
        if "size" in changed and p.get("size"):
            if old.get("size") and p["size"] < old["size"]:
                raise ResourceFailure("NotSupported", "Shrinking volume is not supported.")
            rc.api.call(
                "volumev3",
                "POST",
                f"/volumes/{rc.resource_id}/action",
                {"os-extend": {"new_size": p["size"]}},
                headers={"OpenStack-API-Version": "volume 3.42"},
            )
            rc.data["target_size"] = p["size"]

    def check_update_complete(self, rc: ResourceContext) -> bool:
        target = rc.data.get("target_size")
        if not target:
            return True
        vol = self._show(rc)
        if vol is None:
            raise ResourceFailure("NotFound", f"Volume {rc.resource_id} could not be found.")
        if vol["status"] == "error_extending":
            raise ResourceInError(vol["status"], "Unknown")
        return bool(vol["size"] == target and vol["status"] in ("available", "in-use"))

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.resource_id:
            gone(lambda: rc.api.call("volumev3", "DELETE", f"/volumes/{rc.resource_id}"))

    def check_delete_complete(self, rc: ResourceContext) -> bool:
        vol = self._show(rc)
        if vol is None:
            return True
        if vol["status"] == "error_deleting":
            raise ResourceInError(vol["status"], "Unknown")
        return False

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        vol = self._show(rc)
        if vol is None:
            return None
        if name == "show":
            return vol
        if name == "display_name":
            return vol.get("name")
        if name == "display_description":
            return vol.get("description")
        if name == "attachments_list":
            return vol.get("attachments")
        if name == "attachments":
            return str(vol.get("attachments"))
        return vol.get(name)


class VolumeAttachment(ResourceType):
    type_name = "OS::Cinder::VolumeAttachment"
    heat_class = "CinderVolumeAttachment"
    description = "Attaches a volume to a server (through the compute API)."
    requires_service = "compute"
    properties_schema = {
        "instance_uuid": Prop(
            "string", "The ID of the server to which the volume attaches.", required=True, update_allowed=True
        ),
        "volume_id": Prop("string", "The ID of the volume to be attached.", required=True, update_allowed=True),
        "mountpoint": Prop("string", "The location where the volume is exposed on the instance.", update_allowed=True),
    }

    def _attach(self, rc: ResourceContext) -> None:
        p = rc.properties
        body: dict[str, Any] = {"volumeId": p["volume_id"]}
        if p.get("mountpoint"):
            body["device"] = p["mountpoint"]
        rc.api.call(
            "compute", "POST", f"/servers/{p['instance_uuid']}/os-volume_attachments", {"volumeAttachment": body}
        )
        rc.data.update(server=p["instance_uuid"], volume=p["volume_id"])
        rc.set_resource_id(str(p["volume_id"]))

    def _volume_status(self, rc: ResourceContext, volume: str) -> str | None:
        try:
            return str(rc.api.call("volumev3", "GET", f"/volumes/{volume}")["volume"]["status"])
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def handle_create(self, rc: ResourceContext) -> None:
        self._attach(rc)

    def check_create_complete(self, rc: ResourceContext) -> bool:
        status = self._volume_status(rc, rc.data["volume"])
        if status in ("error", "error_attaching", None):
            raise ResourceInError(str(status), "Volume attachment failed")
        if status == "available" and rc.data.get("polls", 0) > 50:
            raise ResourceFailure("Error", f"Failed to attach volume {rc.data['volume']} to server {rc.data['server']}")
        rc.data["polls"] = rc.data.get("polls", 0) + 1
        return status == "in-use"

    def _detach(self, rc: ResourceContext, server: str, volume: str) -> None:
        try:
            rc.api.call("compute", "DELETE", f"/servers/{server}/os-volume_attachments/{volume}")
        except ApiError as exc:
            if exc.status != 404:
                raise

    def handle_delete(self, rc: ResourceContext) -> None:
        if rc.data.get("server") and rc.data.get("volume"):
            self._detach(rc, rc.data["server"], rc.data["volume"])

    def check_delete_complete(self, rc: ResourceContext) -> bool:
        if not rc.data.get("volume"):
            return True
        return self._volume_status(rc, rc.data["volume"]) in ("available", None)

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        self._detach(rc, old["instance_uuid"], old["volume_id"])
        rc.data["detaching"] = old["volume_id"]
        self._attach(rc)

    def check_update_complete(self, rc: ResourceContext) -> bool:
        return self._volume_status(rc, rc.data["volume"]) == "in-use"


TYPES: list[type[ResourceType]] = [Volume, VolumeAttachment]
