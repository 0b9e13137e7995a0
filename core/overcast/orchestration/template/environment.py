"""Environments: ``parameters``, ``parameter_defaults`` and ``resource_registry`` (type
aliases, wildcards, per-resource mappings and nested templates from ``files``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from overcast.orchestration.template.format import _Loader

SECTIONS = (
    "parameters",
    "resource_registry",
    "parameter_defaults",
    "encrypted_param_names",
    "event_sinks",
    "parameter_merge_strategies",
)


def parse(text: str | None) -> dict[str, Any]:
    """An environment document (``ValueError`` with Heat's text if it is not one)."""
    if text is None:
        return {}
    try:
        env = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None
    if env is None:
        env = {}
    if not isinstance(env, dict):
        raise ValueError("The environment is not a valid YAML mapping data type.")
    return validate(env)


def validate(env: Mapping[str, Any]) -> dict[str, Any]:
    for section in env:
        if section not in SECTIONS:
            raise ValueError(f'environment has wrong section "{section}"')
        if env[section] is None:
            raise ValueError(f'environment has empty section "{section}"')
    return dict(env)


@dataclass
class Environment:
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_defaults: dict[str, Any] = field(default_factory=dict)
    registry: dict[str, Any] = field(default_factory=dict)
    event_sinks: list[Any] = field(default_factory=list)

    @classmethod
    def from_documents(cls, documents: Sequence[Mapping[str, Any]]) -> Environment:
        """Merge environments in order (later ones win), as Heat merges environment files."""
        env = cls()
        for doc in documents:
            env.merge(doc)
        return env

    def merge(self, doc: Mapping[str, Any]) -> None:
        self.parameters.update(doc.get("parameters") or {})
        self.parameter_defaults.update(doc.get("parameter_defaults") or {})
        registry = doc.get("resource_registry") or {}
        if not isinstance(registry, Mapping):
            raise ValueError('"resource_registry" must be a map')
        for key, value in registry.items():
            if key == "resources" and isinstance(value, Mapping):
                per = self.registry.setdefault("resources", {})
                for name, mapping in value.items():
                    per.setdefault(name, {}).update(mapping or {})
            else:
                self.registry[key] = value
        self.event_sinks.extend(doc.get("event_sinks") or [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameters": dict(self.parameters),
            "parameter_defaults": dict(self.parameter_defaults),
            "resource_registry": dict(self.registry),
            "encrypted_param_names": [],
            "event_sinks": list(self.event_sinks),
        }

    def map_type(self, type_name: str, resource_name: str | None = None, depth: int = 0) -> str:
        """The type (or template file name) ``type_name`` stands for in this environment."""
        if depth > 10:
            return type_name
        per = (self.registry.get("resources") or {}).get(resource_name or "", {})
        if type_name in per:
            return self._follow(str(per[type_name]), type_name, resource_name, depth)
        if type_name in self.registry and type_name != "resources":
            return self._follow(str(self.registry[type_name]), type_name, resource_name, depth)
        for key, value in self.registry.items():
            if key.endswith("*") and type_name.startswith(key[:-1]) and isinstance(value, str) and value.endswith("*"):
                return self._follow(value[:-1] + type_name[len(key) - 1 :], type_name, resource_name, depth)
        return type_name

    def _follow(self, target: str, original: str, resource_name: str | None, depth: int) -> str:
        if target == original:
            return target
        return self.map_type(target, resource_name, depth + 1)
