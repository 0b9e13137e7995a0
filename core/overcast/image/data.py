"""Image data: upload (queued -> saving -> active) and verified download.

The status changes are conditional UPDATEs, so two uploads of one image cannot both start,
and an upload that finishes after its image was deleted removes its data instead of
publishing it. While ``saving``, the row names the uploading process (``saving_by``); a
restart puts the images of dead uploaders back to ``queued`` (:func:`reconcile`).
"""

from __future__ import annotations

from typing import Any, cast

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.db.models.image import Image, ImageLocation
from overcast.errors import BadRequest, Conflict, Forbidden, OvercastError, RangeNotSatisfiable
from overcast.image import constants as c
from overcast.image.access import get_owned, get_visible
from overcast.image.process import is_alive, process_id
from overcast.image.store import ImageStore
from overcast.image.streaming import HASH_ALGO, UploadResult, UploadStream, VerifiedStream
from overcast.types import StoredImage

log = logging.getLogger(__name__)

#: properties the SDK sets from the file it uploads; verified when not empty
DECLARED_MD5 = "owner_specified.openstack.md5"
DECLARED_SHA256 = "owner_specified.openstack.sha256"


@dataclass(frozen=True)
class UploadPlan:
    image_id: str
    disk_format: str
    container_format: str
    declared_md5: str | None
    declared_sha256: str | None


def _set_status(
    session: Session, image_id: str, expected: str, new: str, uploader: str | None = None, **values: object
) -> bool:
    """Move ``image_id`` from ``expected`` to ``new`` atomically; False if it was not there.
    Leaving ``saving`` (or ``importing``) also requires the row to name ``uploader`` (this process by default)."""
    stmt = (
        update(Image)
        .where(Image.id == image_id, Image.status == expected)
        .values(status=new, updated_at=utcnow(), **values)
    )
    if expected in (c.SAVING, c.IMPORTING):
        stmt = stmt.where(Image.saving_by == (uploader or process_id()))
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount == 1


def claim(session: Session, image: Image, uploader: str) -> UploadPlan:
    """queued -> saving for ``uploader``; the plan says what the data must be."""
    if image.status != c.QUEUED:
        raise Conflict(f"Image status transition from {image.status} to saving is not allowed")
    if not image.disk_format or not image.container_format:
        raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")
    props = {p.name: p.value for p in image.properties}
    plan = UploadPlan(
        image.id, image.disk_format, image.container_format, props.get(DECLARED_MD5), props.get(DECLARED_SHA256)
    )
    if not _set_status(session, image.id, c.QUEUED, c.SAVING, saving_by=uploader):
        raise Conflict(f"Image {image.id} is already being uploaded.")
    return plan


def begin_upload(session: Session, ctx: RequestContext, image_id: str) -> UploadPlan:
    """Check the caller may upload and claim the image (queued -> saving)."""
    return claim(session, get_owned(session, ctx, image_id), process_id())


def abort(db: object, image_id: str, exc: BaseException | None, uploader: str | None = None) -> None:
    """saving -> queued after the client's fault (it may try again), -> killed after the
    store's or an unexpected one (the image is unusable)."""
    back = c.QUEUED if isinstance(exc, OvercastError) and exc.status < 500 else c.KILLED
    with db.session() as s:  # type: ignore[attr-defined]
        _set_status(s, image_id, c.SAVING, back, uploader, saving_by=None)


def publish(
    db: object,
    store: ImageStore,
    image_id: str,
    disk_format: str,
    stored: StoredImage,
    result: UploadResult,
    uploader: str | None = None,
    expected: str = c.SAVING,
) -> None:
    """saving -> active with the checksums and location. If the image was deleted or reset
    meanwhile, the data is removed and :class:`Conflict` raised."""
    virtual_size = result.inspection.virtual_size if result.inspection else None
    if virtual_size is None and disk_format in ("raw", "iso"):
        virtual_size = result.size
    with db.session() as s:  # type: ignore[attr-defined]
        published = _set_status(
            s,
            image_id,
            expected,
            c.ACTIVE,
            uploader,
            saving_by=None,
            size=result.size,
            checksum=result.checksum,
            os_hash_algo=result.os_hash_algo,
            os_hash_value=result.os_hash_value,
            virtual_size=virtual_size,
        )
        if published:
            s.add(
                ImageLocation(
                    image_id=image_id,
                    url=stored.location,
                    store=store.backend.name,
                    size=result.size,
                    crc32=result.crc32,
                )
            )
    if not published:
        store.delete(stored.location)
        raise Conflict(f"Image {image_id} was deleted or reset while its data was uploading.")


