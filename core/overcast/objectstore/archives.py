"""Swift's ``?extract-archive`` (the bulk middleware): a tar, tar.gz or tar.bz2 body PUT to an
account or a container becomes one object per file in it. Sent to the account, each file's
first path segment names its container (made when missing); sent to a container (and an
optional object prefix), the file's whole path names the object. The archive is read as it
streams in; each file is stored as any upload is, so quotas, ACLs and versioning apply."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any, Literal

from overcast.context import RequestContext
from overcast.errors import BadRequest, OvercastError

MODES: dict[str, Literal["r|", "r|gz", "r|bz2"]] = {"tar": "r|", "tar.gz": "r|gz", "tar.bz2": "r|bz2"}
MAX_CONTAINERS = 10000  # Swift's max_containers_per_extraction
MAX_FAILED = 1000  # Swift's max_failed_extractions


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the request body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def extract_archive(
    svc: Any,
    ctx: RequestContext | None,
    project_id: str,
    container: str,
    prefix: str,
    chunks: Iterator[bytes],
    archive_format: str,
) -> dict[str, Any]:
    """Store each file of the archive; Swift's report: files created, and each failure as
    ``[path, status]`` (the report's status is 400 if any failed, 201 otherwise)."""
    mode = MODES.get(archive_format)
    if mode is None:
        raise BadRequest("Unsupported archive format")
    svc.require_owner(ctx, project_id)
    created, errors, containers = 0, [], set[str]()
    try:
        archive = tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks)), mode=mode)  # noqa: SIM115
        for member in archive:
            if not member.isfile():
                continue
            path = member.name.lstrip("./").lstrip("/")
            if container:
                where, name = container, f"{prefix}{path}"
            else:
                where, _, name = path.partition("/")
            if not where or not name:
                continue
            try:
                if where not in containers:
                    if len(containers) >= MAX_CONTAINERS:
                        raise BadRequest(f"More than {MAX_CONTAINERS} containers to create from tar.")
                    svc.put_container(ctx, project_id, where, {})  # made if missing, else left as it is
                    containers.add(where)
                data = archive.extractfile(member)
                assert data is not None  # a regular file
                svc.put_object(ctx, project_id, where, name, {}, iter(lambda: data.read(1 << 20), b""), member.size, {})
                created += 1
            except OvercastError as exc:
                errors.append([f"/{where}/{name}", f"{exc.status} {exc.title}"])
                if len(errors) >= MAX_FAILED:
                    break
    except tarfile.TarError:
        return _report(created, errors, "400 Bad Request", "Invalid Tar File: not a readable tar archive")
    return _report(created, errors, "400 Bad Request" if errors else "201 Created", "")


def _report(created: int, errors: list[list[str]], status: str, body: str) -> dict[str, Any]:
    return {"Number Files Created": created, "Response Body": body, "Response Status": status, "Errors": errors}
