"""The contract of orchestration resource types a plugin adds with
``overcast_register_resource_types``.

Subclass it and give two fixtures: ``plugin`` (the object carrying the hook implementation)
and ``template`` (a HOT template, as a dict, whose resources use the plugin's types)::

    class TestWidgets(ResourceTypeContract):
        @pytest.fixture
        def plugin(self):
            return my_plugin_module

        @pytest.fixture
        def template(self):
            return {"heat_template_version": "2018-08-31",
                    "resources": {"w": {"type": "OS::Acme::Widget", "properties": {"size": 1}}}}

The suite checks the hook's answer (ResourceType subclasses, schemas that serialise) and runs
a stack through create and delete on the in-process cloud over the fake drivers, as a member
of a fresh project (so the types' API calls meet the same policy a client does).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from overcast.orchestration.resource import ResourceType
from overcast.plugins import PluginManager

TYPE_NAME = re.compile(r"^[A-Za-z0-9]+(::[A-Za-z0-9]+){2,}$")


class ResourceTypeContract:
    @pytest.fixture
    def overcast_pm(self, fake_drivers: Any, plugin: Any) -> PluginManager:
        pm = PluginManager()
        pm.register_plugin(fake_drivers, name="fake")
        record = pm.register_plugin(plugin, name="resource-type-contract")
        assert record.status != "registration error", record.error
        pm.check_pending()
        return pm

    def _types(self, overcast_pm: PluginManager) -> list[type[ResourceType]]:
        out: list[type[ResourceType]] = []
        for result in overcast_pm.hooks.hook.overcast_register_resource_types():
            out.extend(result or ())
        return out

    def test_hook_returns_resource_types(self, overcast_pm: PluginManager) -> None:
        types = self._types(overcast_pm)
        assert types, "overcast_register_resource_types returned no types"
        for rtype in types:
            assert isinstance(rtype, type) and issubclass(rtype, ResourceType), rtype
            assert TYPE_NAME.match(rtype.type_name), f"{rtype.__name__}.type_name {rtype.type_name!r} is not A::B::C"
            json.dumps(rtype.schema())  # what GET resource_types/{type} answers

    def test_types_are_listed(self, cloud: Any, overcast_pm: PluginManager) -> None:
        listed = cloud.request(
            "GET", f"/orchestration/v1/{cloud.admin_project_id}/resource_types", token=cloud.admin_token
        ).json()["resource_types"]
        for rtype in self._types(overcast_pm):
            if rtype.requires_service is None:
                assert rtype.type_name in listed

    def test_stack_create_and_delete(self, cloud: Any, template: dict[str, Any]) -> None:
        project_id, _, token = cloud.new_project_user(role="member")
        base = f"/orchestration/v1/{project_id}/stacks"
        r = cloud.request("POST", base, token=token, json={"stack_name": "contract", "template": template})
        assert r.status_code == 201, r.text
        sid = r.json()["stack"]["id"]
        stack = self._settle(cloud, token, f"{base}/contract/{sid}", sid)
        assert stack["stack_status"] == "CREATE_COMPLETE", stack["stack_status_reason"]
        resources = cloud.request("GET", f"{base}/contract/{sid}/resources", token=token).json()["resources"]
        assert resources and all(r["resource_status"] == "CREATE_COMPLETE" for r in resources)
        assert cloud.request("DELETE", f"{base}/contract/{sid}", token=token).status_code == 204
        stack = self._settle(cloud, token, f"{base}/contract/{sid}", sid)
        assert stack["stack_status"] == "DELETE_COMPLETE", stack["stack_status_reason"]

    @staticmethod
    def _settle(cloud: Any, token: str, path: str, sid: str, timeout: float = 60.0) -> dict[str, Any]:
        cloud.runtime.orchestration.wait(sid, timeout)
        deadline = time.monotonic() + timeout
        while True:
            stack: dict[str, Any] = cloud.request("GET", path, token=token).json()["stack"]
            if not stack["stack_status"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
                return stack
            time.sleep(0.05)
