"""Template parameters: schema, types and constraints, with Heat's messages.

Custom constraints (``nova.flavor``, ``glance.image``, ...) are checked by a callback the
caller gives (it looks the value up through the APIs as the stack owner), so this module
does no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from overcast.orchestration.errors import (
    StackValidationFailed,
    UnknownUserParameter,
    UserParameterMissing,
)

TYPES = ("string", "number", "comma_delimited_list", "json", "boolean")
SCHEMA_KEYS = ("type", "label", "description", "default", "hidden", "constraints", "immutable", "tags")
CONSTRAINT_KEYS = ("length", "range", "modulo", "allowed_values", "allowed_pattern", "custom_constraint")
PSEUDO = ("OS::stack_name", "OS::stack_id", "OS::project_id")

_TRUE = ("1", "t", "true", "on", "y", "yes")
_FALSE = ("0", "f", "false", "off", "n", "no")

#: custom constraint name, value -> True (valid), False (invalid) or None (unknown constraint)
CustomCheck = Callable[[str, Any], "bool | None"]


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    acceptable = ", ".join(f"'{v}'" for v in sorted(_TRUE + _FALSE))
    raise ValueError(f"Unrecognized value '{value}', acceptable values are: {acceptable}")


def to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f'Value "{value}" is invalid for data type "number".')
    if isinstance(value, (int, float)):
        return value
    try:
        return int(str(value))
    except ValueError:
        try:
            return float(str(value))
        except ValueError:
            raise ValueError(f'Value "{value}" is invalid for data type "number".') from None


def to_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise ValueError(f"Value must be a comma-delimited list string: {value}")
    return [item.strip() for item in value.split(",")]


def to_json(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise ValueError(f"Value must be valid JSON: {exc}") from None
    if not isinstance(parsed, (dict, list)):
        raise ValueError(f"Value must be valid JSON: {value}")
    return parsed


CONVERT: dict[str, Callable[[Any], Any]] = {
    "string": lambda v: v if isinstance(v, str) else (json.dumps(v) if isinstance(v, (dict, list)) else str(v)),
    "number": to_number,
    "comma_delimited_list": to_list,
    "json": to_json,
    "boolean": to_bool,
}


@dataclass(frozen=True)
class Constraint:
    kind: str
    spec: Any
    description: str | None = None

    def check(self, value: Any, ptype: str, custom: CustomCheck | None) -> None:
        """Raise ``ValueError`` with Heat's message when ``value`` breaks the constraint."""
        ok, message = self._check(value, ptype, custom)
        if not ok:
            raise ValueError(self.description or message)

    def _check(self, value: Any, ptype: str, custom: CustomCheck | None) -> tuple[bool, str]:
        spec = self.spec
        if self.kind == "range":
            lo, hi = spec.get("min"), spec.get("max")
            num = to_number(value)
            ok = (lo is None or num >= lo) and (hi is None or num <= hi)
            return ok, f"{value} is out of range (min: {lo}, max: {hi})"
        if self.kind == "length":
            lo, hi = spec.get("min"), spec.get("max")
            n = len(value)
            ok = (lo is None or n >= lo) and (hi is None or n <= hi)
            return ok, f"length ({n}) is out of range (min: {lo}, max: {hi})"
        if self.kind == "modulo":
            step, offset = spec["step"], spec["offset"]
            num = to_number(value)
            return (num - offset) % step == 0, f"{value} is not a multiple of {step} with an offset of {offset}"
        if self.kind == "allowed_values":
            allowed = [CONVERT[ptype](a) if ptype in ("number", "boolean") else a for a in spec]
            ok = all(v in allowed for v in value) if isinstance(value, list) else value in allowed
            shown = "[" + ", ".join(json.dumps(a) for a in spec) + "]"
            return ok, f"{json.dumps(value)} is not an allowed value {shown}"
        if self.kind == "allowed_pattern":
            ok = re.match(f"(?:{spec})$", str(value)) is not None
            return ok, f'"{value}" does not match pattern "{spec}"'
        if self.kind == "custom_constraint":
            verdict = custom(spec, value) if custom is not None else None
            if verdict is None:
                return False, f'"{value}" does not validate {spec} (constraint not found)'
            return verdict, f'"{value}" does not validate {spec}'
        return True, ""


def _parse_constraint(name: str, raw: Any) -> Constraint:
    if not isinstance(raw, Mapping):
        raise StackValidationFailed(f"Invalid parameter constraints for parameter {name}, expected a list")
    desc = raw.get("description")
    kinds = [k for k in raw if k != "description"]
    if len(kinds) != 1 or kinds[0] not in CONSTRAINT_KEYS:
        bad = next((k for k in kinds if k not in CONSTRAINT_KEYS), kinds[0] if kinds else "")
        raise StackValidationFailed(f"Invalid key '{bad}' for parameter constraints")
    kind = kinds[0]
    spec = raw[kind]
    if kind in ("range", "length"):
        if not isinstance(spec, Mapping) or ("min" not in spec and "max" not in spec):
            what = "range" if kind == "range" else "length"
            raise StackValidationFailed(f"A {what} constraint must have a min value and/or a max value specified.")
        for bound in ("min", "max"):
            if bound in spec and (isinstance(spec[bound], bool) or not isinstance(spec[bound], (int, float))):
                raise StackValidationFailed(
                    "min/max must be numeric" if kind == "range" else "min/max length must be integral"
                )
    elif kind == "modulo":
        if not isinstance(spec, Mapping) or "step" not in spec or "offset" not in spec:
            raise StackValidationFailed("A modulo constraint must have a step value and an offset value specified.")
        if spec["step"] == 0:
            raise StackValidationFailed("step cannot be 0.")
    elif kind == "allowed_values" and not isinstance(spec, list):
        raise StackValidationFailed("AllowedValues must be a list")
    elif kind in ("allowed_pattern", "custom_constraint") and not isinstance(spec, str):
        raise StackValidationFailed(
            "AllowedPattern must be a string" if kind == "allowed_pattern" else f"Invalid custom constraint {spec}"
        )
    return Constraint(kind, spec, desc)


