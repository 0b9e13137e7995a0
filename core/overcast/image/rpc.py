"""What host agents ask of the image service over the bus (topic ``image``), since they
never touch the database: where an image's data is, and the begin/finish/abort steps of
an upload that streams from the host straight into the store (snapshots).

Served by the controller's :class:`~overcast.image.service.ImageService` from ``start()``.
The methods are the interface: agents call them through :func:`overcast.bus.rpc.client`.
"""

from __future__ import annotations

from typing import Any

from overcast.bus.rpc import rpc
from sqlalchemy import select

from overcast.db.models.image import Image, ImageLocation
from overcast.errors import BadRequest, Conflict, NotFound
from overcast.image import constants as c
from overcast.image import data
from overcast.image.inspect import Inspection
from overcast.image.streaming import UploadResult
from overcast.types import StoredImage

IMAGE_TOPIC = "image"


class ImageRpc:
    def __init__(self, service: Any) -> None:
        self._service = service

    @rpc
    def image_location(self, image_id: str) -> str:
        """The store location of an ``active`` image. Asked by every host the first time it
        boots the image: one query of the status and the first location (loading the image
        with its relationships was four)."""
        stmt = (
            select(Image.status, ImageLocation.url)
            .outerjoin(ImageLocation, ImageLocation.image_id == Image.id)
            .where(Image.id == image_id)
            .order_by(ImageLocation.id)
            .limit(1)
        )
        row = self._service.db.read(lambda s: s.execute(stmt).first())
        if row is None:
            raise NotFound(f"No image found with ID {image_id}")
        if row.status != c.ACTIVE or row.url is None:
            raise Conflict(f"Image {image_id} is not active (status {row.status}).")
        return str(row.url)

    @rpc
    def image_begin_host_upload(self, image_id: str, disk_format: str, uploader: str) -> dict[str, Any]:
        """Claim a ``queued`` image for an upload from a host; sets its formats."""
        if disk_format not in c.DISK_FORMATS:
            raise BadRequest(f"Invalid disk_format {disk_format!r}.")
        with self._service.db.session() as s:
            image = s.get(Image, image_id, with_for_update=True)
            if image is None:
                raise NotFound(f"No image found with ID {image_id}")
            if image.status == c.QUEUED:
                image.disk_format, image.container_format = disk_format, image.container_format or "bare"
                s.flush()
            plan = data.claim(s, image, uploader)
            return {
                "image_id": plan.image_id,
                "disk_format": plan.disk_format,
                "container_format": plan.container_format,
                "declared_md5": plan.declared_md5,
                "declared_sha256": plan.declared_sha256,
            }

    @rpc
    def image_finish_host_upload(
        self,
        image_id: str,
        uploader: str,
        location: str,
        size: int,
        checksum: str,
        os_hash_algo: str,
        os_hash_value: str,
        crc32: int,
        virtual_size: int | None,
        detected_format: str | None,
    ) -> bool:
        with self._service.db.session() as s:
            image = s.get(Image, image_id)
            disk_format = image.disk_format if image is not None else "raw"
        inspection = Inspection(detected_format, virtual_size) if detected_format else None
        result = UploadResult(size, checksum, os_hash_algo, os_hash_value, crc32, inspection)
        data.publish(
            self._service.db,
            self._service.store,
            image_id,
            disk_format or "raw",
            StoredImage(location=location, size=size),
            result,
            uploader,
        )
        return True

    @rpc
    def image_abort_host_upload(self, image_id: str, uploader: str, client_fault: bool) -> bool:
        data.abort(self._service.db, image_id, BadRequest("upload refused") if client_fault else None, uploader)
        return True
