"""Server create (validation, quota, the BUILD row), listing with Nova's filters, update and
delete requests. The slow parts run in :mod:`overcast.compute.tasks`."""

from __future__ import annotations

import dataclasses
import re
import secrets
import string
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import make_transient_to_detached

from overcast.compute import bdm
from overcast.compute import states as st
from overcast.compute.flavors import refuse_local_extra_disks
from overcast.compute.peers import lookup_image, validate_networks
from overcast.compute.quotas import check_group_members, check_metadata_items
from overcast.compute.records import flavor_of, get_instance
from overcast.compute.secgroups import requested_groups
from overcast.compute.server_fields import (
    access_ip,
    config_drive_field,
    create_tags,
    group_hint,
    host_hints,
    metadata_field,
    parse_networks,
    parse_time,
    refuse_trusted_certificates,
    server_count,
    text_field,
    user_data_field,
)
from overcast.context import RequestContext
from overcast.db.models.base import new_id, utcnow
from overcast.db.models.compute import (
    InstanceAction,
    InstanceRecord,
    InstanceTag,
    KeyPairRecord,
    ServerGroupMember,
)
from overcast.db.values import store
from overcast.errors import BadRequest, Conflict

_SORT_KEYS = {"created_at", "updated_at", "display_name", "name", "uuid", "vm_state", "task_state", "host", "locked"}


