"""The HOT template model: sections, resource and output definitions, conditions, and the
static validation ``template validate`` and stack create run (Heat's messages)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from overcast.orchestration.errors import (
    CircularDependency,
    InvalidTemplateReference,
    InvalidTemplateSection,
    StackValidationFailed,
)
from overcast.orchestration.template import functions
from overcast.orchestration.template.environment import Environment
from overcast.orchestration.template.format import version_of
from overcast.orchestration.template.parameters import PSEUDO, ParameterSchema, parse_schemas

SECTIONS = (
    "heat_template_version",
    "description",
    "parameter_groups",
    "parameters",
    "resources",
    "outputs",
    "conditions",
)
RESOURCE_KEYS = (
    "type",
    "properties",
    "metadata",
    "depends_on",
    "deletion_policy",
    "update_policy",
    "description",
    "condition",
    "external_id",
)
DELETION_POLICIES = ("Delete", "Retain", "Snapshot")
OUTPUT_KEYS = ("description", "value", "condition")


@dataclass(frozen=True)
class ResourceDefn:
    name: str
    type: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    deletion_policy: str = "Delete"
    update_policy: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    condition: Any = None
    external_id: Any = None

    def raw(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "properties": dict(self.properties),
            "metadata": dict(self.metadata),
            "depends_on": list(self.depends_on),
            "deletion_policy": self.deletion_policy,
        }


@dataclass(frozen=True)
class OutputDefn:
    name: str
    value: Any
    description: str = ""
    condition: Any = None


def _mapping(section: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise StackValidationFailed(f'"{section}" must contain a map of {section[:-1]} maps')
    return value


class Template:
    """A parsed HOT template with its ``files`` (nested templates, ``get_file``)."""

    def __init__(self, data: Mapping[str, Any], files: Mapping[str, str] | None = None) -> None:
        self.data = dict(data)
        self.files = dict(files or {})
        self.version = version_of(self.data)
        for section in self.data:
            if section not in SECTIONS:
                raise InvalidTemplateSection(section)
        self.description = str(self.data.get("description") or "")
        self.parameters: dict[str, ParameterSchema] = parse_schemas(self.data.get("parameters"))
        self.conditions: Mapping[str, Any] = _mapping("conditions", self.data.get("conditions"))
        self.resources: dict[str, ResourceDefn] = {
            name: self._resource(name, snippet)
            for name, snippet in _mapping("resources", self.data.get("resources")).items()
        }
        self.outputs: dict[str, OutputDefn] = {
            name: self._output(name, snippet) for name, snippet in _mapping("outputs", self.data.get("outputs")).items()
        }
        self.parameter_groups = self._groups(self.data.get("parameter_groups"))

    # --- sections ---------------------------------------------------------------------------

    def _resource(self, name: str, snippet: Any) -> ResourceDefn:
        if not isinstance(snippet, Mapping):
            raise StackValidationFailed(f"Resource {name} must be a map")
        invalid = [k for k in snippet if k not in RESOURCE_KEYS]
        if invalid:
            raise StackValidationFailed(f"Invalid keyword(s) inside a resource definition: {', '.join(invalid)}")
        rtype = snippet.get("type")
        if not isinstance(rtype, str):
            raise StackValidationFailed(f'Resource {name} "type" must be a string', path=["resources", name])
        props = snippet.get("properties") or {}
        if not isinstance(props, Mapping):
            raise StackValidationFailed('"properties" must be a map', path=["resources", name])
        deps = snippet.get("depends_on") or []
        if isinstance(deps, str):
            deps = [deps]
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise StackValidationFailed('"depends_on" must be a string or a list of strings', path=["resources", name])
        policy = snippet.get("deletion_policy", "Delete")
        if policy not in DELETION_POLICIES:
            raise StackValidationFailed(f'Invalid deletion policy "{policy}"', path=["resources", name])
        metadata = snippet.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise StackValidationFailed('"metadata" must be a map', path=["resources", name])
        return ResourceDefn(
            name=name,
            type=rtype,
            properties=props,
            metadata=metadata,
            depends_on=tuple(deps),
            deletion_policy=policy,
            update_policy=snippet.get("update_policy") or {},
            description=str(snippet.get("description") or ""),
            condition=snippet.get("condition"),
            external_id=snippet.get("external_id"),
        )

    def _output(self, name: str, snippet: Any) -> OutputDefn:
        if not isinstance(snippet, Mapping):
            raise StackValidationFailed(
                "Each output definition must contain a value key.",
                error="Output validation error",
                path=["outputs", name],
            )
        invalid = [k for k in snippet if k not in OUTPUT_KEYS]
        if invalid:
            raise StackValidationFailed(f'"{invalid[0]}" is not a valid keyword inside an output definition')
        if "value" not in snippet:
            raise StackValidationFailed(
                "Each output definition must contain a value key.",
                error="Output validation error",
                path=["outputs", name],
            )
        return OutputDefn(name, snippet["value"], str(snippet.get("description") or ""), snippet.get("condition"))

    def _groups(self, groups: Any) -> list[dict[str, Any]]:
        if groups is None:
            return []
        if not isinstance(groups, list):
            raise StackValidationFailed(
                "Parameter Groups error: parameter_groups: The parameter_groups should be a list."
            )
        seen: set[str] = set()
        for group in groups:
            if not isinstance(group, Mapping) or "parameters" not in group:
                raise StackValidationFailed(
                    "Parameter Groups error: parameter_groups: Parameters must be provided for each Parameter Group."
                )
            names = group["parameters"]
            if not isinstance(names, list):
                raise StackValidationFailed(
                    "Parameter Groups error: parameter_groups: The parameters of parameter group should be a list."
                )
            for p in names:
                if p in seen:
                    raise StackValidationFailed(
                        f"Parameter Groups error: parameter_groups.{group.get('label', '')}: "
                        f"The {p} parameter must be assigned to one parameter group only."
                    )
                seen.add(p)
                if p not in self.parameters:
                    raise StackValidationFailed(
                        f"Parameter Groups error: parameter_groups.{group.get('label', '')}: "
                        f"The grouped parameter {p} does not reference a valid parameter."
                    )
        return [dict(g) for g in groups]

    # --- validation -------------------------------------------------------------------------

    def static(self, where: str = "unknown") -> functions.Static:
        return functions.Static(
            params=frozenset(self.parameters) | frozenset(PSEUDO),
            resources=frozenset(self.resources),
            conditions=frozenset(self.conditions),
            files=self.files,
            where=where,
        )

    def validate(self, env: Environment, known_type: Callable[[str, str], bool]) -> dict[str, set[str]]:
        """Check every definition statically; return each resource's dependencies.

        ``known_type(type_name, resource_name)`` says whether a (mapped) type exists."""
        for name, cond in self.conditions.items():
            try:
                functions.check_condition(cond, self.static(name))
            except StackValidationFailed as exc:
                raise StackValidationFailed(exc.message, error="Conditions validation error") from None
        deps: dict[str, set[str]] = {}
        for name, defn in self.resources.items():
            st = self.static(name)
            if not known_type(env.map_type(defn.type, name), name):
                from overcast.orchestration.errors import ResourceTypeNotFound

                raise ResourceTypeNotFound(defn.type)
            found = functions.check(dict(defn.properties), st) | functions.check(dict(defn.metadata), st)
            for dep in defn.depends_on:
                if dep not in self.resources:
                    raise InvalidTemplateReference(dep, name)
                found.add(dep)
            if defn.condition is not None and not isinstance(defn.condition, bool):
                functions.check_condition(defn.condition, st)
            deps[name] = found
        for name, out in self.outputs.items():
            try:
                functions.check(out.value, self.static(name))
            except StackValidationFailed as exc:
                raise StackValidationFailed(
                    exc.message, error="Output validation error", path=["outputs", name]
                ) from None
        order(deps, self.resources)
        return deps


def order(deps: Mapping[str, set[str]], names: Mapping[str, Any] | None = None) -> list[str]:
    """A creation order for ``deps`` (name -> names it requires); a cycle raises Heat's
    ``Circular Dependency Found`` naming what is left, as Heat's toposort prints it."""
    graph = {k: set(v) for k, v in deps.items()}
    out: list[str] = []
    while graph:
        ready = [k for k, v in graph.items() if not v]
        if not ready:
            text = "{" + ", ".join(f"{k}: {{{', '.join(sorted(v))}}}" for k, v in graph.items()) + "}"
            raise CircularDependency(text)
        for k in ready:
            out.append(k)
            del graph[k]
        for v in graph.values():
            v.difference_update(ready)
    return out
