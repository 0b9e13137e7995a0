"""``overcast.image.streaming``: the digests the hash threads compute over an upload are
hashlib's (and zlib's CRC-32) over the whole body, whatever its pieces; a body over the size
limit is refused at the piece that crosses it, before more is read, and leaves nothing stored."""

from __future__ import annotations

import hashlib
import mmap
import os
import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overcast.errors import PayloadTooLarge
from overcast.image.streaming import UploadAborted, UploadStream, VerifiedStream
from overcast.image.streaming import Crc32 as StreamCrc32

MIB = 1024 * 1024


def _pieces(data: bytes, seed: int) -> Iterator[bytes]:
    """``data`` in irregular pieces, as an HTTP server hands them on: small and large
    ``bytes``, and page-aligned 4 MiB blocks (anonymous maps, as the API's upload gathers)."""
    rnd = random.Random(seed)
    at = 0
    while at < len(data):
        if rnd.random() < 0.3 and len(data) - at >= 4 * MIB:
            block = mmap.mmap(-1, 4 * MIB)
            block[:] = data[at : at + 4 * MIB]
            yield block  # type: ignore[misc]
            at += 4 * MIB
            continue
        n = rnd.choice([1, 17, 4096, 65536, 256_000, MIB + 3])
        yield data[at : at + n]
        at += n


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_digests_are_hashlibs_over_the_whole_body(seed: int) -> None:
    data = os.urandom(13 * MIB + 12345)
    sha256 = hashlib.sha256(data).hexdigest()
    stream = UploadStream(
        _pieces(data, seed), disk_format="raw", inspect=True, declared_size=len(data), declared_sha256=sha256
    )
    passed = b"".join(bytes(piece) for piece in stream)
    assert passed == data
    result = stream.result
    assert result is not None and result.size == len(data)
    assert result.checksum == hashlib.md5(data).hexdigest()
    assert (result.os_hash_algo, result.os_hash_value) == ("sha512", hashlib.sha512(data).hexdigest())
    assert result.crc32 == zlib.crc32(data)


def test_another_hash_algo_and_a_wrong_declared_sha256() -> None:
    data = os.urandom(3 * MIB + 1)
    stream = UploadStream(_pieces(data, 4), disk_format="raw", inspect=False, hash_algo="sha256")
    for _ in stream:
        pass
    assert stream.result is not None and stream.result.os_hash_value == hashlib.sha256(data).hexdigest()
    bad = UploadStream(_pieces(data, 5), disk_format="raw", inspect=False, declared_sha256="0" * 64)
    with pytest.raises(UploadAborted, match="sha256"):
        for _ in bad:
            pass


def test_crc32_is_zlibs_at_any_split() -> None:
    data = os.urandom(2 * MIB + 7)
    rnd = random.Random(6)
    for _ in range(20):
        cuts = sorted(rnd.sample(range(len(data)), 5))
        crc = StreamCrc32()
        for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True):
            crc.update(data[a:b])
        assert crc.value == zlib.crc32(data) and crc.hexdigest() == f"{zlib.crc32(data):08x}"


def test_download_check_uses_the_same_crc32() -> None:
    data = os.urandom(MIB + 5)
    ok = VerifiedStream(
        iter([data[:1000], data[1000:]]), size=len(data), crc32=zlib.crc32(data), algo="", expected="", what="x"
    )
    assert b"".join(ok) == data
    bad = VerifiedStream(iter([data]), size=len(data), crc32=zlib.crc32(data) ^ 1, algo="", expected="", what="x")
    with pytest.raises(Exception, match="corrupt"):
        b"".join(bad)


def test_over_the_limit_is_refused_before_more_is_read_and_leaves_nothing(
    fs_runtime: Any, fs_images: Any, ctx_a: Any, tmp_path: Path
) -> None:
    fs_runtime.config.image.max_image_size = 10 * MIB
    view = fs_images.create(ctx_a, {"name": "big", "disk_format": "raw", "container_format": "bare"})
    pulled = []

    def body() -> Iterator[bytes]:
        for n in range(100):  # 400 MiB if it were all read
            pulled.append(n)
            yield os.urandom(4 * MIB)

    with pytest.raises(PayloadTooLarge):
        fs_images.upload(ctx_a, view["id"], body())
    assert len(pulled) == 3  # the third 4 MiB piece crosses 10 MiB: nothing after it is read
    shown = fs_images.show(ctx_a, view["id"])
    assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
    store = tmp_path / "images"
    assert [p for p in store.rglob("*") if p.is_file()] == []
    # the client may try again within the limit
    data = os.urandom(5 * MIB)
    fs_images.upload(ctx_a, view["id"], iter([data]), size=len(data))
    shown = fs_images.show(ctx_a, view["id"])
    assert shown["status"] == "active" and shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
