"""Reading a create/update/validate body as Heat's ``InstantiationData`` does: the template
(inline, as a map or a YAML/JSON string), ``files``, the environment (or
``environment_files`` named in ``files``, merged in order) and ``parameters``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from overcast.api.orchestration.common import HTTPBadRequest
from overcast.orchestration.template import environment as envfmt
from overcast.orchestration.template import format as tformat

OWN_KEYS = (
    "stack_name",
    "template",
    "template_url",
    "parameters",
    "environment",
    "files",
    "environment_files",
    "files_container",
)


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """What this engine does not do is refused by name (Heat's NotSupported), never ignored."""
    from overcast.orchestration.errors import NotSupported

    if body.get("adopt_stack_data"):
        raise NotSupported("Stack Adopt")
    if body.get("files_container"):
        raise NotSupported("files_container (templates from object storage)")
    if body.get("converge"):
        raise NotSupported("Stack update with converge")


def template_of(body: Mapping[str, Any], required: bool = True) -> dict[str, Any] | None:
    refuse_unsupported(body)
    if "template" in body and body["template"] is not None:
        data = body["template"]
        if isinstance(data, dict):
            tformat.check_size(str(data))
            return data
        try:
            return tformat.parse(str(data))
        except ValueError as exc:
            raise HTTPBadRequest(f"Template not in valid format: {exc}") from None
    if body.get("template_url"):
        raise HTTPBadRequest(
            f"Could not retrieve template: {body['template_url']} (template_url is not supported; send the template inline)"
        )
    if required:
        raise HTTPBadRequest("No template specified")
    return None


def files_of(body: Mapping[str, Any]) -> dict[str, str]:
    files = body.get("files") or {}
    if not isinstance(files, dict):
        raise HTTPBadRequest("files not in valid format: must be a map")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in files.items()}


def environments_of(body: Mapping[str, Any], files: Mapping[str, str]) -> list[dict[str, Any]]:
    names = body.get("environment_files")
    docs: list[dict[str, Any]] = []
    try:
        if names:
            for name in names:
                if name not in files:
                    raise HTTPBadRequest(f"Environment file {name} is not in files")
                docs.append(envfmt.parse(files[name]))
        elif body.get("environment") is not None:
            env = body["environment"]
            docs.append(envfmt.validate(env) if isinstance(env, dict) else envfmt.parse(str(env)))
    except ValueError as exc:
        raise HTTPBadRequest(f"Environment not in valid format: {exc}") from None
    return docs


def parameters_of(body: Mapping[str, Any]) -> dict[str, Any]:
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise HTTPBadRequest("parameters not in valid format: must be a map")
    return dict(params)


def args_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """Heat's extra arguments: ``timeout_mins``, ``disable_rollback``, ``tags``, ..."""
    args = {k: v for k, v in body.items() if k not in OWN_KEYS}
    if "timeout_mins" in args and args["timeout_mins"] is not None:
        try:
            args["timeout_mins"] = int(args["timeout_mins"])
        except (TypeError, ValueError):
            raise HTTPBadRequest(f"Invalid timeout value {args['timeout_mins']}") from None
        if args["timeout_mins"] < 0:
            raise HTTPBadRequest(f"Invalid timeout value {args['timeout_mins']}")
    for name in ("disable_rollback", "existing", "converge"):
        if name in args and not isinstance(args[name], bool):
            value = str(args[name]).lower()
            if value not in ("true", "false"):
                raise HTTPBadRequest(
                    f'Unrecognized value "{args[name]}" for "{name}", acceptable values are: true, false'
                )
            args[name] = value == "true"
    if "tags" in args and isinstance(args["tags"], str):
        args["tags"] = [t for t in args["tags"].split(",") if t]
    return args
