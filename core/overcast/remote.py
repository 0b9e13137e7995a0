"""Helpers for hypervisor drivers whose hosts are remote endpoints (vCenter, a XAPI pool, a
WinRM listener): a host's option with its declared default, one client session per endpoint,
and client-library failures turned into Overcast errors that name the host.

Each driver keeps what is its own (which faults mean "not found" or "conflict", how a session
logs in); what every such driver needs alike lives here once.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Generic, Sequence, TypeVar

from overcast.errors import UnsupportedOperation
from overcast.hookspecs import hookimpl
from overcast.types import (
    BlockDevice,
    ConfigOption,
    Flavor,
    Host,
    ImageFile,
    Instance,
    InstanceInfo,
    MigrationData,
    VifDetails,
)

S = TypeVar("S")


def host_option(host: Host, options: Sequence[ConfigOption], key: str) -> Any:
    """``host``'s value for option ``key``, or the default its driver declares in ``options``
    (an empty value counts as unset). ``key`` must be a declared option."""
    value = host.options.get(key)
    if value is None or value == "":
        value = next(o.default for o in options if o.name == key)
    return value


def refuse_foreign_inputs(
    driver: str,
    host: Host,
    image: ImageFile | None,
    image_formats: Sequence[str],
    network_info: Sequence[VifDetails],
    vif_type: str,
) -> None:
    """Refuse, before anything is made, an image in a format ``host`` cannot boot or a vif it
    cannot plug (``UnsupportedOperation`` naming the host and what it takes instead)."""
    if image is not None and image.disk_format not in image_formats:
        raise UnsupportedOperation(
            "%s host '%s' cannot boot %s images (it takes %s)"
            % (driver, host.name, image.disk_format, ", ".join(image_formats))
        )
    for vif in network_info:
        if vif.vif_type != vif_type:
            raise UnsupportedOperation(
                "%s host '%s' cannot plug vif type %r (it takes %s)" % (driver, host.name, vif.vif_type, vif_type)
            )


class EndpointSessions(Generic[S]):
    """One client session per (endpoint URL, user), shared by every Overcast host that names the
    same endpoint (the hosts of one pool or vCenter), made again when the configured password
    changes. Thread-safe: driver operations run on many worker threads."""

    def __init__(self, connect: Callable[[Host, str, str, str], S]) -> None:
        self._connect = connect
        self._sessions: dict[tuple[str, str], tuple[str, S]] = {}
        self._lock = threading.Lock()

    def get(self, host: Host, url: str, username: str, password: str) -> S:
        """The session for ``host``'s endpoint; ``connect(host, url, username, password)`` makes
        one when there is none yet or the password is no longer the one it was made with."""
        key = (url, username)
        with self._lock:
            known = self._sessions.get(key)
            if known is None or known[0] != password:
                known = (password, self._connect(host, url, username, password))
                self._sessions[key] = known
            return known[1]

    def close(self) -> None:
        """Close (log out) every session that has a ``close`` method, and forget them all."""
        with self._lock:
            sessions = [s for _, s in self._sessions.values()]
            self._sessions.clear()
        for session in sessions:
            close = getattr(session, "close", None)
            if close is not None:
                close()


def refuse_resize(driver: str, host: Host, instance: Instance, flavor: Flavor) -> None:
    """For drivers that only cold-migrate: refuse a different flavor (a resize) before
    anything is stopped, instead of moving the guest with its old size."""
    old = instance.flavor
    if (flavor.vcpus, flavor.memory_mb, flavor.root_gb, flavor.ephemeral_gb, flavor.swap_mb) != (
        old.vcpus,
        old.memory_mb,
        old.root_gb,
        old.ephemeral_gb,
        old.swap_mb,
    ):
        raise UnsupportedOperation(
            f"{driver} host '{host.name}': the {driver} driver cannot resize {instance.name} "
            f"to flavor {flavor.name} (it cold-migrates with the same flavor only)"
        )


class RevertByPowerOn:
    """``hv_finish_revert_migration`` for drivers whose cold migration leaves the source guest
    in place, powered off, until confirm: reverting only powers it on again (if asked). Mix it
    into a driver that has ``hv_power_on`` and ``hv_get_info``."""

    @hookimpl
    def hv_finish_revert_migration(
        self,
        host: Host,
        instance: Instance,
        migration: MigrationData,
        network_info: Sequence[VifDetails],
        block_devices: Sequence[BlockDevice],
        power_on: bool,
    ) -> InstanceInfo:
        if power_on:
            self.hv_power_on(host=host, instance=instance)  # type: ignore[attr-defined]
        return self.hv_get_info(host=host, instance=instance)  # type: ignore[attr-defined]


def translate_errors(
    driver: str, translate: Callable[[Exception, str], Exception | None]
) -> Callable[[Callable], Callable]:
    """A decorator for a driver's operations: a failure ``translate`` recognises is raised as the
    Overcast error it returns, ``where`` naming the host (``"xen host 'node1'"``, or just the
    driver when the operation has no host); anything it returns ``None`` for propagates as is.

    The host is the operation's first argument after ``self`` (pluggy passes arguments
    positionally) or its ``host`` keyword."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - re-raised below unless translated
                host = kwargs.get("host", args[0] if args else None)
                where = f"{driver} host '{host.name}'" if isinstance(host, Host) else driver
                error = translate(exc, where)
                if error is None:
                    raise
                raise error from None

        return wrapper

    return decorate
