"""``ImageService``: the image service's interface, used by its API and by other services.

Compute uses :meth:`get_ref`/:meth:`locate` (an image visible to a context, as contract
data plus its store location), :meth:`fetch_to_cache` on hosts (no database needed), and
:meth:`upload_file` for snapshots.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from overcast.context import RequestContext
from overcast.db.models.image import Image, ImageTag
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound
from overcast.image import cache, data, listing, members, patch, records
from overcast.image import constants as c
from overcast.image.access import check_rule, get_owned, get_visible
from overcast.image.store import ImageStore
from overcast.types import ImageFile, ImageRef

FILE_CHUNK = 1024 * 1024


class ImageService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.store = ImageStore(runtime.plugins, runtime.drivers.image_store)

    @property
    def db(self) -> Any:
        return self.runtime.db

    def start(self) -> None:
        """Server start-up: uploads of processes that died go back to ``queued``."""
        data.reconcile(self.db)

    # --- images ----------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise BadRequest("Request body must be a JSON object.")
        core, props = records.split_body(body)
        visibility = core.get("visibility", "shared")
        if visibility == "public":
            check_rule(ctx, "image:images:publicize", "publicize images")
        tags = core.pop("tags", [])
        with self.db.session() as s:
            if "id" in core and s.get(Image, core["id"]) is not None:
                raise Conflict(f"Image with identifier {core['id']} already exists!")
            image = Image(owner=ctx.project_id, status=c.QUEUED, visibility=visibility, **{
                k: v for k, v in core.items() if k != "visibility"
            })
            s.add(image)
            records.set_properties(image, props)
            records.set_tags(image, tags)
            s.flush()
            return records.to_view(image)

    def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            return records.to_view(get_visible(s, ctx, image_id))

    def get_ref(self, ctx: RequestContext, image_id: str) -> ImageRef:
        """An ``active`` image visible to ``ctx``, as contract data (for booting)."""
        return self.locate(ctx, image_id)[0]

    def locate(self, ctx: RequestContext, image_id: str) -> tuple[ImageRef, str]:
        """An ``active`` image visible to ``ctx`` and its store location, for a host fetch."""
        with self.db.session() as s:
            image = get_visible(s, ctx, image_id)
            if image.status != c.ACTIVE or not image.locations:
                raise Conflict(f"Image {image_id} is not active (status {image.status}).")
            return records.to_ref(image), image.locations[0].url

    def list(
        self, ctx: RequestContext, params: Mapping[str, str], multi: Mapping[str, Sequence[str]] | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of images and the marker of the next page (``None`` on the last one)."""
        query = listing.parse_query(params, multi or {k: [v] for k, v in params.items()})
        with self.db.session() as s:
            images, more = listing.run(s, ctx, query)
            views = [records.to_view(i) for i in images]
        return views, (views[-1]["id"] if more and views else None)

    def update(self, ctx: RequestContext, image_id: str, operations: Any) -> dict[str, Any]:
        ops = patch.parse(operations)
        with self.db.session() as s:
            image = get_owned(s, ctx, image_id)
            patch.apply(ctx, image, ops)
            s.flush()
            return records.to_view(image)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        with self.db.session() as s:
            image = get_owned(s, ctx, image_id)
            if image.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            locations = [loc.url for loc in image.locations]
            s.delete(image)
        data.delete_data(self.store, locations)

    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, c.ACTIVE, c.DEACTIVATED, "deactivate")

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._toggle(ctx, image_id, c.DEACTIVATED, c.ACTIVE, "reactivate")

    def _toggle(self, ctx: RequestContext, image_id: str, source: str, target: str, verb: str) -> None:
        with self.db.session() as s:
            image = get_owned(s, ctx, image_id)
            if image.status == target:
                return
            if image.status != source:
                raise Forbidden(f"Not allowed to {verb} image in status '{image.status}'")
            if not data._set_status(s, image.id, source, target):
                raise Conflict(f"Image {image_id} changed status while it was being {verb}d.")

    # --- tags --------------------------------------------------------------------------

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        records.validate_tag(tag)
        with self.db.session() as s:
            image = get_owned(s, ctx, image_id)
            if tag not in {t.value for t in image.tags}:
                image.tags.append(ImageTag(value=tag))

    def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.db.session() as s:
            image = get_owned(s, ctx, image_id)
            found = next((t for t in image.tags if t.value == tag), None)
            if found is None:
                raise NotFound(f"Tag {tag} not found on image {image_id}.")
            image.tags.remove(found)

    # --- members -----------------------------------------------------------------------

    def list_members(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            return members.list_members(s, ctx, image_id)

    def show_member(self, ctx: RequestContext, image_id: str, member_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            return members.show_member(s, ctx, image_id, member_id)

    def add_member(self, ctx: RequestContext, image_id: str, member_id: Any) -> dict[str, Any]:
        with self.db.session() as s:
            return members.add_member(s, ctx, image_id, member_id)

    def update_member(self, ctx: RequestContext, image_id: str, member_id: str, status: Any) -> dict[str, Any]:
        with self.db.session() as s:
            return members.update_member(s, ctx, image_id, member_id, status)

    def remove_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        with self.db.session() as s:
            members.remove_member(s, ctx, image_id, member_id)

    # --- data --------------------------------------------------------------------------

    def upload(
        self,
        ctx: RequestContext,
        image_id: str,
        chunks: Iterable[bytes],
        *,
        size: int | None = None,
        md5: str | None = None,
    ) -> None:
        """Stream data into a ``queued`` image; it is ``active`` when this returns."""
        data.upload(self.db, self.store, ctx, image_id, chunks, declared_size=size, declared_md5=md5,
                    max_size=self.runtime.config.image.max_image_size)

    def open_download(self, ctx: RequestContext, image_id: str, range_header: str | None = None) -> data.Download:
        return data.open_download(self.db, self.store, ctx, image_id, range_header)

    def upload_file(
        self,
        ctx: RequestContext,
        name: str,
        path: str | os.PathLike[str],
        disk_format: str,
        properties: Mapping[str, str] | None = None,
        *,
        container_format: str = "bare",
        visibility: str = "private",
    ) -> ImageRef:
        """Create an image from a local file (snapshots): create, upload, return it active."""
        body: dict[str, Any] = dict(properties or {})
        body.update(name=name, disk_format=disk_format, container_format=container_format, visibility=visibility)
        view = self.create(ctx, body)
        file = Path(path)
        try:
            self.upload(ctx, view["id"], _read_file(file), size=file.stat().st_size)
        except BaseException:
            self.delete(ctx, view["id"])
            raise
        return self.get_ref(ctx, view["id"])

    def fetch_to_cache(
        self, image: ImageRef, location: str, cache_dir: str | os.PathLike[str], want_formats: Sequence[str]
    ) -> ImageFile:
        """Host side: the image verified in the local cache, in a format the host takes."""
        return cache.fetch_to_cache(self.store, image, location, cache_dir, want_formats)

    # --- discovery ---------------------------------------------------------------------

    def stores(self) -> list[dict[str, Any]]:
        if not self.store.configured:
            return []
        backend = self.store.backend
        return [{"id": backend.name, "description": f"{backend.driver} image store", "default": True}]


def _read_file(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(FILE_CHUNK):
            yield chunk
