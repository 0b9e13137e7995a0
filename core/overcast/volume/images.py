"""What the volume service needs from the image service, in one place.

It uses the same peer interface compute does (``overcast.image.service``):

* volumes from images: ``image_ref`` (an active image the caller can see), then
  ``fetch_to_cache`` (the verified data in a local cache directory, in a format the volume
  drivers read) and ``vol_copy_image_to_volume``;
* uploads: ``create_snapshot_record`` (a queued image whose id goes back to the client at
  once), ``vol_copy_volume_to_image`` into a local file, ``upload_file``; a failed upload
  is removed with ``discard_image``.

A method the image service does not offer is reported as a clear 503, not a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overcast.context import RequestContext
from overcast.errors import OvercastError, ServiceUnavailable
from overcast.types import ImageFile, ImageRef

#: disk formats the volume drivers convert from (they use qemu-img).
READABLE_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")


class ImageClient:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            svc = self.runtime.service("image")
        except (ImportError, AttributeError, KeyError) as exc:
            raise ServiceUnavailable(f"the image service is not available: {exc}") from None
        func = getattr(svc, method, None)
        if func is None:
            raise ServiceUnavailable(f"the image service does not offer '{method}' (needed by the volume service)")
        return func(*args, **kwargs)

    def get(self, ctx: RequestContext, image_id: str) -> ImageRef:
        """The image's metadata; ``NotFound`` if the caller cannot see it."""
        return self._call("image_ref", ctx, image_id)

    def fetch(self, ctx: RequestContext, image_id: str, cache_dir: Path) -> ImageFile:
        """The verified image data in ``cache_dir``."""
        return self._call("fetch_to_cache", self.get(ctx, image_id), str(cache_dir), list(READABLE_FORMATS))

    def create(
        self, ctx: RequestContext, name: str, disk_format: str, container_format: str, properties: dict[str, str]
    ) -> ImageRef:
        """A new, queued, private image record."""
        image_id = self._call("create_snapshot_record", ctx, name, properties)
        return ImageRef(id=image_id, name=name, disk_format=disk_format, container_format=container_format)

    def upload(self, ctx: RequestContext, image_id: str, path: str, disk_format: str) -> None:
        """Give the queued image its data from a local file (checksummed by the image service)."""
        self._call("upload_file", image_id, path, disk_format)

    def fail(self, ctx: RequestContext, image_id: str) -> None:
        """A failed upload leaves no half image behind (best effort)."""
        try:
            self._call("discard_image", image_id)
        except OvercastError:
            pass
