"""Hypervisor operations over the bus, served and called straight from their declaration.

A hypervisor operation is written once, as a method of
:class:`overcast.hookspecs.HypervisorHooks`. The host agent serves every declared operation
on ``agent.<host>`` as its hook name (``hv_spawn``), and the controller calls it through
:func:`client`, whose methods are generated from the same declarations and which is typed as
``HypervisorHooks``: ``runtime.agents.hypervisor().spawn(host=host, instance=..., ...)`` reads
like the local routed call ``pm.hypervisor(driver).spawn(host=host, ...)`` and is checked by
mypy. Adding an operation to ``HypervisorHooks`` (and to the drivers) needs no code here.

What crosses the bus is what the declaration says, except for values that only make sense
on one host; which those are is decided by their declared type, never by the operation:

* ``host: Host`` picks the agent (topic ``agent.<host.name>``) and is **not sent**: the agent
  acts on its own ``[hosts.NAME]`` record, so connection options and credentials never travel.
* any other ``Host`` argument (``dest``, ``source``) travels as the host's **name**; the agent
  resolves it from its own configuration.
* an ``ImageFile`` travels as its ``ImageRef``: the agent fetches that image into its host's
  cache and hands the driver the local file (:func:`image_to_fetch` makes the argument).
* an operation whose result is local to the host (``SnapshotResult``, a file on the host) is
  refused: :meth:`overcast.agent.compute.ComputeAgent.snapshot` runs it and uploads the file.

Routing and refusals are the local ones: the agent calls the host's routed driver caller, so
only the named driver answers, other plugins' wrappers still run, and an operation the driver
lacks is refused (``UnsupportedOperation``) before anything is called. An argument the agent
does not know is logged by it (:func:`overcast.bus.rpc.decode_arguments`).

Agents before RPC 2.0 served these operations as ``compute_<name>`` forwarders; the client
refuses a host whose agent reported an older version, naming the version to upgrade to.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union, cast

from overcast.bus.rpc import Method, declare, decode_result
from overcast.errors import DriverError
from overcast.hookspecs import HypervisorHooks, operations
from overcast.types import DriverKind, Host, ImageFile, ImageRef, SnapshotResult

if TYPE_CHECKING:
    from overcast.agent.compute import ComputeAgent
    from overcast.bus import Bus

PREFIX = DriverKind.HYPERVISOR.hook_prefix  # wire name = hook name: "hv_spawn"
#: results that name something on the host (a file): not returned over the bus
HOST_LOCAL_RESULTS: tuple[type, ...] = (SnapshotResult,)
#: the first agent RPC version that serves ``hv_*`` (the controller refuses older agents)
REQUIRED_MAJOR = 2


def _wire_hint(hint: Any) -> Any:
    """The type a value of declared type ``hint`` travels as."""
    if hint is Host:
        return str
    if hint is ImageFile:
        return ImageRef
    if typing.get_origin(hint) in (Union, types.UnionType):
        return Union[tuple(_wire_hint(arg) for arg in typing.get_args(hint))]  # noqa: UP007 - built at run time
    return hint


def _to_wire(value: Any) -> Any:
    if isinstance(value, Host):
        return value.name
    if isinstance(value, ImageFile):
        return value.image
    return value


@dataclasses.dataclass(frozen=True)
class Operation:
    """One declared hypervisor operation as it crosses the bus."""

    method: Method  # wire name, signature, and how to decode the arguments as they travel
    hosts: frozenset[str]  # Host arguments besides ``host``: sent as names
    images: frozenset[str]  # ImageFile arguments: sent as their ImageRef
    local_result: bool  # the result is a file on the host: not served


def _operation(name: str, func: Callable[..., Any]) -> Operation:
    hints = typing.get_type_hints(func)
    if "host" not in hints or hints["host"] is not Host:
        raise TypeError(f"HypervisorHooks.{name}: the first argument of a hypervisor operation is 'host: Host'")
    hosts = frozenset(n for n, h in hints.items() if h is Host and n != "host")
    images = frozenset(n for n, h in hints.items() if n != "return" and ImageFile in (h, *typing.get_args(h)))
    result = hints.get("return")
    local = isinstance(result, type) and issubclass(result, HOST_LOCAL_RESULTS)
    return Operation(declare(func, PREFIX + name, skip=frozenset({"host"}), wire_hint=_wire_hint), hosts, images, local)


@functools.cache
def declared_operations() -> Mapping[str, Operation]:
    """Every operation of ``HypervisorHooks``, by wire name (``hv_spawn``)."""
    return {PREFIX + name: _operation(name, func) for name, func in operations(HypervisorHooks).items()}


def image_to_fetch(image: ImageRef | None) -> ImageFile | None:
    """The ``image`` argument of a hypervisor operation called over the bus: the image the
    host is to fetch. Only its ``ImageRef`` travels; the agent passes the driver the file it
    fetched into its own cache (a path is local to a host)."""
    return None if image is None else ImageFile(image=image, path="", disk_format=image.disk_format)


# --- the agent's side ---------------------------------------------------------------------------


def served(agent: ComputeAgent) -> dict[str, tuple[Callable[..., Any], Method]]:
    """What ``agent`` answers each ``hv_*`` wire name with (for ``HostAgent.rpc_lookup``)."""
    return {wire: (_server(agent, op), op.method) for wire, op in declared_operations().items()}


def _server(agent: ComputeAgent, op: Operation) -> Callable[..., Any]:
    name = op.method.name

    def run(**args: Any) -> Any:
        if op.local_result:
            raise DriverError(
                f"{op.method.wire} answers with a file on host {agent.host.name}, which cannot cross the bus; "
                "the compute agent's own operation (compute_snapshot) runs it and uploads the file"
            )
        for key in op.hosts & args.keys():
            args[key] = agent.resolve_host(args[key])
        for key in op.images & args.keys():
            args[key] = agent.fetch_image(args[key])
        routed: Callable[..., Any] = getattr(agent.driver, name)  # the declared operation's routed method
        return routed(host=agent.host, **args)

    run.__name__ = run.__qualname__ = name
    return run


# --- the controller's side ------------------------------------------------------------------------


class HypervisorClient:
    """Base of the generated client: the bus, how long to wait, and the agents' versions."""

    def __init__(self, bus: Bus, timeout: float | None, versions: Mapping[str, str]) -> None:
        self._bus = bus
        self._timeout = timeout
        self._versions = versions

    def _refuse_outdated(self, host: str) -> None:
        version = self._versions.get(host)
        if version is not None and major(version) < REQUIRED_MAJOR:
            raise DriverError(
                f"host {host}'s agent speaks agent RPC {version}; this controller needs {REQUIRED_MAJOR}.0 or newer "
                f"(hypervisor operations are served as hv_*): upgrade Overcast on {host}"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def major(version: str) -> int:
    """The major part of an agent RPC version (``"2.0"`` -> 2; unreadable -> 0)."""
    try:
        return int(version.split(".", 1)[0])
    except ValueError:
        return 0


def _client_method(op: Operation) -> Callable[..., Any]:
    spec = op.method

    def call(self: HypervisorClient, *args: Any, **kwargs: Any) -> Any:
        bound = spec.signature.bind(self, *args, **kwargs)
        sent = {k: v for k, v in bound.arguments.items() if k != "self"}
        host = sent.pop("host")
        if not isinstance(host, Host):
            raise TypeError(f"{spec.name}: 'host' must be the Host record, not {type(host).__name__}")
        self._refuse_outdated(host.name)
        topic = f"agent.{host.name}"
        answer = self._bus.request(topic, spec.wire, {k: _to_wire(v) for k, v in sent.items()}, self._timeout)
        return decode_result(spec, topic, answer)

    call.__name__ = call.__qualname__ = spec.name
    call.__signature__ = spec.signature  # type: ignore[attr-defined]
    call.__doc__ = f"``{spec.wire}`` on the agent of ``host`` (see ``HypervisorHooks.{spec.name}``)."
    return call


@functools.cache
def client_class() -> type[HypervisorClient]:
    """The client class: one method per operation ``HypervisorHooks`` declares."""
    namespace = {op.method.name: _client_method(op) for op in declared_operations().values()}
    return type("HypervisorHooksClient", (HypervisorClient,), namespace)


def client(bus: Bus, timeout: float | None = None, versions: Mapping[str, str] | None = None) -> HypervisorHooks:
    """The hypervisor operations of every host's agent over ``bus``, typed as their
    declaration. ``versions`` (host -> the agent RPC version it reported) lets the client
    refuse an agent that is too old before sending anything."""
    return cast(HypervisorHooks, client_class()(bus, timeout, versions if versions is not None else {}))
