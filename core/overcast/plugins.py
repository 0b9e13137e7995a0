"""The plugin manager: entry-point loading, the driver registry, and per-driver routing.

Loading: every entry point in group ``overcast`` is loaded on its own; a failure is recorded
on that plugin (``overcast plugins list`` shows it) and the others still load, unless
``OVERCAST_STRICT_PLUGINS=1``, which makes it fatal.

Routing: a host or backend names its driver. :meth:`PluginManager.driver` returns a
:class:`DriverCaller`, typed as the kind's hook class of :mod:`overcast.hookspecs`, whose
methods call the operation hooks through
``pm.subset_hook_caller(name, remove_plugins=<every other driver>)``, cached per driver, so
only the named driver answers while wrappers of plugins that are not drivers still run.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import logging
import os
import threading
import traceback
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast, overload

import pluggy

from overcast import hookspecs, metrics
from overcast.errors import (
    DriverNotInstalled,
    NoDriverAnswered,
    PluginError,
    UnsupportedOperation,
)
from overcast.types import ConfigOption, DriverKind

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "overcast"
STRICT_ENV = "OVERCAST_STRICT_PLUGINS"

#: Which distribution to install for each of the project's own drivers, for error messages.
KNOWN_DRIVER_PACKAGES: dict[tuple[DriverKind, str], str] = {
    (DriverKind.HYPERVISOR, "kvm"): "overcast-hv-kvm",
    (DriverKind.HYPERVISOR, "xen"): "overcast-hv-xen",
    (DriverKind.HYPERVISOR, "hyperv"): "overcast-hv-hyperv",
    (DriverKind.HYPERVISOR, "esx"): "overcast-hv-esx",
    (DriverKind.VOLUME, "lvm"): "overcast-storage-lvm",
    (DriverKind.VOLUME, "fs"): "overcast-storage-fs",
    (DriverKind.IMAGE_STORE, "fs"): "overcast-storage-fs",
    (DriverKind.OBJECT_STORE, "fs"): "overcast-storage-fs",
    (DriverKind.NETWORK, "linuxbridge"): "overcast-net-linuxbridge",
    (DriverKind.LOADBALANCER, "haproxy"): "overcast-lb-haproxy",
}


@dataclass
class PluginRecord:
    """One entry point and how loading it went."""

    name: str
    distribution: str = ""
    version: str = ""
    status: str = "ok"  # ok | import error | missing dependency | registration error
    error: str = ""
    drivers: list[tuple[DriverKind, str]] = field(default_factory=list)


@dataclass(frozen=True)
class DriverInfo:
    kind: DriverKind
    name: str
    plugin_name: str  # the name the driver object is registered under in pluggy
    description: str = ""
    package: str = ""


class DriverRegistry:
    """Drivers by kind and name. Plugins receive it in ``overcast_register_drivers``."""

    def __init__(self, pm: PluginManager) -> None:
        self._pm = pm
        self._drivers: dict[tuple[DriverKind, str], DriverInfo] = {}
        self._current_plugin: PluginRecord | None = None

    def add(self, kind: DriverKind | str, name: str, driver: object, description: str = "") -> None:
        """Register ``driver`` (an object with ``@hookimpl`` methods) as ``kind``/``name``."""
        kind = DriverKind(kind)
        key = (kind, name)
        if key in self._drivers:
            raise PluginError(
                f"driver {kind.value} '{name}' is registered twice "
                f"(by {self._drivers[key].package or 'a plugin'} and "
                f"{self._current_plugin.name if self._current_plugin else 'another plugin'})"
            )
        plugin_name = f"driver:{kind.value}:{name}"
        self._pm.hooks.register(driver, name=plugin_name)
        unknown = self._pm._unknown_hooks(driver)
        if unknown:
            self._pm.hooks.unregister(driver)
            raise PluginError(
                f"driver {kind.value} '{name}' implements unknown hook(s) {', '.join(unknown)} (misspelt?)"
            )
        package = self._current_plugin.distribution if self._current_plugin else ""
        self._drivers[key] = DriverInfo(kind, name, plugin_name, description, package)
        if self._current_plugin is not None:
            self._current_plugin.drivers.append(key)
        self._pm._invalidate_routes()

    def get(self, kind: DriverKind | str, name: str) -> DriverInfo:
        kind = DriverKind(kind)
        try:
            return self._drivers[(kind, name)]
        except KeyError:
            raise DriverNotInstalled(missing_driver_message(kind, name)) from None

    def has(self, kind: DriverKind | str, name: str) -> bool:
        return (DriverKind(kind), name) in self._drivers

    def of_kind(self, kind: DriverKind | str) -> list[DriverInfo]:
        kind = DriverKind(kind)
        return sorted((d for (k, _), d in self._drivers.items() if k == kind), key=lambda d: d.name)

    def __iter__(self) -> Iterator[DriverInfo]:
        return iter(sorted(self._drivers.values(), key=lambda d: (d.kind.value, d.name)))


def missing_driver_message(kind: DriverKind, name: str) -> str:
    package = KNOWN_DRIVER_PACKAGES.get((kind, name))
    hint = f"pip install {package}" if package else "install the plugin package that provides it"
    return f"{kind.value} driver '{name}' is not installed: {hint}"


class DriverCaller:
    """The routed caller of one driver, built for its kind from the kind's hook class in
    :mod:`overcast.hookspecs` (``HypervisorHooks``...), whose type it has:
    ``pm.driver("hypervisor", "kvm").spawn(host=..., ...)``.

    An operation the driver does not implement raises :class:`UnsupportedOperation` before
    anything is called; a ``None`` answer raises :class:`NoDriverAnswered` unless the hook
    declares that it may answer ``None``.
    """

    def __init__(self, pm: PluginManager, info: DriverInfo) -> None:
        self._pm = pm
        self._info = info
        self._prefix = info.kind.hook_prefix

    @property
    def info(self) -> DriverInfo:
        return self._info

    def supports(self, operation: str) -> bool:
        return self._prefix + operation in self._pm.implemented_hooks(self._info)

    def require(self, operation: str) -> None:
        if not self.supports(operation):
            raise UnsupportedOperation(
                f"{self._info.kind.value} driver '{self._info.name}' does not support '{operation}'"
            )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._info.kind.value}:{self._info.name}>"


def _routed(operation: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The method of a routed caller that runs hook ``<prefix><operation>`` on its driver."""
    signature = inspect.signature(func)
    may_be_none = _admits_none(typing.get_type_hints(func).get("return"))

    def call(self: DriverCaller, *args: Any, **kwargs: Any) -> Any:
        self.require(operation)
        if args:  # hooks take keywords; positional arguments are bound by the declaration
            kwargs = dict(signature.bind(self, *args, **kwargs).arguments)
            kwargs.pop("self")
        hook_name = self._prefix + operation
        info = self._info
        metrics.DRIVER_CALLS.labels(info.kind.value, info.name, operation).inc()
        try:
            result = self._pm._route(hook_name, info)(**kwargs)
        except Exception as exc:
            metrics.DRIVER_ERRORS.labels(info.kind.value, info.name, operation, type(exc).__name__).inc()
            raise
        if result is None and not may_be_none:
            raise NoDriverAnswered(
                f"{self._info.kind.value} driver '{self._info.name}' returned nothing for '{operation}'"
            )
        return result

    call.__name__ = call.__qualname__ = operation
    call.__doc__ = func.__doc__
    return call


