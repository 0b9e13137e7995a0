"""API-level test fixtures: a whole cloud over the fake drivers, in process or for real.

``cloud`` (in process, fast; use it for nearly every API test)::

    def test_list_servers(cloud):
        project_id, user_id, token = cloud.new_project_user(role="member")
        r = cloud.client.get("/compute/v2.1/servers", headers=cloud.headers(token))
        assert r.status_code == 200

It gives a :class:`TestCloud`:

* ``cloud.runtime``: the migrated runtime over the fake drivers (``overcast_runtime``),
  with every available service started and the fake hosts' agents serving on the bus;
* ``cloud.app``: the FastAPI app; ``cloud.client``: a ``starlette.testclient.TestClient``
  for it (unhandled exceptions are raised in the test, so bugs are not hidden as 500s);
* ``cloud.admin_token`` (``admin`` user, ``admin`` project), ``cloud.admin_project_id``,
  ``cloud.admin_user_id``, ``cloud.admin_password``; ``cloud.admin_headers``;
* ``cloud.headers(token, **extra)``: ``{"X-Auth-Token": token, ...}``;
* ``cloud.new_project_user(role="member")`` -> ``(project_id, user_id, token)``: a new
  project and a new user holding ``role`` on it, and a token scoped to it. Call it twice
  for an isolation test;
* ``cloud.request(method, path, token=None, **kw)``: ``client.request`` with the token.

``running_cloud`` (slow; for tests that drive the real ``openstack`` CLI or openstacksdk
over HTTP, mark them ``clients``) runs ``overcast up`` in a subprocess on a free port in a
temporary data dir and gives a :class:`RunningCloud`: ``url``, ``auth_url``,
``admin_password``, ``data_dir``, ``config_path`` and ``env`` (``OS_CLIENT_CONFIG_FILE`` and
``OS_CLOUD`` for the CLI), plus ``openstack(*args)`` to run the CLI and get its JSON.
To add config tables (e.g. a real driver), parametrize the fixture indirectly or override
the ``running_cloud_config`` fixture in your test module::

    @pytest.fixture
    def running_cloud_config():
        return {"volume_backends": {"fast": {"driver": "lvm", "volume_group": "vg0"}}}
"""

from __future__ import annotations

import itertools
import secrets
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

_counter = itertools.count(1)


@dataclass
class TestCloud:
    runtime: Any
    app: Any
    client: Any
    admin_token: str
    admin_project_id: str
    admin_user_id: str
    admin_password: str
    role_ids: dict[str, str] = field(default_factory=dict)

    __test__ = False  # not a test class, whatever pytest thinks of the name

    @property
    def identity(self) -> Any:
        return self.runtime.identity

    @property
    def admin_headers(self) -> dict[str, str]:
        return self.headers(self.admin_token)

    @staticmethod
    def headers(token: str, **extra: str) -> dict[str, str]:
        return {"X-Auth-Token": token, **extra}

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["X-Auth-Token"] = token
        return self.client.request(method, path, headers=headers, **kwargs)

    def new_project_user(self, role: str = "member", name: str | None = None) -> tuple[str, str, str]:
        """A fresh project, a user with ``role`` on it, and that user's project token."""
        ident = self.identity
        n = name or f"t{next(_counter)}-{secrets.token_hex(3)}"
        project = ident.directory.create_project(f"project-{n}")
        user = ident.directory.create_user(f"user-{n}", password=f"pw-{n}")
        ident.assignments.grant("user", user.id, project.id, self.role_ids[role])
        token = ident.issue_token_for(user.id, project.id).token
        return project.id, user.id, token

    def token_for(self, user_id: str, project_id: str | None) -> str:
        return self.identity.issue_token_for(user_id, project_id).token


@pytest.fixture
def cloud(overcast_runtime: Any) -> Iterator[TestCloud]:
    """A bootstrapped in-process cloud with an HTTP client (see the module docstring)."""
    with warnings.catch_warnings():  # starlette prefers httpx2; httpx works the same here
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from starlette.testclient import TestClient

    from overcast.api.app import create_app
    from overcast.server import start_cloud

    password = secrets.token_urlsafe(12)
    boot = overcast_runtime.identity.bootstrap(password)
    start_cloud(overcast_runtime)
    app = create_app(overcast_runtime)
    with TestClient(app, base_url="http://testserver") as client:
        token = overcast_runtime.identity.issue_token_for(boot.user_id, boot.project_id).token
        yield TestCloud(
            runtime=overcast_runtime,
            app=app,
            client=client,
            admin_token=token,
            admin_project_id=boot.project_id,
            admin_user_id=boot.user_id,
            admin_password=password,
            role_ids=dict(boot.role_ids),
        )
