"""Account and container listings in Swift's three formats: plain text, JSON and XML."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from overcast.errors import PreconditionFailed
from overcast.objectstore import symlinks
from overcast.objectstore.listing import Subdir

FORMATS = {"json": "application/json", "xml": "application/xml", "plain": "text/plain"}


def listing_format(query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """``?format=`` wins; else the Accept header; else plain text."""
    fmt = query.get("format", "").lower()
    if fmt:
        if fmt not in FORMATS:
            return "plain"
        return fmt
    accept = headers.get("accept", "")
    if "application/json" in accept:
        return "json"
    if "application/xml" in accept or "text/xml" in accept:
        return "xml"
    return "plain"


def listing_params(query: Mapping[str, str], max_limit: int) -> dict[str, Any]:
    raw = query.get("limit", "")
    if raw:
        if not raw.isdigit():
            raise PreconditionFailed("Value of limit must be a non-negative integer")
        limit = int(raw)
        if limit > max_limit:
            raise PreconditionFailed(f"Maximum limit is {max_limit}")
    else:
        limit = max_limit
    delimiter = query.get("delimiter", "")
    if len(delimiter) > 1:
        raise PreconditionFailed("Bad delimiter")
    return {
        "prefix": query.get("prefix", ""),
        "delimiter": delimiter,
        "marker": query.get("marker", ""),
        "end_marker": query.get("end_marker", ""),
        "limit": limit,
        "reverse": query.get("reverse", "").lower() in ("true", "1", "yes", "on", "t", "y"),
    }


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def container_listing(fmt: str, account: str, container: str, items: Sequence[Any]) -> bytes:
    """A container's listing; in JSON, a symlink's entry also names its target (as Swift's)."""
    if fmt == "json":
        return json.dumps(
            [
                {"subdir": i.subdir}
                if isinstance(i, Subdir)
                else {
                    "name": i.name,
                    "hash": i.etag,
                    "bytes": i.size,
                    "content_type": i.content_type,
                    "last_modified": iso(i.last_modified),
                    **symlinks.listing_fields(i, account),
                }
                for i in items
            ]
        ).encode()
    if fmt == "xml":
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<container name={quoteattr(container)}>"]
        for i in items:
            if isinstance(i, Subdir):
                parts.append(f"<subdir name={quoteattr(i.subdir)}><name>{escape(i.subdir)}</name></subdir>")
            else:
                parts.append(
                    f"<object><name>{escape(i.name)}</name><hash>{i.etag}</hash><bytes>{i.size}</bytes>"
                    f"<content_type>{escape(i.content_type)}</content_type>"
                    f"<last_modified>{iso(i.last_modified)}</last_modified></object>"
                )
        parts.append("</container>")
        return "".join(parts).encode()
    return "".join((i.subdir if isinstance(i, Subdir) else i.name) + "\n" for i in items).encode()


def account_listing(fmt: str, account: str, items: Sequence[Any]) -> bytes:
    if fmt == "json":
        return json.dumps(
            [
                {"subdir": i.subdir}
                if isinstance(i, Subdir)
                else {
                    "name": i.record.name,
                    "count": i.objects,
                    "bytes": i.bytes,
                    "last_modified": iso(i.record.created_at),
                }
                for i in items
            ]
        ).encode()
    if fmt == "xml":
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f"<account name={quoteattr(account)}>"]
        for i in items:
            if isinstance(i, Subdir):
                parts.append(f"<subdir name={quoteattr(i.subdir)}><name>{escape(i.subdir)}</name></subdir>")
            else:
                parts.append(
                    f"<container><name>{escape(i.record.name)}</name><count>{i.objects}</count>"
                    f"<bytes>{i.bytes}</bytes><last_modified>{iso(i.record.created_at)}</last_modified></container>"
                )
        parts.append("</account>")
        return "".join(parts).encode()
    return "".join((i.subdir if isinstance(i, Subdir) else i.record.name) + "\n" for i in items).encode()
