"""Image members: projects a ``shared`` image is offered to, and their answers.

The owner adds and removes members; only the member itself accepts or rejects. A member
sees only its own membership; the owner sees all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.image import Image, ImageMember
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound
from overcast.image import constants as c
from overcast.image.access import get_visible, require_owner
from overcast.image.records import iso


def to_view(m: ImageMember) -> dict[str, Any]:
    return {
        "image_id": m.image_id,
        "member_id": m.member,
        "status": m.status,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
        "schema": "/v2/schemas/member",
    }


def _shared_image(session: Session, ctx: RequestContext, image_id: str) -> Image:
    image = get_visible(session, ctx, image_id)
    if image.visibility != "shared":
        raise Forbidden(f"Image {image_id} is not shared: only shared images have members.")
    return image


def _is_owner(ctx: RequestContext, image: Image) -> bool:
    return ctx.is_admin or image.owner == ctx.project_id


def list_members(session: Session, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
    image = _shared_image(session, ctx, image_id)
    stmt = select(ImageMember).where(ImageMember.image_id == image.id).order_by(ImageMember.created_at)
    if not _is_owner(ctx, image):
        stmt = stmt.where(ImageMember.member == ctx.project_id)
    return [to_view(m) for m in session.scalars(stmt)]


def _find(session: Session, ctx: RequestContext, image: Image, member_id: str) -> ImageMember:
    if not _is_owner(ctx, image) and member_id != ctx.project_id:
        raise NotFound(f"Member {member_id} not found for image {image.id}.")
    member = session.scalars(
        select(ImageMember).where(ImageMember.image_id == image.id, ImageMember.member == member_id)
    ).first()
    if member is None:
        raise NotFound(f"Member {member_id} not found for image {image.id}.")
    return member


def show_member(session: Session, ctx: RequestContext, image_id: str, member_id: str) -> dict[str, Any]:
    return to_view(_find(session, ctx, _shared_image(session, ctx, image_id), member_id))


def add_member(session: Session, ctx: RequestContext, image_id: str, member_id: Any) -> dict[str, Any]:
    image = _shared_image(session, ctx, image_id)
    require_owner(ctx, image)
    if not isinstance(member_id, str) or not member_id or len(member_id) > 64:
        raise BadRequest("Invalid 'member': must be a project id.")
    if member_id == image.owner:
        raise BadRequest("The owner of an image cannot be a member of it.")
    member = ImageMember(image_id=image.id, member=member_id, status="pending")
    try:
        with session.begin_nested():
            session.add(member)
    except IntegrityError:
        raise Conflict(f"Project {member_id} is already a member of image {image_id}.") from None
    return to_view(member)


def update_member(session: Session, ctx: RequestContext, image_id: str, member_id: str, status: Any) -> dict[str, Any]:
    image = _shared_image(session, ctx, image_id)
    member = _find(session, ctx, image, member_id)
    if member_id != ctx.project_id:
        raise Forbidden("Only the member itself can accept or reject an image.")
    if status not in c.MEMBER_STATUSES:
        raise BadRequest(f"Invalid member status {status!r}: use one of {', '.join(c.MEMBER_STATUSES)}.")
    member.status = status
    session.flush()
    return to_view(member)


def remove_member(session: Session, ctx: RequestContext, image_id: str, member_id: str) -> None:
    image = _shared_image(session, ctx, image_id)
    require_owner(ctx, image)
    session.delete(_find(session, ctx, image, member_id))
