"""The image store contract (``img_*``)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import pytest

from overcast.errors import NotFound
from overcast.hookspecs import ImageStoreHooks
from overcast.testing.contract._common import check_refuses_unimplemented
from overcast.types import Backend, StoredImage

CHUNK = 64 * 1024


def chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


class _Broken(Exception):
    pass


def broken_stream(data: bytes, fail_after: int) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks(data):
        if sent >= fail_after:
            raise _Broken("client went away")
        sent += len(chunk)
        yield chunk


class ImageStoreContract:
    """Provide ``driver`` and ``target`` (a :class:`Backend` of kind image_store)."""

    def _read(
        self, driver: ImageStoreHooks, target: Backend, location: str, offset: int = 0, length: int | None = None
    ) -> bytes:
        return b"".join(driver.get(backend=target, location=location, offset=offset, length=length))

    def test_unimplemented_operations_are_refused_before_the_call(self, driver: ImageStoreHooks) -> None:
        check_refuses_unimplemented(driver)

    def test_add_get_size_delete(self, driver: ImageStoreHooks, target: Backend) -> None:
        data = os.urandom(3 * CHUNK + 123)
        stored = driver.add(backend=target, image_id=str(uuid.uuid4()), data=chunks(data), size=len(data))
        assert isinstance(stored, StoredImage) and stored.size == len(data)
        assert "://" in stored.location, "the location is a URI whose scheme routes to the store"
        assert hashlib.md5(self._read(driver, target, stored.location)).digest() == hashlib.md5(data).digest()
        assert driver.get_size(backend=target, location=stored.location) == len(data)
        assert driver.delete(backend=target, location=stored.location) is True
        with pytest.raises(NotFound):
            driver.get_size(backend=target, location=stored.location)
        assert driver.delete(backend=target, location=stored.location) is True

    def test_offset_and_length(self, driver: ImageStoreHooks, target: Backend) -> None:
        data = bytes(range(256)) * 1000
        stored = driver.add(backend=target, image_id=str(uuid.uuid4()), data=chunks(data), size=None)
        try:
            assert self._read(driver, target, stored.location, 1000, 5000) == data[1000:6000]
            assert self._read(driver, target, stored.location, len(data) - 10, None) == data[-10:]
        finally:
            driver.delete(backend=target, location=stored.location)

    def test_failed_stream_leaves_nothing_and_can_be_retried(self, driver: ImageStoreHooks, target: Backend) -> None:
        image_id = str(uuid.uuid4())
        data = os.urandom(4 * CHUNK)
        with pytest.raises(_Broken):
            driver.add(backend=target, image_id=image_id, data=broken_stream(data, 2 * CHUNK), size=len(data))
        stored = driver.add(backend=target, image_id=image_id, data=chunks(data), size=len(data))
        try:
            assert self._read(driver, target, stored.location) == data
        finally:
            driver.delete(backend=target, location=stored.location)

    def test_init_store_is_idempotent(self, driver: ImageStoreHooks, target: Backend) -> None:
        if not driver.supports("init_store"):
            pytest.skip(f"image store driver '{driver.info.name}' has no init_store (optional)")
        assert driver.init_store(backend=target) is True
        stored = driver.add(backend=target, image_id=str(uuid.uuid4()), data=chunks(b"kept"), size=4)
        try:
            assert driver.init_store(backend=target) is True
            assert self._read(driver, target, stored.location) == b"kept", "init_store must keep published data"
        finally:
            driver.delete(backend=target, location=stored.location)

    def test_unknown_location_is_not_found(self, driver: ImageStoreHooks, target: Backend) -> None:
        stored = driver.add(backend=target, image_id=str(uuid.uuid4()), data=chunks(b"x"), size=1)
        driver.delete(backend=target, location=stored.location)
        with pytest.raises(NotFound):
            self._read(driver, target, stored.location)
