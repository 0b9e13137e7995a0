"""Reading a template or environment document (YAML or JSON) and its version."""

from __future__ import annotations

import json
from typing import Any

import yaml

from overcast.orchestration.errors import HeatError, InvalidTemplateVersion

#: template version -> canonical date; names are Heat's release aliases
VERSIONS: dict[str, str] = {
    "2018-08-31": "2018-08-31",
    "rocky": "2018-08-31",
    "2021-04-16": "2021-04-16",
    "wallaby": "2021-04-16",
}

#: bytes; Heat's default ``max_template_size``
MAX_TEMPLATE_SIZE = 524288


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver: ``2018-08-31`` stays a string (as Heat's)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def simple_parse(text: str | bytes, where: str = "[root stack]") -> dict[str, Any]:
    """A JSON or YAML mapping (``ValueError`` with Heat's text otherwise)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise ValueError(f"Error parsing template {where} {exc}") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ValueError("The template is not a JSON object or YAML mapping.")
    return data


def check_size(text: str) -> None:
    if len(text) > MAX_TEMPLATE_SIZE:
        raise HeatError(
            f"Template size ({len(text)} bytes) exceeds maximum allowed size ({MAX_TEMPLATE_SIZE} bytes).",
            code="RequestLimitExceeded",
        )


def parse(text: str | bytes, where: str = "[root stack]") -> dict[str, Any]:
    """A template document; it must name a version."""
    check_size(text if isinstance(text, str) else text.decode("utf-8", errors="replace"))
    data = simple_parse(text, where)
    if not any(k in data for k in ("heat_template_version", "HeatTemplateFormatVersion", "AWSTemplateFormatVersion")):
        raise ValueError("Template format version not found.")
    return data


def version_of(data: dict[str, Any]) -> str:
    """The canonical version date of a parsed template (Heat's messages when unsupported)."""
    keys = [k for k in ("heat_template_version", "HeatTemplateFormatVersion", "AWSTemplateFormatVersion") if k in data]
    if len(keys) > 1:
        raise InvalidTemplateVersion(f"Ambiguous versions ({', '.join(keys)})")
    if not keys:
        raise InvalidTemplateVersion("Template version was not provided")
    key = keys[0]
    value = str(data[key])
    if key == "heat_template_version" and value in VERSIONS:
        return VERSIONS[value]
    available = sorted(VERSIONS) if key == "heat_template_version" else []
    if len(available) > 1:
        raise InvalidTemplateVersion(f'"{key}: {value}". "{key}" should be one of: {", ".join(available)}')
    raise InvalidTemplateVersion(f'"{key}: {value}". "{key}" should be: {", ".join(available)}')
