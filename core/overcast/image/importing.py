"""Interoperable image import: stage data (``glance-direct``) or name a URL
(``web-download``), then import it into the store as a task.

* ``glance-download`` copies an active image the caller can see, from the image service of
  the region it names (this cloud's: it has one region), with its formats and the properties
  ``[image] glance_download_properties`` lists.
* ``PUT /stage``: a ``queued`` image becomes ``uploading`` while its data goes to a local
  staging file (the row names the staging process in ``saving_by`` until it is complete).
* ``POST /import``: the image becomes ``importing``; a task (``api_image_import``) records
  the request, and a worker thread streams the data through the same format inspection and
  hashing as a direct upload into the store, then publishes the image ``active``. On failure
  the image goes back to ``queued`` and ``os_glance_failed_import`` names the store.
* While importing, ``os_glance_import_task`` holds the task id (the import lock) and
  ``os_glance_importing_to_stores`` the store; both are Glance's reserved properties.

Only one store exists, so ``copy-image`` (which copies an active image to further stores)
is refused.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from fnmatch import fnmatchcase as fnmatch
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from overcast.context import RequestContext
from overcast.db.models.base import utcnow
from overcast.db.models.image import Image, ImageProperty
from overcast.db.models.image_metadefs import ImageTask
from overcast.errors import BadRequest, Conflict, NotFound, OvercastError, PayloadTooLarge
from overcast.image import constants as c
from overcast.image import data, records, webdownload
from overcast.image.access import get_owned, get_visible
from overcast.image.process import is_alive, process_id
from overcast.image.store import ImageStore

log = logging.getLogger(__name__)

GLANCE_DIRECT, WEB_DOWNLOAD, COPY_IMAGE = "glance-direct", "web-download", "copy-image"
GLANCE_DOWNLOAD = "glance-download"
INTERFACES = ("public", "internal", "admin")
IMPORT_TASK = "os_glance_import_task"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED_IMPORT = "os_glance_failed_import"
TASK_TTL = timedelta(hours=48)
CHUNK = 4 * 1024 * 1024


def _update(session: Session, image_id: str, *where: Any, **values: Any) -> bool:
    stmt = update(Image).where(Image.id == image_id, *where).values(updated_at=utcnow(), **values)
    return cast("CursorResult[Any]", session.execute(stmt)).rowcount == 1


def _set_props(session: Session, image_id: str, values: Mapping[str, str | None]) -> None:
    """Set (``None``: remove) Glance's own ``os_glance_*`` properties, bypassing the
    reservation that keeps callers from setting them."""
    rows = {p.name: p for p in session.scalars(select(ImageProperty).where(ImageProperty.image_id == image_id))}
    for name, value in values.items():
        row = rows.get(name)
        if value is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(ImageProperty(image_id=image_id, name=name, value=value))
        else:
            row.value = value


def task_view(task: ImageTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type,
        "status": task.status,
        "owner": task.owner,
        "input": task.input,
        "result": task.result,
        "message": task.message,
        "image_id": task.image_id,
        "request_id": task.request_id,
        "user_id": task.user_id,
        "expires_at": records.iso(task.expires_at),
        "created_at": records.iso(task.created_at),
        "updated_at": records.iso(task.updated_at),
        "schema": "/v2/schemas/task",
        "self": f"/v2/tasks/{task.id}",
    }


class Importer:
    """Staging, import requests and the import workers of one controller process."""

    def __init__(self, db: Any, store: ImageStore, settings: Any, staging_dir: Path, region: str = "") -> None:
        self.db = db
        self.region = region
        self.store = store
        self.settings = settings
        self.staging_dir = staging_dir
        self._threads: list[threading.Thread] = []

    # --- discovery ---------------------------------------------------------------------------

    def methods(self) -> list[str]:
        """The import methods offered: web-download only with an allow-list to honour."""
        offered = [m for m in self.settings.import_methods if m != WEB_DOWNLOAD or self.settings.web_download_allowed]
        return offered if self.store.configured else []

    def info(self) -> dict[str, Any]:
        return {
            "import-methods": {"description": "Import methods available.", "type": "array", "value": self.methods()}
        }

    def policy(self) -> webdownload.Policy:
        s = self.settings
        return webdownload.Policy(s.web_download_allowed, s.web_download_allow_local, s.web_download_timeout)

    # --- staging -----------------------------------------------------------------------------

    def staged_path(self, image_id: str) -> Path:
        return self.staging_dir / image_id

    def stage(self, ctx: RequestContext, image_id: str, chunks: Iterable[bytes]) -> None:
        """Write the data of a ``queued`` image to its staging file; it is ``uploading`` after."""
        if GLANCE_DIRECT not in self.methods():
            raise BadRequest("The glance-direct import method is not enabled; staging is not available.")
        me = process_id()
        with self.db.session() as s:
            image = get_owned(s, ctx, image_id)
            if image.status != c.QUEUED:
                raise Conflict(f"Image status transition from {image.status} to uploading is not allowed")
            if not _update(s, image_id, Image.status == c.QUEUED, status=c.UPLOADING, saving_by=me):
                raise Conflict(f"Image {image_id} is already being uploaded.")
        path = self.staged_path(image_id)
        try:
            self._write(path, chunks)
        except BaseException:
            path.unlink(missing_ok=True)
            with self.db.session() as s:
                _update(
                    s, image_id, Image.status == c.UPLOADING, Image.saving_by == me, status=c.QUEUED, saving_by=None
                )
            raise
        with self.db.session() as s:
            if not _update(s, image_id, Image.status == c.UPLOADING, Image.saving_by == me, saving_by=None):
                path.unlink(missing_ok=True)
                raise Conflict(f"Image {image_id} was deleted or reset while its data was staged.")

    def _write(self, path: Path, chunks: Iterable[bytes]) -> None:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        limit = self.settings.max_image_size
        tmp = path.with_name(path.name + ".part")
        written = 0
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    written += len(chunk)
                    if written > limit:
                        raise PayloadTooLarge(f"Image exceeds the storage quota: more than {limit} bytes.")
                    f.write(chunk)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def discard_staged(self, image_id: str) -> None:
        self.staged_path(image_id).unlink(missing_ok=True)

    # --- import requests ---------------------------------------------------------------------

    def _method(self, body: Any) -> tuple[str, dict[str, Any]]:
        if not isinstance(body, Mapping) or not isinstance(body.get("method"), Mapping):
            raise BadRequest("Request body must be a JSON object with 'method'.")
        method = dict(body["method"])
        name = method.get("name")
        if name == COPY_IMAGE:
            raise BadRequest("Import method copy-image is not supported: this cloud has a single image store.")
        if name not in self.methods():
            raise BadRequest(f"Import method {name} is not valid.")
        stores = body.get("stores")
        if stores is not None:
            known = {self.store.backend.name}
            if not isinstance(stores, list) or not stores or not set(stores) <= known:
                raise BadRequest(f"Unknown store(s) {stores!r}: this cloud's image store is {sorted(known)}.")
        if "all_stores" in body and not isinstance(body["all_stores"], bool):
            raise BadRequest("Invalid value for 'all_stores': must be a boolean.")
        return name, method

    def start(
        self,
        ctx: RequestContext,
        image_id: str,
        body: Any,
        task_type: str = "api_image_import",
        task_input: dict[str, Any] | None = None,
    ) -> str:
        """Check the request, lock the image (``importing``) and start the worker; the task id."""
        name, method = self._method(body)
        uri = method.get("uri")
        if name == WEB_DOWNLOAD:
            if not isinstance(uri, str) or not uri:
                raise BadRequest("The web-download method needs a 'uri'.")
            webdownload.resolve(uri, self.policy())
        if name == GLANCE_DOWNLOAD:
            _check_glance_download(method)
        store_name = self.store.backend.name
        with self.db.session() as s:
            image = get_owned(s, ctx, image_id)
            props = {p.name: p.value for p in image.properties}
            if props.get(IMPORT_TASK):
                raise Conflict("Image has active task")
            if name == GLANCE_DIRECT and (image.status != c.UPLOADING or image.saving_by):
                raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
            if name in (WEB_DOWNLOAD, GLANCE_DOWNLOAD) and image.status != c.QUEUED:
                raise Conflict(f"Image needs to be in queued state to use '{name}' method")
            for attr in ("disk_format", "container_format"):
                if not getattr(image, attr) and name != GLANCE_DOWNLOAD:  # that one takes the source's
                    raise BadRequest(f"'{attr}' needs to be set before import")
            if not _update(s, image_id, Image.status == image.status, status=c.IMPORTING, saving_by=process_id()):
                raise Conflict(f"Image {image_id} changed status while the import was requested.")
            task = ImageTask(
                type=task_type,
                status="processing",
                owner=image.owner,
                image_id=image_id,
                request_id=ctx.request_id,
                user_id=ctx.user_id,
                input=task_input or {"image_id": image_id, "import_req": dict(body), "backend": [store_name]},
                message="",
            )
            s.add(task)
            s.flush()
            task_id = task.id
            _set_props(s, image_id, {IMPORT_TASK: task_id, IMPORTING_TO: store_name, FAILED_IMPORT: ""})
        worker = threading.Thread(
            target=self.run,
            args=(task_id, image_id, name, method, ctx),
            name=f"image-import-{image_id[:8]}",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [worker]
        worker.start()
        return task_id

    def _source(self, image_id: str, method: str, uri: str | None) -> tuple[Iterator[bytes], int | None]:
        if method == WEB_DOWNLOAD:
            return webdownload.open_uri(str(uri), self.policy())
        path = self.staged_path(image_id)
        if not path.exists():
            raise BadRequest(f"The staged data of image {image_id} is gone; stage it again.")

        def read() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while block := f.read(CHUNK):
                    yield block

        return read(), path.stat().st_size

    def _glance_download(
        self, ctx: RequestContext, image_id: str, params: Mapping[str, Any]
    ) -> tuple[Iterator[bytes], int | None]:
        """Take the source image's formats and listed properties, and open its data (as the
        caller, so only an image it can see and download)."""
        region, interface = params.get("glance_region"), params.get("glance_service_interface", "public")
        if region != self.region:
            raise BadRequest(f"No image service in region {region!r} (this cloud's region is {self.region!r}).")
        if interface not in INTERFACES:
            raise BadRequest(f"No {interface!r} interface of the image service: use one of {', '.join(INTERFACES)}.")
        source_id = str(params["glance_image_id"])
        patterns = self.settings.glance_download_properties
        with self.db.session() as s:
            source = get_visible(s, ctx, source_id)
            if source.status != c.ACTIVE:
                raise BadRequest(f"Image {source_id} is not active.")
            props = {p.name: p.value for p in source.properties if any(fnmatch(p.name, pat) for pat in patterns)}
            image = s.get(Image, image_id)
            if image is None or image.status != c.IMPORTING:
                raise Conflict(f"Image {image_id} was deleted or reset before its import ran.")
            image.disk_format, image.container_format = source.disk_format, source.container_format
            records.set_properties(image, props)
        download = data.open_download(self.db, self.store, ctx, source_id)
        if download.chunks is None:
            raise BadRequest(f"Image {source_id} has no data.")
        return download.chunks, download.size

    def run(
        self, task_id: str, image_id: str, method: str, params: Mapping[str, Any], ctx: RequestContext | None = None
    ) -> None:
        """The worker: stream the data into the store and publish the image, or fail the task."""
        uri = params.get("uri")
        try:
            source = self._glance_download(ctx, image_id, params) if ctx and method == GLANCE_DOWNLOAD else None
            with self.db.session() as s:
                image = s.get(Image, image_id)
                if image is None or image.status != c.IMPORTING:
                    raise Conflict(f"Image {image_id} was deleted or reset before its import ran.")
                props = {p.name: p.value for p in image.properties}
                plan = data.UploadPlan(
                    image_id,
                    image.disk_format or "raw",
                    image.container_format or "bare",
                    props.get(data.DECLARED_MD5),
                    props.get(data.DECLARED_SHA256),
                )
            chunks, size = source or self._source(image_id, method, uri)
            stored, result = data.store_stream(
                self.store,
                plan,
                chunks,
                declared_size=size,
                max_size=self.settings.max_image_size,
                hash_algo=self.settings.hashing_algorithm,
                require_format_match=self.settings.require_format_match,
            )
            data.publish(self.db, self.store, image_id, plan.disk_format, stored, result, expected=c.IMPORTING)
        except BaseException as exc:  # noqa: BLE001 - every failure ends the task
            self._fail(task_id, image_id, exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            if method == GLANCE_DIRECT:
                self.discard_staged(image_id)
        with self.db.session() as s:
            _set_props(s, image_id, {IMPORT_TASK: None, IMPORTING_TO: "", FAILED_IMPORT: ""})
            self._end_task(s, task_id, "success", "", {"image_id": image_id})

    def _fail(self, task_id: str, image_id: str, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, OvercastError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, OvercastError):
            log.exception("image %s: import failed", image_id)
        with self.db.session() as s:
            if _update(s, image_id, Image.status == c.IMPORTING, status=c.QUEUED, saving_by=None):
                _set_props(s, image_id, {IMPORT_TASK: None, IMPORTING_TO: "", FAILED_IMPORT: self.store.backend.name})
            self._end_task(s, task_id, "failure", message, None)

    @staticmethod
    def _end_task(s: Session, task_id: str, status: str, message: str, result: dict[str, Any] | None) -> None:
        task = s.get(ImageTask, task_id)
        if task is not None:
            task.status, task.message, task.result = status, message, result
            task.expires_at = utcnow() + TASK_TTL

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running import workers (tests, shutdown)."""
        for t in list(self._threads):
            t.join(timeout)

    # --- tasks -------------------------------------------------------------------------------

    def image_tasks(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            image = get_visible(s, ctx, image_id)
            stmt = select(ImageTask).where(ImageTask.image_id == image.id).order_by(ImageTask.created_at.desc())
            if not ctx.is_admin:
                stmt = stmt.where(ImageTask.owner == ctx.project_id)
            return [task_view(t) for t in s.scalars(stmt)]

    def show_task(self, ctx: RequestContext, task_id: str) -> dict[str, Any]:
        with self.db.session() as s:
            task = s.get(ImageTask, task_id)
            if task is None or not ctx.can_see(task.owner):
                raise NotFound(f"Task with the given ID {task_id} was not found")
            return task_view(task)

    def list_tasks(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.session() as s:
            stmt = select(ImageTask).order_by(ImageTask.created_at.desc())
            if not ctx.is_admin:
                stmt = stmt.where(ImageTask.owner == ctx.project_id)
            return [task_view(t) for t in s.scalars(stmt)]

    # --- restart -----------------------------------------------------------------------------

    def reconcile(self) -> list[str]:
        """Imports and stagings of processes that died: their images go back to ``queued``
        (staged data dropped) and their tasks fail."""
        reset = []
        with self.db.session() as s:
            rows = s.execute(
                select(Image.id, Image.status, Image.saving_by).where(Image.status.in_((c.IMPORTING, c.UPLOADING)))
            ).all()
            for image_id, status, owner in rows:
                if (status == c.UPLOADING and not owner) or (owner and is_alive(owner)):
                    continue
                if _update(
                    s, image_id, Image.status == status, Image.saving_by == owner, status=c.QUEUED, saving_by=None
                ):
                    reset.append(image_id)
                    _set_props(s, image_id, {IMPORT_TASK: None, IMPORTING_TO: ""})
                    self.discard_staged(image_id)
                    for task in s.scalars(
                        select(ImageTask).where(ImageTask.image_id == image_id, ImageTask.status == "processing")
                    ):
                        self._end_task(s, task.id, "failure", "The import was interrupted by a restart.", None)
        return reset


def _check_glance_download(method: Mapping[str, Any]) -> None:
    image_id, region = method.get("glance_image_id"), method.get("glance_region")
    try:
        uuid.UUID(str(image_id))
    except ValueError:
        raise BadRequest(f"Remote image id does not look like a UUID: {image_id}") from None
    if not isinstance(region, str) or not region:
        raise BadRequest("The glance-download method needs a 'glance_region'.")
    interface = method.get("glance_service_interface", "public")
    if not isinstance(interface, str):
        raise BadRequest("Invalid value for 'glance_service_interface': must be a string.")


def legacy_task_input(body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``POST /v2/tasks`` (type ``import``): the URL, the new image's attributes and the input."""
    if not isinstance(body, Mapping):
        raise BadRequest("Request body must be a JSON object.")
    if body.get("type") != "import":
        raise BadRequest(f"Task type {body.get('type')!r} is not supported: use 'import'.")
    task_input = body.get("input")
    if not isinstance(task_input, Mapping):
        raise BadRequest("Invalid input: 'input' must be an object.")
    uri, props = task_input.get("import_from"), task_input.get("image_properties", {})
    if not isinstance(uri, str) or not uri:
        raise BadRequest("Invalid input: 'import_from' is required.")
    if not isinstance(props, Mapping):
        raise BadRequest("Invalid input: 'image_properties' must be an object.")
    return uri, dict(props), dict(task_input)
