"""Host-side image work, done without a database: fetch into the image cache, and upload a
local file (a snapshot) straight into the store. The controller is asked over the bus
(:mod:`overcast.image.rpc`) for locations and to move the image's status."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from overcast.bus.rpc import client
from overcast.errors import OvercastError
from overcast.image import cache, data
from overcast.image.process import process_id
from overcast.image.rpc import IMAGE_TOPIC, ImageRpc
from overcast.image.store import ImageStore
from overcast.types import ImageFile, ImageRef

FILE_CHUNK = 1024 * 1024


def read_file(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(FILE_CHUNK):
            yield chunk


def fetch_to_cache(
    bus: Any,
    store: ImageStore,
    image: ImageRef,
    cache_dir: str | os.PathLike[str],
    formats: Sequence[str],
    location: str | None = None,
) -> ImageFile:
    """The image in the host's cache; the controller is asked for the location only on a miss."""

    def locate() -> str:
        return location or client(bus, IMAGE_TOPIC, ImageRpc).image_location(image_id=image.id)

    return cache.fetch_to_cache(store, image, locate, cache_dir, formats)


def upload_file(
    bus: Any,
    store: ImageStore,
    image_id: str,
    path: str | os.PathLike[str],
    disk_format: str,
    max_size: int | None = None,
    hash_algo: str = data.HASH_ALGO,
) -> None:
    """Stream a local file into the ``queued`` image ``image_id`` (hashing and inspecting it
    on the way); the image is ``active`` when this returns."""
    file = Path(path)
    uploader = process_id()
    controller = client(bus, IMAGE_TOPIC, ImageRpc)
    plan = data.UploadPlan(
        **controller.image_begin_host_upload(image_id=image_id, disk_format=disk_format, uploader=uploader)
    )
    try:
        stored, result = data.store_stream(
            store, plan, read_file(file), declared_size=file.stat().st_size, max_size=max_size, hash_algo=hash_algo
        )
    except BaseException as exc:
        client_fault = isinstance(exc, OvercastError) and exc.status < 500
        controller.image_abort_host_upload(image_id=image_id, uploader=uploader, client_fault=client_fault)
        raise
    found = result.inspection
    controller.image_finish_host_upload(
        image_id=image_id,
        uploader=uploader,
        location=stored.location,
        size=result.size,
        checksum=result.checksum,
        os_hash_algo=result.os_hash_algo,
        os_hash_value=result.os_hash_value,
        crc32=result.crc32,
        virtual_size=found.virtual_size if found else None,
        detected_format=found.format if found else None,
    )
