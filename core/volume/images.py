"""What the volume service needs from the image service, in one place.

Volumes from images: ``get_ref`` (visible, active), ``locate`` + ``fetch_to_cache`` (the
verified image data in a local cache directory) and then ``vol_copy_image_to_volume``.
Uploads: ``create`` a queued image (its id goes back to the client at once), then
``vol_copy_volume_to_image`` into a local file and ``upload`` it in chunks; a failed upload
deletes the image. Everything goes through ``runtime.service("image")``; a method it does
not offer is reported as a clear 503 rather than a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from overcast.context import RequestContext
from overcast.errors import OvercastError, ServiceUnavailable
from overcast.types import ImageFile, ImageRef

#: disk formats the volume drivers convert from (they use qemu-img).
READABLE_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")
CHUNK = 1024 * 1024


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            yield block


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
        return self._call("get_ref", ctx, image_id)

    def fetch(self, ctx: RequestContext, image_id: str, cache_dir: Path) -> ImageFile:
        """The verified image data in ``cache_dir``."""
        ref, location = self._call("locate", ctx, image_id)
        return self._call("fetch_to_cache", ref, location, str(cache_dir), list(READABLE_FORMATS))

    def create(self, ctx: RequestContext, name: str, disk_format: str, container_format: str,
               properties: dict[str, str]) -> ImageRef:
        """A new, queued image record."""
        view = self._call("create", ctx, {"name": name, "disk_format": disk_format,
                                          "container_format": container_format, **properties})
        return ImageRef(id=view["id"], name=name, disk_format=disk_format, container_format=container_format)

    def upload(self, ctx: RequestContext, image_id: str, path: str) -> None:
        """Give the queued image its data from a local file (checksummed by the image service)."""
        file = Path(path)
        self._call("upload", ctx, image_id, _chunks(file), size=file.stat().st_size)

    def fail(self, ctx: RequestContext, image_id: str) -> None:
        """A failed upload leaves no half image behind (best effort)."""
        try:
            self._call("delete", ctx, image_id)
        except OvercastError:
            pass
