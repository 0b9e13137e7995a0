"""Images in memory (and, for the other processes of a cloud of several, in its state dir)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from overcast.errors import NotFound
from overcast.hookspecs import hookimpl
from overcast.types import (
    Backend,
    StoredImage,
)


class FakeImageStore:
    """Images in memory, published only once the whole stream arrived.

    ``blobs`` is what this process stored (tests read and change it). ``shared``: each image
    is also written to the backend's state dir, where the other processes of the same cloud
    (its API workers: an image uploaded through one is booted or downloaded through another)
    find what is not in their own memory."""

    def __init__(self, shared: bool = False) -> None:
        self.blobs: dict[str, bytes] = {}
        self.shared = shared

    def _file(self, backend: Backend, location: str) -> Path | None:
        if not self.shared or not backend.state_dir:
            return None
        return Path(backend.state_dir) / "fake-images" / location.rsplit("/", 1)[-1]

    @hookimpl
    def img_add(self, backend: Backend, image_id: str, data: Iterable[bytes], size: int | None) -> StoredImage:
        content = b"".join(data)  # a raising stream leaves nothing behind
        location = f"fake://{backend.name}/{image_id}"
        self.blobs[location] = content
        path = self._file(backend, location)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_name(f".{path.name}.{os.getpid()}")
            temp.write_bytes(content)
            temp.replace(path)
        return StoredImage(location=location, size=len(content))

    def _blob(self, backend: Backend, location: str) -> bytes:
        blob = self.blobs.get(location)
        if blob is not None:
            return blob
        path = self._file(backend, location)
        try:
            if path is not None:
                return path.read_bytes()
        except FileNotFoundError:
            pass
        raise NotFound(f"no image data at {location}")

    @hookimpl
    def img_get(self, backend: Backend, location: str, offset: int, length: int | None) -> Iterator[bytes]:
        blob = self._blob(backend, location)
        end = len(blob) if length is None else min(len(blob), offset + length)
        return iter([blob[offset:end]])

    @hookimpl
    def img_delete(self, backend: Backend, location: str) -> bool:
        self.blobs.pop(location, None)
        path = self._file(backend, location)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return True

    @hookimpl
    def img_get_size(self, backend: Backend, location: str) -> int:
        return len(self._blob(backend, location))
