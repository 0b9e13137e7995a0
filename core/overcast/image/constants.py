"""Glance's vocabulary: formats, statuses, visibilities, and which attributes are whose."""

from __future__ import annotations

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")

QUEUED, SAVING, ACTIVE, KILLED, DELETED, DEACTIVATED = "queued", "saving", "active", "killed", "deleted", "deactivated"
UPLOADING, IMPORTING = "uploading", "importing"  # interoperable import: staged, and being imported
STATUSES = (QUEUED, SAVING, ACTIVE, KILLED, DELETED, DEACTIVATED, "pending_delete", UPLOADING, IMPORTING)

#: Attributes a caller may set at create time or change with PATCH.
SETTABLE = frozenset(
    {
        "name",
        "visibility",
        "protected",
        "os_hidden",
        "disk_format",
        "container_format",
        "min_disk",
        "min_ram",
        "tags",
        "owner",  # another project's only by an admin
    }
)
#: Attributes nobody sets: computed by the service.
READ_ONLY = frozenset(
    {
        "status",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "created_at",
        "updated_at",
        "self",
        "file",
        "schema",
        "direct_url",
        "locations",
        "stores",
    }
)
#: Glance's own fields of an image view: every other key is a custom property.
VIEW_FIELDS = SETTABLE | READ_ONLY | {"id"}
#: Glance reserves these property names; they can never be set as custom properties.
RESERVED = frozenset({"deleted", "deleted_at", "location", "id", "owner"}) | READ_ONLY
#: Glance keeps properties of this prefix for itself (import progress): callers get 403
RESERVED_PREFIX = "os_glance"

#: Settable only while the image is still ``queued`` (data not yet uploaded).
LOCKED_AFTER_UPLOAD = frozenset({"disk_format", "container_format"})

MAX_PROPERTY_VALUE = 65535
MAX_NAME = 255
