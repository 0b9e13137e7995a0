"""What the volume service needs from the image service, in one place.

Volumes from images fetch the image to a local, verified file (then
``vol_copy_image_to_volume``); uploads write the volume to a local file
(``vol_copy_volume_to_image``) and hand it to the image service. The image service's
interface is reached through ``runtime.service("image")``; a method it does not offer is
reported as a clear 503 rather than a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from overcast.context import RequestContext
from overcast.errors import ServiceUnavailable
from overcast.types import ImageFile, ImageRef


class ImageClient:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def _service(self, method: str) -> Any:
        try:
            svc = self.runtime.service("image")
        except (ImportError, AttributeError, KeyError) as exc:
            raise ServiceUnavailable(f"the image service is not available: {exc}") from None
        func = getattr(svc, method, None)
        if func is None:
            raise ServiceUnavailable(f"the image service does not offer '{method}' (needed by the volume service)")
        return func

    def get(self, ctx: RequestContext, image_id: str) -> ImageRef:
        """The image's metadata; ``NotFound`` if the caller cannot see it."""
        return self._service("get_image_ref")(ctx, image_id)

    def fetch(self, ctx: RequestContext, image_id: str, dest_dir: Path) -> ImageFile:
        """Download and verify the image's data into ``dest_dir``."""
        return self._service("fetch_image_file")(ctx, image_id, str(dest_dir))

    def create(self, ctx: RequestContext, name: str, disk_format: str, container_format: str, properties: dict[str, str]) -> ImageRef:
        """A new, queued image record (its id is returned to the client at once)."""
        return self._service("create_image_record")(
            ctx, name=name, disk_format=disk_format, container_format=container_format, properties=properties
        )

    def upload(self, ctx: RequestContext, image_id: str, path: str) -> None:
        """Give the image its data from a local file (checksummed by the image service)."""
        self._service("upload_image_file")(ctx, image_id, path)

    def fail(self, ctx: RequestContext, image_id: str, reason: str) -> None:
        """Tell the image service an upload failed (best effort)."""
        try:
            self._service("mark_image_failed")(ctx, image_id, reason)
        except ServiceUnavailable:
            pass
