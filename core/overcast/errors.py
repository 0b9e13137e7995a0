"""Overcast's error types: one hierarchy, mapped once to HTTP by ``overcast.api.errors``.

Services and drivers raise these; the API layer turns each into its service's OpenStack
error format (Keystone, Nova, Glance, Cinder, Neutron, Swift) with the class's ``status``.
``code`` is the short name some formats carry (Neutron's ``type``, e.g. ``NetworkNotFound``).
"""

from __future__ import annotations


class OvercastError(Exception):
    """Base of every error Overcast raises on purpose. ``str(err)`` is for people."""

    status: int = 500
    title: str = "Internal Server Error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).__name__

    def headers(self) -> dict[str, str]:
        """Response headers the error carries besides the body (``Allow``, ``Retry-After``)."""
        return {}


# --- operator-facing: configuration and plugins --------------------------------------


class ConfigError(OvercastError):
    """The config file is wrong. The message names the file, the key and what is wrong."""


class PluginError(OvercastError):
    """A plugin failed to load or broke the contract."""


class DriverNotInstalled(ConfigError):
    """A host or backend names a driver no installed plugin provides."""


class DriverError(OvercastError):
    """A driver failed to do what it was asked; the message says what and where."""

    status = 500
    title = "Internal Server Error"


class UnsupportedOperation(DriverError):
    """A driver does not implement an operation; refused before any call is made."""

    status = 409
    title = "Conflict"


class NoDriverAnswered(DriverError):
    """A routed hook returned ``None``: the named driver did not handle the call."""


class BackendUnavailable(DriverError):
    """A backend endpoint could not be reached or refused our credentials."""

    status = 503
    title = "Service Unavailable"


# --- request-facing --------------------------------------------------------------------


class BadRequest(OvercastError):
    status = 400
    title = "Bad Request"


class Unauthorized(OvercastError):
    status = 401
    title = "Unauthorized"


class RetryAfter(OvercastError):
    """An error that tells the caller when to try again: ``Retry-After`` (seconds)."""

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class AccountLocked(RetryAfter, Unauthorized):
    """401 for a user locked out after failed logins (Keystone's ``AccountLocked``)."""


class TooManyRequests(RetryAfter):
    """429: the caller must wait before trying again."""

    status = 429
    title = "Too Many Requests"


class Forbidden(OvercastError):
    status = 403
    title = "Forbidden"


class NotFound(OvercastError):
    status = 404
    title = "Not Found"


class MethodNotAllowed(OvercastError):
    """405; ``allowed`` (the methods the resource takes) becomes the ``Allow`` header."""

    status = 405
    title = "Method Not Allowed"

    def __init__(self, message: str, *, allowed: tuple[str, ...] = (), code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)} if self.allowed else {}


class Conflict(OvercastError):
    status = 409
    title = "Conflict"


class Gone(OvercastError):
    status = 410
    title = "Gone"


class PreconditionFailed(OvercastError):
    status = 412
    title = "Precondition Failed"


class PayloadTooLarge(OvercastError):
    status = 413
    title = "Request Entity Too Large"


class RangeNotSatisfiable(OvercastError):
    status = 416
    title = "Requested Range Not Satisfiable"


class Unprocessable(OvercastError):
    status = 422
    title = "Unprocessable Entity"


class OverQuota(OvercastError):
    """A project quota would be exceeded. Status 403 as Nova does; services may override."""

    status = 403
    title = "Forbidden"


class NoValidHost(OvercastError):
    """The scheduler found no host; the message gives the reason per filter."""

    status = 500
    title = "No valid host was found"


class ServiceUnavailable(OvercastError):
    status = 503
    title = "Service Unavailable"


class NotImplementedByBackend(OvercastError):
    """A valid request for something the configured backend cannot do (Octavia's
    provider "does not support" errors)."""

    status = 501
    title = "Not Implemented"
