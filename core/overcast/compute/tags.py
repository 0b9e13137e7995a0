"""Server tags (Nova microversion 2.26): at most 50 per server, each 1-60 characters
without ``/`` or ``,``; list filters ``tags``, ``tags-any``, ``not-tags``, ``not-tags-any``."""

from __future__ import annotations

import builtins

from sqlalchemy import delete, select

from overcast.compute.records import get_instance
from overcast.context import RequestContext
from overcast.db.models.compute import InstanceTag
from overcast.errors import BadRequest, NotFound

MAX_TAGS = 50


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not 1 <= len(tag) <= 60 or "/" in tag or "," in tag:
        raise BadRequest(f"Invalid tag {tag!r}: tags are 1-60 characters without '/' or ','.")
    return tag


class TagManager:
    def __init__(self, db) -> None:
        self.db = db

    def of(self, session, uuids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if uuids:
            stmt = select(InstanceTag).where(InstanceTag.instance_uuid.in_(uuids)).order_by(InstanceTag.tag)
            for row in session.scalars(stmt):
                out.setdefault(row.instance_uuid, []).append(row.tag)
        return out

    def list(self, ctx: RequestContext, uuid: str) -> list[str]:
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
            return self.of(s, [uuid]).get(uuid, [])

    def replace(self, ctx: RequestContext, uuid: str, tags: object) -> builtins.list[str]:
        if not isinstance(tags, list) or len(tags) > MAX_TAGS:
            raise BadRequest(f"'tags' must be a list of at most {MAX_TAGS} tags.")
        wanted = sorted({check_tag(t) for t in tags})
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
            s.execute(delete(InstanceTag).where(InstanceTag.instance_uuid == uuid))
            s.add_all(InstanceTag(instance_uuid=uuid, tag=t) for t in wanted)
        return wanted

    def has(self, ctx: RequestContext, uuid: str, tag: str) -> bool:
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
            return s.get(InstanceTag, (uuid, tag)) is not None

    def add(self, ctx: RequestContext, uuid: str, tag: str) -> bool:
        """Add ``tag``; True if it was new."""
        check_tag(tag)
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
            if s.get(InstanceTag, (uuid, tag)) is not None:
                return False
            count = len(self.of(s, [uuid]).get(uuid, []))
            if count >= MAX_TAGS:
                raise BadRequest(f"Server {uuid} already has {MAX_TAGS} tags.")
            s.add(InstanceTag(instance_uuid=uuid, tag=tag))
        return True

    def remove(self, ctx: RequestContext, uuid: str, tag: str | None = None) -> None:
        with self.db.session() as s:
            get_instance(s, ctx, uuid)
            stmt = delete(InstanceTag).where(InstanceTag.instance_uuid == uuid)
            if tag is not None:
                if s.get(InstanceTag, (uuid, tag)) is None:
                    raise NotFound(f"Tag {tag} could not be found on server {uuid}.")
                stmt = stmt.where(InstanceTag.tag == tag)
            s.execute(stmt)


def matches(tags: set[str], params: dict[str, str]) -> bool:
    """Nova's tag filters over one server's tags."""

    def parse(name: str) -> set[str] | None:
        value = params.get(name)
        return None if value is None else {t for t in value.split(",") if t}

    all_of, any_of, none_of, not_any = parse("tags"), parse("tags-any"), parse("not-tags"), parse("not-tags-any")
    if all_of is not None and not all_of <= tags:
        return False
    if any_of is not None and not any_of & tags:
        return False
    if none_of is not None and none_of and none_of <= tags:
        return False
    return not (not_any is not None and not_any & tags)
