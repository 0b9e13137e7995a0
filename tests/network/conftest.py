"""Service-level fixtures: an all-fake runtime with its host agents serving the bus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from overcast.agent import start_local_agents
from overcast.context import RequestContext


@pytest.fixture
def net_runtime(overcast_runtime: Any) -> Iterator[Any]:
    start_local_agents(overcast_runtime)
    overcast_runtime.network.plumbing.strict = True
    overcast_runtime.network.start()
    yield overcast_runtime
    overcast_runtime.network.close()


@pytest.fixture
def svc(net_runtime: Any) -> Any:
    return net_runtime.network


def member(project: str = "p1") -> RequestContext:
    return RequestContext(user_id=f"u-{project}", project_id=project, roles=frozenset({"member", "reader"}))


def admin(project: str = "admin") -> RequestContext:
    return RequestContext(user_id="admin", project_id=project, roles=frozenset({"admin", "member", "reader"}))


@pytest.fixture
def alice() -> RequestContext:
    return member("alice-project")


@pytest.fixture
def bob() -> RequestContext:
    return member("bob-project")


@pytest.fixture
def boss() -> RequestContext:
    return admin()
