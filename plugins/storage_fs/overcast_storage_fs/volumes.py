"""The ``fs`` volume driver."""

from __future__ import annotations

from overcast.types import ConfigOption, DriverKind

OPTIONS: list[ConfigOption] = [
    ConfigOption(DriverKind.VOLUME, "fs", "path", str, required=True, help="directory that holds the data"),
]


class FsVolumeDriver:
    """Driver object; its hook implementations are added by the service that uses it."""