class ServerManager:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.runtime = svc.runtime
        self.db = svc.runtime.db

    # --- create ---------------------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: dict) -> InstanceRecord:
        if not isinstance(body, dict):
            raise BadRequest("The request body must be an object 'server'.")
        name = text_field(body.get("name"), "name")
        flavor_ref = body.get("flavorRef")
        if not isinstance(flavor_ref, (str, int)) or flavor_ref == "":
            raise BadRequest("Invalid input for field/attribute flavorRef.")
        flavor_ref = str(flavor_ref).rstrip("/").rsplit("/", 1)[-1]

        def read(s: Any) -> tuple[Any, dict[str, str], dict[str, int]]:
            try:
                frec, specs = self.svc.flavors.get_with_specs(s, ctx, flavor_ref)
            except OperationalError:
                raise  # a lost connection: the read is tried again
            except Exception:
                raise BadRequest(f"Flavor {flavor_ref} could not be found.") from None
            return frec, specs, self.svc.quotas.limits(s, ctx.project_id or "")  # checked in the write, below

        frec, specs, limits = self.db.read(read)
        if frec.disabled:
            raise BadRequest(f"Flavor {flavor_ref} is disabled.")
        flavor = flavor_of(frec, specs)
        refuse_local_extra_disks(flavor)
        # issue 18: every mapping is honoured or refused (validated even beside imageRef)
        mappings = bdm.parse(body)
        root = bdm.root_of(mappings)
        min_count, max_count = server_count(body)
        image_ref = str(body.get("imageRef") or "").rstrip("/").rsplit("/", 1)[-1]
        image = None
        if root is not None and root.destination_type == "volume":  # boot from volume
            if image_ref:
                lookup_image(self.runtime, ctx, image_ref)  # a given imageRef must exist, as in Nova
            boot = self.svc.boot_volumes.check(ctx, mappings, max_count)
            if boot.min_ram and flavor.memory_mb < boot.min_ram:
                raise BadRequest("Flavor's memory is too small for requested image.")
            mappings = [dataclasses.replace(m, image_properties=boot.properties) if m.is_root else m for m in mappings]
        else:
            if not image_ref and root is not None:
                image_ref = str(root.uuid)
            if not image_ref:
                raise BadRequest("Missing imageRef attribute")
            image = lookup_image(self.runtime, ctx, image_ref)
            if image.min_ram and flavor.memory_mb < image.min_ram:
                raise BadRequest("Flavor's memory is too small for requested image.")
            if image.min_disk and flavor.root_gb and flavor.root_gb < image.min_disk:
                raise BadRequest("Flavor's disk is too small for requested image.")
            self.svc.boot_volumes.check(ctx, mappings, max_count)
        networks = parse_networks(body.get("networks"))
        validate_networks(self.runtime, ctx, networks)
        groups = requested_groups(self.runtime, ctx, body.get("security_groups"))
        if groups is not None:  # on the ports made for the server (a given port keeps its own, as in Nova)
            networks = [
                {**n, "security_groups": groups} if isinstance(n, dict) and n.get("uuid") else n for n in networks
            ]
        zone = body.get("availability_zone")
        if zone is not None:
            zone = text_field(zone, "availability_zone")
            zones = {h.availability_zone for h in self.runtime.drivers.hosts.values()}
            if zone not in zones:
                raise BadRequest(f"The requested availability zone is not available: {zone}")
        group_id = group_hint(body.get("os:scheduler_hints"))
        tags = create_tags(body.get("tags"))
        config_drive = config_drive_field(body.get("config_drive"))
        # issue 17: the drive is attached when asked for, when [compute] force_config_drive, and
        # for user data when there is no metadata API to read it from; config_drive says so
        config_drive = (
            config_drive
            or self.runtime.config.compute.force_config_drive
            or (bool(body.get("user_data")) and not self.runtime.config.metadata.port)
        )
        metadata = metadata_field(body.get("metadata"))
        fields = dict(
            project_id=ctx.project_id or "",
            user_id=ctx.user_id,
            description=body.get("description"),
            vm_state=st.BUILDING,
            task_state=st.SCHEDULING,
            task_owner=self.svc.owners.id,  # this process runs the build
            power_state="nostate",
            requested_zone=zone,
            flavor_id=flavor.id,
            flavor=store(flavor),
            image_ref=image.id if image is not None else image_ref,  # "" for a volume-backed server, as Nova
            image=store(image) if image is not None else None,
            block_device_requests=[m.to_json() for m in bdm.volume_mappings(mappings)] or None,
            metadata_=metadata,
            user_data=user_data_field(body.get("user_data")),
            requested_networks=networks,
            addresses={},
            access_ipv4=access_ip(body.get("accessIPv4"), 4),
            access_ipv6=access_ip(body.get("accessIPv6"), 6),
            server_group_id=None,
            config_drive=config_drive,
            scheduler_hints=host_hints(body.get("os:scheduler_hints")),
            reservation_id=reservation_id(),
        )
        key_name = body.get("key_name")
        if key_name is not None:
            with self.db.session() as s:
                key = s.scalars(
                    select(KeyPairRecord).where(KeyPairRecord.user_id == ctx.user_id, KeyPairRecord.name == key_name)
                ).first()
                if key is None:
                    raise BadRequest("Invalid key_name provided.")
                fields.update(key_name=key.name, key_data=key.public_key)
        deltas = self.svc.quota_deltas(flavor)
        project_id = ctx.project_id or ""
        now = utcnow()
        # every column, defaults included, so the row written and the record returned agree
        fields.update(locked=False, deleted=False, progress=0, created_at=now, updated_at=now)
        fields = {attr: fields.get(attr) for attr in _INSTANCE_COLUMNS if attr not in ("uuid", "name", "hv_name")}

        def write(s: Any) -> list[InstanceRecord]:
            """The quota claim and the rows: one job of a group commit (writes only)."""
            group = self.svc.server_groups.get_record(s, ctx, str(group_id)) if group_id else None
            check_metadata_items(limits, len(metadata))
            count = self._count(s, project_id, deltas, min_count, max_count, limits)
            members = 0
            if group is not None:
                members = s.scalar(
                    select(func.count())
                    .select_from(ServerGroupMember)
                    .join(InstanceRecord, InstanceRecord.uuid == ServerGroupMember.instance_uuid)
                    .where(ServerGroupMember.group_id == group.id, InstanceRecord.deleted.is_(False))
                )
            recs = []
            for index in range(count):
                uuid = new_id()
                # Nova's multi_instance_display_name_template: "%(name)s-%(count)d" from 1
                recs.append(
                    InstanceRecord(
                        uuid=uuid,
                        name=f"{name}-{index + 1}" if count > 1 else name,
                        hv_name=f"oc-{uuid}",
                        **{**fields, "server_group_id": group.id if group is not None else None},
                    )
                )
            # plain INSERTs (the ORM's unit of work costs more than the statements)
            s.execute(_INSTANCES.insert(), [_row(rec) for rec in recs])
            if group is not None:
                s.execute(_MEMBERS.insert(), [{"group_id": group.id, "instance_uuid": r.uuid} for r in recs])
            if tags:
                s.execute(_TAGS.insert(), [{"instance_uuid": r.uuid, "tag": t} for r in recs for t in tags])
            s.execute(
                _ACTIONS.insert(),
                [
                    {
                        "instance_uuid": r.uuid,
                        "action": "create",
                        "request_id": ctx.request_id,
                        "user_id": ctx.user_id,
                        "project_id": r.project_id,
                        "start_time": now,
                    }
                    for r in recs
                ],
            )
            # the quota claim after the rows: the project's usage rows stay locked from this
            # statement to the commit (its refusal, and then the group's, roll the rows back)
            self.svc.quotas.claim(s, project_id, {k: v * count for k, v in deltas.items()}, limits)
            if group is not None:
                check_group_members(limits, int(members or 0) + count)
            return recs

        # concurrent creates share one write transaction (see overcast.db.group); the 202
        # that follows is sent only once it has committed
        recs = self.svc.writes.run(write)
        for rec in recs:
            make_transient_to_detached(rec)  # as if read back after the commit, every column set
            self.svc.transitions.notify(rec, "")
        for rec in recs:
            # the build starts from the row as written (its own copy: the caller keeps ``rec``)
            self.svc.runner.submit(f"build {rec.uuid}", self.svc.tasks.build, rec.uuid, ctx, _detached_copy(rec))
        return recs[0]

    def _count(
        self, s: Any, project_id: str, deltas: dict[str, int], min_count: int, max_count: int, limits: dict[str, int]
    ) -> int:
        """How many servers to make: as many as fit the project's ``limits``, from
        ``max_count`` down to ``min_count`` (Nova's multiple create). The claim of that many
        (the caller's, in the same transaction) raises its own error if not even
        ``min_count`` fit."""
        from overcast.compute.quotas import UNLIMITED

        count = min_count
        if max_count > min_count:
            used = self.svc.quotas.usage(s, project_id)
            fits = [
                (limits[k] - used.get(k, 0)) // v
                for k, v in deltas.items()
                if v > 0 and limits.get(k, UNLIMITED) != UNLIMITED
            ]
            count = max(min_count, min([max_count, *fits]))
        return count

    # --- read -----------------------------------------------------------------------------------

    def get(self, ctx: RequestContext, uuid: str) -> InstanceRecord:
        return self.db.read(lambda s: get_instance(s, ctx, uuid))

    def list(self, ctx: RequestContext, params: dict[str, str]) -> list[InstanceRecord]:
        all_projects = str(params.get("all_tenants", params.get("all_projects", "0"))).lower() not in ("0", "false", "")
        if "all_tenants" in params and params["all_tenants"] == "":
            all_projects = True
        stmt = ctx.filter(select(InstanceRecord), InstanceRecord.project_id, all_projects and ctx.is_admin)
        if ctx.is_admin and params.get("project_id") or params.get("tenant_id"):
            if ctx.is_admin:
                stmt = stmt.where(InstanceRecord.project_id == (params.get("project_id") or params.get("tenant_id")))
        since = params.get("changes-since") or params.get("changes_since")
        if since is not None:
            stmt = stmt.where(InstanceRecord.updated_at >= parse_time(since, "changes-since"))
        else:
            deleted = str(params.get("deleted", "false")).lower() in ("true", "1", "yes")
            stmt = stmt.where(InstanceRecord.deleted.is_(deleted and ctx.is_admin))
        if "changes-before" in params:
            stmt = stmt.where(InstanceRecord.updated_at <= parse_time(params["changes-before"], "changes-before"))
        status = params.get("status")
        if status:
            # Nova answers an unknown status with an empty list, not an error
            vm_states = st.STATUS_VM_STATES.get(status.upper(), ())
            stmt = stmt.where(InstanceRecord.vm_state.in_(vm_states))
        for param, column in (
            ("flavor", InstanceRecord.flavor_id),
            ("image", InstanceRecord.image_ref),
            ("availability_zone", InstanceRecord.availability_zone),
            ("key_name", InstanceRecord.key_name),
            ("user_id", InstanceRecord.user_id),
        ):
            if params.get(param):
                stmt = stmt.where(column == params[param])
        if params.get("reservation_id"):
            stmt = stmt.where(InstanceRecord.reservation_id == params["reservation_id"])
        if params.get("host") and ctx.is_admin:
            stmt = stmt.where(InstanceRecord.host == params["host"])
        if params.get("uuid"):
            stmt = stmt.where(InstanceRecord.uuid == params["uuid"])
        if "locked" in params:  # 2.73 (the API drops it before)
            locked = params["locked"].lower() in ("true", "1", "yes", "on", "t", "y")
            stmt = stmt.where(InstanceRecord.locked.is_(locked))
        sort_key = params.get("sort_key", "created_at")
        sort_dir = params.get("sort_dir", "desc")
        if sort_key not in _SORT_KEYS or sort_dir not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_key/sort_dir: {sort_key} {sort_dir}")
        column = getattr(InstanceRecord, {"display_name": "name"}.get(sort_key, sort_key))
        order = column.desc() if sort_dir == "desc" else column.asc()
        stmt = stmt.order_by(order, InstanceRecord.uuid.desc() if sort_dir == "desc" else InstanceRecord.uuid.asc())
        name_re = None
        if params.get("name"):
            try:
                name_re = re.compile(params["name"])
            except re.error:
                raise BadRequest(f"Invalid regular expression in name filter: {params['name']}") from None
        tag_filters: dict[str, str] = {
            k: params[k] for k in ("tags", "tags-any", "not-tags", "not-tags-any") if k in params
        }
        ip_res = {version: _filter_re(params, key) for version, key in ((4, "ip"), (6, "ip6"))}
        with self.db.session() as s:
            rows = [r for r in s.scalars(stmt) if name_re is None or name_re.search(r.name)]
            if params.get("ip") or params.get("ip6"):
                rows = [r for r in rows if _ip_matches(r.addresses or {}, ip_res)]
            if tag_filters:
                from overcast.compute.tags import matches

                tags = self.svc.tags.of(s, [r.uuid for r in rows])
                rows = [r for r in rows if matches(set(tags.get(r.uuid, ())), tag_filters)]
        marker = params.get("marker")
        if marker:
            ids = [r.uuid for r in rows]
            if marker not in ids:
                raise BadRequest(f"marker [{marker}] not found")
            rows = rows[ids.index(marker) + 1 :]
        limit = params.get("limit")
        if limit is not None:
            try:
                n = int(limit)
            except ValueError:
                raise BadRequest("limit param must be an integer") from None
            if n < 0:
                raise BadRequest("limit param must be positive")
            rows = rows[:n]
        return rows

    # --- update / delete ------------------------------------------------------------------------

    def update(self, ctx: RequestContext, uuid: str, body: dict) -> InstanceRecord:
        if not isinstance(body, dict):  # an empty object changes nothing (Nova's schema allows it)
            raise BadRequest("Invalid input for field/attribute server.")
        allowed = {"name", "description", "accessIPv4", "accessIPv6"}
        unknown = set(body) - allowed
        if unknown:
            raise BadRequest(f"Additional properties are not allowed ({', '.join(sorted(unknown))} were unexpected)")
        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            if "name" in body:
                rec.name = text_field(body["name"], "name")
            if "description" in body:
                rec.description = (
                    None
                    if body["description"] is None
                    else text_field(body["description"], "description", allow_empty=True)
                )
            if "accessIPv4" in body:
                rec.access_ipv4 = access_ip(body["accessIPv4"], 4)
            if "accessIPv6" in body:
                rec.access_ipv6 = access_ip(body["accessIPv6"], 6)
            s.flush()
            return rec

    # --- rebuild --------------------------------------------------------------------------------

    #: What a rebuild request may carry at 2.1, and the versions that add the others (any
    #: other key is refused, not ignored; ``personality`` is refused at every version).
    REBUILD_FIELDS = {
        "imageRef",
        "name",
        "metadata",
        "adminPass",
        "accessIPv4",
        "accessIPv6",
        "OS-DCF:diskConfig",
        "preserve_ephemeral",
    }
    REBUILD_FIELDS_FROM = {
        "description": (2, 19),
        "key_name": (2, 54),
        "user_data": (2, 57),
        "trusted_image_certificates": (2, 63),
    }

    def rebuild_changes(self, ctx: RequestContext, body: Any, version: tuple[int, int]) -> dict[str, Any]:
        """The row values a rebuild request sets, validated (the image must be usable)."""
        if not isinstance(body, dict) or "imageRef" not in body:
            raise BadRequest("Invalid input for field/attribute rebuild. 'imageRef' is a required property")
        allowed = self.REBUILD_FIELDS | {k for k, v in self.REBUILD_FIELDS_FROM.items() if version >= v}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise BadRequest(f"Additional properties are not allowed ({', '.join(unknown)} were unexpected)")
        refuse_trusted_certificates(body)
        if body.get("preserve_ephemeral") not in (None, False):
            raise BadRequest("preserve_ephemeral is not supported: servers here have no ephemeral disk.")
        if body.get("OS-DCF:diskConfig") not in (None, "MANUAL"):
            raise BadRequest("OS-DCF:diskConfig AUTO is not supported.")
        image = lookup_image(self.runtime, ctx, str(body["imageRef"]).rstrip("/").rsplit("/", 1)[-1])
        changes: dict[str, Any] = {"image_ref": image.id, "image": store(image), "_image": image}
        if "name" in body:
            changes["name"] = text_field(body["name"], "name")
        if "metadata" in body:
            changes["metadata_"] = metadata_field(body["metadata"])
        if "description" in body:
            changes["description"] = (
                None
                if body["description"] is None
                else text_field(body["description"], "description", allow_empty=True)
            )
        for version_, field in ((4, "accessIPv4"), (6, "accessIPv6")):
            if field in body:
                changes[f"access_ipv{version_}"] = access_ip(body[field], version_)
        if "key_name" in body:  # 2.54: null removes the key
            changes["key_name"], changes["key_data"] = None, None
            if body["key_name"] is not None:
                key = self._key(ctx, body["key_name"])
                changes["key_name"], changes["key_data"] = key.name, key.public_key
        if "user_data" in body:  # 2.57: null removes it
            changes["user_data"] = None if body["user_data"] is None else user_data_field(body["user_data"])
        return changes

    def _key(self, ctx: RequestContext, name: Any) -> KeyPairRecord:
        with self.db.session() as s:
            key = s.scalars(
                select(KeyPairRecord).where(KeyPairRecord.user_id == ctx.user_id, KeyPairRecord.name == name)
            ).first()
            if key is None:
                raise BadRequest("Invalid key_name provided.")
            return key

    # --- metadata (/servers/{id}/metadata) -------------------------------------------------------

    def metadata(self, ctx: RequestContext, uuid: str) -> dict[str, str]:
        return dict(self.get(ctx, uuid).metadata_ or {})

    def set_metadata(self, ctx: RequestContext, uuid: str, items: Any, replace: bool) -> dict[str, str]:
        """Merge ``items`` into the metadata (``POST``), or replace it (``PUT``); the result."""
        items = metadata_field(items)
        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            if rec.locked and not ctx.is_admin:
                raise Conflict(f"Instance {uuid} is locked")
            merged = items if replace else {**(rec.metadata_ or {}), **items}
            check_metadata_items(self.svc.quotas.limits(s, rec.project_id), len(merged))  # for the result
            rec.metadata_ = merged
            s.flush()
            return dict(rec.metadata_)

    def delete_metadata_item(self, ctx: RequestContext, uuid: str, key: str) -> None:
        from overcast.errors import NotFound

        with self.db.session() as s:
            rec = get_instance(s, ctx, uuid)
            if rec.locked and not ctx.is_admin:
                raise Conflict(f"Instance {uuid} is locked")
            meta = dict(rec.metadata_ or {})
            if key not in meta:
                raise NotFound("Metadata item was not found")
            del meta[key]
            rec.metadata_ = meta

    def delete(self, ctx: RequestContext, uuid: str) -> None:
        """Mark the server ``deleting`` and start the delete task (a build in progress
        notices and deletes instead of finishing)."""
        c = InstanceRecord
        me = self.svc.owners.id  # its row is written first
        for _ in range(5):  # compare-and-set on the task_state we saw, so no build slips by
            with self.db.session() as s:
                rec = get_instance(s, ctx, uuid)
                if rec.locked and not ctx.is_admin:
                    raise Conflict(f"Instance {uuid} is locked")
                seen = rec.task_state
                if seen == st.DELETING:
                    return
                same = c.task_state.is_(None) if seen is None else c.task_state == seen
                # a build under way deletes the server itself (its owner stays); otherwise this process does
                owned = {} if seen in (st.SCHEDULING, st.SPAWNING) else {"task_owner": me}
                updated = cast(
                    "CursorResult[Any]",
                    s.execute(
                        cast(Table, c.__table__)
                        .update()
                        .where(c.uuid == uuid, same)
                        .values(task_state=st.DELETING, **owned)
                    ),
                ).rowcount
                if updated == 1:  # the action is recorded with the state change, in its transaction
                    s.execute(
                        _ACTIONS.insert(),
                        {
                            "instance_uuid": uuid,
                            "action": "delete",
                            "request_id": ctx.request_id,
                            "user_id": ctx.user_id,
                            "project_id": rec.project_id,
                            "start_time": utcnow(),
                        },
                    )
            if updated == 1:
                if seen not in (st.SCHEDULING, st.SPAWNING):
                    self.svc.runner.submit(f"delete {uuid}", self.svc.tasks.delete, uuid)
                return
        raise Conflict(f"Instance {uuid} is changing state too fast to delete; try again.")


