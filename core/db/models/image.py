"""Tables of the image service."""

from __future__ import annotations

from overcast.db.models.base import Base  # noqa: F401
