"""Every table, one module per service. Importing this package registers them all on
``Base.metadata`` (Alembic's autogenerate and the tests rely on that)."""

from overcast.db.models import compute, hosts, identity, image, network, objectstore, volume
from overcast.db.models import loadbalancer
from overcast.db.models.base import Base

__all__ = ["Base", "compute", "hosts", "identity", "image", "network", "objectstore", "volume", "loadbalancer"]
