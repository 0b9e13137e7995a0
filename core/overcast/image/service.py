"""``ImageService``: the image service's interface, used by its API and by other services.

Compute uses (see ``overcast.compute.peers``): :meth:`image_ref` (an active image visible
to a context, as contract data); on hosts, without a database, :meth:`fetch_to_cache` and
:meth:`upload_file` (they ask the controller over the bus); and for snapshots
:meth:`create_snapshot_record` / :meth:`discard_image`.
"""

from __future__ import annotations

import builtins
import functools

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, exists, select
from sqlalchemy.orm import raiseload

from overcast.context import RequestContext
from overcast.db.models.image import Image, ImageLocation, ImageProperty, ImageTag
from overcast.errors import BadRequest, Conflict, Forbidden, NotFound, OvercastError
from overcast.image import data, host, listing, members, patch, records
from overcast.image import constants as c
from overcast.image.access import check_rule, get_owned, get_visible, visible_to
from overcast.image.importing import Importer
from overcast.image.rpc import IMAGE_TOPIC, ImageRpc
from overcast.image.store import ImageStore
from overcast.types import ImageFile, ImageRef

log = logging.getLogger(__name__)

#: what :meth:`ImageService.image_ref` reads of an image (:func:`records.to_ref`'s fields)
_REF_COLUMNS = (
    Image.id,
    Image.name,
    Image.status,
    Image.disk_format,
    Image.container_format,
    Image.size,
    Image.checksum,
    Image.os_hash_algo,
    Image.os_hash_value,
    Image.min_disk,
    Image.min_ram,
)


@functools.cache
def _ref_query(is_admin: bool) -> Select[Any]:
    """:meth:`ImageService.image_ref`'s query, built once (building it cost more than running
    it): the reference's columns, whether it has data, its properties joined."""
    prop = ImageProperty
    return (
        select(*_REF_COLUMNS, exists().where(ImageLocation.image_id == Image.id).label("located"))
        .add_columns(prop.name.label("property"), prop.value.label("property_value"))
        .outerjoin(prop, prop.image_id == Image.id)
        .where(
            Image.id == bindparam("image_id"),
            Image.status != "deleted",
            visible_to(is_admin, bindparam("project_id")),
        )
    )


