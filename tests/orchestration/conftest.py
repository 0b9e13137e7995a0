"""Fixtures for the orchestration tests: the in-process cloud (fake drivers) and a small
Heat client over it (``heat``): create a stack, wait for it to settle, read it back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
import yaml


@dataclass
class Heat:
    cloud: Any
    token: str
    project_id: str

    @property
    def base(self) -> str:
        return f"/orchestration/v1/{self.project_id}"

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.cloud.request(method, self.base + path, token=self.token, follow_redirects=False, **kw)

    def create(self, name: str, template: dict[str, Any] | str, **body: Any) -> Any:
        tmpl = template if isinstance(template, str) else yaml.safe_dump(template)
        return self.request("POST", "/stacks", json={"stack_name": name, "template": tmpl, **body})

    def show(self, name: str, stack_id: str) -> dict[str, Any]:
        r = self.request("GET", f"/stacks/{name}/{stack_id}")
        assert r.status_code == 200, r.text
        return r.json()["stack"]

    def wait(self, name: str, stack_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The stack once no action runs on it."""
        self.cloud.runtime.orchestration.wait(stack_id, timeout)
        deadline = time.monotonic() + timeout
        while True:
            st = self.show(name, stack_id)
            if not st["stack_status"].endswith("IN_PROGRESS"):
                return st
            assert time.monotonic() < deadline, st
            time.sleep(0.05)

    def create_ok(self, name: str, template: dict[str, Any] | str, **body: Any) -> dict[str, Any]:
        r = self.create(name, template, **body)
        assert r.status_code == 201, r.text
        st = self.wait(name, r.json()["stack"]["id"])
        assert st["stack_status"] == "CREATE_COMPLETE", st["stack_status_reason"]
        return st

    def events(self, name: str, stack_id: str) -> list[dict[str, Any]]:
        r = self.request("GET", f"/stacks/{name}/{stack_id}/events")
        assert r.status_code == 200, r.text
        return list(r.json()["events"])

    def resources(self, name: str, stack_id: str) -> dict[str, dict[str, Any]]:
        r = self.request("GET", f"/stacks/{name}/{stack_id}/resources")
        assert r.status_code == 200, r.text
        return {x["resource_name"]: x for x in r.json()["resources"]}


@pytest.fixture
def heat(cloud: Any) -> Heat:
    project_id, _, token = cloud.new_project_user(role="member")
    return Heat(cloud, token, project_id)


@pytest.fixture
def heat_admin(cloud: Any) -> Heat:
    return Heat(cloud, cloud.admin_token, cloud.admin_project_id)
