"""Which resources a template enables (their ``condition``), from the parameters alone,
before a stack exists: what the up-front checks of a create or update look at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from overcast.orchestration.errors import UserParameterMissing
from overcast.orchestration.template import functions
from overcast.orchestration.template.hot import Template


class ParamScope:
    """Parameters and conditions only: which resources a template enables, before a stack exists."""

    def __init__(self, tmpl: Template, values: Mapping[str, Any]) -> None:
        self.tmpl = tmpl
        self.values = values

    def param(self, name: str) -> Any:
        if name.startswith("OS::"):
            return ""
        if name not in self.values:
            raise UserParameterMissing(name)
        return self.values[name]

    def resource_ref(self, name: str) -> Any:
        return None

    def resource_attr(self, name: str, attr: str | None, path: Sequence[Any]) -> Any:
        return None

    def condition(self, name: str) -> bool:
        return functions.condition_value(self.tmpl.conditions[name], self)

    def file(self, key: str) -> str:
        return self.tmpl.files.get(key, "")


def enabled_resources(tmpl: Template, values: Mapping[str, Any]) -> set[str]:
    scope = ParamScope(tmpl, values)
    return {
        name
        for name, defn in tmpl.resources.items()
        if defn.condition is None or functions.condition_value(defn.condition, scope)
    }
