"""The ``fs`` image_store driver."""

from __future__ import annotations

from overcast.types import ConfigOption, DriverKind

OPTIONS: list[ConfigOption] = [
    ConfigOption(DriverKind.IMAGE_STORE, "fs", "path", str, required=True, help="directory that holds the data"),
]


class FsImageStore:
    """Driver object; its hook implementations are added by the service that uses it."""
