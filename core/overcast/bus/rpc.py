"""Typed RPC over the bus: an interface declared once, called through a generated stub.

An RPC interface is a class whose remote methods carry :func:`rpc` (the host agents'
``ComputeAgent``, ``NetworkAgent``, ``VolumeAgent``; the controller's ``NetworkRpc``). The
class *is* the declaration: the server runs its methods, and :func:`client` builds, from the
same signatures, a stub whose methods send the call over any :class:`~overcast.bus.Bus` and
return the answer, so a call site reads ``client(bus, topic, ComputeAgent).spawn(instance=...)``
and a type checker sees the real signature.

Values cross as JSON. Both sides decode what they receive from the declared type hints
(pydantic's :class:`~pydantic.TypeAdapter` on the frozen dataclasses of
:mod:`overcast.types`), never from markers inside the data, so user data (server metadata
``{"__type__": "Host"}``) is only ever data. Fields a receiver does not know are ignored and
missing ones take their defaults, so peers of neighbouring releases interoperate.

On the wire a method is ``<prefix><name>`` (the class's ``RPC_PREFIX``, e.g. ``compute_spawn``),
which keeps the names of several interfaces served on one topic apart.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any, TypeVar, cast

from pydantic import TypeAdapter

from overcast.errors import OvercastError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_MARK = "__overcast_rpc__"


def rpc(func: F) -> F:
    """Mark a method as part of its class's RPC interface."""
    setattr(func, _MARK, True)
    return func


@dataclasses.dataclass(frozen=True)
class Method:
    """One declared RPC method: its wire name, signature and how to decode its values."""

    name: str
    wire: str
    signature: inspect.Signature
    params: dict[str, TypeAdapter[Any]]
    result: TypeAdapter[Any]


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def _identity(hint: Any) -> Any:
    return hint


def declare(
    func: Callable[..., Any],
    wire: str,
    skip: frozenset[str] = frozenset(),
    wire_hint: Callable[[Any], Any] = _identity,
) -> Method:
    """The declaration of ``func`` served as ``wire``. Parameters in ``skip`` do not cross the
    bus; ``wire_hint`` maps a parameter's declared type to the type it travels as (a host
    travels as its name)."""
    hints = typing.get_type_hints(func)
    signature = inspect.signature(func)
    params: dict[str, TypeAdapter[Any]] = {}
    for name, param in signature.parameters.items():
        if name == "self" or name in skip:
            continue
        if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            raise TypeError(f"RPC method {func.__qualname__}: parameter {name!r} cannot cross the bus")
        params[name] = _adapter(wire_hint(hints.get(name, Any)))
    return Method(func.__name__, wire, signature, params, _adapter(hints.get("return", Any)))


_method = declare

_DECLARED: dict[type, dict[str, Method]] = {}
_STUBS: dict[type, type[Stub]] = {}


def declared(api: type) -> dict[str, Method]:
    """The :func:`rpc` methods of ``api`` by wire name (worked out once per class)."""
    methods = _DECLARED.get(api)
    if methods is None:
        prefix: str = getattr(api, "RPC_PREFIX", "")
        methods = {}
        for klass in reversed(api.__mro__):
            for name, func in vars(klass).items():
                if callable(func) and getattr(func, _MARK, False):
                    methods[prefix + name] = declare(func, prefix + name)
        _DECLARED[api] = methods
    return methods


@functools.cache
def _undeclared(func: Callable[..., Any]) -> Method:
    """A handler method without a declaration (plain handler objects): decoded from its hints."""
    return declare(func, func.__name__)


def method_of(handler: object, wire: str) -> tuple[Callable[..., Any], Method] | None:
    """The bound method ``handler`` answers ``wire`` with, and its declaration.

    A handler with an ``rpc_lookup(wire)`` method (one that serves several interfaces, such
    as a host agent) resolves it itself; a handler whose class declares :func:`rpc` methods
    answers only those; any other object answers with its public methods."""
    lookup = getattr(handler, "rpc_lookup", None)
    if lookup is not None:
        return cast("tuple[Callable[..., Any], Method] | None", lookup(wire))
    methods = declared(type(handler))
    if methods:
        spec = methods.get(wire)
        return None if spec is None else (getattr(handler, spec.name), spec)
    func = None if wire.startswith("_") else getattr(handler, wire, None)
    if func is None or not callable(func):
        return None
    return func, _undeclared(getattr(func, "__func__", func))


def decode_arguments(spec: Method, topic: str, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments decoded by their declared types. An argument the method does not take (sent
    by a newer peer) is left out and reported in this side's log."""
    unknown = sorted(set(args) - set(spec.params))
    if unknown:
        _report_unknown(topic.partition(".")[0], spec.wire, tuple(unknown))
    decoded = {}
    for name, adapter in spec.params.items():
        if name in args:
            try:
                decoded[name] = adapter.validate_python(args[name])
            except ValueError as exc:  # pydantic's ValidationError
                raise OvercastError(f"rpc {topic}.{spec.wire}: argument {name!r} is not valid: {exc}") from None
    return decoded


@functools.lru_cache(maxsize=256)
def _report_unknown(topic_kind: str, wire: str, names: tuple[str, ...]) -> None:
    """Logged once per method and set of names: a newer caller repeats them on every call."""
    log.warning("rpc %s: ignoring arguments this side does not know (sent by a newer peer): %s", wire, ", ".join(names))


def decode_result(spec: Method, topic: str, value: Any) -> Any:
    try:
        return spec.result.validate_python(value)
    except ValueError as exc:
        raise OvercastError(f"rpc {topic}.{spec.wire}: the answer is not valid: {exc}") from None


class Stub:
    """Base of the generated clients: where to send, and how long to wait."""

    def __init__(self, bus: Any, topic: str, timeout: float | None = None) -> None:
        self._bus = bus
        self._topic = topic
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._topic}>"


def _stub_method(spec: Method) -> Callable[..., Any]:
    def call(self: Stub, *args: Any, **kwargs: Any) -> Any:
        bound = spec.signature.bind(self, *args, **kwargs)
        # only what the caller passed: an older agent keeps its own defaults for the rest
        sent = {k: v for k, v in bound.arguments.items() if k != "self"}
        answer = self._bus.request(self._topic, spec.wire, sent, self._timeout)
        return decode_result(spec, self._topic, answer)

    call.__name__ = call.__qualname__ = spec.name
    call.__signature__ = spec.signature  # type: ignore[attr-defined]
    return call


def _stub_class(api: type) -> type[Stub]:
    stub = _STUBS.get(api)
    if stub is None:
        namespace = {spec.name: _stub_method(spec) for spec in declared(api).values()}
        stub = _STUBS[api] = type(f"{api.__name__}Client", (Stub,), namespace)
    return stub


def client(bus: Any, topic: str, api: type[T], timeout: float | None = None) -> T:
    """A stub of ``api`` that calls ``topic`` over ``bus`` (waiting ``timeout`` seconds,
    default the bus's ``rpc_timeout``). Typed as ``api`` so call sites are checked."""
    if not declared(api):
        raise TypeError(f"{api.__name__} declares no @rpc methods")
    return cast(T, _stub_class(api)(bus, topic, timeout))
