"""Limits on failed password logins, per user and per source address.

* **Lockout** (Keystone's ``lockout_failure_attempts`` / ``lockout_duration``): after that many
  failed logins in a row a user is locked for the duration, the right password included; the
  answer is Keystone's 401 ``The account is locked for user: ...`` with ``Retry-After``. A
  successful login clears the count; a lockout that has run out clears it too.
* **Backoff**: from the third failure in a row, the user's next attempt must wait
  ``login_backoff`` seconds, doubling with each further failure (at most 30 s); sooner is a
  429 with ``Retry-After``, answered before any password hash is computed.
* **Per source**: more than ``source_failure_limit`` failures from one address within
  ``source_failure_window`` seconds is a 429 for that address (guessing across many users).

The state is this process's memory, bounded in size. With ``[api] workers > 1`` it is
``overcast up``'s: it serves its throttle on :data:`THROTTLE_TOPIC` and each API worker asks
it over the bus (:class:`RemoteThrottle`), so the limits hold for the cloud, not per process.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from overcast.bus.rpc import client, rpc
from overcast.config import IdentitySection
from overcast.errors import AccountLocked, TooManyRequests

MAX_BACKOFF = 30.0
FREE_FAILURES = 2  # failures in a row before the backoff starts (a typo costs nothing)
MAX_TRACKED = 65536  # users and sources remembered; the least recently failing go first

T = TypeVar("T")

#: the bus topic ``overcast up`` serves its throttle on for its API workers
THROTTLE_TOPIC = "identity.login-throttle"


@dataclass(frozen=True)
class Refusal:
    """Why a login may not be tried now: a lockout (401) or a backoff (429)."""

    locked: bool
    message: str
    retry_after: int

    def error(self) -> AccountLocked | TooManyRequests:
        cls = AccountLocked if self.locked else TooManyRequests
        return cls(self.message, retry_after=self.retry_after)


@dataclass
class _UserState:
    failures: int = 0
    last_failure: float = 0.0


@dataclass
class _SourceState:
    failures: deque[float] = field(default_factory=deque)


class LoginThrottle:
    def __init__(self, section: IdentitySection, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = section.lockout_failure_attempts
        self.duration = section.lockout_duration
        self.backoff = section.login_backoff
        self.source_limit = section.source_failure_limit
        self.window = section.source_failure_window
        self.clock = clock
        self._lock = threading.Lock()
        self._users: OrderedDict[str, _UserState] = OrderedDict()
        self._sources: OrderedDict[str, _SourceState] = OrderedDict()

    def check(self, user_key: str, user_id: str | None, source: str | None) -> None:
        """Raise if this login may not even be tried now (before the password is checked)."""
        refused = self.refusal(user_key, user_id, source)
        if refused is not None:
            raise refused.error()

    @rpc
    def refusal(self, user_key: str, user_id: str | None, source: str | None) -> Refusal | None:
        """Why this login may not even be tried now, or ``None``."""
        now = self.clock()
        with self._lock:
            if source is not None and self.source_limit:
                state = self._sources.get(source)
                if state is not None:
                    _expire(state.failures, now - self.window)
                    if len(state.failures) >= self.source_limit:
                        wait = state.failures[0] + self.window - now
                        return Refusal(
                            False,
                            f"Too many failed logins from this address; retry after {_seconds(wait)} seconds.",
                            _seconds(wait),
                        )
            user = self._users.get(user_key)
            if user is None or not user.failures:
                return None
            since = now - user.last_failure
            if self.attempts and user.failures >= self.attempts:
                if since < self.duration:
                    return Refusal(
                        True,
                        f"The account is locked for user: {user_id or user_key}.",
                        _seconds(self.duration - since),
                    )
                user.failures = 0  # the lockout ran out
                return None
            wait = self._backoff(user.failures) - since
            if wait > 0:
                return Refusal(
                    False,
                    f"Too many failed logins for this user; retry after {_seconds(wait)} seconds.",
                    _seconds(wait),
                )
        return None

    @rpc
    def failed(self, user_key: str, source: str | None) -> None:
        now = self.clock()
        with self._lock:
            user = _touch(self._users, user_key, _UserState)
            user.failures += 1
            user.last_failure = now
            if source is not None:
                state = _touch(self._sources, source, _SourceState)
                _expire(state.failures, now - self.window)
                state.failures.append(now)

    @rpc
    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._users.pop(user_key, None)

    def _backoff(self, failures: int) -> float:
        extra = failures - FREE_FAILURES
        return 0.0 if extra <= 0 or not self.backoff else min(MAX_BACKOFF, self.backoff * 2 ** (extra - 1))


class RemoteThrottle:
    """An API worker's throttle: ``overcast up``'s, asked over the bus."""

    def __init__(self, bus: object) -> None:
        self._remote = client(bus, THROTTLE_TOPIC, LoginThrottle)

    def check(self, user_key: str, user_id: str | None, source: str | None) -> None:
        refused = self._remote.refusal(user_key, user_id, source)
        if refused is not None:
            raise refused.error()

    def failed(self, user_key: str, source: str | None) -> None:
        self._remote.failed(user_key, source)

    def succeeded(self, user_key: str) -> None:
        self._remote.succeeded(user_key)


def _touch(table: OrderedDict[str, T], key: str, make: Callable[[], T]) -> T:
    value = table.get(key)
    if value is None:
        value = table[key] = make()
        while len(table) > MAX_TRACKED:
            table.popitem(last=False)
    else:
        table.move_to_end(key)
    return value


def _expire(times: deque[float], before: float) -> None:
    while times and times[0] <= before:
        times.popleft()


def _seconds(value: float) -> int:
    return max(1, math.ceil(value))
