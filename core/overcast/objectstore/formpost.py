"""Swift's FormPost: a browser uploads files straight into a container with an HTML form
signed by the account's (or the container's) TempURL key, without a token.

A ``POST`` of ``multipart/form-data`` to ``/v1/AUTH_p/<container>[/<prefix>]`` carries the
fields ``redirect``, ``max_file_size``, ``max_file_count``, ``expires`` and ``signature``
(``HMAC(key, "<path>\\n<redirect>\\n<max_file_size>\\n<max_file_count>\\n<expires>")``, hex, or
``sha512:<base64>`` as TempURL takes it), optionally ``x_delete_at``/``x_delete_after``,
``content-type`` and ``content-encoding``, then the files: each is stored as ``<prefix><filename>``.
Fields after the first file apply to the files after them, as in Swift. The answer is the status
of the last upload as text (``201 Created``), or a 303 to ``redirect`` with ``status`` and
``message`` added to its query. A bad signature or an expired form is 401 ``FormPost: ...``; a
malformed form, too many files or a file over ``max_file_size`` is 400 (that file is not kept).
The multipart body is parsed as it streams (python-multipart), never held whole.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from python_multipart.multipart import MultipartParser, parse_options_header

from overcast.errors import BadRequest, PayloadTooLarge, Unauthorized
from overcast.objectstore import tempurl

MAX_VALUE_LENGTH = 4096  # a form field's value (Swift's MAX_VALUE_LENGTH)
MAX_HEADER_SIZE = 8192


class FormInvalid(BadRequest):
    def __init__(self, message: str) -> None:
        super().__init__(f"FormPost: {message}")


def boundary_of(content_type: str) -> str | None:
    """The boundary when a POST is a form upload (``multipart/form-data``), else ``None``."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    boundary = params.get(b"boundary")
    return boundary.decode("latin-1") if boundary else None


@dataclass
class _Part:
    headers: dict[str, str]
    kind: str  # of its Content-Disposition: "form-data" in a form
    disposition: dict[str, str]
    chunks: Iterator[bytes]


@dataclass
class Answer:
    """What the form's POST answers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def _parts(chunks: Iterable[bytes], boundary: str) -> Iterator[_Part]:
    """The form's parts in order; each part's ``chunks`` must be read (or left) before the next
    is asked for. The push parser's events are queued per incoming chunk and pulled from here."""
    events: deque[tuple[str, Any]] = deque()
    header: dict[str, bytearray] = {"field": bytearray(), "value": bytearray()}
    headers: dict[str, str] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        headers[header["field"].decode("latin-1").lower()] = header["value"].decode("utf-8", "replace")
        header["field"], header["value"] = bytearray(), bytearray()

    def on_headers_finished() -> None:
        events.append(("part", dict(headers)))
        headers.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if end > start:
            events.append(("data", bytes(data[start:end])))

    def on_part_end() -> None:
        events.append(("end", None))

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
        max_header_size=MAX_HEADER_SIZE,
    )
    source = iter(chunks)

    def next_event() -> tuple[str, Any] | None:
        while not events:
            chunk = next(source, None)
            if chunk is None:
                return None
            try:
                parser.write(chunk)
            except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors
                raise FormInvalid(f"invalid form data: {exc}") from None
        return events.popleft()

    def body() -> Iterator[bytes]:
        while True:
            event = next_event()
            if event is None:  # a truncated form: the file it was sending is not kept
                raise FormInvalid("the form ended in the middle of a part")
            if event[0] != "data":
                return
            yield event[1]

    while (event := next_event()) is not None:
        if event[0] != "part":
            continue
        part_headers: dict[str, str] = event[1]
        kind, params = parse_options_header(part_headers.get("content-disposition", ""))
        disposition = {k.decode("latin-1").lower(): v.decode("utf-8", "replace") for k, v in params.items()}
        part = _Part(part_headers, kind.decode("latin-1").lower(), disposition, body())
        yield part
        for _ in part.chunks:  # what the caller left unread
            pass


