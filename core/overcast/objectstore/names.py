"""Swift names: accounts (``AUTH_<project_id>``), containers and objects, checked once.

Object names are UTF-8 up to 1024 bytes and may contain ``/`` (even lead with one);
container names up to 256 bytes without ``/``. NUL and invalid UTF-8 are refused (Swift
answers 412 for those; overlong names are 400).
"""

from __future__ import annotations

from overcast.errors import BadRequest, NotFound, PreconditionFailed

ACCOUNT_PREFIX = "AUTH_"
#: where the API serves Swift's ``/v1/...`` paths: a link this cloud hands out (a redirect's
#: Location) is ``SERVED_AT + "/v1/..."``; signatures and listings use Swift's own ``/v1/...``
SERVED_AT = "/object"
MAX_OBJECT_NAME = 1024
MAX_CONTAINER_NAME = 256


def project_of_account(account: str) -> str:
    """``AUTH_<project_id>`` -> the project id; anything else is not an account here (404)."""
    if not account.startswith(ACCOUNT_PREFIX) or len(account) == len(ACCOUNT_PREFIX):
        raise NotFound(f"account {account} not found")
    return account[len(ACCOUNT_PREFIX) :]


def account_of_project(project_id: str) -> str:
    return ACCOUNT_PREFIX + project_id


def _check(kind: str, value: str, limit: int) -> None:
    if not value:
        raise BadRequest(f"{kind} name is empty")
    if "\x00" in value:
        raise PreconditionFailed(f"{kind} name contains a NUL byte")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise PreconditionFailed(f"{kind} name is not valid UTF-8") from None
    if size > limit:
        raise BadRequest(f"{kind.capitalize()} name length of {size} longer than {limit}")


def check_container(name: str) -> None:
    _check("container", name, MAX_CONTAINER_NAME)
    if "/" in name:
        raise BadRequest("container names may not contain '/'")


def check_object(name: str) -> None:
    _check("object", name, MAX_OBJECT_NAME)


def split_container_path(value: str) -> tuple[str, str]:
    """``"c/o"`` or ``"/c/o"`` (``X-Copy-From``, ``Destination``, SLO segment paths) ->
    (container, object); the object part keeps any further slashes."""
    value = value[1:] if value.startswith("/") else value
    container, sep, obj = value.partition("/")
    if not sep or not container or not obj:
        raise PreconditionFailed(f"'{value}' must be of the form <container>/<object>")
    check_container(container)
    check_object(obj)
    return container, obj
