"""Large objects: static manifests (SLO, ``?multipart-manifest=put|get|delete``) and
dynamic ones (DLO, ``X-Object-Manifest: <container>/<prefix>``).

An SLO manifest is stored as the object's content, in Swift's stored form (a JSON list of
``{"name": "/c/o", "hash", "bytes", "content_type", "last_modified"}``), with the system
metadata ``x-static-large-object`` and the whole object's size and ETag (the md5 of the
segments' ETags). Reading either kind concatenates its segments, each read with the
caller's own access rights and checked against the ETag the manifest recorded.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import unquote
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overcast.context import RequestContext
from overcast.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Unprocessable
from overcast.objectstore import metadata, names
from overcast.objectstore.ranges import NotModified, check_conditions, http_date, multipart_body, parse_ranges
from overcast.types import ByteRange, ObjectInfo

if TYPE_CHECKING:
    from overcast.objectstore.objects import Download
    from overcast.objectstore.service import ObjectStoreService

MAX_MANIFEST_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Segment:
    container: str
    name: str
    size: int
    etag: str


def is_manifest(info: ObjectInfo) -> bool:
    return "x-static-large-object" in info.metadata or "x-object-manifest" in info.metadata


def _read_all(chunks: Iterable[bytes], limit: int) -> bytes:
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) > limit:
            raise PayloadTooLarge(f"manifest larger than {limit} bytes")
    return bytes(out)


def put_slo(
    svc: ObjectStoreService,
    ctx: RequestContext | None,
    project_id: str,
    container: str,
    name: str,
    headers: Mapping[str, str],
    body: Iterable[bytes],
    length: int | None,
) -> dict[str, str]:
    try:
        entries = json.loads(_read_all(body, MAX_MANIFEST_BYTES))
    except ValueError:
        raise BadRequest("Manifest must be valid JSON.") from None
    if not isinstance(entries, list) or not entries:
        raise BadRequest("Manifest must be a non-empty JSON list of segments.")
    if len(entries) > svc.settings.max_manifest_segments:
        raise BadRequest(f"Too many segments; max {svc.settings.max_manifest_segments}")
    stored, problems, md5, total = [], [], hashlib.md5(), 0
    account = names.account_of_project(project_id)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise BadRequest(f"Index {i}: segment must be an object with a 'path'")
        seg_container, seg_name = names.split_container_path(entry["path"])
        try:
            backend, driver, _ = svc._where(ctx, project_id, seg_container)
            info = svc._head(backend, driver, account, seg_container, seg_name)
        except NotFound:
            problems.append(f"{entry['path']}: 404 Not Found")
            continue
        if is_manifest(info):
            problems.append(f"{entry['path']}: nested manifests are not supported")
            continue
        if entry.get("etag") not in (None, "") and str(entry["etag"]).strip('"') != info.etag:
            problems.append(f"{entry['path']}: Etag Mismatch")
        if entry.get("size_bytes") not in (None, "") and int(entry["size_bytes"]) != info.size:
            problems.append(f"{entry['path']}: Size Mismatch")
        if info.size < svc.settings.min_segment_size and i < len(entries) - 1:
            problems.append(
                f"{entry['path']}: Too Small; each segment must be at least {svc.settings.min_segment_size} bytes"
            )
        if info.size == 0:
            problems.append(f"{entry['path']}: Too Small; segments may not be empty")
        md5.update(info.etag.encode())
        total += info.size
        stored.append(
            {
                "name": f"/{seg_container}/{seg_name}",
                "hash": info.etag,
                "bytes": info.size,
                "content_type": info.content_type,
                "last_modified": info.last_modified,
            }
        )
    if problems:
        raise BadRequest("Errors:\n" + "\n".join(problems))
    slo_etag = md5.hexdigest()
    if headers.get("etag") and headers["etag"].strip('"') != slo_etag:
        raise Unprocessable("the manifest's ETag does not match the md5 of its segments' ETags")
    content = json.dumps(stored).encode()
    put_headers = {k: v for k, v in headers.items() if k not in ("etag", "content-length", "transfer-encoding")}
    put_headers["content-type"] = headers.get("content-type") or "application/octet-stream"
    backend, driver, _ = svc._where(ctx, project_id, container, write=True)
    meta = metadata.object_meta(put_headers, svc.settings.max_meta_overall_size)
    meta.pop("x-object-manifest", None)
    meta.update(
        {
            "x-static-large-object": "True",
            "x-object-sysmeta-slo-etag": slo_etag,
            "x-object-sysmeta-slo-size": str(total),
        }
    )
    info = driver.put(
        backend=backend,
        account=account,
        container=container,
        name=name,
        data=[content],
        content_type=put_headers["content-type"],
        metadata=meta,
        expected_etag=None,
    )
    svc._expire_later(project_id, container, name, meta)
    return {
        "Etag": f'"{slo_etag}"',
        "Last-Modified": http_date(info.last_modified),
        "Content-Type": "text/html; charset=UTF-8",
    }


def _manifest(
    svc: ObjectStoreService, backend: Any, driver: Any, account: str, container: str, info: ObjectInfo
) -> list[dict]:
    got, chunks = driver.get(backend=backend, account=account, container=container, name=info.name, byte_range=None)
    return json.loads(_read_all(chunks, MAX_MANIFEST_BYTES))


def raw_manifest(
    svc: ObjectStoreService, backend: Any, driver: Any, account: str, container: str, info: ObjectInfo
) -> bytes:
    """The manifest in the form a PUT takes (``?multipart-manifest=get&format=raw``)."""
    entries = _manifest(svc, backend, driver, account, container, info)
    return json.dumps([{"path": e["name"], "etag": e["hash"], "size_bytes": e["bytes"]} for e in entries]).encode()


def _segments(
    svc: ObjectStoreService, ctx: RequestContext | None, project_id: str, container: str, info: ObjectInfo
) -> tuple[list[Segment], str]:
    """The segments and the large object's ETag (quoted, as Swift sends it)."""
    account = names.account_of_project(project_id)
    if info.metadata.get("x-static-large-object"):
        backend, driver, _ = svc._where(ctx, project_id, container)
        entries = _manifest(svc, backend, driver, account, container, info)
        segs = [Segment(*names.split_container_path(e["name"]), int(e["bytes"]), e["hash"]) for e in entries]
        etag = (
            info.metadata.get("x-object-sysmeta-slo-etag")
            or hashlib.md5("".join(s.etag for s in segs).encode()).hexdigest()
        )
        return segs, f'"{etag}"'
    seg_container, _, prefix = info.metadata["x-object-manifest"].partition("/")
    segs = []
    marker = ""
    while True:
        _stats, page = svc.list_objects(
            ctx, project_id, unquote_path(seg_container), unquote_path(prefix), "", marker, "", 1000, False
        )
        segs.extend(Segment(unquote_path(seg_container), p.name, p.size, p.etag) for p in page)
        if len(page) < 1000:
            break
        marker = page[-1].name
    return segs, '"%s"' % hashlib.md5("".join(s.etag for s in segs).encode()).hexdigest()


