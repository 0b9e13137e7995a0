"""Translate libvirt's exceptions into Overcast's error types, in one place.

The contract says a client library's exception must never escape a hook, so every libvirt
call in this package runs inside :func:`translated`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import libvirt
from overcast.errors import (
    BackendUnavailable,
    Conflict,
    DriverError,
    NotFound,
    OvercastError,
    UnsupportedOperation,
)

_NOT_FOUND = {
    libvirt.VIR_ERR_NO_DOMAIN,
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
    libvirt.VIR_ERR_NO_STORAGE_POOL,
    libvirt.VIR_ERR_NO_STORAGE_VOL,
}
_CONFLICT = {
    libvirt.VIR_ERR_OPERATION_INVALID,
    libvirt.VIR_ERR_DOM_EXIST,
    libvirt.VIR_ERR_OPERATION_DENIED,
}
_UNSUPPORTED = {libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED}
_UNAVAILABLE = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN, libvirt.VIR_ERR_RPC}


def convert(exc: libvirt.libvirtError, what: str) -> OvercastError:
    """The Overcast error for a libvirt error raised while doing ``what``."""
    code = exc.get_error_code()
    message = f"{what}: {exc.get_error_message() or exc}"
    if code in _NOT_FOUND:
        return NotFound(message)
    if code in _CONFLICT:
        return Conflict(message)
    if code in _UNSUPPORTED:
        return UnsupportedOperation(message)
    if code in _UNAVAILABLE:
        return BackendUnavailable(message)
    return DriverError(message)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Run a block of libvirt calls; re-raise libvirt errors as Overcast errors."""
    try:
        yield
    except libvirt.libvirtError as exc:
        raise convert(exc, what) from exc


def error_code(exc: BaseException) -> int | None:
    """The libvirt error code behind ``exc`` (or its cause), if any."""
    cause = exc if isinstance(exc, libvirt.libvirtError) else exc.__cause__
    if isinstance(cause, libvirt.libvirtError):
        return cause.get_error_code()
    return None
