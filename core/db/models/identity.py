"""Tables of the identity service."""

from __future__ import annotations

from overcast.db.models.base import Base  # noqa: F401