def unquote_path(value: str) -> str:
    return unquote(value)


def _read(
    svc: ObjectStoreService,
    ctx: RequestContext | None,
    project_id: str,
    segs: list[Segment],
    r: ByteRange | None,
    check: bool,
) -> Iterator[bytes]:
    """The bytes ``r`` (or all) of the concatenation of ``segs``."""
    account = names.account_of_project(project_id)
    first, last = (r.first, r.last) if r is not None else (0, sum(s.size for s in segs) - 1)
    offset = 0
    for seg in segs:
        start, end = offset, offset + seg.size - 1
        offset += seg.size
        if end < first or start > last:
            continue
        lo, hi = max(first, start) - start, min(last, end) - start
        whole = lo == 0 and hi == seg.size - 1
        backend, driver, _ = svc._where(ctx, project_id, seg.container)
        info, chunks = driver.get(
            backend=backend,
            account=account,
            container=seg.container,
            name=seg.name,
            byte_range=None if whole else ByteRange(lo, hi),
        )
        if check and info.etag != seg.etag:
            raise Conflict(f"segment /{seg.container}/{seg.name} changed since the manifest was written")
        yield from chunks


def download(
    svc: ObjectStoreService,
    ctx: RequestContext | None,
    project_id: str,
    container: str,
    info: ObjectInfo,
    headers: Mapping[str, str],
    head_only: bool = False,
) -> Download:
    from overcast.objectstore.objects import Download, object_headers

    segs, etag = _segments(svc, ctx, project_id, container, info)
    slo = bool(info.metadata.get("x-static-large-object"))
    size = (
        int(info.metadata.get("x-object-sysmeta-slo-size") or sum(s.size for s in segs))
        if slo
        else sum(s.size for s in segs)
    )
    out = object_headers(info, etag, size)
    try:
        check_conditions(headers, etag.strip('"'), info.last_modified, reading=True)
    except NotModified:
        out["Content-Length"] = "0"
        return Download(304, out)
    if head_only:
        return Download(200, out)
    ranges = parse_ranges(headers.get("range"), size) if size else None
    if ranges is None:
        return Download(200, out, _read(svc, ctx, project_id, segs, None, slo) if size else iter(()))
    if len(ranges) == 1:
        r = ranges[0]
        out["Content-Range"] = f"bytes {r.first}-{r.last}/{size}"
        out["Content-Length"] = str(r.last - r.first + 1)
        return Download(206, out, _read(svc, ctx, project_id, segs, r, slo))
    content_type, length, body = multipart_body(
        ranges, size, info.content_type, lambda r: _read(svc, ctx, project_id, segs, r, slo)
    )
    out["Content-Type"], out["Content-Length"] = content_type, str(length)
    return Download(206, out, body)


def delete_slo(
    svc: ObjectStoreService, ctx: RequestContext | None, project_id: str, container: str, name: str, info: ObjectInfo
) -> dict[str, int]:
    """Delete the segments (those the caller may delete), then the manifest."""
    backend, driver, account = svc._where(ctx, project_id, container, write=True)
    entries = _manifest(svc, backend, driver, account, container, info)
    deleted = not_found = 0
    for entry in entries:
        seg_container, seg_name = names.split_container_path(entry["name"])
        try:
            seg_backend, seg_driver, _ = svc._where(ctx, project_id, seg_container, write=True)
            seg_driver.delete(backend=seg_backend, account=account, container=seg_container, name=seg_name)
            deleted += 1
        except NotFound:
            not_found += 1
    driver.delete(backend=backend, account=account, container=container, name=name)
    return {"Number Deleted": deleted + 1, "Number Not Found": not_found}
