"""What a server request may carry at its microversion (Nova's request schemas, per version):
the keys of ``POST /servers`` and the query string of ``GET /servers[/detail]``. A key the
version does not know is refused with Nova's 400; a key it knows but this cloud cannot honour
is refused with a 400 that says so, never taken and ignored."""

from __future__ import annotations

from overcast.compute.states import STATUS_VM_STATES
from overcast.errors import BadRequest

V = tuple[int, int]

#: ``POST /servers`` keys at 2.1 (the core schema and the extensions merged into it).
CREATE_FIELDS = frozenset(
    {
        "name",
        "imageRef",
        "flavorRef",
        "adminPass",
        "metadata",
        "networks",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
        "availability_zone",
        "block_device_mapping",
        "block_device_mapping_v2",
        "config_drive",
        "key_name",
        "min_count",
        "max_count",
        "return_reservation_id",
        "security_groups",
        "user_data",
    }
)
#: keys that later versions add, and ``personality``, which 2.57 removes.
CREATE_FIELDS_FROM: dict[str, V] = {
    "description": (2, 19),
    "tags": (2, 52),
    "trusted_image_certificates": (2, 63),
    "host": (2, 74),
    "hypervisor_hostname": (2, 74),
}


def unexpected(keys: list[str], where: str = "server") -> BadRequest:
    names = ", ".join(repr(k) for k in sorted(keys))
    verb = "was" if len(keys) == 1 else "were"
    return BadRequest(
        f"Invalid input for field/attribute {where}. Additional properties are not allowed ({names} {verb} unexpected)"
    )


def check_create(body: dict, version: V) -> None:
    """Refuse what ``POST /servers`` may not carry at ``version`` (before anything is made)."""
    allowed = CREATE_FIELDS | {k for k, v in CREATE_FIELDS_FROM.items() if version >= v}
    if version < (2, 57):
        allowed |= {"personality"}
    extra = sorted(set(body) - allowed)
    if extra:
        raise unexpected(extra)
    if body.get("personality"):  # before 2.57: Nova injects files; this cloud does not
        raise BadRequest(
            "Personality file injection is not supported by this cloud: pass the files in user_data "
            "or on the config drive instead."
        )
    networks = body.get("networks")
    if isinstance(networks, str) and version < (2, 37):
        raise BadRequest(
            f"Invalid input for field/attribute networks. Value: {networks}. '{networks}' is not of type 'array'"
        )
    if isinstance(networks, list):
        _check_tags(networks, "networks", version, ((2, 32), (2, 37)))
    mappings = body.get("block_device_mapping_v2")
    if isinstance(mappings, list):
        _check_tags(mappings, "block_device_mapping_v2", version, ((2, 32), (2, 33)))
        for bdm in mappings:
            if isinstance(bdm, dict) and "volume_type" in bdm and version < (2, 67):
                raise unexpected(["volume_type"], "block_device_mapping_v2")
    if body.get("host") is not None or body.get("hypervisor_hostname") is not None:
        raise BadRequest(
            "Requesting a destination host or node at create is not supported by this cloud; "
            "use an availability zone (and migrate the server to a host afterwards)."
        )
    if body.get("tags") is not None and not isinstance(body["tags"], list):
        raise BadRequest(f"Invalid input for field/attribute tags. Value: {body['tags']}. is not of type 'array'")
    from overcast.compute.server_fields import refuse_trusted_certificates

    refuse_trusted_certificates(body)


def _check_tags(items: list, where: str, version: V, window: tuple[V, V]) -> None:
    """A device ``tag`` on a network or mapping: known at 2.32, dropped by mistake from
    ``window[1]`` and back from 2.42; refused here in any case (this cloud does not expose
    device tags to guests)."""
    for item in items:
        if not isinstance(item, dict) or "tag" not in item:
            continue
        known = window[0] <= version < window[1] or version >= (2, 42)
        if not known:
            raise unexpected(["tag"], where)
        raise BadRequest("Device tagging is not supported by this cloud: the guest could not see the tag.")


#: Nova's ``GET /servers`` query parameters (2.75 refuses any other; before, others are ignored).
LIST_PARAMS = frozenset(
    {
        "user_id",
        "project_id",
        "tenant_id",
        "launch_index",
        "image_ref",
        "image",
        "kernel_id",
        "ramdisk_id",
        "hostname",
        "key_name",
        "power_state",
        "vm_state",
        "task_state",
        "host",
        "node",
        "flavor",
        "reservation_id",
        "launched_at",
        "terminated_at",
        "availability_zone",
        "name",
        "display_name",
        "description",
        "display_description",
        "locked_by",
        "uuid",
        "root_device_name",
        "config_drive",
        "access_ip_v4",
        "access_ip_v6",
        "auto_disk_config",
        "progress",
        "sort_key",
        "sort_dir",
        "all_tenants",
        "soft_deleted",
        "deleted",
        "status",
        "changes-since",
        "limit",
        "marker",
        "ip",
        "ip6",
        "tag",
        "not-tag",
        "tag-any",
        "not-tag-any",
        "created_at",
        "tags",
        "tags-any",
        "not-tags",
        "not-tags-any",
        "changes-before",
        "locked",
        "pci_alias",
        "pci_device_id",
    }
)


def check_list(params: dict[str, str], version: V) -> dict[str, str]:
    """The list filters to apply at ``version``: Nova's 400s (an unknown status from 2.38,
    an unknown parameter from 2.75, a bad ``locked`` from 2.73), and the filters the version
    does not know dropped as Nova drops them (``changes-before`` before 2.66, ``locked``
    before 2.73)."""
    if version >= (2, 75):
        extra = sorted(set(params) - LIST_PARAMS)
        if extra:
            raise BadRequest(
                f"Invalid input for query parameters {', '.join(extra)}. Additional properties are not allowed"
            )
    out = dict(params)
    status = out.get("status")
    if status and version >= (2, 38) and status.upper() not in STATUS_VM_STATES:
        raise BadRequest("Invalid status value")
    if version < (2, 66):
        out.pop("changes-before", None)
    elif "changes-before" in out and "changes-since" in out and out["changes-since"] > out["changes-before"]:
        raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    if version < (2, 73):
        out.pop("locked", None)
        if out.get("sort_key") == "locked":
            raise BadRequest("Invalid input for query parameters sort_key. Value: locked.")
    elif "locked" in out:
        value = out["locked"].lower()
        if value not in ("true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"):
            raise BadRequest(f"Invalid input for query parameters locked. Value: {out['locked']}.")
    return out
