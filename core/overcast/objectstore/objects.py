"""Object operations of :class:`~overcast.objectstore.service.ObjectStoreService`: PUT
(plain, copy, SLO manifest), GET/HEAD (conditions, ranges, manifests), POST, DELETE.

Bodies stream: a PUT hands the request body's chunks straight to the driver (which hashes
and writes them as they come) and a GET hands the driver's chunks to the response.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from overcast.context import RequestContext
from overcast.db.models.objectstore import ObjectExpiry
from overcast.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, PreconditionFailed
from overcast.objectstore import largeobjects, metadata, names, quotas, symlinks, versioning
from overcast.objectstore.ranges import NotModified, check_conditions, http_date, multipart_body, parse_ranges
from overcast.types import ByteRange, ObjectInfo

if TYPE_CHECKING:
    from overcast.objectstore.service import ObjectStoreService  # the class this is mixed into


@dataclass
class Download:
    """What a GET or HEAD answers: status, headers (Content-Length included) and body."""

    status: int
    headers: dict[str, str]
    body: Iterator[bytes] = field(default_factory=lambda: iter(()))


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        close()


def _limited(data: Iterable[bytes], limit: int, message: str) -> Iterator[bytes]:
    total = 0
    for chunk in data:
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(message)
        yield chunk


def object_headers(
    info: ObjectInfo, etag: str | None = None, size: int | None = None, own_account: str = ""
) -> dict[str, str]:
    headers = {
        "Content-Type": info.content_type,
        "Etag": etag or info.etag,
        "Last-Modified": http_date(info.last_modified),
        "X-Timestamp": f"{info.last_modified:.5f}",
        "Accept-Ranges": "bytes",
        "Content-Length": str(info.size if size is None else size),
    }
    headers.update(metadata.response_headers(info.metadata))
    target = symlinks.target_of(info, own_account)
    if target is not None:
        headers.update(symlinks.link_headers(target, own_account))
    return headers


class ObjectOps:
    """Mixed into the service; relies on its ``access``, ``driver``, ``records`` and
    ``settings``."""

    runtime: Any
    settings: Any

    # --- helpers -------------------------------------------------------------------------

    def _where(
        self, ctx: RequestContext | None, project_id: str, container: str, write: bool = False
    ) -> tuple[Any, Any, str]:
        record = self.access(ctx, project_id, container, write=write)  # type: ignore[attr-defined]
        backend, driver = self.driver(record.policy)  # type: ignore[attr-defined]
        return backend, driver, names.account_of_project(project_id)

    def _head(self, backend: Any, driver: Any, account: str, container: str, name: str) -> ObjectInfo:
        info = driver.head(backend=backend, account=account, container=container, name=name)
        if metadata.is_expired(info.metadata):
            raise NotFound(f"object {container}/{name} not found")
        return info

    def _head_or_none(self, backend: Any, driver: Any, account: str, container: str, name: str) -> ObjectInfo | None:
        try:
            return self._head(backend, driver, account, container, name)
        except NotFound:
            return None

    def _check_quota(
        self, ctx: RequestContext | None, project_id: str, container: str, length: int | None
    ) -> int | None:
        """Refuse (413) an upload that would exceed a container or account quota; returns the
        bytes still allowed when a quota applies (to bound a chunked upload)."""
        record = self.records.container(project_id, container)  # type: ignore[attr-defined]
        room: int | None = None
        max_bytes, max_count = record.quota("bytes"), record.quota("count")
        if max_bytes is not None or max_count is not None:
            stats = self._stats(record)  # type: ignore[attr-defined]
            if max_count is not None and stats["objects"] + 1 > max_count:
                raise PayloadTooLarge("Upload exceeds quota.")
            if max_bytes is not None:
                room = max_bytes - stats["bytes"]
        limits = quotas.limits(self.records.account_meta(project_id), record.policy)  # type: ignore[attr-defined]
        if limits.any() and not self.is_reseller_admin(ctx):  # type: ignore[attr-defined]
            room = self._account_room(project_id, record.policy, limits, room)
        if room is not None and (room < 0 or (length is not None and length > room)):
            raise PayloadTooLarge("Upload exceeds quota.")
        return room

    def _account_room(self, project_id: str, policy: str, limits: quotas.AccountLimits, room: int | None) -> int | None:
        """Refuse (413) one more object past an account's object-count quotas; ``room`` narrowed
        to what its byte quotas still allow."""
        objects = used = policy_objects = policy_used = 0
        for other in self.records.container_names(project_id):  # type: ignore[attr-defined]
            stats = self._stats(other)  # type: ignore[attr-defined]
            objects += stats["objects"]
            used += stats["bytes"]
            if other.policy == policy:
                policy_objects += stats["objects"]
                policy_used += stats["bytes"]
        if limits.count is not None and objects + 1 > limits.count:
            raise PayloadTooLarge("Upload exceeds quota.")
        if limits.policy_count is not None and policy_objects + 1 > limits.policy_count:
            raise PayloadTooLarge("Upload exceeds policy quota.")
        for bound, spent in ((limits.bytes, used), (limits.policy_bytes, policy_used)):
            if bound is not None:
                room = bound - spent if room is None else min(room, bound - spent)
        return room

    def _expire_later(self, project_id: str, container: str, name: str, meta: Mapping[str, str]) -> None:
        when = meta.get("x-delete-at")
        if when:
            with self.runtime.db.session() as s:
                s.add(ObjectExpiry(project_id=project_id, container=container, name=name, delete_at=float(when)))

    # --- PUT / COPY ---------------------------------------------------------------------

    def put_object(
        self,
        ctx: RequestContext | None,
        project_id: str,
        container: str,
        name: str,
        headers: Mapping[str, str],
        body: Iterable[bytes],
        length: int | None,
        query: Mapping[str, str],
        versioned: bool = True,
    ) -> dict[str, str]:
        """Store an object; returns the response headers of the 201. In a versioned container
        the object it replaces is archived first (``versioned=False``: the versioning itself
        writing)."""
        names.check_object(name)
        backend, driver, account = self._where(ctx, project_id, container, write=True)
        if "x-copy-from" in headers:
            if length:
                raise BadRequest("Copy requests require a zero byte body")
            source = names.split_container_path(unquote(headers["x-copy-from"]))
            src_account = headers.get("x-copy-from-account")
            src_project = names.project_of_account(unquote(src_account)) if src_account else project_id
            return self.copy_object(
                ctx, (src_project, *source), (project_id, container, name), headers, query, versioned
            )
        if query.get("multipart-manifest") == "put":
            return largeobjects.put_slo(
                cast("ObjectStoreService", self), ctx, project_id, container, name, headers, body, length
            )
        if length is not None and length > self.settings.max_file_size:
            raise PayloadTooLarge(f"Your request is too large (over {self.settings.max_file_size} bytes).")
        meta = metadata.object_meta(headers, self.settings.max_meta_overall_size)
        if "x-static-large-object" in headers:
            raise BadRequest("X-Static-Large-Object is a reserved header; use ?multipart-manifest=put")
        content_type = headers.get("content-type") or ""
        link = symlinks.requested(headers, account, container, name)
        if link is not None:
            if length or (length is None and any(body)):
                raise BadRequest("Symlink requests require a zero byte body")
            link, content_type = self._checked_link(ctx, link, content_type)
            meta.update(link.sysmeta(account))
            body = ()
        if headers.get("if-none-match") is not None:
            existing = self._head_or_none(backend, driver, account, container, name)
            check_conditions({"if-none-match": headers["if-none-match"]}, existing.etag if existing else None, 0, False)
        room = self._check_quota(ctx, project_id, container, length)
        limit = self.settings.max_file_size if room is None else min(room, self.settings.max_file_size)
        data = (
            body
            if length is not None and length <= limit
            else _limited(body, limit, "Upload exceeds quota or size limit.")
        )
        if versioned:
            versioning.archive_current(self, ctx, self.records.container(project_id, container), name)  # type: ignore[attr-defined]
        if not content_type or headers.get("x-detect-content-type", "").lower() in ("true", "1", "yes"):
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        info = driver.put(
            backend=backend,
            account=account,
            container=container,
            name=name,
            data=data,
            content_type=content_type,
            metadata=meta,
            expected_etag=headers.get("etag"),
        )
        self._expire_later(project_id, container, name, meta)
        return {
            "Etag": info.etag,
            "Last-Modified": http_date(info.last_modified),
            "Content-Type": "text/html; charset=UTF-8",
        }

    def _checked_link(
        self, ctx: RequestContext | None, link: symlinks.Target, content_type: str
    ) -> tuple[symlinks.Target, str]:
        """A link about to be made, with its content type: ``application/symlink`` unless the
        client chose one; a static link's target must exist now with the ETag it names (409),
        and lends the link its size and content type."""
        if link.etag is None:
            return link, content_type or symlinks.CONTENT_TYPE
        try:
            found = self.head_object(ctx, link.project_id, link.container, link.name, {}, {"symlink": "get"})
        except NotFound:
            raise Conflict("X-Symlink-Target does not exist") from None
        etag = found.headers.get("X-Symlink-Target-Etag") or found.headers["Etag"].strip('"')
        if etag != link.etag:
            raise Conflict(f"Object Etag {etag!r} does not match X-Symlink-Target-Etag header {link.etag!r}")
        size = int(found.headers.get("Content-Length", "0"))
        return replace(link, size=size), content_type or found.headers.get("Content-Type", symlinks.CONTENT_TYPE)

    def copy_object(
        self,
        ctx: RequestContext | None,
        source: tuple[str, str, str],
        dest: tuple[str, str, str],
        headers: Mapping[str, str],
        query: Mapping[str, str],
        versioned: bool = True,
    ) -> dict[str, str]:
        """Server-side copy (COPY, or PUT with ``X-Copy-From``)."""
        src_project, src_container, src_name = source
        dst_project, dst_container, dst_name = dest
        names.check_object(dst_name)
        download = self.get_object(ctx, src_project, src_container, src_name, {}, query)
        src_meta = {k.lower(): v for k, v in download.headers.items()}
        fresh = headers.get("x-fresh-metadata", "").lower() in ("true", "1", "yes")
        new_headers: dict[str, str] = {}
        if not fresh:
            new_headers.update(
                {k: v for k, v in src_meta.items() if k.startswith("x-object-meta-") or k in metadata.OBJECT_KEPT}
            )
        new_headers.pop("x-delete-at", None)
        if query.get("symlink") == "get":  # the link itself is copied
            new_headers.update({k: v for k, v in src_meta.items() if k.startswith("x-symlink-target")})
        new_headers.update(
            {
                k: v
                for k, v in headers.items()
                if k.startswith("x-object-meta-")
                or k in metadata.OBJECT_KEPT
                or k in ("x-delete-after", "content-type")
            }
        )
        new_headers.setdefault("content-type", src_meta.get("content-type", "application/octet-stream"))
        if query.get("multipart-manifest") == "get" and src_meta.get("x-static-large-object"):
            raise BadRequest("copying a manifest itself is not supported; copy the object")
        length = int(download.headers["Content-Length"])
        out = self.put_object(
            ctx, dst_project, dst_container, dst_name, new_headers, download.body, length, {}, versioned
        )
        # the copy's metadata comes back on the answer, as Swift's copy middleware sends it
        out.update(
            {
                "-".join(p.capitalize() for p in k.split("-")): v
                for k, v in new_headers.items()
                if k.startswith("x-object-meta-")
            }
        )
        out["X-Copied-From"] = f"{src_container}/{src_name}"
        out["X-Copied-From-Last-Modified"] = download.headers["Last-Modified"]
        if src_project != dst_project:
            out["X-Copied-From-Account"] = names.account_of_project(src_project)
        return out

    # --- GET / HEAD ---------------------------------------------------------------------

    def head_object(
        self,
        ctx: RequestContext | None,
        project_id: str,
        container: str,
        name: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        hops: int = 0,
        expect_etag: str | None = None,
    ) -> Download:
        """HEAD; a link is followed (``hops`` links so far; ``expect_etag``: what the static
        link that led here names)."""
        names.check_object(name)
        backend, driver, account = self._where(ctx, project_id, container)
        info = self._head(backend, driver, account, container, name)
        link = self._link_step(info, account, query, hops, expect_etag)
        if link is not None:
            return self._followed(link, self.head_object(ctx, *link.args(), headers, query, hops + 1, link.etag))
        if query.get("multipart-manifest") != "get" and largeobjects.is_manifest(info):
            download = largeobjects.download(
                cast("ObjectStoreService", self), ctx, project_id, container, info, headers, head_only=True
            )
            return download
        try:
            check_conditions(headers, info.etag, info.last_modified, reading=True)
        except NotModified:
            return self._not_modified(info)
        return Download(200, object_headers(info, own_account=account))

    @staticmethod
    def _link_step(
        info: ObjectInfo, account: str, query: Mapping[str, str], hops: int, expect_etag: str | None
    ) -> symlinks.Target | None:
        """The target to read next when ``info`` is a link to follow; ``None`` to answer
        ``info`` itself. 409 past ``SYMLOOP_MAX`` links or where a static link's ETag no
        longer matches."""
        target = symlinks.target_of(info, account)
        if target is not None and query.get("symlink") != "get":
            if expect_etag is not None and expect_etag != (target.etag or info.etag):
                raise Conflict("X-Symlink-Target-Etag headers do not match")
            if hops >= symlinks.SYMLOOP_MAX:
                raise Conflict(f"Too many levels of symbolic links, maximum allowed is {symlinks.SYMLOOP_MAX}")
            return target
        if expect_etag is not None and expect_etag != info.etag:
            raise Conflict(f"Object Etag {info.etag!r} does not match X-Symlink-Target-Etag header {expect_etag!r}")
        return None

    @staticmethod
    def _followed(target: symlinks.Target, download: Download) -> Download:
        """The target's answer, naming the last link's target as ``Content-Location``."""
        download.headers.setdefault("Content-Location", target.path())
        return download

    @staticmethod
    def _not_modified(info: ObjectInfo, etag: str | None = None) -> Download:
        h = object_headers(info, etag, 0)
        return Download(304, h)

    def get_object(
        self,
        ctx: RequestContext | None,
        project_id: str,
        container: str,
        name: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        hops: int = 0,
        expect_etag: str | None = None,
    ) -> Download:
        """GET; a link is followed as :meth:`head_object` says."""
        names.check_object(name)
        backend, driver, account = self._where(ctx, project_id, container)
        if "range" in headers:
            info = self._head(backend, driver, account, container, name)
            body = None
        else:
            info, body = driver.get(backend=backend, account=account, container=container, name=name, byte_range=None)
            if metadata.is_expired(info.metadata):
                _close(body)
                raise NotFound(f"object {container}/{name} not found")
        link = self._link_step(info, account, query, hops, expect_etag)
        if link is not None:
            _close(body)
            return self._followed(link, self.get_object(ctx, *link.args(), headers, query, hops + 1, link.etag))
        if query.get("multipart-manifest") != "get" and largeobjects.is_manifest(info):
            _close(body)
            return largeobjects.download(cast("ObjectStoreService", self), ctx, project_id, container, info, headers)
        try:
            check_conditions(headers, info.etag, info.last_modified, reading=True)
            ranges = parse_ranges(headers.get("range"), info.size) if body is None else None
        except BaseException as exc:
            _close(body)
            if isinstance(exc, NotModified):
                return self._not_modified(info)
            raise
        out = object_headers(info, own_account=account)
        if query.get("multipart-manifest") == "get" and info.metadata.get("x-static-large-object"):
            out["Content-Type"] = "application/json; charset=utf-8"
            if query.get("format") == "raw":
                _close(body)
                raw = largeobjects.raw_manifest(
                    cast("ObjectStoreService", self), backend, driver, account, container, info
                )
                out["Content-Length"] = str(len(raw))
                return Download(200, out, iter((raw,)))
        if body is not None:
            return Download(200, out, body)
        return self._ranged(backend, driver, account, container, name, info, ranges, out)

    def _ranged(
        self,
        backend: Any,
        driver: Any,
        account: str,
        container: str,
        name: str,
        info: ObjectInfo,
        ranges: list[ByteRange] | None,
        out: dict[str, str],
    ) -> Download:
        def read(r: ByteRange | None) -> Iterator[bytes]:
            got, it = driver.get(backend=backend, account=account, container=container, name=name, byte_range=r)
            if got.etag != info.etag:
                _close(it)
                raise PreconditionFailed("the object changed while it was being read; retry")
            return it

        if ranges is None:
            return Download(200, out, read(None))
        if len(ranges) == 1:
            r = ranges[0]
            out["Content-Range"] = f"bytes {r.first}-{r.last}/{info.size}"
            out["Content-Length"] = str(r.last - r.first + 1)
            return Download(206, out, read(r))
        content_type, length, body = multipart_body(ranges, info.size, info.content_type, read)
        out["Content-Type"] = content_type
        out["Content-Length"] = str(length)
        return Download(206, out, body)

    # --- POST / DELETE ------------------------------------------------------------------

    def post_object(
        self, ctx: RequestContext | None, project_id: str, container: str, name: str, headers: Mapping[str, str]
    ) -> symlinks.Target | None:
        """Replace an object's metadata; on a link (which keeps it) the link's target, which
        Swift answers as a 307 to it."""
        names.check_object(name)
        if "x-symlink-target" in headers:
            raise BadRequest("A PUT request is required to set a symlink target")
        backend, driver, account = self._where(ctx, project_id, container, write=True)
        info = self._head(backend, driver, account, container, name)
        meta = metadata.object_meta(headers, self.settings.max_meta_overall_size)
        for key, value in info.metadata.items():  # system metadata and manifests survive a POST
            if key.startswith(metadata.SYSTEM_PREFIXES) or (key == "x-object-manifest" and key not in headers):
                meta[key] = value
        driver.post(backend=backend, account=account, container=container, name=name, metadata=meta)
        self._expire_later(project_id, container, name, meta)
        return symlinks.target_of(info, account)

    def delete_object(
        self, ctx: RequestContext | None, project_id: str, container: str, name: str, query: Mapping[str, str]
    ) -> dict[str, int] | None:
        """Delete; with ``?multipart-manifest=delete`` on an SLO also its segments, returning
        the counts (Swift's bulk-delete report)."""
        names.check_object(name)
        backend, driver, account = self._where(ctx, project_id, container, write=True)
        if query.get("multipart-manifest") == "delete":
            info = self._head(backend, driver, account, container, name)
            if info.metadata.get("x-static-large-object"):
                return largeobjects.delete_slo(cast("ObjectStoreService", self), ctx, project_id, container, name, info)
        elif metadata.is_expired(
            driver.head(backend=backend, account=account, container=container, name=name).metadata
        ):
            raise NotFound(f"object {container}/{name} not found")
        if versioning.delete(self, ctx, self.records.container(project_id, container), name):  # type: ignore[attr-defined]
            return None
        driver.delete(backend=backend, account=account, container=container, name=name)
        return None

    def now(self) -> float:
        return time.time()
