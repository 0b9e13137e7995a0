"""Template handling: ``validate``, ``resource_types`` (list, schema), ``template_versions``
and their functions."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import Depends, Request
from fastapi.responses import Response

from overcast.api.deps import authorize, runtime_of
from overcast.api.orchestration.common import HTTPBadRequest, bool_param, check_project, json_body, reply
from overcast.api.orchestration.instantiation import environments_of, files_of, parameters_of, template_of
from overcast.api.routing import ResourceRouter
from overcast.context import RequestContext
from overcast.orchestration.custom import checker
from overcast.orchestration.errors import EntityNotFound, HeatError
from overcast.orchestration.template.format import VERSIONS

router = ResourceRouter()

FUNCTIONS = {
    "get_attr": "A function for resolving resource attributes.",
    "get_file": "A function for including a file inline.",
    "get_param": "A function for resolving parameter references.",
    "get_resource": "A function for resolving resource references.",
    "list_join": "A function for joining one or more lists of strings.",
    "repeat": "A function for iterating over a list of items.",
    "str_replace": "A function for performing string substitutions.",
    "str_replace_strict": "A function for performing string substitutions; params must appear in the template.",
    "digest": "A function for performing digest operations.",
    "str_split": "A function for splitting delimited strings into a list.",
    "map_merge": "A function for merging maps.",
    "list_concat": "A function for extending lists.",
    "contains": "A function for checking whether specific value is in sequence.",
    "if": "A function to return corresponding value based on condition evaluation.",
    "equals": "A function for comparing whether two values are equal.",
    "not": "A function that acts as a NOT operator on a condition.",
    "and": "A function that acts as an AND operator on conditions.",
    "or": "A function that acts as an OR operator on conditions.",
}
CONDITION_FUNCTIONS = ("equals", "get_param", "not", "and", "or", "contains")


@router.post("/validate")
async def validate_template(
    request: Request, tenant_id: str, ctx: RequestContext = Depends(authorize("orchestration:stacks:validate_template"))
) -> Response:
    check_project(tenant_id, ctx)
    body = await json_body(request)
    template = template_of(body)
    assert template is not None
    files = files_of(body)
    docs = environments_of(body, files)
    params = parameters_of(body)
    svc = runtime_of(request).orchestration
    assert ctx.project_id is not None
    custom = checker(svc.api_for(ctx.user_id, ctx.project_id))  # custom constraints, as the caller
    try:
        tmpl, env, _ = await anyio.to_thread.run_sync(
            lambda: svc.prepare(template, files, docs, params, None, custom, require=False)
        )
    except HeatError as exc:
        if exc.status != 400:
            raise
        raise HTTPBadRequest(exc.message) from None
    out: dict[str, Any] = {
        "Description": tmpl.description or "No description",
        "Parameters": {name: p.describe() for name, p in tmpl.parameters.items()},
    }
    if tmpl.parameter_groups:
        out["ParameterGroups"] = tmpl.parameter_groups
    user_env = env.to_dict()
    out["Environment"] = {
        k: user_env[k]
        for k in ("parameters", "resource_registry", "parameter_defaults", "encrypted_param_names", "event_sinks")
    }
    for name, value in env.parameters.items():
        if name in out["Parameters"]:
            out["Parameters"][name]["Value"] = value
    return reply(out)


@router.get("/resource_types")
def list_resource_types(
    request: Request,
    tenant_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:list_resource_types")),
) -> Response:
    check_project(tenant_id, ctx)
    q = request.query_params
    types = runtime_of(request).orchestration.available_types(ctx.project_id)
    if q.get("name"):
        import fnmatch
        import re

        pattern = q["name"]
        types = [t for t in types if re.search(pattern, t.type_name) or fnmatch.fnmatch(t.type_name, pattern)]
    if q.get("support_status") and q["support_status"] != "SUPPORTED":
        types = []
    names = sorted(t.type_name for t in types)
    if bool_param("with_description", q.get("with_description")):
        by = {t.type_name: t for t in types}
        return reply({"resource_types": [{"resource_type": n, "description": by[n].description} for n in names]})
    return reply({"resource_types": names})


@router.get("/resource_types/{type_name}")
def resource_schema(
    request: Request,
    tenant_id: str,
    type_name: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:resource_schema")),
) -> Response:
    check_project(tenant_id, ctx)
    for t in runtime_of(request).orchestration.available_types(ctx.project_id):
        if t.type_name == type_name:
            return reply(t.schema())
    raise EntityNotFound("Resource Type", type_name)


def _aliases() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, date in VERSIONS.items():
        if name != date:
            out.setdefault(date, []).append(f"heat_template_version.{name}")
    return out


@router.get("/template_versions")
def list_template_versions(
    request: Request,
    tenant_id: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:list_template_versions")),
) -> Response:
    check_project(tenant_id, ctx)
    aliases = _aliases()
    versions = [
        {"version": f"heat_template_version.{date}", "type": "hot", "aliases": aliases.get(date, [])}
        for date in sorted(set(VERSIONS.values()))
    ]
    return reply({"template_versions": versions})


@router.get("/template_versions/{template_version}/functions")
def list_template_functions(
    request: Request,
    tenant_id: str,
    template_version: str,
    ctx: RequestContext = Depends(authorize("orchestration:stacks:list_template_functions")),
) -> Response:
    check_project(tenant_id, ctx)
    kind, _, version = template_version.partition(".")
    if kind != "heat_template_version" or version not in VERSIONS:
        raise HeatError(
            f'The template version is invalid: "{template_version}". "heat_template_version" should be one of: {", ".join(sorted(VERSIONS))}',
            code="InvalidTemplateVersion",
        )
    if bool_param("with_condition_func", request.query_params.get("with_condition_func")):
        names = sorted(set(FUNCTIONS) | set(CONDITION_FUNCTIONS))
    else:
        names = sorted(n for n in FUNCTIONS if n not in ("equals", "not", "and", "or"))
    return reply({"template_functions": [{"functions": n, "description": FUNCTIONS.get(n, "")} for n in names]})
