"""The :class:`~overcast.orchestration.template.functions.Scope` of a running stack:
parameters (and Heat's pseudo parameters), conditions, and the resources' ids and attributes
read live through their types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from overcast.orchestration.errors import InvalidTemplateAttribute, StackValidationFailed, UserParameterMissing
from overcast.orchestration.template import functions

if TYPE_CHECKING:
    from overcast.orchestration.engine import StackRun


class RunScope:
    def __init__(self, run: StackRun) -> None:
        self.run = run
        self._conditions: dict[str, bool] = {}

    def param(self, name: str) -> Any:
        stack = self.run.stack
        pseudo = {"OS::stack_name": stack.name, "OS::stack_id": stack.id, "OS::project_id": stack.project_id}
        if name in pseudo:
            return pseudo[name]
        if name not in self.run.params:
            raise UserParameterMissing(name)
        return self.run.params[name]

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.run.template.conditions:
                raise StackValidationFailed(f'Invalid condition "{name}"')
            self._conditions[name] = functions.condition_value(self.run.template.conditions[name], self)
        return self._conditions[name]

    def enabled(self, condition: Any) -> bool:
        return True if condition is None else functions.condition_value(condition, self)

    def file(self, key: str) -> str:
        files = self.run.template.files
        if key not in files:
            raise StackValidationFailed(f'No content found in the "files" section for get_file path: {key}')
        return files[key]

    def _res(self, name: str) -> Any:
        return self.run.res.get(name)

    def resource_ref(self, name: str) -> Any:
        res = self._res(name)
        if res is None or res.row.action == "INIT":
            return None
        return res.rtype.reference(res)

    def resource_attr(self, name: str, attr: str | None, path: Sequence[Any]) -> Any:
        res = self._res(name)
        if res is None or res.row.action == "INIT" or (res.row.action == "DELETE" and res.row.status == "COMPLETE"):
            return None
        if attr is None:
            names = [*type(res.rtype).attributes_schema, "show"]
            return {a: res.rtype.get_attribute(res, a) for a in names}
        known = type(res.rtype).attributes_schema
        if attr != "show" and attr not in known and not getattr(res.rtype, "dynamic_attributes", False):
            raise InvalidTemplateAttribute(name, attr)
        value = res.rtype.get_attribute(res, attr)
        for key in path:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list):
                try:
                    value = value[int(key)]
                except (ValueError, IndexError):
                    return None
            else:
                return None
        return value
