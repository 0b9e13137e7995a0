"""HTTP conditional requests and byte ranges with Swift's rules.

* ``Range: bytes=a-b,c-,-n``: ranges are resolved against the object's size; unsatisfiable
  ones are dropped, and if none is left the answer is 416. A malformed header is ignored
  (the whole object is served), as Swift does. Several ranges give
  ``multipart/byteranges``.
* ``If-Match`` / ``If-None-Match`` (``*`` included) compare the (unquoted) ETag;
  ``If-Modified-Since`` / ``If-Unmodified-Since`` the whole-second modification time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping
from email.utils import formatdate, parsedate_to_datetime

from overcast.errors import PreconditionFailed, RangeNotSatisfiable
from overcast.types import ByteRange

MAX_RANGES = 50


class NotModified(Exception):
    """Raised for a satisfied ``If-None-Match``/``If-Modified-Since`` on GET/HEAD (304)."""

    def __init__(self, etag: str, last_modified: float) -> None:
        super().__init__("not modified")
        self.etag = etag
        self.last_modified = last_modified


def http_date(ts: float) -> str:
    return _http_date(int(ts))


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def _parse_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _etags(value: str) -> list[str]:
    return [v.strip().strip('"') for v in value.split(",") if v.strip()]


def check_conditions(headers: Mapping[str, str], etag: str | None, last_modified: float, reading: bool) -> None:
    """Raise ``PreconditionFailed`` (412) or :class:`NotModified` (304, reads only).
    ``etag`` is ``None`` when the object does not exist."""
    if_match = headers.get("if-match")
    if if_match is not None:
        tags = _etags(if_match)
        if etag is None or ("*" not in tags and etag not in tags):
            raise PreconditionFailed("If-Match did not match")
    if_none = headers.get("if-none-match")
    if if_none is not None and etag is not None:
        tags = _etags(if_none)
        if "*" in tags or etag in tags:
            if reading:
                raise NotModified(etag, last_modified)
            raise PreconditionFailed("If-None-Match matched an existing object")
    if etag is None:
        return
    since = headers.get("if-unmodified-since")
    if since is not None:
        when = _parse_date(since)
        if when is not None and int(last_modified) > when:
            raise PreconditionFailed("modified since the If-Unmodified-Since time")
    since = headers.get("if-modified-since")
    if reading and since is not None and if_none is None:
        when = _parse_date(since)
        if when is not None and int(last_modified) <= when:
            raise NotModified(etag, last_modified)


def parse_ranges(value: str | None, size: int) -> list[ByteRange] | None:
    """The satisfiable ranges of a ``Range`` header, or ``None`` to serve everything.
    Raises ``RangeNotSatisfiable`` when the header is valid but nothing in it fits."""
    if not value:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec.strip():
        return None
    out: list[ByteRange] = []
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        return None
    for part in parts:
        first_s, dash, last_s = part.strip().partition("-")
        if not dash:
            return None
        try:
            if first_s == "":
                suffix = int(last_s)
                if suffix < 0:
                    return None
                if suffix == 0:
                    continue
                out.append(ByteRange(max(0, size - suffix), size - 1))
                continue
            first = int(first_s)
            last = int(last_s) if last_s else None
        except ValueError:
            return None
        if first < 0 or (last is not None and last < first):
            return None
        if first >= size:
            continue
        out.append(ByteRange(first, size - 1 if last is None else min(last, size - 1)))
    if not out:
        raise RangeNotSatisfiable("Requested range not satisfiable")
    return out


def multipart_body(
    ranges: list[ByteRange], size: int, content_type: str, read: Callable[[ByteRange], Iterator[bytes]]
) -> tuple[str, int, Iterator[bytes]]:
    """``multipart/byteranges``: (content type, exact length, body iterator)."""
    boundary = os.urandom(16).hex()
    heads = [
        f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {r.first}-{r.last}/{size}\r\n\r\n".encode()
        for r in ranges
    ]
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = sum(len(h) for h in heads) + sum(r.last - r.first + 1 for r in ranges) + 2 * (len(ranges) - 1) + len(tail)

    def body() -> Iterator[bytes]:
        for i, (head, r) in enumerate(zip(heads, ranges, strict=True)):
            yield (b"\r\n" + head) if i else head
            yield from read(r)
        yield tail

    return f"multipart/byteranges;boundary={boundary}", length, body()
