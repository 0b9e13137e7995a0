"""Swift listing rules for names held in memory (an account's containers), and how to
continue a listing after a page."""

from __future__ import annotations

from collections.abc import Sequence

from overcast.types import ObjectSubdir as Subdir

__all__ = ["Subdir", "swift_listing", "continue_after"]


def swift_listing(
    names: Sequence[str], prefix: str, delimiter: str, marker: str, end_marker: str, limit: int, reverse: bool
) -> list[str | Subdir]:
    """Over sorted ``names``: prefix, marker/end_marker (exclusive, in listing order),
    delimiter roll-up into pseudo-folders, limit, reverse."""
    ordered = list(reversed(names)) if reverse else list(names)
    out: list[str | Subdir] = []
    last_dir = None
    for name in ordered:
        if len(out) >= limit:
            break
        if prefix and not name.startswith(prefix):
            continue
        if marker and (name >= marker if reverse else name <= marker):
            continue
        if end_marker and (name <= end_marker if reverse else name >= end_marker):
            continue
        if delimiter:
            cut = name.find(delimiter, len(prefix))
            if cut >= 0:
                subdir = name[: cut + len(delimiter)]
                if subdir != last_dir and not (marker and not reverse and subdir <= marker):
                    out.append(Subdir(subdir))
                    last_dir = subdir
                continue
        out.append(name)
    return out


def continue_after(item: object, delimiter: str, reverse: bool) -> str:
    """The marker that resumes a listing after ``item`` (an object or a pseudo-folder)."""
    if isinstance(item, Subdir):
        if reverse:
            return item.subdir
        # past every name under the folder (short of names continuing with U+10FFFF)
        return item.subdir + "\U0010ffff"

    return item.name  # type: ignore[attr-defined]
