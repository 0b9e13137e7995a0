"""Container listings of the ``fs`` object store, from its SQLite index: Swift's
``prefix``/``delimiter``/``marker``/``end_marker``/``limit``/``reverse`` rules as range
queries, so a listing never scans more rows than it returns (plus one per pseudo-folder)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from overcast.types import ObjectInfo, ObjectSubdir


def info_of(name: str, row: Sequence[Any]) -> ObjectInfo:
    """An index row ``(file, size, etag, content_type, ts, meta)`` as an ``ObjectInfo``."""
    return ObjectInfo(name, row[1], row[2], row[3], row[4] / 1e9, json.loads(row[5]))


def _upper(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``."""
    if not prefix or prefix[-1] == "\U0010ffff":
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def listing(
    conn: sqlite3.Connection,
    prefix: str,
    delimiter: str,
    marker: str,
    end_marker: str,
    limit: int,
    reverse: bool,
) -> list[ObjectInfo | ObjectSubdir]:
    """Swift's listing rules in SQL: rows in (UTF-8 byte) order between the bounds, with names
    that contain the delimiter after the prefix rolled up into one ``subdir`` each."""
    # the window [lo, hi) (lo_incl says whether lo itself is in) narrows as we page
    lo, lo_incl, hi = prefix, True, _upper(prefix)
    if reverse:
        if marker and (hi is None or marker < hi):
            hi = marker
        if end_marker and end_marker >= lo:
            lo, lo_incl = end_marker, False
    else:
        if marker and marker >= lo:
            lo, lo_incl = marker, False
        if end_marker and (hi is None or end_marker < hi):
            hi = end_marker
    out: list[ObjectInfo | ObjectSubdir] = []
    while len(out) < limit:
        sql = (
            "SELECT name, file, size, etag, content_type, ts, meta FROM objects WHERE name "
            + (">=" if lo_incl else ">")
            + " ?"
        )
        args: list[Any] = [lo]
        if hi is not None:
            sql += " AND name < ?"
            args.append(hi)
        sql += " ORDER BY name " + ("DESC" if reverse else "ASC") + " LIMIT ?"
        want = limit - len(out)
        args.append(want)
        rows = conn.execute(sql, args).fetchall()
        if not rows:
            break
        rolled = False
        for row in rows:
            name = row[0]
            if delimiter:
                cut = name.find(delimiter, len(prefix))
                if cut >= 0:
                    subdir = name[: cut + len(delimiter)]
                    if not (marker and not reverse and subdir <= marker):  # resuming inside it
                        out.append(ObjectSubdir(subdir))
                    if reverse:
                        hi = subdir
                    else:
                        up = _upper(subdir)
                        if up is None:
                            return out
                        lo, lo_incl = up, True
                    rolled = True
                    break
            out.append(info_of(name, row[1:]))
        if not rolled:
            if len(rows) < want:
                break
            last = rows[-1][0]
            if reverse:
                hi = last
            else:
                lo, lo_incl = last, False
    return out[:limit]
