"""HTTP API of the volume service: Cinder v3 under ``/volume/v3/{project_id}``, with
version discovery at ``/volume`` and ``/volume/v3``. Handlers parse and format; the logic
is ``overcast.volume``; errors are mapped to Cinder's format by ``overcast.api.errors``."""

from overcast.api.routing import ServiceRouter
from overcast.api.volume import attachments, extensions, metadata, quotas, snapshots, types, versions, volumes, zones
from overcast.api.volume import backups, transfers  # issue 18
from overcast.api.volume import backends, groups, messages, qos  # issues 16 and 18

router = ServiceRouter(served_at="/volume")
router.include_router(versions.router)
for _module in (
    volumes,
    metadata,
    snapshots,
    types,
    attachments,
    quotas,
    zones,
    extensions,
    backups,
    transfers,
    qos,
    groups,
    backends,
    messages,
):
    router.include_router(_module.router, prefix="/volume/v3/{project_id}")
