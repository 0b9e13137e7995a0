"""Fixtures for the volume service's tests: a runtime with fake drivers (``overcast_runtime``)
plus helpers to build request contexts and wait for background work."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from overcast.context import RequestContext


def make_ctx(project: str = "proj-a", user: str = "user-a", roles: tuple[str, ...] = ("member", "reader")) -> RequestContext:
    return RequestContext(user_id=user, project_id=project, roles=frozenset(roles))


@pytest.fixture
def ctx() -> RequestContext:
    return make_ctx()


@pytest.fixture
def other_ctx() -> RequestContext:
    return make_ctx("proj-b", "user-b")


@pytest.fixture
def admin_ctx() -> RequestContext:
    return make_ctx("proj-admin", "admin", ("admin", "member", "reader"))


@pytest.fixture
def volumes(overcast_runtime: Any) -> Any:
    """The runtime's VolumeService."""
    return overcast_runtime.service("volume")


@pytest.fixture
def settle(volumes: Any) -> Callable[[], None]:
    """Wait until the volume service's background tasks are done."""

    def wait() -> None:
        volumes.tasks.wait(timeout=60)

    return wait


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)
