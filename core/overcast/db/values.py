"""Contract values in JSON columns, encoded and decoded by their declared types.

Columns such as a server's ``flavor`` and ``image``, a port's ``vif``, an attachment's
``connection_info`` or a host's ``capabilities`` hold values of :mod:`overcast.types`. They are
written with :func:`store` (pydantic's JSON form of the dataclass: plain data, no markers) and
read with :func:`load` into the type the caller names, never from markers inside the data, so
user data stored within them (an image property or flavor extra spec named ``__type__``) is
only ever data, as on the bus (:mod:`overcast.bus.rpc`).

Rows written before this module carry :func:`overcast.types.to_dict`'s ``__type__`` keys at
each dataclass; :func:`load` reads them too: a key a dataclass does not have (``__type__``,
or a field a later release dropped) is ignored, and a field it lacks takes its default. No
migration is needed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(hint: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(hint)
    if adapter is None:
        adapter = _ADAPTERS[hint] = TypeAdapter(hint)
    return adapter


def store(value: Any) -> Any:
    """``value`` (a contract dataclass, or a list of them) as JSON data for a column."""
    if isinstance(value, list):
        return [store(item) for item in value]
    return _adapter(type(value)).dump_python(value, mode="json")


def load(cls: type[T], data: Any) -> T:
    """The ``cls`` stored as ``data`` by :func:`store` (or by ``to_dict`` before it)."""
    value: T = _adapter(cls).validate_python(data)
    return value
