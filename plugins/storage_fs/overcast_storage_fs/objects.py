"""The ``fs`` object_store driver."""

from __future__ import annotations

from overcast.types import ConfigOption, DriverKind

OPTIONS: list[ConfigOption] = [
    ConfigOption(DriverKind.OBJECT_STORE, "fs", "path", str, required=True, help="directory that holds the data"),
]


class FsObjectStore:
    """Driver object; its hook implementations are added by the service that uses it."""
