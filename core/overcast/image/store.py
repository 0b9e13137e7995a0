"""The configured image store, reached through the ``img_*`` hooks of its driver.

A location is a URI the store returned from ``img_add``; its scheme names the store that
wrote it (``file://`` for ``fs``). The store checks that it can serve a location it is
given, so a location of another scheme is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from overcast.errors import BadRequest, ServiceUnavailable
from overcast.hookspecs import ImageStoreHooks
from overcast.plugins import PluginManager
from overcast.types import Backend, StoredImage


class ImageStore:
    """The ``[image_store]`` backend and its driver."""

    def __init__(self, plugins: PluginManager, backend: Backend | None) -> None:
        self._plugins = plugins
        self._backend = backend

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise ServiceUnavailable("No image store is configured ([image_store] in overcast.toml).")
        return self._backend

    @property
    def configured(self) -> bool:
        return self._backend is not None

    def _driver(self) -> ImageStoreHooks:
        return self._plugins.driver("image_store", self.backend.driver)

    def init(self) -> bool:
        """Let the driver check its store and clean up after dead uploads, if it can;
        False if it has nothing to do at start."""
        driver = self._driver()
        if not driver.supports("init_store"):
            return False
        return bool(driver.init_store(backend=self.backend))

    def add(self, image_id: str, data: Iterable[bytes], size: int | None) -> StoredImage:
        return self._driver().add(backend=self.backend, image_id=image_id, data=data, size=size)

    def get(self, location: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        self._check_location(location)
        return self._driver().get(backend=self.backend, location=location, offset=offset, length=length)

    def delete(self, location: str) -> bool:
        self._check_location(location)
        return self._driver().delete(backend=self.backend, location=location)

    def size(self, location: str) -> int:
        self._check_location(location)
        return self._driver().get_size(backend=self.backend, location=location)

    @staticmethod
    def _check_location(location: str) -> None:
        if not urlsplit(location).scheme:
            raise BadRequest(f"image location {location!r} has no scheme")