def store_stream(
    store: ImageStore,
    plan: UploadPlan,
    chunks: Iterable[bytes],
    *,
    declared_size: int | None,
    declared_md5: str | None = None,
    max_size: int | None = None,
    hash_algo: str = HASH_ALGO,
    require_format_match: bool = True,
) -> tuple[StoredImage, UploadResult]:
    """Stream ``chunks`` into the store while hashing and inspecting them."""
    stream = UploadStream(
        chunks,
        disk_format=plan.disk_format,
        inspect=plan.container_format == "bare",
        declared_size=declared_size,
        declared_md5=declared_md5 or plan.declared_md5,
        declared_sha256=plan.declared_sha256,
        max_size=max_size,
        hash_algo=hash_algo,
        require_format_match=require_format_match,
    )
    stored = store.add(plan.image_id, stream, declared_size)
    result = stream.result
    if result is None or stored.size != result.size:
        store.delete(stored.location)
        raise OvercastError(f"image store '{store.backend.name}' did not consume the whole upload")
    return stored, result


def upload(
    db: object,
    store: ImageStore,
    ctx: RequestContext,
    image_id: str,
    chunks: Iterable[bytes],
    *,
    declared_size: int | None = None,
    declared_md5: str | None = None,
    max_size: int | None = None,
    hash_algo: str = HASH_ALGO,
    require_format_match: bool = True,
) -> None:
    """Stream ``chunks`` into the store and activate the image. On any failure nothing is
    kept: the store drops what it wrote and the image leaves ``saving`` (see :func:`abort`)."""
    with db.session() as s:  # type: ignore[attr-defined]
        plan = begin_upload(s, ctx, image_id)
    try:
        stored, result = store_stream(
            store,
            plan,
            chunks,
            declared_size=declared_size,
            declared_md5=declared_md5,
            max_size=max_size,
            hash_algo=hash_algo,
            require_format_match=require_format_match,
        )
    except BaseException as exc:
        abort(db, image_id, exc)
        raise
    publish(db, store, image_id, plan.disk_format, stored, result)


def reconcile(db: object) -> list[str]:
    """Put ``saving`` images whose uploading process is gone back to ``queued``."""
    reset = []
    with db.session() as s:  # type: ignore[attr-defined]
        rows = s.execute(select(Image.id, Image.saving_by).where(Image.status == c.SAVING)).all()
        for image_id, owner in rows:
            if owner and is_alive(owner):
                continue
            done = s.execute(
                update(Image)
                .where(Image.id == image_id, Image.status == c.SAVING, Image.saving_by == owner)
                .values(status=c.QUEUED, saving_by=None, updated_at=utcnow())
            ).rowcount
            if done:
                reset.append(image_id)
                log.warning("image %s: upload by %s did not finish; back to queued", image_id, owner or "?")
    return reset


# --- download ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    """What the API needs to answer a download: ``chunks`` is ``None`` for an image without
    data (204). ``start``/``end`` are inclusive byte offsets of a range answer."""

    image_id: str
    size: int
    checksum: str | None
    chunks: Iterator[bytes] | None
    start: int = 0
    end: int = -1
    partial: bool = False


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` -> inclusive (start, end); None for none."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        raise RangeNotSatisfiable(f"Unsupported range {header!r}: only one byte range is supported.")
    first, dash, last = spec.strip().partition("-")
    try:
        if not dash:
            raise ValueError
        if first == "":
            suffix = int(last)
            start, end = max(size - suffix, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
    except ValueError:
        raise RangeNotSatisfiable(f"Invalid range {header!r}.") from None
    end = min(end, size - 1)
    if start < 0 or start > end or start >= size:
        raise RangeNotSatisfiable(f"Range {header!r} is not satisfiable for an image of {size} bytes.")
    return start, end


def open_download(
    db: object, store: ImageStore, ctx: RequestContext, image_id: str, range_header: str | None = None
) -> Download:
    """Open the image's data for reading; a whole read is verified against the stored copy's CRC-32."""
    with db.session() as s:  # type: ignore[attr-defined]
        image = get_visible(s, ctx, image_id)
        if image.status == c.DEACTIVATED and not ctx.is_admin:
            raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
        if image.status not in (c.ACTIVE, c.DEACTIVATED) or not image.locations:
            return Download(image.id, 0, None, None)
        location, crc32 = image.locations[0].url, image.locations[0].crc32
        size, checksum = image.size or 0, image.checksum
        algo, expected = image.os_hash_algo or "md5", image.os_hash_value or image.checksum or ""
    stored_size = store.size(location)
    if stored_size != size:
        raise OvercastError(f"stored data of image {image_id} is corrupt: {stored_size} bytes, expected {size}")
    wanted = parse_range(range_header, size) if size else None
    if wanted is not None and wanted != (0, size - 1):
        start, end = wanted
        chunks: Iterable[bytes] = store.get(location, start, end - start + 1)
        return Download(image_id, size, checksum, iter(chunks), start, end, partial=True)
    chunks = VerifiedStream(
        store.get(location, 0, None), size=size, crc32=crc32, algo=algo, expected=expected, what=f"image {image_id}"
    )
    return Download(image_id, size, checksum, iter(chunks), 0, size - 1)


def delete_data(store: ImageStore, locations: list[str]) -> None:
    """Remove stored data after its row is gone; a failure leaks data, never loses rows."""
    for location in locations:
        try:
            store.delete(location)
        except (OvercastError, OSError) as exc:
            log.error("could not delete image data at %s: %s", location, exc)
