"""Every table, one module per service. Importing this package registers them all on
``Base.metadata`` (Alembic's autogenerate and the tests rely on that)."""

from overcast.db.models import (
    compute,
    hosts,
    identity,
    image,
    loadbalancer,
    network,
    objectstore,
    orchestration,
    volume,
)
from overcast.db.models import aggregates, image_metadefs, volume_backups, volume_transfers  # issue 18
from overcast.db.models.base import Base

__all__ = [
    "Base",
    "compute",
    "hosts",
    "identity",
    "image",
    "image_metadefs",
    "network",
    "objectstore",
    "volume",
    "volume_backups",
    "volume_transfers",
    "aggregates",
    "orchestration",
    "loadbalancer",
]
