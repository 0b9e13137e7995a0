"""The object store contract (``obj_*``)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

from typing import Any

import pytest

from overcast.errors import NotFound, OvercastError, Unprocessable
from overcast.hookspecs import ObjectStoreHooks
from overcast.testing.contract._common import check_refuses_unimplemented, needs
from overcast.types import Backend, ByteRange, ObjectInfo, ObjectSubdir


def chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


class ObjectStoreContract:
    """Provide ``driver`` and ``target`` (a :class:`Backend` of kind object_store)."""

    @pytest.fixture
    def where(self) -> tuple[str, str]:
        """A fresh (account, container) per test."""
        return f"AUTH_{uuid.uuid4().hex}", "contract"

    def _put(
        self,
        driver: ObjectStoreHooks,
        target: Backend,
        where: tuple[str, str],
        name: str,
        data: bytes,
        etag: str | None = None,
    ) -> ObjectInfo:
        account, container = where
        return driver.put(
            backend=target,
            account=account,
            container=container,
            name=name,
            data=chunks(data),
            content_type="application/octet-stream",
            metadata={"color": "blue"},
            expected_etag=etag,
        )

    def _get(
        self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str], name: str, rng: ByteRange | None = None
    ) -> bytes:
        account, container = where
        _, body = driver.get(backend=target, account=account, container=container, name=name, byte_range=rng)
        return b"".join(body)

    def _names(self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str], **kw: Any) -> list[str]:
        account, container = where
        args: dict[str, Any] = dict(
            prefix=None, delimiter=None, marker=None, end_marker=None, limit=10000, reverse=False
        )
        args.update(kw)
        entries = driver.list(backend=target, account=account, container=container, **args)
        return [e.subdir if isinstance(e, ObjectSubdir) else e.name for e in entries]

    def test_unimplemented_operations_are_refused_before_the_call(self, driver: ObjectStoreHooks) -> None:
        check_refuses_unimplemented(driver)

    def test_put_get_head_delete(self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str]) -> None:
        data = os.urandom(200_000)
        info = self._put(driver, target, where, "a/b.bin", data)
        assert info.etag == hashlib.md5(data).hexdigest() and info.size == len(data)
        assert self._get(driver, target, where, "a/b.bin") == data
        head = driver.head(backend=target, account=where[0], container=where[1], name="a/b.bin")
        assert head.etag == info.etag and head.metadata.get("color") == "blue"
        assert driver.delete(backend=target, account=where[0], container=where[1], name="a/b.bin") is True
        with pytest.raises(NotFound):
            driver.head(backend=target, account=where[0], container=where[1], name="a/b.bin")
        with pytest.raises(NotFound):
            driver.delete(backend=target, account=where[0], container=where[1], name="a/b.bin")

    def test_etag_mismatch_stores_nothing_and_keeps_the_old_version(
        self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str]
    ) -> None:
        self._put(driver, target, where, "obj", b"old")
        with pytest.raises(Unprocessable):
            self._put(driver, target, where, "obj", b"new", etag="0" * 32)
        assert self._get(driver, target, where, "obj") == b"old"

    def test_last_write_wins(self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str]) -> None:
        self._put(driver, target, where, "obj", b"one")
        self._put(driver, target, where, "obj", b"two")
        assert self._get(driver, target, where, "obj") == b"two"
        assert self._names(driver, target, where) == ["obj"]

    def test_ranges(self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str]) -> None:
        data = bytes(range(256)) * 40
        self._put(driver, target, where, "r", data)
        assert self._get(driver, target, where, "r", ByteRange(10, 19)) == data[10:20]
        assert self._get(driver, target, where, "r", ByteRange(len(data) - 5, len(data) - 1)) == data[-5:]

    def test_post_replaces_metadata(self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str]) -> None:
        needs(driver, "post")
        self._put(driver, target, where, "m", b"x")
        driver.post(backend=target, account=where[0], container=where[1], name="m", metadata={"shape": "round"})
        head = driver.head(backend=target, account=where[0], container=where[1], name="m")
        assert dict(head.metadata) == {"shape": "round"}

    def test_listing_semantics(self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str]) -> None:
        for name in ["a", "b/1", "b/2", "b/c/3", "c", "/lead", "d\u00e9j\u00e0"]:
            self._put(driver, target, where, name, name.encode())
        assert self._names(driver, target, where) == sorted(
            ["a", "b/1", "b/2", "b/c/3", "c", "/lead", "d\u00e9j\u00e0"]
        )
        assert self._names(driver, target, where, delimiter="/") == ["/", "a", "b/", "c", "d\u00e9j\u00e0"]
        assert self._names(driver, target, where, prefix="b/", delimiter="/") == ["b/1", "b/2", "b/c/"]
        assert self._names(driver, target, where, marker="b/1", limit=2) == ["b/2", "b/c/3"]
        assert self._names(driver, target, where, end_marker="b/2") == ["/lead", "a", "b/1"]
        assert self._names(driver, target, where, reverse=True, limit=2) == ["d\u00e9j\u00e0", "c"]
        assert self._get(driver, target, where, "/lead") == b"/lead"

    def test_hostile_names_stay_inside(self, driver: ObjectStoreHooks, target: Backend, where: tuple[str, str]) -> None:
        """Names like ``../x`` are stored as data (readable by exactly that name) or refused
        with an Overcast error; a name with NUL or over 1024 bytes is refused."""
        for name in ["../escape", "../../etc/passwd", "/abs/path", "a/../../b"]:
            try:
                self._put(driver, target, where, name, b"payload")
            except OvercastError:
                continue
            assert self._get(driver, target, where, name) == b"payload"
        for bad in ["nul\x00byte", "x" * 1025]:
            with pytest.raises(OvercastError):
                self._put(driver, target, where, bad, b"payload")
