"""The config drive's content, frozen into the server's row before the first spawn.

Nova writes the drive once, at spawn, from the metadata of that moment; so do we, from the
same :func:`~.content.files` the metadata API serves (:func:`~.content.drive_files`). The
driver gets it as ``Instance.config_drive_files`` wherever it (re)builds the drive.
"""

from __future__ import annotations

from typing import Any

from overcast.compute.metadata import content, source
from overcast.db.models.compute import InstanceRecord


def freeze(runtime: Any, rec: InstanceRecord) -> InstanceRecord:
    """Write the drive's files into ``rec``'s row if it gets a drive (once its ports exist);
    returns the row as stored."""
    if not rec.config_drive or rec.config_drive_files:
        return rec
    files = content.encode(content.drive_files(source.guest_metadata(runtime, rec)))
    with runtime.db.session() as s:
        row = s.get(InstanceRecord, rec.uuid)
        if row is None:
            return rec
        row.config_drive_files = files
        s.flush()
        s.expunge(row)
        return row