def _capped(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise FormInvalid("max_file_size exceeded")
        yield chunk


def _value(chunks: Iterator[bytes]) -> str:
    data = bytearray()
    for chunk in chunks:
        if len(data) < MAX_VALUE_LENGTH:
            data += chunk[: MAX_VALUE_LENGTH - len(data)]
    return data.decode("utf-8", "replace").rstrip("\r\n-")


def _check(attributes: Mapping[str, str], keys: list[str], paths: list[str]) -> int:
    """The form's ``max_file_size`` once its signature and expiry check out (else 401/400)."""
    if not keys:
        raise Unauthorized("FormPost: Invalid Signature")
    try:
        max_file_size = int(attributes.get("max_file_size") or 0)
    except ValueError:
        raise FormInvalid("max_file_size not an integer") from None
    try:
        expires = int(attributes.get("expires") or 0)
    except ValueError:
        raise FormInvalid("expired not an integer") from None
    if expires < time.time():
        raise Unauthorized("FormPost: Form Expired")
    tail = "\n".join(
        attributes.get(k) or default
        for k, default in (("redirect", ""), ("max_file_size", "0"), ("max_file_count", "0"), ("expires", "0"))
    )
    signature = attributes.get("signature", "")
    if not any(tempurl.signed_by(key, f"{path}\n{tail}", signature) for key in keys for path in paths):
        raise Unauthorized("FormPost: Invalid Signature")
    return max_file_size


def submit(
    put: Callable[[str, dict[str, str], Iterable[bytes]], Any],
    keys: list[str],
    paths: list[str],
    prefix: str,
    boundary: str,
    chunks: Iterable[bytes],
) -> Answer:
    """Run one form upload. ``put(name, headers, data)`` stores one file (as the account's
    owner); ``paths`` are the forms of the request's path a signature may cover."""
    attributes: dict[str, str] = {}
    status, message, file_count = 0, "", 0
    for part in _parts(chunks, boundary):
        filename = part.disposition.get("filename") if part.kind == "form-data" else None
        if not filename:  # a field (Swift takes any named part that is not a file as one)
            if "name" in part.disposition:
                attributes[part.disposition["name"].lower()] = _value(part.chunks)
            continue
        file_count += 1
        try:
            most = int(attributes.get("max_file_count") or 0)
        except ValueError:
            raise FormInvalid("max_file_count not an integer") from None
        if file_count > most:
            status, message = 400, "max file count exceeded"
            break
        max_file_size = _check(attributes, keys, paths)
        headers = _file_headers(attributes, part.headers)
        try:
            put(prefix + filename, headers, _capped(part.chunks, max_file_size))
        except PayloadTooLarge as exc:
            status, message = 413, str(exc)
            break
        status = 201
    if not status:
        status, message = 400, "no files to process"
    return _answer(status, message, attributes.get("redirect") or "")


def _file_headers(attributes: Mapping[str, str], part_headers: Mapping[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for attribute, header, what in (
        ("x_delete_at", "x-delete-at", "Unix timestamp required."),
        ("x_delete_after", "x-delete-after", "Number of seconds required."),
    ):
        if attribute in attributes:
            if not attributes[attribute].lstrip("-").isdigit():
                raise FormInvalid(f"{attribute} not an integer: {what}")
            headers[header] = attributes[attribute]
    for name in ("content-type", "content-encoding"):
        value = attributes.get(name) if name in attributes else part_headers.get(name)
        if value is not None:
            headers[name] = value or ("application/octet-stream" if name == "content-type" else "")
    return {k: v for k, v in headers.items() if v}


_REASONS = {201: "Created", 400: "Bad Request", 413: "Request Entity Too Large"}


def _answer(status: int, message: str, redirect: str) -> Answer:
    line = f"{status} {_REASONS.get(status, '')}".strip()
    if not redirect:
        body = line + (f"\r\nFormPost: {message.title()}" if message else "")
        return Answer(status, {}, body.encode())
    location = f"{redirect}{'&' if '?' in redirect else '?'}status={status}&message={quote(message)}"
    body = f'<html><body><p><a href="{location}">Click to continue...</a></p></body></html>'
    return Answer(303, {"Location": location}, body.encode())
