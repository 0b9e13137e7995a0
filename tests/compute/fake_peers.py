"""Test doubles for the compute service's peers (image, volume), with the interface
documented in ``overcast.compute.peers``. They keep real state and enforce real rules."""

from __future__ import annotations

import os
import threading

from overcast.errors import BadRequest, Conflict, NotFound
from overcast.types import ConnectionInfo, ImageFile, ImageRef


class FakeImageService:
    def __init__(self) -> None:
        self.images: dict[str, dict] = {}
        self.lock = threading.Lock()

    def add(self, image_id: str, disk_format: str = "qcow2", owner: str = "", **properties: str) -> ImageRef:
        ref = ImageRef(id=image_id, name=f"img-{image_id[:8]}", disk_format=disk_format, properties=properties)
        self.images[image_id] = {"ref": ref, "owner": owner, "status": "active", "data": b"base"}
        return ref

    def image_ref(self, ctx, image_id: str) -> ImageRef:
        img = self.images.get(image_id)
        if img is None or img["status"] != "active" or (img["owner"] and not ctx.can_see(img["owner"])):
            raise NotFound(f"Image {image_id} could not be found.")
        return img["ref"]

    def fetch_to_cache(self, image: ImageRef, cache_dir: str, formats) -> ImageFile:
        if image.disk_format not in formats:
            raise BadRequest(f"cannot convert {image.disk_format}")
        path = os.path.join(cache_dir, image.id)
        with open(path, "wb") as f:
            f.write(self.images[image.id]["data"])
        return ImageFile(image=image, path=path, disk_format=image.disk_format)

    def create_snapshot_record(self, ctx, name: str, properties: dict) -> str:
        import uuid

        image_id = str(uuid.uuid4())
        ref = ImageRef(id=image_id, name=name, disk_format="raw", properties=dict(properties))
        self.images[image_id] = {"ref": ref, "owner": ctx.project_id, "status": "queued", "data": b""}
        return image_id

    def upload_file(self, image_id: str, path: str, disk_format: str) -> None:
        with open(path, "rb") as f:
            data = f.read()
        img = self.images[image_id]
        img["data"], img["status"] = data, "active"
        img["ref"] = ImageRef(id=image_id, name=img["ref"].name, disk_format=disk_format, properties=img["ref"].properties)

    def discard_image(self, image_id: str) -> None:
        self.images.pop(image_id, None)


class FakeVolumeService:
    """Volumes with Cinder's status rules: available -> attaching -> in-use -> detaching."""

    def __init__(self) -> None:
        self.volumes: dict[str, dict] = {}

    def add(self, volume_id: str, project_id: str) -> None:
        self.volumes[volume_id] = {"status": "available", "project": project_id, "attached_to": None}

    def _get(self, ctx, volume_id: str) -> dict:
        vol = self.volumes.get(volume_id)
        if vol is None or not ctx.can_see(vol["project"]):
            raise NotFound(f"Volume {volume_id} could not be found.")
        return vol

    def reserve_attach(self, ctx, volume_id: str, instance_uuid: str) -> None:
        vol = self._get(ctx, volume_id)
        if vol["status"] != "available":
            raise Conflict(f"volume {volume_id} status must be available, but it is {vol['status']}")
        vol["status"] = "attaching"

    def initialize_connection(self, ctx, volume_id: str, connector) -> ConnectionInfo:
        self._get(ctx, volume_id)
        return ConnectionInfo("file", {"path": f"/fake/{volume_id}", "format": "raw", "host": connector.host})

    def complete_attach(self, ctx, volume_id: str, instance_uuid: str, mountpoint: str, host: str) -> None:
        vol = self._get(ctx, volume_id)
        vol.update(status="in-use", attached_to=instance_uuid, mountpoint=mountpoint)

    def unreserve(self, ctx, volume_id: str) -> None:
        self._get(ctx, volume_id)["status"] = "available"

    def begin_detach(self, ctx, volume_id: str, instance_uuid: str) -> None:
        self._get(ctx, volume_id)["status"] = "detaching"

    def terminate_connection(self, ctx, volume_id: str, connector) -> None:
        self._get(ctx, volume_id)

    def complete_detach(self, ctx, volume_id: str, instance_uuid: str) -> None:
        self._get(ctx, volume_id).update(status="available", attached_to=None)


class FakeIdentity:
    """Tokens mapped to contexts, with the real policy table deciding each rule."""

    def __init__(self) -> None:
        self.tokens: dict = {}

    def context_from_token(self, token: str, request_id: str = ""):
        from overcast.errors import Unauthorized

        ctx = self.tokens.get(token)
        if ctx is None:
            raise Unauthorized("The request you have made requires authentication.")
        return ctx

    def enforce(self, rule: str, ctx) -> None:
        from overcast.errors import Forbidden
        from overcast.policy import required_role, role_satisfies

        if not role_satisfies(ctx.roles, required_role(rule)):
            raise Forbidden(f"Policy doesn't allow {rule} to be performed.")
