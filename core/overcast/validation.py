"""The one check of text in request bodies, shared by every service's API.

Names and descriptions end up in the database (PostgreSQL refuses NUL in ``text``), in
hypervisor and kernel calls (``embedded null character``) and on operators' terminals (raw
escape sequences), so, as Nova's ``name``/``description`` schemas do, they are refused with a
400 when they hold control characters; descriptions may span lines (tab, LF, CR). NUL and
unpaired surrogates (which no encoding can store) are refused in every string of a body.
"""

from __future__ import annotations

import re
from typing import Any

from overcast.errors import BadRequest

#: fields whose values are names or descriptions, wherever they appear in a body
NAME_FIELDS = frozenset({"name", "display_name"})
DESCRIPTION_FIELDS = frozenset({"description", "display_description"})

_NOT_IN_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_DESCRIPTION = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_ANYWHERE = re.compile("[\x00\ud800-\udfff]")


def _refuse(field: str, value: str) -> BadRequest:
    return BadRequest(
        f"Invalid input for field/attribute {field}. Value: {value!r}. "
        "Control characters (such as NUL) are not allowed."
    )


def check_name(value: Any, field: str = "name") -> None:
    """400 if ``value`` (a string) holds a control character."""
    if isinstance(value, str) and _NOT_IN_NAME.search(value):
        raise _refuse(field, value)


def check_description(value: Any, field: str = "description") -> None:
    """400 if ``value`` (a string) holds a control character other than tab, LF and CR."""
    if isinstance(value, str) and _NOT_IN_DESCRIPTION.search(value):
        raise _refuse(field, value)


def check_body_text(body: Any, field: str = "") -> None:
    """Walk a parsed JSON body: names and descriptions (by key, at any depth) without control
    characters, and no NUL or unpaired surrogate in any key or string."""
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(key, str) and _NOT_ANYWHERE.search(key):
                raise _refuse(field or "key", key)
            if isinstance(value, str):
                if key in NAME_FIELDS:
                    check_name(value, key)
                elif key in DESCRIPTION_FIELDS:
                    check_description(value, key)
                elif _NOT_ANYWHERE.search(value):
                    raise _refuse(key, value)
            else:
                check_body_text(value, key)
    elif isinstance(body, list):
        for item in body:
            check_body_text(item, field)
    elif isinstance(body, str) and _NOT_ANYWHERE.search(body):
        raise _refuse(field or "body", body)
