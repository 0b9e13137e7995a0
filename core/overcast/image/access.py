"""Who sees and who may change an image (Glance's visibility and membership rules).

* ``private``: the owner only. ``public``: everyone. ``community``: everyone by id, and in
  lists of those who ask for ``visibility=community``. ``shared``: the owner and projects
  added as members; a member sees it in its list once it has accepted, and by id at once
  (so that it can accept).
* Only the owner (or an admin) changes or deletes an image. An image the caller cannot see
  is "not found"; one it sees but may not change is "forbidden".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.image import Image, ImageMember
from overcast.errors import Forbidden, NotFound
from overcast.policy import required_role, role_satisfies


def _is_member(project_id: str | None, statuses: tuple[str, ...] | None = None) -> Any:
    cond = and_(ImageMember.image_id == Image.id, ImageMember.member == project_id)
    if statuses is not None:
        cond = and_(cond, ImageMember.status.in_(statuses))
    return exists(select(ImageMember.id).where(cond))


def visible_clause(ctx: RequestContext) -> Any:
    """SQL condition: images ``ctx`` may show by id."""
    return visible_to(ctx.is_admin, ctx.project_id)


def visible_to(is_admin: bool, project_id: Any) -> Any:
    """:func:`visible_clause` for an admin or not and ``project_id`` (a value, or a
    ``bindparam`` for a statement built once and run for every caller)."""
    if is_admin:
        return Image.id.is_not(None)
    return or_(
        Image.owner == project_id,
        Image.visibility.in_(("public", "community")),
        and_(Image.visibility == "shared", _is_member(project_id)),
    )


def listed_clause(ctx: RequestContext, visibility: str | None, member_status: str) -> Any:
    """SQL condition: images that appear in ``ctx``'s list for the given filters."""
    statuses = None if member_status == "all" else (member_status,)
    own = Image.owner == ctx.project_id
    shared_with_me = and_(Image.visibility == "shared", _is_member(ctx.project_id, statuses))
    if visibility is None:
        if ctx.is_admin:
            return Image.id.is_not(None)
        return or_(own, Image.visibility == "public", shared_with_me)
    if visibility == "all":
        if ctx.is_admin:
            return Image.id.is_not(None)
        return or_(own, Image.visibility.in_(("public", "community")), shared_with_me)
    if visibility in ("public", "community"):
        return Image.visibility == visibility
    if visibility == "shared":
        if ctx.is_admin:
            return Image.visibility == "shared"
        return and_(Image.visibility == "shared", or_(own, _is_member(ctx.project_id, statuses)))
    # private
    return and_(Image.visibility == "private", Image.id.is_not(None) if ctx.is_admin else own)


def get_visible(
    session: Session, ctx: RequestContext, image_id: str, *, for_update: bool = False, options: tuple = ()
) -> Image:
    """The image by id if ``ctx`` may see it; otherwise :class:`NotFound` (names included).
    ``options``: loader options (e.g. not loading what the caller does not read)."""
    stmt = select(Image).where(Image.id == image_id, Image.status != "deleted", visible_clause(ctx)).options(*options)
    if for_update:
        stmt = stmt.with_for_update()
    image = session.scalars(stmt).first()
    if image is None:
        raise NotFound(f"No image found with ID {image_id}")
    return image


def get_owned(session: Session, ctx: RequestContext, image_id: str, *, for_update: bool = True) -> Image:
    """The image if ``ctx`` may change it: 404 if invisible, 403 if visible but not theirs."""
    image = get_visible(session, ctx, image_id, for_update=for_update)
    require_owner(ctx, image)
    return image


def require_owner(ctx: RequestContext, image: Image) -> None:
    if not (ctx.is_admin or (image.owner is not None and image.owner == ctx.project_id)):
        raise Forbidden(f"You are not permitted to modify image {image.id}.")


def check_rule(ctx: RequestContext, rule: str, what: str) -> None:
    """Enforce an extra policy rule from the one policy table (e.g. making images public)."""
    if not role_satisfies(ctx.roles, required_role(rule)):
        raise Forbidden(f"You are not authorized to {what}.")
