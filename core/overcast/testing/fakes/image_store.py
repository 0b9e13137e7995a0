"""Images in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from overcast.errors import NotFound
from overcast.hookspecs import hookimpl
from overcast.types import (
    Backend,
    StoredImage,
)


class FakeImageStore:
    """Images in memory, published only once the whole stream arrived."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    @hookimpl
    def img_add(self, backend: Backend, image_id: str, data: Iterable[bytes], size: int | None) -> StoredImage:
        content = b"".join(data)  # a raising stream leaves nothing behind
        location = f"fake://{backend.name}/{image_id}"
        self.blobs[location] = content
        return StoredImage(location=location, size=len(content))

    def _blob(self, location: str) -> bytes:
        try:
            return self.blobs[location]
        except KeyError:
            raise NotFound(f"no image data at {location}") from None

    @hookimpl
    def img_get(self, backend: Backend, location: str, offset: int, length: int | None) -> Iterator[bytes]:
        blob = self._blob(location)
        end = len(blob) if length is None else min(len(blob), offset + length)
        return iter([blob[offset:end]])

    @hookimpl
    def img_delete(self, backend: Backend, location: str) -> bool:
        self.blobs.pop(location, None)
        return True

    @hookimpl
    def img_get_size(self, backend: Backend, location: str) -> int:
        return len(self._blob(location))
