"""Swift's legacy object versioning (``versioned_writes``): a container with
``X-Versions-Location: <archive>`` keeps each overwritten object in the archive container
as ``<3 hex digits of the name's length><name>/<timestamp>``, and a DELETE brings the newest
archived version back (stack mode); with ``X-History-Location`` an overwrite or a DELETE
archives the current object and the DELETE then removes it (history mode, without Swift's
zero-byte delete markers).

The archive is written and read with the caller's own rights, as Swift's middleware does.
"""

from __future__ import annotations

from typing import Any

from overcast.context import RequestContext
from overcast.errors import BadRequest, NotFound, PreconditionFailed
from overcast.objectstore import names
from overcast.objectstore.records import ContainerRecord

VERSIONS = "x-versions-location"
HISTORY = "x-history-location"
SETTINGS = (VERSIONS, HISTORY)


LINK_ITSELF = {"symlink": "get"}  # a symlink is versioned itself, not its target (as in Swift)


def container_settings(headers: dict[str, str]) -> dict[str, str]:
    """The versioning headers of a container PUT/POST, checked (``X-Remove-*`` or an empty
    value turns versioning off)."""
    from urllib.parse import unquote

    out = {
        k: v
        for k, v in headers.items()
        if k in SETTINGS or k in ("x-remove-versions-location", "x-remove-history-location")
    }
    if out.get(VERSIONS) and out.get(HISTORY):
        raise BadRequest("Only one of X-Versions-Location or X-History-Location may be specified")
    for key in SETTINGS:
        if out.get(key):
            out[key] = unquote(out[key]).strip("/")
            names.check_container(out[key])
    if out.get(VERSIONS):
        out["x-remove-history-location"] = "x"
    elif out.get(HISTORY):
        out["x-remove-versions-location"] = "x"
    return out


def archive_name(name: str, timestamp: float) -> str:
    return f"{len(name.encode()):03x}{name}/{timestamp:016.5f}"


def _archive_of(record: ContainerRecord) -> tuple[str, str] | None:
    for key in SETTINGS:
        if record.meta.get(key):
            return key, record.meta[key]
    return None


def archive_current(svc: Any, ctx: RequestContext | None, record: ContainerRecord, name: str) -> None:
    """Before an overwrite (or a history-mode delete): copy the current object, if any, into
    the archive container."""
    mode = _archive_of(record)
    if mode is None:
        return
    backend, driver, account = svc._where(ctx, record.project_id, record.name, write=True)
    current = svc._head_or_none(backend, driver, account, record.name, name)
    if current is None:
        return
    archive = mode[1]
    if svc.records.container(record.project_id, archive) is None:
        raise PreconditionFailed(f"Versions container {archive} does not exist")
    svc.copy_object(
        ctx,
        (record.project_id, record.name, name),
        (record.project_id, archive, archive_name(name, current.last_modified)),
        {},
        LINK_ITSELF,
        versioned=False,
    )


def delete(svc: Any, ctx: RequestContext | None, record: ContainerRecord, name: str) -> bool:
    """A DELETE in a versioned container; False if the container is not versioned (the
    caller deletes as usual)."""
    mode = _archive_of(record)
    if mode is None:
        return False
    key, archive = mode
    backend, driver, account = svc._where(ctx, record.project_id, record.name, write=True)
    if key == HISTORY:
        archive_current(svc, ctx, record, name)
        driver.delete(backend=backend, account=account, container=record.name, name=name)
        return True
    arch_backend, arch_driver, _ = svc._where(ctx, record.project_id, archive, write=True)
    prefix = f"{len(name.encode()):03x}{name}/"
    newest = arch_driver.list(
        backend=arch_backend,
        account=account,
        container=archive,
        prefix=prefix,
        delimiter=None,
        marker=None,
        end_marker=None,
        limit=1,
        reverse=True,
    )
    if not newest:
        driver.delete(backend=backend, account=account, container=record.name, name=name)
        return True
    svc.copy_object(
        ctx,
        (record.project_id, archive, newest[0].name),
        (record.project_id, record.name, name),
        {},
        LINK_ITSELF,
        versioned=False,
    )
    try:
        arch_driver.delete(backend=arch_backend, account=account, container=archive, name=newest[0].name)
    except NotFound:
        pass  # restored by a concurrent DELETE: the copy above stands
    return True
