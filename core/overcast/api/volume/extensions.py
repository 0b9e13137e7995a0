"""``/volume/v3/{project_id}/extensions``: the Cinder API extensions this API implements (the
attributes its views carry and the actions and resources it serves), by Cinder's names."""

from __future__ import annotations

from fastapi import Depends
from fastapi.responses import Response

from overcast.api.deps import authorize
from overcast.api.routing import ResourceRouter
from overcast.api.volume.common import ApiVersion, Version, check_project, reply
from overcast.context import RequestContext

router = ResourceRouter()

#: (alias, name, description) of each extension served; keep in step with the routes and views.
EXTENSIONS = (
    ("os-admin-actions", "AdminActions", "Enable admin actions (reset status, force delete)."),
    ("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes", "Extended attributes for snapshots."),
    ("os-quota-sets", "Quotas", "Quota management support."),
    ("os-quota-class-sets", "QuotaClasses", "Quota classes management support."),
    ("qos-specs", "Qos_specs_manage", "QoS specs support."),
    ("os-volume-type-access", "VolumeTypeAccess", "Volume type access support."),
    ("scheduler-stats", "Scheduler_stats", "Scheduler stats support."),
    ("capabilities", "Capabilities", "Capabilities support."),
    ("os-hosts", "Hosts", "Admin-only host administration."),
    ("os-services", "Services", "Services support."),
    ("os-snapshot-actions", "SnapshotActions", "Enable snapshot manager actions."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
    ("os-types-manage", "TypesManage", "Types manage support."),
    ("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
    ("os-vol-image-meta", "VolumeImageMetadata", "Show image metadata associated with the volume."),
    ("os-vol-mig-status-attr", "VolumeMigStatusAttribute", "Expose migration_status as an attribute of a volume."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute", "Expose the internal project_id as an attribute of a volume."),
    ("os-volume-actions", "VolumeActions", "Enable volume actions."),
)
_UPDATED = "2013-10-03T00:00:00+00:00"


@router.get("/extensions")
def list_extensions(
    project_id: str, ctx: RequestContext = Depends(authorize("volume:extensions:list")), version: ApiVersion = Version
) -> Response:
    check_project(project_id, ctx)
    return reply(
        {
            "extensions": [
                {"alias": alias, "name": name, "description": description, "links": [], "updated": _UPDATED}
                for alias, name, description in EXTENSIONS
            ]
        },
        200,
        version,
    )