class ImageService:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.store = ImageStore(runtime.plugins, runtime.drivers.image_store)
        config = runtime.config
        self.importer = Importer(
            runtime.db,
            self.store,
            config.image,
            config.resolve_path(config.image.staging_dir, "image-staging"),
            config.api.region,
        )

    @property
    def db(self) -> Any:
        return self.runtime.db

    def start(self) -> None:
        """Controller start-up: uploads of processes that died go back to ``queued`` (as
        Glance's failed-upload ``_restore`` does) and the store drops their temp data; the
        bus topic ``image`` answers host agents."""
        data.reconcile(self.db)
        self.importer.reconcile()
        if self.store.configured:
            try:
                self.store.init()
            except OvercastError as exc:  # the cloud still starts; uploads will report it
                log.error("image store '%s' is not usable: %s", self.store.backend.name, exc)
        self.runtime.bus.serve(IMAGE_TOPIC, ImageRpc(self))

    def close(self) -> None:
        try:
            self.runtime.bus.stop_serving(IMAGE_TOPIC)
        except Exception:  # noqa: BLE001 - the bus may already be closed
            pass

    # --- images ----------------------------------------------------------------------

    def create(self, ctx: RequestContext, body: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise BadRequest("Request body must be a JSON object.")
        core, props = records.split_body(body)
        visibility = core.get("visibility", "shared")
        if visibility == "public":
            check_rule(ctx, "image:images:publicize", "publicize images")
        tags = core.pop("tags", [])
        owner = core.pop("owner", ctx.project_id)
        if owner != ctx.project_id and not ctx.is_admin:
            raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
        with self.db.session() as s:
            if "id" in core and s.get(Image, core["id"]) is not None:
                raise Conflict(f"Image with identifier {core['id']} already exists!")
            image = Image(
                owner=owner,
                status=c.QUEUED,
                visibility=visibility,
                **{k: v for k, v in core.items() if k != "visibility"},
            )
            s.add(image)
            records.set_properties(image, props)
            records.set_tags(image, tags)
            s.flush()
            return records.to_view(image)

    def show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            return records.to_view(get_visible(s, ctx, image_id))

    def image_ref(self, ctx: RequestContext, image_id: str) -> ImageRef:
        """An ``active`` image visible to ``ctx``, as contract data (for booting).
        ``NotFound`` if it is not visible; ``BadRequest`` if it has no usable data.
        Read on every server create: one query of the columns the reference needs, its
        properties joined and whether it has data as an ``EXISTS`` beside them (loading the
        row as an ORM object, or its relationships, cost several times the query)."""
        stmt = _ref_query(ctx.is_admin)
        params = {"image_id": image_id} if ctx.is_admin else {"image_id": image_id, "project_id": ctx.project_id}
        rows = self.db.read(lambda s: s.execute(stmt, params).all())
        if not rows:
            raise NotFound(f"No image found with ID {image_id}")
        image = rows[0]
        if image.status != c.ACTIVE or not image.located:
            raise BadRequest(f"Image {image_id} is not active.")
        return records.to_ref(image, {r.property: r.property_value for r in rows if r.property is not None})

    #: the volume service's name for :meth:`image_ref`
    get_ref = image_ref

    def locate(self, ctx: RequestContext, image_id: str) -> tuple[ImageRef, str]:
        """An ``active`` image visible to ``ctx`` and its store location (controller side).
        Its tags are not loaded: neither the reference nor the location has them."""
        with self.db.session() as s:
            image = get_visible(s, ctx, image_id, options=(raiseload(Image.tags),))
            if image.status != c.ACTIVE or not image.locations:
                raise BadRequest(f"Image {image_id} is not active.")
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
        self.importer.discard_staged(image_id)
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

    def list_members(self, ctx: RequestContext, image_id: str) -> builtins.list[dict[str, Any]]:
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
        settings = self.runtime.config.image
        data.upload(
            self.db,
            self.store,
            ctx,
            image_id,
            chunks,
            declared_size=size,
            declared_md5=md5,
            max_size=settings.max_image_size,
            hash_algo=settings.hashing_algorithm,
            require_format_match=settings.require_format_match,
        )

    def open_download(self, ctx: RequestContext, image_id: str, range_header: str | None = None) -> data.Download:
        return data.open_download(self.db, self.store, ctx, image_id, range_header)

    def fetch_to_cache(
        self,
        image: ImageRef,
        cache_dir: str | os.PathLike[str],
        formats: Sequence[str] | str | os.PathLike[str],
        location: str | Sequence[str] | None = None,
    ) -> ImageFile:
        """The image verified in a local cache directory, in one of ``formats``. With no
        ``location`` (host agents, which have no database) the controller is asked for it
        over the bus, and only when the image is not cached yet.

        Also accepts the order ``(image, location, cache_dir, formats)`` that the volume
        service uses (a location is a URI, a cache directory never is)."""
        if "://" in str(cache_dir) and isinstance(formats, (str, os.PathLike)):
            cache_dir, formats, location = formats, location or (), str(cache_dir)
        if not str(cache_dir):
            raise BadRequest("fetch_to_cache needs a cache directory")
        return host.fetch_to_cache(
            self.runtime.bus,
            self.store,
            image,
            cache_dir,
            list(formats),  # type: ignore[arg-type]
            location if isinstance(location, str) else None,
        )

    def create_snapshot_record(self, ctx: RequestContext, name: str, properties: Mapping[str, str]) -> str:
        """A private ``queued`` image for a server snapshot; its data comes from :meth:`upload_file`.
        Inherited properties that only describe the original upload are dropped."""
        body: dict[str, Any] = {
            k: str(v)
            for k, v in properties.items()
            if k not in c.RESERVED and k not in c.SETTABLE and not k.startswith("owner_specified.")
        }
        body.update(name=name, visibility="private")
        return self.create(ctx, body)["id"]

    def upload_file(self, image_id: str, path: str | os.PathLike[str], disk_format: str) -> None:
        """Host side: stream a local file into the ``queued`` image (a snapshot)."""
        settings = self.runtime.config.image
        host.upload_file(
            self.runtime.bus,
            self.store,
            image_id,
            path,
            disk_format,
            settings.max_image_size,
            settings.hashing_algorithm,
        )

    def images_with_properties(self, properties: Mapping[str, str]) -> builtins.list[str]:
        """Ids of the images carrying every ``properties`` item, oldest first (a server's
        backups, for compute's backup rotation; system action: no owner check)."""
        from sqlalchemy import select

        from overcast.db.models.image import ImageProperty

        with self.db.session() as s:
            stmt = select(Image.id).where(Image.status != "deleted")
            for name, value in properties.items():
                stmt = stmt.where(
                    Image.id.in_(
                        select(ImageProperty.image_id).where(ImageProperty.name == name, ImageProperty.value == value)
                    )
                )
            return list(s.scalars(stmt.order_by(Image.created_at, Image.id)))

    def discard_image(self, image_id: str) -> None:
        """Remove an image whose snapshot failed (system action: no owner check)."""
        with self.db.session() as s:
            image = s.get(Image, image_id)
            if image is None:
                return
            locations = [loc.url for loc in image.locations]
            s.delete(image)
        data.delete_data(self.store, locations)

    # --- discovery ---------------------------------------------------------------------

    def stores(self) -> builtins.list[dict[str, Any]]:
        if not self.store.configured:
            return []
        backend = self.store.backend
        return [{"id": backend.name, "description": f"{backend.driver} image store", "default": True}]

    # --- interoperable import ------------------------------------------------------------

    def import_info(self) -> dict[str, Any]:
        return self.importer.info()

    def stage(self, ctx: RequestContext, image_id: str, chunks: Iterable[bytes]) -> None:
        self.importer.stage(ctx, image_id, chunks)

    def import_image(self, ctx: RequestContext, image_id: str, body: Any) -> str:
        return self.importer.start(ctx, image_id, body)

    def image_tasks(self, ctx: RequestContext, image_id: str) -> builtins.list[dict[str, Any]]:
        return self.importer.image_tasks(ctx, image_id)

    def create_task(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        """The older task API's ``import``: a new image filled by web-download from ``import_from``."""
        from overcast.image.importing import WEB_DOWNLOAD, legacy_task_input
        from overcast.image.webdownload import resolve

        uri, props, task_input = legacy_task_input(body)
        if WEB_DOWNLOAD not in self.importer.methods():
            raise BadRequest("Import tasks need the web-download import method, which is not enabled.")
        resolve(uri, self.importer.policy())
        image_id = self.create(ctx, props)["id"]
        try:
            task_id = self.importer.start(
                ctx, image_id, {"method": {"name": WEB_DOWNLOAD, "uri": uri}}, task_type="import", task_input=task_input
            )
        except BaseException:
            self.discard_image(image_id)
            raise
        return self.importer.show_task(ctx, task_id)
