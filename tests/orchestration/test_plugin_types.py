"""A vendor plugin adds a resource type through ``overcast_register_resource_types``; the
contract suite runs a stack using it (create, delete) through the API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from overcast.hookspecs import hookimpl
from overcast.orchestration.resource import ApiError, Prop, ResourceContext, ResourceType
from overcast.testing.contract import ResourceTypeContract


class Widget(ResourceType):
    """A widget is a network named after it (made through the networking API, as the owner)."""

    type_name = "OS::Acme::Widget"
    description = "An Acme widget."
    properties_schema = {
        "size": Prop("integer", "How big.", required=True, update_allowed=True),
        "label": Prop("string", "Changing it makes a new widget."),
    }
    attributes_schema = {"size": "The size.", "network_id": "The widget's network."}

    def handle_create(self, rc: ResourceContext) -> None:
        made = rc.api.call("network", "POST", "/v2.0/networks", {"network": {"name": f"widget-{rc.name}"}})
        rc.data["size"] = rc.properties["size"]
        rc.set_resource_id(made["network"]["id"])

    def handle_update(self, rc: ResourceContext, old: Mapping[str, Any], changed: set[str]) -> None:
        rc.data["size"] = rc.properties["size"]
        rc.save()

    def handle_delete(self, rc: ResourceContext) -> None:
        try:
            rc.api.call("network", "DELETE", f"/v2.0/networks/{rc.resource_id}")
        except ApiError as exc:
            if exc.status != 404:
                raise

    def get_attribute(self, rc: ResourceContext, name: str) -> Any:
        return {"size": rc.data.get("size"), "network_id": rc.resource_id}.get(name)


class AcmePlugin:
    @hookimpl
    def overcast_register_resource_types(self) -> Sequence[type[ResourceType]]:
        return [Widget]


class TestAcmeWidget(ResourceTypeContract):
    @pytest.fixture
    def plugin(self) -> Any:
        return AcmePlugin()

    @pytest.fixture
    def template(self) -> dict[str, Any]:
        return {
            "heat_template_version": "2018-08-31",
            "resources": {"w": {"type": "OS::Acme::Widget", "properties": {"size": 2}}},
            "outputs": {"size": {"value": {"get_attr": ["w", "size"]}}},
        }

    def test_update_in_place_and_outputs(self, cloud: Any, template: dict[str, Any]) -> None:
        from .conftest import Heat

        project_id, _, token = cloud.new_project_user(role="member")
        heat = Heat(cloud, token, project_id)
        st = heat.create_ok("w", template)
        assert st["outputs"][0]["output_value"] == 2
        first = heat.resources("w", st["id"])["w"]["physical_resource_id"]
        template["resources"]["w"]["properties"]["size"] = 5
        heat.request("PUT", f"/stacks/w/{st['id']}", json={"template": template})
        st = heat.wait("w", st["id"])
        assert st["stack_status"] == "UPDATE_COMPLETE" and st["outputs"][0]["output_value"] == 5
        assert heat.resources("w", st["id"])["w"]["physical_resource_id"] == first  # in place
        template["resources"]["w"]["properties"]["label"] = "new"
        heat.request("PUT", f"/stacks/w/{st['id']}", json={"template": template})
        assert heat.wait("w", st["id"])["stack_status"] == "UPDATE_COMPLETE"
        second = heat.resources("w", st["id"])["w"]["physical_resource_id"]
        assert second != first  # replaced, and the old one deleted
        nets = cloud.request("GET", "/networking/v2.0/networks", token=token).json()["networks"]
        assert [n["id"] for n in nets] == [second]
