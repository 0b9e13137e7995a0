"""Durability helpers shared by the file-system stores (images, objects, volumes)."""

from __future__ import annotations

import os


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make the directory's entries durable (a file created, renamed or removed in it), after
    which a crash can no longer lose the name."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
