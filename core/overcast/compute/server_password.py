"""Nova's server password: a guest posts its (encrypted) password once to the metadata
service (``POST /openstack/<version>/password``, from 2013-04-04), its owner reads it with
``GET /servers/{id}/os-server-password`` and clears it with ``DELETE``, after which the
guest may post again."""

from __future__ import annotations

from overcast.compute.records import get_instance, lock_instance
from overcast.context import RequestContext
from overcast.db.models.compute import InstanceRecord
from overcast.errors import BadRequest, Conflict, NotFound

#: Nova's ``CHUNKS * CHUNK_LENGTH`` (four 255-character system metadata items)
MAX_SIZE = 4 * 255
#: the first metadata version with the ``password`` path (Nova's GRIZZLY)
SINCE = "2013-04-04"


def show(db, ctx: RequestContext, uuid: str) -> str:
    """The password the guest posted, or ``""``."""
    with db.session() as s:
        return get_instance(s, ctx, uuid).password or ""


def clear(db, ctx: RequestContext, uuid: str) -> None:
    with db.session() as s:
        get_instance(s, ctx, uuid).password = None


def for_guest(db, uuid: str) -> str:
    """What the metadata service answers the guest itself (``""`` until it posted one)."""
    with db.session() as s:
        rec = s.get(InstanceRecord, uuid)
        return (rec.password or "") if rec is not None and not rec.deleted else ""


def is_password_path(path: str, versions: tuple[str, ...]) -> bool:
    """``openstack/<version>/password`` for ``latest`` or a version from :data:`SINCE`."""
    parts = path.strip("/").split("/")
    return (
        len(parts) == 3
        and parts[0] == "openstack"
        and parts[2] == "password"
        and (parts[1] == "latest" or (parts[1] in versions and parts[1] >= SINCE))
    )


def post_from_guest(db, uuid: str, body: bytes) -> None:
    """Keep what the guest posted: 409 once one is kept, 400 past :data:`MAX_SIZE`."""
    if len(body) > MAX_SIZE:
        raise BadRequest("Request is too large.")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise BadRequest("The password is not text.") from None
    with db.session() as s:
        rec = lock_instance(s, uuid)
        if rec is None or rec.deleted:
            raise NotFound(f"Instance {uuid} could not be found.")
        if rec.password:
            raise Conflict("Password already set.")
        rec.password = text