def _admits_none(hint: Any) -> bool:
    return hint is None or hint is type(None) or type(None) in typing.get_args(hint)


@functools.cache
def caller_class(kind: DriverKind) -> type[DriverCaller]:
    """The routed caller class of ``kind``: a method per operation its hook class declares."""
    spec = hookspecs.DRIVER_HOOKS[kind]
    methods = {name: _routed(name, func) for name, func in hookspecs.operations(spec).items()}
    return type(f"{spec.__name__}Caller", (DriverCaller,), methods)


class PluginManager:
    """Overcast's pluggy manager plus its driver registry and routing cache."""

    def __init__(self) -> None:
        self.hooks = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.hooks.add_hookspecs(hookspecs)  # the registration hooks (module functions)
        for kind in hookspecs.DRIVER_HOOKS:
            self.hooks.add_hookspecs(hookspecs.hook_namespace(kind))  # each kind's operation hooks
        self.registry = DriverRegistry(self)
        self.records: dict[str, PluginRecord] = {}
        self._routes: dict[tuple[str, str], Any] = {}
        self._callers: dict[str, DriverCaller] = {}
        self._implemented: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    # --- loading --------------------------------------------------------------------

    def load_entry_points(self, strict: bool | None = None) -> list[PluginRecord]:
        """Load every ``overcast`` entry point alone, recording each failure."""
        if strict is None:
            strict = strict_from_env()
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in self.records:
                continue
            dist = getattr(ep, "dist", None)
            record = PluginRecord(
                name=ep.name,
                distribution=dist.metadata["Name"] if dist else "",
                version=dist.version if dist else "",
            )
            self.records[ep.name] = record
            try:
                module = ep.load()
            except ModuleNotFoundError as exc:
                record.status = "missing dependency"
                record.error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - any import failure is recorded
                record.status = "import error"
                record.error = f"{type(exc).__name__}: {exc}"
                log.debug("plugin %s failed to import:\n%s", ep.name, traceback.format_exc())
            else:
                self.register_plugin(module, name=ep.name, record=record)
            if record.status != "ok":
                message = f"plugin '{ep.name}' ({record.distribution}) failed to load: {record.error}"
                if strict:
                    raise PluginError(message)
                log.warning("%s", message)
        self.check_pending()
        return list(self.records.values())

    def register_plugin(self, plugin: object, name: str, record: PluginRecord | None = None) -> PluginRecord:
        """Register a plugin object (module or instance) and let it add its drivers."""
        record = record or self.records.setdefault(name, PluginRecord(name=name))
        try:
            self.hooks.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - pluggy validation errors, duplicate names
            record.status = "registration error"
            record.error = f"{type(exc).__name__}: {exc}"
            return record
        unknown = self._unknown_hooks(plugin)
        if unknown:
            self.hooks.unregister(plugin)
            record.status = "registration error"
            record.error = f"implements unknown hook(s) {', '.join(unknown)} (misspelt?)"
            return record
        impl = getattr(plugin, "overcast_register_drivers", None)
        if impl is not None:
            self.registry._current_plugin = record
            try:
                impl(registry=self.registry)
            except Exception as exc:  # noqa: BLE001
                record.status = "registration error"
                record.error = f"{type(exc).__name__}: {exc}"
            finally:
                self.registry._current_plugin = None
        return record

    def _unknown_hooks(self, plugin: object) -> list[str]:
        callers = self.hooks.get_hookcallers(plugin) or []
        return sorted(
            c.name
            for c in callers
            if not c.has_spec() and not all(impl.optionalhook for impl in c.get_hookimpls() if impl.plugin is plugin)
        )

    def check_pending(self) -> None:
        """Fail on hook implementations that match no spec (usually a misspelt name)."""
        try:
            self.hooks.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"a plugin implements an unknown hook: {exc}") from exc

    # --- drivers and routing ----------------------------------------------------------

    @overload
    def driver(self, kind: Literal[DriverKind.HYPERVISOR, "hypervisor"], name: str) -> hookspecs.HypervisorDriver: ...
    @overload
    def driver(self, kind: Literal[DriverKind.VOLUME, "volume"], name: str) -> hookspecs.VolumeHooks: ...
    @overload
    def driver(self, kind: Literal[DriverKind.NETWORK, "network"], name: str) -> hookspecs.NetworkHooks: ...
    @overload
    def driver(self, kind: Literal[DriverKind.IMAGE_STORE, "image_store"], name: str) -> hookspecs.ImageStoreHooks: ...
    @overload
    def driver(
        self, kind: Literal[DriverKind.OBJECT_STORE, "object_store"], name: str
    ) -> hookspecs.ObjectStoreHooks: ...
    @overload
    def driver(self, kind: Literal[DriverKind.BACKUP, "backup"], name: str) -> hookspecs.BackupHooks: ...
    @overload
    def driver(
        self, kind: Literal[DriverKind.LOADBALANCER, "loadbalancer"], name: str
    ) -> hookspecs.LoadBalancerHooks: ...
    @overload
    def driver(self, kind: DriverKind | str, name: str) -> hookspecs.RoutedDriver: ...

    def driver(self, kind: DriverKind | str, name: str) -> hookspecs.RoutedDriver:
        """The routed caller of one named driver, typed as its kind's hook class; raises
        ``DriverNotInstalled`` if there is none."""
        info = self.registry.get(kind, name)
        caller = self._callers.get(info.plugin_name)
        if caller is None:
            caller = caller_class(info.kind)(self, info)
            self._callers[info.plugin_name] = caller
        return cast(hookspecs.RoutedDriver, caller)

    def hypervisor(self, name: str) -> hookspecs.HypervisorDriver:
        """``driver("hypervisor", name)``: the hypervisor driver a host names."""
        return self.driver(DriverKind.HYPERVISOR, name)

    def implemented_hooks(self, info: DriverInfo) -> frozenset[str]:
        """Operation hooks the driver implements: its operation capability, as data."""
        cached = self._implemented.get(info.plugin_name)
        if cached is None:
            plugin = self.hooks.get_plugin(info.plugin_name)
            callers = self.hooks.get_hookcallers(plugin) or []
            cached = frozenset(c.name for c in callers if c.name.startswith(info.kind.hook_prefix))
            self._implemented[info.plugin_name] = cached
        return cached

    def _route(self, hook_name: str, info: DriverInfo) -> Any:
        key = (hook_name, info.plugin_name)
        caller = self._routes.get(key)
        if caller is None:
            with self._lock:
                others = [
                    self.hooks.get_plugin(d.plugin_name) for d in self.registry if d.plugin_name != info.plugin_name
                ]
                caller = self.hooks.subset_hook_caller(hook_name, remove_plugins=others)
                self._routes[key] = caller
        return caller

    def _invalidate_routes(self) -> None:
        with self._lock:
            self._routes.clear()
            self._implemented.clear()
            self._callers.clear()

    # --- registration hooks -------------------------------------------------------------

    def config_options(self) -> list[ConfigOption]:
        options: list[ConfigOption] = []
        for result in self.hooks.hook.overcast_add_config_options():
            options.extend(result or ())
        return options

    def broadcast(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a registration or event hook on every plugin."""
        return cast(list[Any], getattr(self.hooks.hook, hook_name)(**kwargs))


_PROCESS_MANAGERS: dict[bool, PluginManager] = {}


def strict_from_env() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0", "false", "no")


def process_plugin_manager(strict: bool | None = None) -> PluginManager:
    """The plugin manager of this process, loaded once (CLI commands share it)."""
    strict = strict_from_env() if strict is None else strict
    pm = _PROCESS_MANAGERS.get(strict)
    if pm is None:
        pm = load_plugin_manager(strict=strict)
        _PROCESS_MANAGERS[strict] = pm
    return pm


def load_plugin_manager(extra_plugins: Iterable[tuple[str, object]] = (), strict: bool | None = None) -> PluginManager:
    """A plugin manager with every installed plugin loaded, plus ``extra_plugins``."""
    pm = PluginManager()
    for name, plugin in extra_plugins:
        pm.register_plugin(plugin, name=name)
    pm.load_entry_points(strict=strict)
    return pm