@dataclass(frozen=True)
class ParameterSchema:
    name: str
    type: str
    label: str | None = None
    description: str | None = None
    default: Any = None
    has_default: bool = False
    hidden: bool = False
    immutable: bool = False
    tags: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, name: str, raw: Any) -> ParameterSchema:
        if not isinstance(raw, Mapping):
            raise StackValidationFailed(f"Invalid parameter {name}, expected a mapping")
        for key in raw:
            if key not in SCHEMA_KEYS:
                raise StackValidationFailed(f"Invalid key '{key}' for parameter ({name})")
        if "type" not in raw:
            raise StackValidationFailed(f"Missing parameter type for parameter: {name}")
        ptype = raw["type"]
        if ptype not in TYPES:
            raise StackValidationFailed(f"Parameter '{name}' is invalid: Invalid type ({ptype})")
        tags = raw.get("tags", [])
        if not isinstance(tags, list):
            raise StackValidationFailed(f"Tags property should be a list for parameter: {name}")
        cons = raw.get("constraints", [])
        if not isinstance(cons, list):
            raise StackValidationFailed(f"Invalid parameter constraints for parameter {name}, expected a list")
        schema = cls(
            name=name,
            type=ptype,
            label=raw.get("label"),
            description=raw.get("description"),
            default=raw.get("default"),
            has_default="default" in raw and raw["default"] is not None,
            hidden=bool(raw.get("hidden", False)),
            immutable=bool(raw.get("immutable", False)),
            tags=tuple(tags),
            constraints=tuple(_parse_constraint(name, c) for c in cons),
        )
        if schema.has_default:
            try:
                schema.check(schema.default, custom=None, custom_too=False)
            except ValueError as exc:
                raise StackValidationFailed(
                    f"Parameter '{name}' is invalid: Invalid default {schema.default} ({exc})"
                ) from None
        return schema

    def convert(self, value: Any) -> Any:
        return CONVERT[self.type](value)

    def check(self, value: Any, custom: CustomCheck | None, custom_too: bool = True) -> Any:
        """The converted value (``ValueError`` with the first broken constraint's message)."""
        converted = self.convert(value)
        for c in self.constraints:
            if c.kind == "custom_constraint" and not custom_too:
                continue
            c.check(converted, self.type, custom)
        return converted

    def describe(self) -> dict[str, Any]:
        """The entry of ``template validate``'s ``Parameters`` (Heat's CamelCase keys)."""
        type_names = {
            "string": "String",
            "number": "Number",
            "comma_delimited_list": "CommaDelimitedList",
            "json": "Json",
            "boolean": "Boolean",
        }
        out: dict[str, Any] = {"Type": type_names[self.type], "Description": self.description or ""}
        out["Label"] = self.label or self.name
        out["NoEcho"] = "true" if self.hidden else "false"
        if self.has_default:
            out["Default"] = self.default
        for c in self.constraints:
            if c.kind == "allowed_values":
                out["AllowedValues"] = c.spec
            elif c.kind == "allowed_pattern":
                out["AllowedPattern"] = c.spec
            elif c.kind == "length":
                if "min" in c.spec:
                    out["MinLength"] = c.spec["min"]
                if "max" in c.spec:
                    out["MaxLength"] = c.spec["max"]
            elif c.kind == "range":
                if "min" in c.spec:
                    out["MinValue"] = c.spec["min"]
                if "max" in c.spec:
                    out["MaxValue"] = c.spec["max"]
            elif c.kind == "custom_constraint":
                out["CustomConstraint"] = c.spec
            if c.description:
                out["ConstraintDescription"] = c.description
        if self.tags:
            out["Tags"] = list(self.tags)
        return out


def parse_schemas(section: Any) -> dict[str, ParameterSchema]:
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise StackValidationFailed('"parameters" must contain a map of parameter maps')
    return {name: ParameterSchema.parse(name, raw) for name, raw in section.items()}


def resolve_values(
    schemas: Mapping[str, ParameterSchema],
    given: Mapping[str, Any],
    defaults: Mapping[str, Any],
    custom: CustomCheck | None,
    require: bool = True,
) -> dict[str, Any]:
    """Each parameter's value: given, else the environment's ``parameter_defaults``, else the
    template default. Unknown given names are refused (``parameter_defaults`` may name any)."""
    for name in given:
        if name not in schemas:
            raise UnknownUserParameter(name)
    values: dict[str, Any] = {}
    for name, schema in schemas.items():
        if name in given:
            raw = given[name]
        elif name in defaults:
            raw = defaults[name]
        elif schema.has_default:
            raw = schema.default
        else:
            if require:
                raise UserParameterMissing(name)
            continue
        try:
            values[name] = schema.check(raw, custom)
        except ValueError as exc:
            raise StackValidationFailed(f"Parameter '{name}' is invalid: {exc}") from None
    return values