def _filter_re(params: dict[str, str], key: str) -> re.Pattern[str] | None:
    """The regular expression of the ``ip`` or ``ip6`` list filter (400 if it is not one)."""
    if not params.get(key):
        return None
    try:
        return re.compile(params[key])
    except re.error:
        raise BadRequest(f"Invalid regular expression in {key} filter: {params[key]}") from None


def _ip_matches(addresses: dict, patterns: dict[int, re.Pattern[str] | None]) -> bool:
    """Nova's ``_ip_filter``: a fixed address of the server whose version's pattern matches
    from its start (``ip`` for IPv4, ``ip6`` for IPv6; ``10.1.1.1`` also finds ``10.1.1.10``)."""
    for items in addresses.values():
        for item in items:
            if item.get("OS-EXT-IPS:type", "fixed") != "fixed":
                continue
            pattern = patterns.get(int(item.get("version") or 4))
            if pattern is not None and pattern.match(str(item.get("addr", ""))):
                return True
    return False


_RESERVATION_ALPHABET = string.digits + string.ascii_lowercase


def reservation_id() -> str:
    """Nova's ``generate_uid('r')``: one per create request, shared by the servers it makes.
    Eight characters drawn uniformly from one random number (one read of the system's
    random source, not one per character)."""
    n = secrets.randbelow(len(_RESERVATION_ALPHABET) ** 8)
    chars = []
    for _ in range(8):
        n, digit = divmod(n, len(_RESERVATION_ALPHABET))
        chars.append(_RESERVATION_ALPHABET[digit])
    return "r-" + "".join(chars)


_INSTANCES = cast(Table, InstanceRecord.__table__)
_ACTIONS = cast(Table, InstanceAction.__table__)
_TAGS = cast(Table, InstanceTag.__table__)
_MEMBERS = cast(Table, ServerGroupMember.__table__)
#: attribute name -> column name of a server's row (``metadata_`` is ``metadata``)
_INSTANCE_COLUMNS = {a.key: a.columns[0].key for a in InstanceRecord.__mapper__.column_attrs}


def _detached_copy(rec: InstanceRecord) -> InstanceRecord:
    """Another detached record of the same row (every column as ``rec`` has it)."""
    copy = InstanceRecord(**{attr: rec.__dict__[attr] for attr in _INSTANCE_COLUMNS if attr in rec.__dict__})
    make_transient_to_detached(copy)
    return copy


def _row(rec: InstanceRecord) -> dict[str, Any]:
    """The values of a new (transient) server record, by column name, for a plain INSERT."""
    state = rec.__dict__
    return {column: state[attr] for attr, column in _INSTANCE_COLUMNS.items() if attr in state}
