"""The core's resource types, one module per service; :func:`core_types` lists them."""

from __future__ import annotations

from overcast.orchestration.resource import ResourceType


def core_types() -> list[type[ResourceType]]:
    from overcast.orchestration.resources import cinder, heat, neutron, nova, octavia, swift

    return [*heat.TYPES, *nova.TYPES, *neutron.TYPES, *cinder.TYPES, *swift.TYPES, *octavia.TYPES]
